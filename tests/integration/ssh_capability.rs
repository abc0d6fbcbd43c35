//! The `ssh` capability: a component on one host runs a command on another
//! host of the environment through the runner's connection to it, only
//! where the environment grants it.

use crate::harness::Deployment;
use crate::sshd::Sshd;

/// Two hosts, `a` (running the root) and `b` (where its command runs),
/// both reachable with `a`'s client key and known_hosts. The root touches
/// `marker` in the login's home on `b` (tests running at once use their
/// own); `grants` is its grants table.
fn two_hosts(a: &Sshd, b: &Sshd, marker: &str, grants: &str) -> Deployment {
    b.authorize(&a.client_home.join(".ssh/id_ed25519.pub"));
    let mut known = std::fs::read_to_string(a.known_hosts()).unwrap();
    known.push_str(&std::fs::read_to_string(b.known_hosts()).unwrap());
    std::fs::write(a.known_hosts(), known).unwrap();
    for host in [a, b] {
        let _ = std::fs::remove_file(host.user_home.join(marker));
    }
    Deployment::new(&format!(
        r#"
[environment]
connect = "ssh"
target_directory = "ssh-capability"

[hosts.a]
components = ["remote"]
{a}
[hosts.b]
components = []
{b}
[components.remote]
kind = "command"
host = "b"
command = "touch"
args = ["{marker}"]
unless = ["test", "-e", "{marker}"]

{grants}
"#,
        a = a.host_keys(),
        b = b.host_keys(),
    ))
}

#[test]
fn a_granted_component_runs_a_command_on_another_host() {
    let (Some(a), Some(b)) = (Sshd::start(9), Sshd::start(10)) else { return };
    let d = two_hosts(&a, &b, "made-from-a", "[grants.remote]\nssh = [\"b\"]\ncommands = [\"touch\", \"test\"]\n");
    let first = a.run(d.path(), &["deploy", "dev"]);
    assert_eq!(first.code, 0, "{first:?}\n{}\n{}", a.log(), b.log());
    assert_eq!(first.changed(), ["a: remote"], "{}", first.stdout);
    let made = b.user_home.join("made-from-a");
    assert!(made.exists(), "the command ran on b");
    assert!(!a.user_home.join("made-from-a").exists(), "the command did not run on a");
    // Owned by b's login user: it ran through the connection to b.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&made).unwrap());
    let b_uid = String::from_utf8(std::process::Command::new("id").args(["-u", &b.user]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    assert_eq!(owner, b_uid);

    // The `unless` guard runs on b too: nothing to do the second time.
    let second = a.run(d.path(), &["deploy", "dev"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.changed().is_empty(), "{}", second.stdout);

    // Predict lists the grants the root used.
    let predicted = a.run(d.path(), &["deploy", "dev", "-P"]);
    assert_eq!(predicted.code, 0, "{predicted:?}");
    assert!(predicted.stdout.contains("Grants of a:remote"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("ssh b"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("commands test"), "{}", predicted.stdout);
    // `touch` runs only in update, which predict does not run.
    assert!(predicted.stdout.contains("commands touch  NOT USED"), "{}", predicted.stdout);
}

#[test]
fn a_host_missing_from_the_ssh_grant_is_refused() {
    let (Some(a), Some(b)) = (Sshd::start(9), Sshd::start(10)) else { return };
    let d = two_hosts(&a, &b, "not-granted-host", "[grants.remote]\ncommands = [\"touch\", \"test\"]\n");
    let run = a.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "ERROR: a: remote: verify: access denied: run `test` on host `b`: add \"b\" to `ssh` in [grants.remote] of environments/dev.toml"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("DENIED: a: remote: run `test` on host `b`"), "{}", run.stderr);
    assert!(!b.user_home.join("not-granted-host").exists());
}

#[test]
fn a_program_missing_from_the_commands_grant_is_refused_on_the_other_host_too() {
    let (Some(a), Some(b)) = (Sshd::start(9), Sshd::start(10)) else { return };
    let d = two_hosts(&a, &b, "not-granted-program", "[grants.remote]\nssh = [\"b\"]\ncommands = [\"test\"]\n");
    let run = a.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("add \"touch\" to `commands` in [grants.remote]"), "{}", run.stderr);
    assert!(!b.user_home.join("not-granted-program").exists());
}

#[test]
fn a_command_on_another_host_ends_there_at_its_timeout_with_what_it_started() {
    let (Some(a), Some(b)) = (Sshd::start(9), Sshd::start(10)) else { return };
    let d = two_hosts(&a, &b, "never-made", "[grants.remote]\nssh = [\"b\"]\ncommands = [\"sh\", \"test\"]\n");
    let env = std::fs::read_to_string(d.path().join("environments/dev.toml")).unwrap().replace(
        "command = \"touch\"\nargs = [\"never-made\"]",
        "command = \"sh\"\nargs = [\"-c\", \"sleep 3074 & sleep 3074\"]\ntimeout = 2",
    );
    d.write("environments/dev.toml", &env);
    let run = a.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("killed on the host after its timeout of 2.0s"), "{}", run.stderr);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x003074\x00"));
    assert!(!left, "the command (or what it started) still runs on the host");
}

#[test]
fn a_command_on_another_host_runs_only_in_a_granted_working_directory() {
    let (Some(a), Some(b)) = (Sshd::start(9), Sshd::start(10)) else { return };
    let grants = "[grants.remote]\nssh = [\"b\"]\ncommands = [\"touch\", \"test\"]\npaths.read = [\"~/granted\"]\n";
    let d = two_hosts(&a, &b, "cwd-made", grants);
    let granted = b.user_home.join("granted");
    let outside = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_dir_all(&granted);
    std::fs::create_dir_all(granted.join("real")).unwrap();
    std::os::unix::fs::symlink(outside.path(), granted.join("link")).unwrap();
    let status = std::process::Command::new("chown").arg("-R").arg(&b.user).arg(&granted).arg(outside.path()).status();
    assert!(status.unwrap().success());
    let env = std::fs::read_to_string(d.path().join("environments/dev.toml")).unwrap();
    let with_cwd = |cwd: &str| {
        d.write(
            "environments/dev.toml",
            &env.replace("args = [\"cwd-made\"]", &format!("args = [\"cwd-made\"]\ncwd = \"{cwd}\"")),
        );
        a.run(d.path(), &["deploy", "dev"])
    };
    // Not beneath a grant: refused before anything runs.
    let refused = with_cwd("elsewhere");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("the working directory is outside the granted paths; add \"elsewhere\" to `paths.read`"),
        "{}",
        refused.stderr
    );
    // Beneath a grant by its text, but a symlink out of it on the host.
    let linked = with_cwd("granted/link");
    assert_eq!(linked.code, 1, "{linked:?}");
    assert!(linked.stderr.contains("leads outside the granted paths"), "{}", linked.stderr);
    assert!(!outside.path().join("cwd-made").exists(), "the command ran outside its grants");
    // A real folder beneath the grant is fine.
    with_cwd("granted/real").ok();
    assert!(granted.join("real/cwd-made").exists());
}
