//! Faults during SSH deploys (see sshd.rs): the connection dropped, the
//! agent killed, the host's disk full. Each is a clear error naming the host and the component
//! in progress, leaves no half-written file, and the next deploy converges.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::FIXTURE_LOOPER;
use crate::harness::{Deployment, Run};
use crate::sshd::{Sshd, descendants, kill};

/// Host `web` with a file root and, if `spin`, a root whose update loops
/// (for up to a minute: long enough to act while it runs).
fn write_env(d: &Deployment, sshd: &Sshd, dir: &str, spin: bool) {
    let (roots, spin) = if spin {
        (r#"["motd", "spin"]"#, "[components.spin]\nkind = \"looper\"\nwhen = \"update\"\n")
    } else {
        (r#"["motd"]"#, "")
    };
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[environment]
connect = "ssh"
target_directory = "{dir}"
timeout = 60

[hosts.web]
components = {roots}
{host}

[components.motd]
kind = "file"
path = "motd.txt"
content = "hello\n"

{spin}"#,
            host = sshd.host_keys()
        ),
    );
}

/// Starts a deploy of the looper and returns once the agent runs its update.
fn deploy_until_the_loop(sshd: &Sshd, d: &Deployment) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut deploy = sshd
        .command(d.path(), &["deploy", "dev", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(deploy.stdout.take().unwrap());
    let mut seen = String::new();
    // The agent reports the change before the update (which loops) runs.
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut stderr = String::new();
            deploy.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("the deploy ended before the looper's update: {seen}\n{stderr}\n{}", sshd.log());
        }
        seen.push_str(&line);
        if line.contains(r#""event":"changed""#) && line.contains(r#""spin""#) {
            break (deploy, stdout, seen);
        }
    }
}

/// The one agent process of `sshd`'s login user.
fn the_agent(sshd: &Sshd) -> u32 {
    let started = Instant::now();
    loop {
        let agents = sshd.agents();
        if agents.len() == 1 {
            return agents[0];
        }
        assert!(started.elapsed() < Duration::from_secs(10), "one agent process: {agents:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(mut deploy: Child, mut stdout: BufReader<std::process::ChildStdout>, mut seen: String) -> Run {
    stdout.read_to_string(&mut seen).unwrap();
    let mut stderr = String::new();
    deploy.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = deploy.wait().unwrap();
    Run { code: status.code().unwrap_or(-1), stdout: seen, stderr }
}

/// Kills the agents left and waits until they are gone.
fn no_agents_left(sshd: &Sshd) {
    let started = Instant::now();
    loop {
        let agents = sshd.agents();
        if agents.is_empty() {
            return;
        }
        agents.into_iter().for_each(kill);
        assert!(started.elapsed() < Duration::from_secs(10), "the agents do not die");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temporary_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            temporary_files(&path, out);
        } else if entry.file_name().to_string_lossy().contains(".batou-tmp") {
            out.push(path.display().to_string());
        }
    }
}

/// After a fault: nothing half written, and the deploy without the looper
/// converges (a second run changes nothing).
fn rerun_converges(sshd: &Sshd, d: &Deployment, dir: &str) {
    let mut leftovers = Vec::new();
    temporary_files(&sshd.user_home.join(dir), &mut leftovers);
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
    write_env(d, sshd, dir, false);
    sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert_eq!(std::fs::read_to_string(sshd.user_home.join(dir).join("work/motd/motd.txt")).unwrap(), "hello\n");
    let again = sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
}

#[test]
fn a_connection_dropped_mid_deploy_names_the_host_and_component() {
    let Some(sshd) = Sshd::start(3) else { return };
    no_agents_left(&sshd);
    let d = Deployment::new("");
    d.own_module("looper", FIXTURE_LOOPER);
    write_env(&d, &sshd, "dropped", true);
    let (deploy, stdout, seen) = deploy_until_the_loop(&sshd, &d);
    let agent = the_agent(&sshd);
    // The sshd processes serving the connection; the agent's TCP is theirs.
    let session: Vec<u32> = descendants(sshd.pid()).into_iter().filter(|&p| p != agent).collect();
    assert!(!session.is_empty(), "sshd serves the connection");
    session.into_iter().for_each(kill);
    let run = finish(deploy, stdout, seen);
    // The agent, left without its controller, stops by itself.
    let started = Instant::now();
    while !sshd.agents().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the agent goes on without its controller");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(run.code, 1, "{run:?}");
    let expected = format!(
        "host web: the agent ended before the deploy finished (the SSH connection to {}@127.0.0.1:{} was lost",
        sshd.user, sshd.port
    );
    assert!(run.stdout.contains(&expected), "{run:?}");
    assert!(run.stdout.contains("the last component it reported was `spin`"), "{run:?}");
    assert!(run.stdout.contains(r#""failed":["web:spin"]"#), "{run:?}");
    no_agents_left(&sshd);
    rerun_converges(&sshd, &d, "dropped");
}

#[test]
fn an_agent_killed_mid_deploy_names_the_host_and_component() {
    let Some(sshd) = Sshd::start(4) else { return };
    no_agents_left(&sshd);
    let d = Deployment::new("");
    d.own_module("looper", FIXTURE_LOOPER);
    write_env(&d, &sshd, "killed", true);
    let (deploy, stdout, seen) = deploy_until_the_loop(&sshd, &d);
    kill(the_agent(&sshd));
    let run = finish(deploy, stdout, seen);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("host web: the agent ended before the deploy finished (the agent was killed by signal KILL"),
        "{run:?}"
    );
    assert!(run.stdout.contains("the last component it reported was `spin`"), "{run:?}");
    // spin's update had begun (and motd's content changed, on a first run):
    // the summary counts what was printed as changed, though the agent
    // never said how it ended.
    let printed = run.stdout.lines().filter(|l| l.contains(r#""event":"changed""#)).count() as u64;
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(printed >= 1, "{run:?}");
    assert_eq!((summary["event"].as_str(), summary["changed"].as_u64()), (Some("summary"), Some(printed)), "{run:?}");
    rerun_converges(&sshd, &d, "killed");
}

/// A size-limited file system at `dir`, owned by the login user; `None`
/// where this machine does not allow mounting one.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, owner: &str, size: &str) -> Option<SmallDisk> {
        let _ = std::process::Command::new("umount").arg(dir).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let uid = std::process::Command::new("id").args(["-u", owner]).output().unwrap();
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
        let options = format!("size={size},uid={uid},mode=0755");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("skipped: this machine does not allow mounting a small file system");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_on_the_host_keeps_the_old_file_and_names_host_and_component() {
    let Some(sshd) = Sshd::start(8) else { return };
    let Some(disk) = SmallDisk::mount(&sshd.user_home.join("full"), &sshd.user, "64k") else { return };
    let d = Deployment::new("");
    write_env(&d, &sshd, "full", false);
    sshd.run(d.path(), &["deploy", "dev"]).ok();
    let motd = sshd.user_home.join("full/work/motd/motd.txt");
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "hello\n");

    // New content larger than the disk: the write fails, the old file stays.
    let big = "x".repeat(200 << 10);
    let env = std::fs::read_to_string(d.path().join("environments/dev.toml")).unwrap();
    d.write("environments/dev.toml", &env.replace("content = \"hello\\n\"", &format!("content = \"{big}\"")));
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("web: motd > content('motd.txt'): update:"), "{}", run.stderr);
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "hello\n", "the old file is intact");
    let mut leftovers = Vec::new();
    temporary_files(&sshd.user_home.join("full"), &mut leftovers);
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");

    // With room again, the same deploy converges.
    drop(disk);
    let _ = std::fs::remove_dir_all(sshd.user_home.join("full"));
    sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), big);
}

/// Writes the login user's `~/.ssh/rc`, which sshd runs (its output on the
/// session's stdout) before the command, as a startup file would.
fn login_rc(sshd: &Sshd, script: &str) {
    let dir = sshd.user_home.join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rc"), script).unwrap();
    let status = std::process::Command::new("chown").arg("-R").arg(&sshd.user).arg(&dir).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_login_banner_without_a_newline_or_a_login_that_hangs_does_not_hang_the_deploy() {
    let Some(sshd) = Sshd::start(13) else { return };
    let d = Deployment::new("");
    write_env(&d, &sshd, "banner", false);
    login_rc(&sshd, "printf 'Welcome to web!'\n");
    sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert_eq!(std::fs::read_to_string(sshd.user_home.join("banner/work/motd/motd.txt")).unwrap(), "hello\n");

    // A login that never gets to the script: the deploy ends, saying what
    // the host printed.
    login_rc(&sshd, "printf 'Press any key'\nsleep 600\n");
    let hung = sshd.command(d.path(), &["deploy", "dev"]).env("BATOU_RUN_BOOTSTRAP_TIMEOUT", "2").output().unwrap();
    let stderr = String::from_utf8_lossy(&hung.stderr);
    assert_eq!(hung.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not start the bootstrap script within 2s"), "{stderr}");
    assert!(stderr.contains("it printed: Press any key"), "{stderr}");
    std::fs::remove_file(sshd.user_home.join(".ssh/rc")).unwrap();
}

/// The agent binary cached on the host for `sshd`'s login.
fn cached_agent(sshd: &Sshd) -> std::path::PathBuf {
    let dir = sshd.user_home.join(".cache/batou-run");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("batou-run-") && !name.ends_with(".tmp")
        })
        .expect("a cached agent")
}

#[test]
fn a_cached_agent_others_could_swap_or_a_broken_one_is_replaced_and_a_shared_cache_refused() {
    use std::os::unix::fs::PermissionsExt;
    let Some(sshd) = Sshd::start(14) else { return };
    // The login's home outlives the test: agents of earlier builds go.
    let _ = std::fs::remove_dir_all(sshd.user_home.join(".cache/batou-run"));
    let d = Deployment::new("");
    write_env(&d, &sshd, "agentcheck", false);
    let agent_bytes = |run: &Run| -> u64 {
        let last: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
        last["uploaded"]["agent_bytes"].as_u64().unwrap()
    };
    sshd.run(d.path(), &["deploy", "dev", "--json"]).ok();
    let agent = cached_agent(&sshd);
    let size = std::fs::metadata(&agent).unwrap().len();
    assert_eq!(agent_bytes(&sshd.run(d.path(), &["deploy", "dev", "--json"]).ok()), 0, "the cached agent is used");

    // Writable by others: someone could have swapped it. Truncated. The
    // right size but not a program. Each is replaced, never run.
    let breakages: [(&str, &dyn Fn()); 3] = [
        ("writable by others", &|| std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o777)).unwrap()),
        ("truncated", &|| std::fs::File::options().write(true).open(&agent).unwrap().set_len(size / 2).unwrap()),
        ("garbage", &|| std::fs::write(&agent, vec![0x42u8; size as usize]).unwrap()),
    ];
    for (what, break_it) in breakages {
        break_it();
        let run = sshd.run(d.path(), &["deploy", "dev", "--json"]).ok();
        assert!(agent_bytes(&run) > 0, "{what}: the agent was not uploaded again");
        let meta = std::fs::metadata(&agent).unwrap();
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (size, 0o700), "{what}");
    }

    // A cache folder that is not the login's is refused.
    let cache = sshd.user_home.join(".cache/batou-run");
    std::os::unix::fs::chown(&cache, Some(0), Some(0)).unwrap();
    let refused = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("is not private to"), "{}", refused.stderr);
    let status = std::process::Command::new("chown").arg("-R").arg(&sshd.user).arg(&cache).status().unwrap();
    assert!(status.success());
    sshd.run(d.path(), &["deploy", "dev"]).ok();
}
