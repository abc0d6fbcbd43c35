//! The standard system kinds with the real programs: `systemd-unit`
//! through a recording `systemctl` on PATH (the tests run where no systemd
//! does), `crontab` and `cron-job` with Debian's `crontab`, `package`
//! with `dpkg-query` and `apt-get`, `user` and `group` with `getent` and
//! the shadow tools.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Deployment, Run};

/// A `systemctl` that records its arguments, one call a line, and keeps
/// which units are enabled and running in files beside the record, so a
/// second deploy sees what the first did.
pub(crate) fn recording_systemctl(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{record}'
scope=system
if [ "$1" = --user ]; then scope=user; shift; fi
state='{state}'/$scope
mkdir -p "$state"
case "$1" in
  is-enabled) if [ -e "$state/$2.enabled" ]; then echo enabled; exit 0; fi; echo disabled; exit 1 ;;
  is-active) if [ -e "$state/$2.active" ]; then echo active; exit 0; fi; echo inactive; exit 3 ;;
  enable) touch "$state/$2.enabled" ;;
  start|restart) touch "$state/$2.active" ;;
  daemon-reload) ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#,
        record = dir.join("calls").display(),
        state = state.display(),
    );
    let path = bin.join("systemctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The recorded calls since the last look (which clears them).
pub(crate) fn calls(dir: &Path) -> Vec<String> {
    let record = dir.join("calls");
    let text = std::fs::read_to_string(&record).unwrap_or_default();
    let _ = std::fs::remove_file(&record);
    text.lines().map(str::to_owned).collect()
}

/// The calls that change something (not the is-enabled/is-active probes).
pub(crate) fn changing(calls: &[String]) -> Vec<&str> {
    calls.iter().map(String::as_str).filter(|c| !c.contains("is-enabled") && !c.contains("is-active")).collect()
}

pub(crate) fn path_with(bin: &Path) -> OsString {
    let mut path = OsString::from(bin);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

fn unit_env(units: &str, content: &str, restart_on: &str, grants: &str) -> String {
    format!(
        r#"
[hosts.localhost]
components = ["app"]

[components.app]
kind = "systemd-unit"
name = "app.service"
unit_dir = "{units}"
content = """{content}"""
restart_on = ["{restart_on}"]
context = {{ port = 8080 }}
{grants}
"#
    )
}

#[test]
fn systemd_unit_writes_its_file_reloads_enables_starts_and_restarts_on_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let bin = recording_systemctl(dir.path());
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let config = dir.path().join("app.conf");
    std::fs::write(&config, "port = 8080\n").unwrap();
    let grants = format!("[grants.app]\ncommands = [\"systemctl\"]\npaths.write = [\"{}\"]\n", dir.path().display());
    let unit = "[Service]\nExecStart=/usr/bin/app --port {{ component.port }}\n";
    let d = Deployment::new(&unit_env(&units.display().to_string(), unit, &config.display().to_string(), &grants));
    let path = path_with(&bin);
    let env: &[(&str, &std::ffi::OsStr)] = &[("PATH", &path)];
    let run = |args: &[&str]| -> Run { d.run_with(args, env) };

    // Predict: what the deploy will do, and no call that changes anything.
    let predicted = run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("unit file changed: daemon-reload"), "{}", predicted.stdout);
    assert!(
        predicted.stdout.contains("not enabled") && predicted.stdout.contains("not running"),
        "{}",
        predicted.stdout
    );
    assert!(changing(&calls(dir.path())).is_empty(), "predict ran systemctl only to ask");
    assert!(!units.join("app.service").exists(), "predict wrote no unit file");

    run(&["deploy", "dev"]).ok();
    assert_eq!(
        std::fs::read_to_string(units.join("app.service")).unwrap(),
        "[Service]\nExecStart=/usr/bin/app --port 8080\n",
        "the unit file, rendered"
    );
    assert_eq!(changing(&calls(dir.path())), ["daemon-reload", "enable app.service", "start app.service"]);

    let second = run(&["deploy", "dev"]).ok();
    assert!(second.changed().is_empty(), "a second deploy changes nothing: {}", second.stdout);
    assert!(changing(&calls(dir.path())).is_empty());

    // A file of restart_on changed (by anyone): one restart, no reload.
    std::fs::write(&config, "port = 8081\n").unwrap();
    let predicted = run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains(&format!("restart: {} changed", config.display())), "{}", predicted.stdout);
    assert!(changing(&calls(dir.path())).is_empty());
    run(&["deploy", "dev"]).ok();
    assert_eq!(changing(&calls(dir.path())), ["restart app.service"]);
    assert!(run(&["deploy", "dev"]).ok().changed().is_empty());
    calls(dir.path());

    // The unit changed: reload, then restart.
    d.write(
        "environments/dev.toml",
        &unit_env(
            &units.display().to_string(),
            "[Service]\nExecStart=/usr/bin/app --port {{ component.port }} --verbose\n",
            &config.display().to_string(),
            &grants,
        ),
    );
    run(&["deploy", "dev"]).ok();
    assert_eq!(changing(&calls(dir.path())), ["daemon-reload", "restart app.service"]);

    // Without systemctl granted, refused with the grant named.
    d.write(
        "environments/dev.toml",
        &unit_env(
            &units.display().to_string(),
            "[Service]\nExecStart=/usr/bin/app\n",
            &config.display().to_string(),
            &format!("[grants.app]\npaths.write = [\"{}\"]\n", dir.path().display()),
        ),
    );
    let denied = run(&["deploy", "dev"]);
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("systemctl") && all.contains("commands"), "{all}");
}

#[test]
fn a_user_unit_uses_systemctl_user_through_an_agent_and_needs_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let bin = recording_systemctl(dir.path());
    let units = dir.path().join("user-units");
    let d = Deployment::new(&format!(
        r#"
[hosts.localhost]
components = ["timer"]

[components.timer]
kind = "systemd-unit"
name = "backup.timer"
user = true
start = false
unit_dir = "{units}"
content = "[Timer]\nOnCalendar=daily\n"
is_template = false

[grants.timer]
commands = ["systemctl"]
paths.write = ["{units}"]
"#,
        units = units.display()
    ));
    std::fs::create_dir_all(&units).unwrap();
    let path = path_with(&bin);
    // Through an agent process, as on a remote host.
    d.run_with(&["deploy", "dev", "--agent-process"], &[("PATH", &path)]).ok();
    let all = calls(dir.path());
    assert!(all.iter().all(|c| c.starts_with("--user ")), "{all:?}");
    assert_eq!(changing(&all), ["--user daemon-reload", "--user enable backup.timer"], "start = false starts nothing");
    assert!(units.join("backup.timer").exists());

    d.write(
        "environments/dev.toml",
        "[hosts.localhost]\ncomponents = [\"timer\"]\n[components.timer]\nkind = \"systemd-unit\"\nname = \
         \"backup.timer\"\nuser = true\ncontent = \"\"\n",
    );
    let refused = d.run_with(&["deploy", "dev", "-c"], &[("PATH", &path)]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("unit_dir") && refused.stderr.contains(".config/systemd/user"),
        "{}",
        refused.stderr
    );
}

/// Whether this test can change the machine's user database and other
/// users' crontabs: root, with the programs there. If not, it says so.
fn as_root_with(programs: &[&str]) -> bool {
    let root = crate::harness::is_root();
    let missing: Vec<&&str> = programs.iter().filter(|p| crate::harness::which(p).is_none()).collect();
    if !root || !missing.is_empty() {
        eprintln!("skipped: needs root and {programs:?} (missing: {missing:?}); .ci/run installs them");
        return false;
    }
    true
}

/// A local user for a test, made if missing.
pub(crate) fn test_user(name: &str) {
    if Command::new("getent").args(["passwd", name]).output().unwrap().status.success() {
        return;
    }
    let ok = Command::new("useradd").args(["--no-create-home", name]).status().unwrap().success();
    assert!(ok, "useradd {name}");
}

fn crontab_of(user: &str) -> String {
    let out = Command::new("crontab").args(["-u", user, "-l"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cron_env(jobs: &[(&str, &str, &str)], user: &str, granted: bool) -> String {
    let names: Vec<String> = jobs.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
    let mut env = format!("[hosts.localhost]\ncomponents = [{}, \"crontab\"]\n", names.join(", "));
    for (name, timing, command) in jobs {
        env.push_str(&format!(
            "\n[components.{name}]\nkind = \"cron-job\"\ntiming = \"{timing}\"\ncommand = \"{command}\"\n"
        ));
    }
    env.push_str(&format!("\n[components.crontab]\nkind = \"crontab\"\nuser = \"{user}\"\n"));
    if granted {
        env.push_str("\n[grants.crontab]\ncommands = [\"crontab\"]\n");
    }
    env
}

#[test]
fn crontab_installs_the_hosts_jobs_together_and_keeps_other_lines() {
    if !as_root_with(&["crontab", "useradd", "getent"]) {
        return;
    }
    let user = "batou-cron-t1";
    test_user(user);
    let own = "MAILTO=\"\"\n0 1 * * * /bin/true an operator's own line\n";
    let mut install =
        Command::new("crontab").args(["-u", user, "-"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(install.stdin.as_mut().unwrap(), own.as_bytes()).unwrap();
    assert!(install.wait().unwrap().success());

    let d = Deployment::new(&cron_env(
        &[("backup", "@daily", "/usr/local/bin/backup --all"), ("rotate", "*/15  * * * *", "/usr/bin/rotate")],
        user,
        true,
    ));
    let predicted = d.predict().ok();
    assert!(predicted.stdout.contains("+*/15 * * * * /usr/bin/rotate"), "{}", predicted.stdout);
    assert_eq!(crontab_of(user), own, "predict changed nothing");

    d.deploy().ok();
    let installed = crontab_of(user);
    assert!(installed.starts_with(own), "the operator's lines stay, first: {installed}");
    let jobs: Vec<&str> = installed.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert_eq!(
        jobs,
        [
            "MAILTO=\"\"",
            "0 1 * * * /bin/true an operator's own line",
            "@daily /usr/local/bin/backup --all",
            "*/15 * * * * /usr/bin/rotate"
        ]
    );
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // One job dropped, one changed: only the managed lines change.
    d.write("environments/dev.toml", &cron_env(&[("backup", "30 2 * * *", "/usr/local/bin/backup --all")], user, true));
    d.deploy().ok();
    let installed = crontab_of(user);
    assert!(installed.starts_with(own));
    assert!(
        installed.contains("\n30 2 * * * /usr/local/bin/backup --all\n") && !installed.contains("rotate"),
        "{installed}"
    );
    assert_eq!(installed.matches("# BEGIN batou-run").count(), 1);

    // A user without a crontab gets one holding only the jobs.
    assert!(Command::new("crontab").args(["-u", user, "-r"]).status().unwrap().success());
    d.deploy().ok();
    assert_eq!(
        crontab_of(user),
        "# BEGIN batou-run jobs (managed by batou-run: edit the deployment, not these lines)\n\
         # backup\n30 2 * * * /usr/local/bin/backup --all\n# END batou-run jobs\n"
    );
    assert!(d.deploy().ok().changed().is_empty());

    // A timing cron would not take is a configure error naming it.
    d.write("environments/dev.toml", &cron_env(&[("backup", "every day", "/bin/true")], user, true));
    let bad = d.run(&["deploy", "dev", "-c"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("timing") && bad.stderr.contains("five"), "{}", bad.stderr);

    // Without the grant, refused with the grant named.
    d.write("environments/dev.toml", &cron_env(&[("backup", "@daily", "/bin/true")], user, false));
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("crontab") && all.contains("commands"), "{all}");
}

fn installed_version(package: &str) -> Option<String> {
    let out =
        Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Status} ${Version}", package]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("installed ").map(str::to_owned)
}

fn package_env(name: &str, extra: &str, granted: bool) -> String {
    let grants = if granted { "[grants.pkg]\ncommands = [\"dpkg-query\", \"apt-get\"]\n" } else { "" };
    format!(
        "[hosts.localhost]\ncomponents = [\"pkg\"]\n[components.pkg]\nkind = \"package\"\nname = \"{name}\"\n{extra}\n{grants}"
    )
}

#[test]
fn package_verifies_with_dpkg_query_and_installs_and_removes_with_apt_get() {
    if !as_root_with(&["dpkg-query", "apt-get"]) {
        return;
    }
    // dpkg itself is installed on every Debian machine: at its version,
    // nothing to do; at another, the difference is predicted.
    let dpkg = installed_version("dpkg").expect("dpkg is installed");
    let d = Deployment::new(&package_env("dpkg", &format!("version = \"{dpkg}\""), true));
    assert!(d.deploy().ok().changed().is_empty());
    d.write("environments/dev.toml", &package_env("dpkg", "version = \"0.0-other\"", true));
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains(&format!("version {dpkg} is installed, not 0.0-other")), "{}", predicted.stdout);

    // A small real package: installed from the machine's apt sources,
    // then removed, each once.
    let package = "hello";
    d.write("environments/dev.toml", &package_env(package, "ensure = \"absent\"", true));
    d.deploy().ok();
    assert_eq!(installed_version(package), None);
    d.write("environments/dev.toml", &package_env(package, "", true));
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("not installed"), "{}", predicted.stdout);
    assert_eq!(installed_version(package), None, "predict installed nothing");
    d.deploy().ok();
    assert!(installed_version(package).is_some(), "apt-get installed {package}");
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");
    d.write("environments/dev.toml", &package_env(package, "ensure = \"absent\"", true));
    d.deploy().ok();
    assert_eq!(installed_version(package), None, "apt-get removed {package}");
    assert!(d.deploy().ok().changed().is_empty());

    // A name apt has never heard of fails with what to check.
    d.write("environments/dev.toml", &package_env("no-such-package-batou-run", "", true));
    let missing = d.deploy();
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("no such package in the host's apt sources"), "{}", missing.stderr);

    // Without the grant, refused with the grant named.
    d.write("environments/dev.toml", &package_env("dpkg", "", false));
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("dpkg-query") && all.contains("commands"), "{all}");
}

fn getent(database: &str, key: &str) -> Option<String> {
    let out = Command::new("getent").args([database, key]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

const USER_COMMANDS: &str =
    "commands = [\"getent\", \"useradd\", \"usermod\", \"userdel\", \"groupadd\", \"groupmod\", \"groupdel\"]";

fn users_env(user: &str, group: &str, user_extra: &str, granted: bool) -> String {
    let grants = if granted {
        format!("[grants.group]\n{USER_COMMANDS}\n[grants.user]\n{USER_COMMANDS}\n")
    } else {
        String::new()
    };
    format!(
        "[hosts.localhost]\ncomponents = [\"group\", \"user\"]\n\
         [components.group]\nkind = \"group\"\nname = \"{group}\"\ngid = 42420\n\
         [components.user]\nkind = \"user\"\nname = \"{user}\"\ngroup = \"{group}\"\ngroups = [\"{group}\"]\n\
         create_home = false\nhome = \"/nonexistent/{user}\"\n{user_extra}\n{grants}"
    )
}

#[test]
fn user_and_group_are_created_changed_and_removed_with_the_shadow_tools() {
    if !as_root_with(&["getent", "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel"]) {
        return;
    }
    let (user, group) = ("batou-user-t1", "batou-group-t1");
    // What an earlier, interrupted run may have left.
    let _ = Command::new("userdel").arg(user).status();
    let _ = Command::new("groupdel").arg(group).status();

    let d = Deployment::new(&users_env(user, group, "shell = \"/bin/sh\"\ncomment = \"Batou Test\"", true));
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("missing"), "{}", predicted.stdout);
    assert_eq!((getent("passwd", user), getent("group", group)), (None, None), "predict changed nothing");

    d.deploy().ok();
    assert_eq!(getent("group", group).unwrap(), format!("{group}:x:42420:{user}"));
    let passwd = getent("passwd", user).unwrap();
    assert!(passwd.ends_with(&format!(":42420:Batou Test:/nonexistent/{user}:/bin/sh")), "{passwd}");
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // A changed shell and gid: usermod and groupmod, predicted first.
    d.write(
        "environments/dev.toml",
        &users_env(user, group, "shell = \"/bin/bash\"\ncomment = \"Batou Test\"", true).replace("42420", "42421"),
    );
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("gid 42420, not 42421"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("shell `/bin/sh`, not `/bin/bash`"), "{}", predicted.stdout);
    d.deploy().ok();
    assert!(getent("passwd", user).unwrap().ends_with(":42421:Batou Test:/nonexistent/batou-user-t1:/bin/bash"));
    assert!(d.deploy().ok().changed().is_empty());

    // Without the grant, refused with the grant named.
    d.write("environments/dev.toml", &users_env(user, group, "", false));
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("getent") && all.contains("commands"), "{all}");

    // Absent: both go.
    d.write(
        "environments/dev.toml",
        &format!(
            "[hosts.localhost]\ncomponents = [\"user\", \"group\"]\n[components.user]\nkind = \"user\"\nname = \"{user}\"\n\
             ensure = \"absent\"\n[components.group]\nkind = \"group\"\nname = \"{group}\"\nensure = \"absent\"\n\
             [grants.group]\n{USER_COMMANDS}\n[grants.user]\n{USER_COMMANDS}\n"
        ),
    );
    d.deploy().ok();
    assert_eq!((getent("passwd", user), getent("group", group)), (None, None));
    assert!(d.deploy().ok().changed().is_empty());
}
