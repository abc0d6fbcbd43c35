//! ssh_config as OpenSSH reads it: batou-run asks OpenSSH's own client for
//! each host's settings (`ssh -G`), so `Include`, `Match` (host,
//! originalhost, user, localuser, exec, canonical, final, all), `%` tokens,
//! `CanonicalizeHostname` and the first-value-wins rule mean exactly what
//! they mean to `ssh`: the parser that defines the format, maintained with
//! it. (batou itself runs `ssh`, so this is also how batou reads them. No
//! Rust parser reads `Match`: ssh2-config 0.9 takes a `Match` line for an
//! unknown keyword and applies what follows it to the Host block before.)
//!
//! The files read: the deployment's `ssh_config` alone if it has one (as
//! `ssh -F` would), else `~/.ssh/config` then `/etc/ssh/ssh_config`, as
//! `ssh` reads them, `~` being batou-run's HOME (through a configuration
//! that includes the two, given on ssh's standard input, `-F /dev/stdin`:
//! no file another user could swap). Without OpenSSH's client a configuration
//! file is an error that says to install it; without any file, hosts are
//! reached with the environment's settings and OpenSSH's defaults.
//!
//! batou-run follows `HostName`, `User`, `Port`, `IdentityFile`,
//! `IdentitiesOnly`, `IdentityAgent`, `ProxyJump` (chains of any length; the
//! first hop's own settings as `ssh` takes them), `ProxyCommand`,
//! `HostKeyAlias`, `UserKnownHostsFile` (its first file),
//! `StrictHostKeyChecking accept-new` and `ConnectTimeout`. What would
//! change where or how it connects but that it cannot do is refused with
//! the host and the option ([`Unsupported`]); what does not concern a deploy
//! (forwardings, multiplexing, terminals, environment variables, algorithm
//! lists, logging) is `ssh`'s alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the configuration says about one host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Where to connect (`HostName`, `%h` expanded).
    pub host_name: String,
    /// The login (`User`), when the configuration names one.
    pub user: Option<String>,
    pub port: u16,
    /// `IdentityFile`s, `~` not expanded.
    pub identity_files: Vec<String>,
    /// `IdentitiesOnly yes`: only keys of the identity files, also from
    /// ssh-agent.
    pub identities_only: bool,
    /// `IdentityAgent`: a socket, `none`, or `SSH_AUTH_SOCK` (the default).
    pub identity_agent: Option<String>,
    /// `ProxyJump`'s hops, in order.
    pub proxy_jump: Vec<Hop>,
    /// `ProxyCommand`, its `%` tokens not yet expanded.
    pub proxy_command: Option<String>,
    /// `HostKeyAlias`: the name the host key is listed under.
    pub host_key_alias: Option<String>,
    /// `UserKnownHostsFile`'s first file, when it is not OpenSSH's default.
    pub known_hosts: Option<String>,
    /// `StrictHostKeyChecking accept-new`.
    pub accept_new: bool,
    /// `ConnectTimeout`, seconds.
    pub connect_timeout: Option<u64>,
}

/// One hop of a `ProxyJump`: `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// The SSH client configuration of a deploy.
#[derive(Debug, Default)]
pub struct SshConfig {
    /// Jump hosts' settings asked so far: many hosts behind one bastion
    /// ask `ssh -G` about it once.
    hops: std::sync::Mutex<BTreeMap<(String, Option<String>, Option<u16>), HostEntry>>,
    /// What `ssh -F` is given; none when there is no file to read.
    file: Option<PathBuf>,
    /// What ssh reads on its standard input (with `-F /dev/stdin`).
    stdin: Option<String>,
    /// Files as ssh names them in its messages, and as the operator is
    /// shown them (the deployment's own file by its name in it).
    shown: Vec<(String, String)>,
    /// The file the operator is shown for settings without a line.
    main: String,
    /// OpenSSH's client.
    ssh: PathBuf,
    /// Where `~` is, for OpenSSH's default known_hosts.
    passwd_home: Option<PathBuf>,
}

/// Why an ssh_config cannot be followed: each names the file, and the line
/// when OpenSSH says it.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {problem}")]
    Line { file: String, line: usize, problem: String },
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
    #[error("{file}: {problem}")]
    NoClient { file: String, problem: String },
    #[error("{0}")]
    Unsupported(Unsupported),
}

/// A setting batou-run cannot follow for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub file: String,
    pub host: String,
    pub problem: String,
    pub hint: &'static str,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.host, self.problem)
    }
}

impl SshConfigError {
    /// `file` or `file:line`.
    pub fn location(&self) -> String {
        match self {
            SshConfigError::Unreadable { file, .. }
            | SshConfigError::File { file, .. }
            | SshConfigError::NoClient { file, .. } => file.clone(),
            SshConfigError::Line { file, line, .. } => format!("{file}:{line}"),
            SshConfigError::Unsupported(u) => u.file.clone(),
        }
    }

    /// What is wrong, without the location.
    pub fn problem(&self) -> String {
        match self {
            SshConfigError::Unreadable { source, .. } => format!("cannot read the SSH configuration: {source}"),
            SshConfigError::Line { problem, .. }
            | SshConfigError::File { problem, .. }
            | SshConfigError::NoClient { problem, .. } => problem.clone(),
            SshConfigError::Unsupported(u) => u.problem.clone(),
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            SshConfigError::Unreadable { .. } => "make it readable, or remove it",
            SshConfigError::Line { .. } | SshConfigError::File { .. } => {
                "this is OpenSSH's own reading of the file (`ssh -G`): mend the line as `ssh` asks"
            }
            SshConfigError::NoClient { .. } => {
                "install OpenSSH's client (Debian: apt-get install openssh-client), which batou-run asks how to read ssh_config"
            }
            SshConfigError::Unsupported(u) => u.hint,
        }
    }
}

impl SshConfig {
    /// The configuration of a deploy from `deployment` (its `ssh_config`),
    /// else the user's (below `home`) and the system's files.
    pub fn find(deployment: &Path, home: &Path) -> Result<SshConfig, SshConfigError> {
        let ssh = crate::system::process::which("ssh");
        let own = deployment.join("ssh_config");
        let user = home.join(".ssh").join("config");
        let system = PathBuf::from("/etc/ssh/ssh_config");
        // SAFETY: geteuid has no preconditions.
        let passwd_home = crate::system::users::home_of(unsafe { libc::geteuid() });
        if own.is_file() {
            let shown = "ssh_config".to_string();
            std::fs::File::open(&own).map_err(|source| SshConfigError::Unreadable { file: shown.clone(), source })?;
            let Some(ssh) = ssh else {
                return Err(no_client(shown));
            };
            return Ok(SshConfig {
                hops: Default::default(),
                file: Some(own.clone()),
                stdin: None,
                shown: vec![(own.display().to_string(), shown.clone())],
                main: shown,
                ssh,
                passwd_home,
            });
        }
        let files: Vec<PathBuf> = [user, system].into_iter().filter(|p| p.is_file()).collect();
        let Some(first) = files.first() else { return Ok(SshConfig::default()) };
        let main = first.display().to_string();
        let Some(ssh) = ssh else { return Err(no_client(main)) };
        // OpenSSH reads `~/.ssh/config` from the passwd entry's home; a
        // configuration that includes both makes it batou-run's HOME, whose
        // keys and known_hosts it uses too.
        let text: String = files.iter().map(|f| format!("Include \"{}\"\n", f.display())).collect();
        let shown = files.iter().map(|f| (f.display().to_string(), f.display().to_string())).collect();
        Ok(SshConfig {
            hops: Default::default(),
            file: Some(PathBuf::from("/dev/stdin")),
            stdin: Some(text),
            shown,
            main,
            ssh,
            passwd_home,
        })
    }

    /// The configuration `text` as the deployment's `ssh_config`, for
    /// tests.
    #[cfg(test)]
    fn of_text(text: &str) -> (tempfile::TempDir, SshConfig) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ssh_config"), text).unwrap();
        let config = SshConfig::find(dir.path(), dir.path()).unwrap();
        (dir, config)
    }

    /// The settings of each `(alias, user, port)` (the environment's
    /// user and port, which win, and which `Match user` sees), asked of
    /// `ssh -G` all at once.
    pub fn lookup_all(
        &self,
        hosts: &[(String, Option<String>, Option<u16>)],
    ) -> Vec<Result<HostEntry, SshConfigError>> {
        let Some(file) = &self.file else {
            return hosts
                .iter()
                .map(|(alias, user, port)| {
                    Ok(HostEntry {
                        host_name: alias.clone(),
                        user: user.clone(),
                        port: port.unwrap_or(22),
                        ..Default::default()
                    })
                })
                .collect();
        };
        let children: Vec<std::io::Result<std::process::Child>> = hosts
            .iter()
            .map(|(alias, user, port)| {
                let mut ssh = Command::new(&self.ssh);
                ssh.arg("-F").arg(file).arg("-G");
                if let Some(user) = user {
                    ssh.arg("-l").arg(user);
                }
                if let Some(port) = port {
                    ssh.arg("-p").arg(port.to_string());
                }
                let input = if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
                ssh.arg(alias).stdin(input).stdout(Stdio::piped()).stderr(Stdio::piped());
                let mut child = ssh.spawn()?;
                if let (Some(text), Some(mut input)) = (&self.stdin, child.stdin.take()) {
                    // A few lines: the pipe takes them whole, and ssh reads
                    // them before it writes anything.
                    std::io::Write::write_all(&mut input, text.as_bytes())?;
                }
                Ok(child)
            })
            .collect();
        children
            .into_iter()
            .zip(hosts)
            .map(|(child, (alias, ..))| {
                let output = child.and_then(|c| c.wait_with_output()).map_err(|e| SshConfigError::File {
                    file: self.main.clone(),
                    problem: format!("cannot run `{} -G {alias}`: {e}", self.ssh.display()),
                })?;
                if !output.status.success() {
                    return Err(self.refusal(alias, &String::from_utf8_lossy(&output.stderr)));
                }
                let text = String::from_utf8(output.stdout).map_err(|_| SshConfigError::File {
                    file: self.main.clone(),
                    problem: format!("the settings `ssh -G {alias}` gives are not UTF-8 text"),
                })?;
                self.entry(alias, &text)
            })
            .collect()
    }

    /// The settings of one host.
    #[cfg(test)]
    fn lookup(&self, alias: &str, user: Option<&str>, port: Option<u16>) -> Result<HostEntry, SshConfigError> {
        self.lookup_all(&[(alias.to_string(), user.map(str::to_string), port)]).pop().expect("one asked, one answered")
    }

    /// The settings of a jump host, asked of `ssh -G` once per deploy
    /// however many hosts go through it.
    pub fn lookup_hop(&self, alias: &str, user: Option<&str>, port: Option<u16>) -> Result<HostEntry, SshConfigError> {
        let key = (alias.to_string(), user.map(str::to_string), port);
        if let Some(known) = self.hops.lock().expect("not poisoned").get(&key) {
            return Ok(known.clone());
        }
        let entry = self.lookup_all(std::slice::from_ref(&key)).pop().expect("one asked, one answered")?;
        self.hops.lock().expect("not poisoned").insert(key, entry.clone());
        Ok(entry)
    }

    /// ssh's refusal of the file, at the line it names.
    fn refusal(&self, alias: &str, stderr: &str) -> SshConfigError {
        let said: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains("terminating,") && !l.starts_with("Pseudo-terminal"))
            .collect();
        for line in &said {
            // `FILE line N: what` or `FILE: line N: what`.
            if let Some((file, rest)) = line.split_once(" line ") {
                let file = file.trim_end_matches(':');
                if let Some((number, problem)) = rest.split_once(": ")
                    && let Ok(number) = number.parse::<usize>()
                {
                    return SshConfigError::Line {
                        file: self.shown(file),
                        line: number,
                        problem: problem.trim_end_matches('.').to_string(),
                    };
                }
            }
        }
        let mut problem = said.join("; ");
        for (path, shown) in &self.shown {
            problem = problem.replace(path.as_str(), shown);
        }
        SshConfigError::File { file: self.main.clone(), problem: format!("`ssh -G {alias}` refused it: {problem}") }
    }

    /// The file named for settings without a line.
    pub fn main_file(&self) -> &str {
        &self.main
    }

    fn shown(&self, file: &str) -> String {
        self.shown.iter().find(|(path, _)| path == file).map(|(_, shown)| shown.clone()).unwrap_or_else(|| file.into())
    }

    /// The entry of `alias` from `ssh -G`'s lines (`keyword value`).
    fn entry(&self, alias: &str, text: &str) -> Result<HostEntry, SshConfigError> {
        let mut entry = HostEntry { host_name: alias.to_string(), port: 22, ..Default::default() };
        let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in text.lines() {
            let (keyword, value) = line.split_once(' ').unwrap_or((line, ""));
            values.entry(keyword).or_default().push(value);
        }
        let one = |keyword: &str| values.get(keyword).and_then(|v| v.first()).copied();
        let unsupported = |problem: String, hint: &'static str| {
            SshConfigError::Unsupported(Unsupported { file: self.main.clone(), host: alias.to_string(), problem, hint })
        };
        if let Some(name) = one("hostname") {
            entry.host_name = name.to_string();
        }
        entry.user = one("user").map(str::to_string);
        if let Some(port) = one("port") {
            entry.port = port
                .parse()
                .map_err(|_| unsupported(format!("`Port {port}` is no port number"), "write the port as a number"))?;
        }
        entry.identity_files =
            values.get("identityfile").map(|v| v.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
        entry.identities_only = one("identitiesonly") == Some("yes");
        entry.identity_agent = one("identityagent").map(str::to_string);
        if let Some(jump) = one("proxyjump").filter(|j| *j != "none") {
            entry.proxy_jump = parse_jump(jump).ok_or_else(|| {
                unsupported(
                    format!("`ProxyJump {jump}` is not a list of [user@]host[:port]"),
                    "write each hop as [user@]host[:port], separated by commas",
                )
            })?;
        }
        entry.proxy_command = one("proxycommand").filter(|c| *c != "none").map(str::to_string);
        entry.host_key_alias = one("hostkeyalias").map(str::to_string);
        if let Some(files) = one("userknownhostsfile") {
            let default = self
                .passwd_home
                .as_ref()
                .map(|h| format!("{0}/.ssh/known_hosts {0}/.ssh/known_hosts2", h.display()))
                .unwrap_or_default();
            if files != default {
                entry.known_hosts = files.split_whitespace().next().map(str::to_string);
            }
        }
        match one("stricthostkeychecking") {
            Some("accept-new") => entry.accept_new = true,
            Some("false" | "no" | "off") => {
                return Err(unsupported(
                    "`StrictHostKeyChecking no` is not followed: batou-run never connects to a host whose key it cannot check".into(),
                    "use `StrictHostKeyChecking accept-new` (unknown keys are added, changed ones refused), or list the host's key in known_hosts",
                ));
            }
            _ => {}
        }
        entry.connect_timeout = one("connecttimeout").and_then(|t| t.parse().ok());
        if one("proxyusefdpass") == Some("yes") {
            return Err(unsupported(
                "`ProxyUseFdpass yes` is not supported: batou-run speaks SSH over the ProxyCommand's standard input and output".into(),
                "remove ProxyUseFdpass for hosts batou-run deploys",
            ));
        }
        for (keyword, name) in [
            ("certificatefile", "CertificateFile"),
            ("pkcs11provider", "PKCS11Provider"),
            ("knownhostscommand", "KnownHostsCommand"),
            ("bindaddress", "BindAddress"),
            ("bindinterface", "BindInterface"),
        ] {
            if let Some(value) = one(keyword).filter(|v| *v != "none") {
                return Err(unsupported(
                    format!("`{name} {value}` is not supported by batou-run's SSH client"),
                    "remove it for the hosts batou-run deploys (a `Host` or `Match` block for the others)",
                ));
            }
        }
        Ok(entry)
    }
}

fn no_client(file: String) -> SshConfigError {
    SshConfigError::NoClient {
        file,
        problem: "batou-run reads ssh_config through OpenSSH's client (`ssh -G`), and there is no `ssh` on PATH".into(),
    }
}

/// `ProxyJump`'s hops: `[user@]host[:port]` or `ssh://[user@]host[:port]`,
/// separated by commas; none when a port is not a port number.
pub fn parse_jump(jump: &str) -> Option<Vec<Hop>> {
    jump.split(',').map(|hop| parse_hop(hop.trim())).collect()
}

fn parse_hop(hop: &str) -> Option<Hop> {
    let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
    if hop.is_empty() {
        return None;
    }
    let (user, rest) = match hop.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, hop),
    };
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // `[::1]:2222`
        let (host, after) = bracketed.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host.to_string(), Some(port.parse::<u16>().ok().filter(|p| *p > 0)?)),
            None if after.is_empty() => (host.to_string(), None),
            None => return None,
        }
    } else {
        match rest.rsplit_once(':') {
            // A bare IPv6 address has colons of its own.
            Some((h, _)) if h.contains(':') => (rest.to_string(), None),
            Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().ok().filter(|p| *p > 0)?)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(Hop { user, host, port })
}

/// The `%` tokens of `ProxyCommand` and `IdentityFile`: `%h` host, `%p`
/// port, `%r` user, `%n` the name as given, `%k` the host key's name, `%u`
/// the local user, `%d` the local home, `%%` a percent sign; another token
/// is refused, naming `what` (`ProxyCommand nc %h %p`).
pub fn expand_tokens(text: &str, what: &str, host: &str, port: u16, user: &str, alias: &str) -> Result<String, String> {
    let local_user = super::local_user();
    let home = crate::home::home().map(|h| h.display().to_string()).unwrap_or_default();
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(user),
            Some('n' | 'k') => out.push_str(alias),
            Some('u') => out.push_str(&local_user),
            Some('d') => out.push_str(&home),
            Some('%') => out.push('%'),
            Some(other) => return Err(format!("`{what}`: batou-run does not know the token %{other}")),
            None => return Err(format!("`{what}` ends in a lone %")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_ssh() -> bool {
        let found = crate::system::process::which("ssh").is_some();
        if !found {
            eprintln!("skipped: no OpenSSH client (ssh) on PATH");
        }
        found
    }

    #[test]
    fn hops_are_read_as_openssh_writes_them() {
        let hops = parse_jump("jump@bastion:2200,ssh://second,[::1]:22,fe80::1").unwrap();
        assert_eq!(hops[0], Hop { user: Some("jump".into()), host: "bastion".into(), port: Some(2200) });
        assert_eq!(hops[1], Hop { user: None, host: "second".into(), port: None });
        assert_eq!(hops[2], Hop { user: None, host: "::1".into(), port: Some(22) });
        assert_eq!(hops[3].host, "fe80::1");
        assert_eq!(parse_jump("bastion:ssh"), None);
        assert_eq!(parse_jump("a,,b"), None);
        assert_eq!(hops[0].to_string(), "jump@bastion:2200");
    }

    #[test]
    fn tokens_are_expanded() {
        assert_eq!(
            expand_tokens("nc %h %p # %r %n %%", "ProxyCommand", "10.0.0.1", 2222, "deploy", "web").unwrap(),
            "nc 10.0.0.1 2222 # deploy web %"
        );
        assert!(expand_tokens("nc %h %x", "ProxyCommand nc %h %x", "h", 22, "u", "a").unwrap_err().contains("%x"));
    }

    #[test]
    fn include_and_match_host_are_read_as_openssh_reads_them() {
        if !have_ssh() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.conf");
        std::fs::write(&extra, "Host web*\n  Port 2222\n  IdentityFile ~/.ssh/web\n").unwrap();
        let (_d, config) = SshConfig::of_text(&format!(
            "Include {}\nHost web1\n  HostName 10.0.0.1\nMatch host 10.0.0.1\n  User matched\n  ProxyJump a,b@c:23\n\
             Host *\n  User fallback\n  IdentitiesOnly yes\n",
            extra.display()
        ));
        let web = config.lookup("web1", None, None).unwrap();
        assert_eq!(web.host_name, "10.0.0.1");
        assert_eq!(web.port, 2222, "from the included file");
        assert_eq!(web.user.as_deref(), Some("matched"), "Match host sees the HostName");
        assert_eq!(web.identity_files, ["~/.ssh/web"]);
        assert!(web.identities_only);
        assert_eq!(web.proxy_jump.len(), 2);
        assert_eq!(web.proxy_jump[1].to_string(), "b@c:23");
        let other = config.lookup("other", Some("deploy"), Some(2200)).unwrap();
        assert_eq!((other.host_name.as_str(), other.user.as_deref(), other.port), ("other", Some("deploy"), 2200));
        assert!(other.proxy_jump.is_empty());
    }

    #[test]
    fn a_jump_host_is_asked_about_once() {
        if !have_ssh() {
            return;
        }
        let (dir, config) = SshConfig::of_text("Host bastion\n  Port 2200\n");
        assert_eq!(config.lookup_hop("bastion", None, None).unwrap().port, 2200);
        // What ssh said is kept: the file changing now does not show.
        std::fs::write(dir.path().join("ssh_config"), "Host bastion\n  Port 2300\n").unwrap();
        assert_eq!(config.lookup_hop("bastion", None, None).unwrap().port, 2200);
        assert_eq!(config.lookup("bastion", None, None).unwrap().port, 2300);
    }

    #[test]
    fn without_a_deployment_file_the_users_config_below_home_is_read() {
        if !have_ssh() {
            return;
        }
        let deployment = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/config"), "Host web\n  Port 2345\n  Port 1\n").unwrap();
        let config = SshConfig::find(deployment.path(), home.path()).unwrap();
        assert_eq!(config.main_file(), home.path().join(".ssh/config").display().to_string());
        assert_eq!(config.lookup("web", None, None).unwrap().port, 2345, "the first value wins");
        std::fs::write(home.path().join(".ssh/config"), "Host web\n  Port 0\n").unwrap();
        let error = config.lookup("web", None, None).unwrap_err();
        assert_eq!(error.location(), format!("{}:2", home.path().join(".ssh/config").display()));
    }

    #[test]
    fn what_openssh_refuses_is_named_with_file_and_line() {
        if !have_ssh() {
            return;
        }
        let (_d, config) = SshConfig::of_text("# ports\nHost *\n  Port twenty-two\n");
        let error = config.lookup("web", None, None).unwrap_err();
        assert_eq!(error.location(), "ssh_config:3");
        assert!(error.problem().contains("twenty-two"), "{error}");
        let (_d, config) = SshConfig::of_text("Host web\n  Frobnicate yes\n");
        let error = config.lookup("web", None, None).unwrap_err();
        assert_eq!(error.location(), "ssh_config:2");
        assert!(error.problem().to_lowercase().contains("frobnicate"), "{error}");
    }

    #[test]
    fn settings_batou_run_cannot_follow_are_refused_by_name() {
        if !have_ssh() {
            return;
        }
        for (line, named) in [
            ("StrictHostKeyChecking no", "StrictHostKeyChecking no"),
            ("ProxyCommand nc %h %p\n  ProxyUseFdpass yes", "ProxyUseFdpass"),
            ("CertificateFile ~/.ssh/id-cert.pub", "CertificateFile"),
        ] {
            let (_d, config) = SshConfig::of_text(&format!("Host web\n  {line}\n"));
            let error = config.lookup("web", None, None).unwrap_err();
            assert!(matches!(error, SshConfigError::Unsupported(_)), "{error:?}");
            assert!(error.to_string().starts_with("ssh_config: web: "), "{error}");
            assert!(error.problem().contains(named), "{error}");
            // Another host is no concern of it.
            config.lookup("other", None, None).unwrap();
        }
        let (_d, config) = SshConfig::of_text("Host web\n  StrictHostKeyChecking accept-new\n  HostKeyAlias webkey\n");
        let web = config.lookup("web", None, None).unwrap();
        assert!(web.accept_new);
        assert_eq!(web.host_key_alias.as_deref(), Some("webkey"));
    }
}
