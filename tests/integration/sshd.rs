//! A real OpenSSH server per simulated host, for SSH deploys: `sshd` on
//! 127.0.0.1 with a free port, its own host key, a client key in the
//! authorized keys, and an unprivileged login user `batou-ssh-N`
//! (created if missing, which needs root, as CI runs). The controller's
//! HOME is a temporary folder with `.ssh/id_ed25519` and a known_hosts
//! listing the server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Run, cache_dir};

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub user: String,
    /// The login user's home on the "remote" host.
    pub user_home: PathBuf,
    /// The controller's HOME: .ssh/id_ed25519, .ssh/known_hosts.
    pub client_home: PathBuf,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts an sshd whose login user is `batou-ssh-{n}`; `None` (and a
    /// note on stderr) where that cannot work: not root, or no sshd.
    pub fn start(n: u32) -> Option<Sshd> {
        Sshd::start_with(n, "")
    }

    /// `start`, with lines added to sshd_config (after the others, so a
    /// `Match` block may end it).
    pub fn start_with(n: u32, extra_config: &str) -> Option<Sshd> {
        Sshd::start_configured(n, "VERBOSE", extra_config)
    }

    /// `start`, logging at `level` (DEBUG1 names each forwarded
    /// connection, which VERBOSE does not).
    pub fn start_logging(n: u32, level: &str) -> Option<Sshd> {
        Sshd::start_configured(n, level, "")
    }

    fn start_configured(n: u32, level: &str, extra_config: &str) -> Option<Sshd> {
        if !crate::harness::is_root() || !Path::new("/usr/sbin/sshd").exists() {
            eprintln!("skipped: SSH tests need root and /usr/sbin/sshd (apt-get install openssh-server)");
            return None;
        }
        let user = format!("batou-ssh-{n}");
        // Tests start servers at the same time; two `useradd`s of one user
        // at once leave a home owned by a uid that is not the user's.
        static USERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let creating = USERS.lock().unwrap_or_else(|e| e.into_inner());
        if !Command::new("id")
            .arg("-u")
            .arg(&user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            // A locked account (`!` password) may not log in even with a key.
            let status = Command::new("useradd").args(["-m", "-s", "/bin/sh", "-p", "*", &user]).status().unwrap();
            // Another test may have created it meanwhile.
            assert!(status.success() || home_of(&user).is_some(), "useradd {user} failed");
        }
        let user_home = home_of(&user).expect("the user's home");
        // A home left by an earlier user of that name belongs to this one.
        let status = Command::new("chown").arg(format!("{user}:{user}")).arg(&user_home).status().unwrap();
        assert!(status.success(), "chown of {}", user_home.display());
        drop(creating);
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        set_mode(d, 0o755);
        keygen(&d.join("host_key"));
        let client_home = d.join("client");
        std::fs::create_dir_all(client_home.join(".ssh")).unwrap();
        keygen(&client_home.join(".ssh/id_ed25519"));
        let authorized = d.join("authorized_keys");
        std::fs::copy(client_home.join(".ssh/id_ed25519.pub"), &authorized).unwrap();
        set_mode(&authorized, 0o644);
        let port = free_port();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(client_home.join(".ssh/known_hosts"), format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")))
            .unwrap();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile none\nUsePAM no\n\
                 StrictModes no\nAuthorizedKeysFile {authorized}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nAllowUsers {user}\nLogLevel {level}\n{extra_config}",
                host_key = d.join("host_key").display(),
                authorized = authorized.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let sshd = Sshd { child, port, user, user_home, client_home, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}: {}", sshd.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(sshd)
    }

    /// sshd's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The `[hosts.NAME]` keys that reach this server.
    pub fn host_keys(&self) -> String {
        format!("address = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n", self.port, self.user)
    }

    /// The listening sshd's process id: its children serve the connections.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agents running from the login user's cache.
    pub fn agents(&self) -> Vec<u32> {
        let cache = self.user_home.join(".cache/batou-run");
        processes().into_iter().filter(|p| p.exe.starts_with(&cache)).map(|p| p.pid).collect()
    }

    /// A second user `batou-svc-{n}` that the login user may run anything
    /// as without a password (`/etc/sudoers.d/batou-test-{n}`), if `allowed`;
    /// `None` without sudo.
    pub fn service_user(&self, n: u32, allowed: bool) -> Option<(String, u32)> {
        if !Path::new("/usr/bin/sudo").exists() {
            eprintln!("skipped: service_user tests need sudo (apt-get install sudo)");
            return None;
        }
        let user = format!("batou-svc-{n}");
        if home_of(&user).is_none() {
            let status = Command::new("useradd").args(["-m", "-s", "/bin/sh", "-p", "*", &user]).status().unwrap();
            assert!(status.success() || home_of(&user).is_some(), "useradd {user} failed");
        }
        let rule = PathBuf::from(format!("/etc/sudoers.d/batou-test-{n}"));
        if allowed {
            std::fs::write(&rule, format!("{} ALL=({user}) NOPASSWD: ALL\n", self.user)).unwrap();
            set_mode(&rule, 0o440);
        } else {
            let _ = std::fs::remove_file(&rule);
        }
        let out = Command::new("id").args(["-u", &user]).output().unwrap();
        Some((user, String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()))
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.client_home.join(".ssh/known_hosts")
    }

    /// The command `batou-run ARGS --deployment DIR` with HOME set to the
    /// client's.
    pub fn command(&self, deployment: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_batou-run"));
        command
            .args(args)
            .arg("--deployment")
            .arg(deployment)
            .env("BATOU_RUN_CACHE", cache_dir())
            .env("HOME", &self.client_home)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("BATOU_RUN_AGENT_BINARY");
        command
    }

    /// `batou-run ARGS --deployment DIR` with HOME set to the client's.
    pub fn run(&self, deployment: &Path, args: &[&str]) -> Run {
        let out = self.command(deployment, args).output().expect("run batou-run");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The server's own folder (keys, config), removed with it.
    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a new key pair at `path` (no passphrase).
    pub fn new_key(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        keygen(&path);
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn home_of(user: &str) -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f[0] == user).map(|f| PathBuf::from(f[5]))
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "batou-run-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sshd {
    /// Lets the holder of `public_key` log in here too (a controller that
    /// reaches several hosts with one key).
    pub fn authorize(&self, public_key: &Path) {
        let key = std::fs::read_to_string(public_key).unwrap();
        let path = self.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&path).unwrap();
        keys.push_str(&key);
        std::fs::write(path, keys).unwrap();
    }
}

/// A process as /proc shows it.
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub exe: PathBuf,
}

pub fn processes() -> Vec<Process> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let Some(ppid) = after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) else { continue };
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        out.push(Process { pid, ppid, exe });
    }
    out
}

/// Every process below `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let all = processes();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// SIGKILLs `pid`.
pub fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}
