//! The basics of OpenSSH's client configuration (`~/.ssh/config`, or
//! `ssh_config` in the deployment): `Host` blocks with `*`/`?` patterns and
//! `!` negation, and `HostName`, `User`, `Port`, `IdentityFile`,
//! `ProxyJump`. As in OpenSSH, the first value found for a keyword wins
//! (`IdentityFile` accumulates). `Match` blocks and other keywords are
//! ignored. What batou-run cannot follow (an unreadable file, a `Port`
//! that is no number, a `ProxyJump` chain) is a [`SshConfigError`] naming
//! the file and line, reported before any host is connected to.

use std::path::Path;

/// What the configuration says about one host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub proxy_jump: Option<String>,
}

/// An ssh_config file as read: its name as the operator is shown it, and
/// its text (none: no file, an empty configuration).
#[derive(Debug, Default, Clone)]
pub struct SshConfig {
    file: String,
    text: String,
}

/// Why an ssh_config file cannot be followed: each names the file, and the
/// line when one is refused.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {problem}")]
    Line { file: String, line: usize, problem: LineProblem },
}

/// A line of ssh_config that batou-run refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("this line is not UTF-8 text")]
    NotText,
    #[error("`Port {0}` is not a port number (1 to 65535)")]
    BadPort(String),
    #[error("`ProxyJump {0}` is a chain of jump hosts: batou-run goes through one jump host")]
    JumpChain(String),
    #[error("`ProxyJump {0}`: the port after `:` is not a port number (1 to 65535)")]
    BadJumpPort(String),
}

impl LineProblem {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            LineProblem::NotText => "ssh_config is a text file; save it as UTF-8",
            LineProblem::BadPort(_) | LineProblem::BadJumpPort(_) => "write the port as a number, such as 22",
            LineProblem::JumpChain(_) => {
                "name one jump host (`ProxyJump bastion`); a jump host's own ProxyJump is not followed"
            }
        }
    }
}

impl SshConfigError {
    /// `file` or `file:line`.
    pub fn location(&self) -> String {
        match self {
            SshConfigError::Unreadable { file, .. } => file.clone(),
            SshConfigError::Line { file, line, .. } => format!("{file}:{line}"),
        }
    }

    /// What is wrong, without the location.
    pub fn problem(&self) -> String {
        match self {
            SshConfigError::Unreadable { source, .. } => format!("cannot read the SSH configuration: {source}"),
            SshConfigError::Line { problem, .. } => problem.to_string(),
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            SshConfigError::Unreadable { .. } => "make it readable, or remove it",
            SshConfigError::Line { problem, .. } => problem.hint(),
        }
    }
}

impl SshConfig {
    /// Reads `path`, shown to the operator as `shown`. A file that is not
    /// UTF-8 is refused at the line where it stops being text.
    pub fn read(path: &Path, shown: String) -> Result<SshConfig, SshConfigError> {
        let bytes = std::fs::read(path).map_err(|source| SshConfigError::Unreadable { file: shown.clone(), source })?;
        match String::from_utf8(bytes) {
            Ok(text) => SshConfig::parse(shown, text),
            Err(e) => {
                let bytes = e.as_bytes();
                let line = 1 + bytes[..e.utf8_error().valid_up_to()].iter().filter(|b| **b == b'\n').count();
                Err(SshConfigError::Line { file: shown, line, problem: LineProblem::NotText })
            }
        }
    }

    /// The configuration `text` of the file shown as `file`; lines that
    /// cannot mean anything for any host (such as `Port x`) are refused
    /// here, as OpenSSH refuses them.
    pub fn parse(file: String, text: String) -> Result<SshConfig, SshConfigError> {
        for (line, keyword, value) in lines(&text) {
            if keyword == "port" && value.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(SshConfigError::Line { file, line, problem: LineProblem::BadPort(value.to_string()) });
            }
        }
        Ok(SshConfig { file, text })
    }

    /// The settings of `host`; a ProxyJump batou-run cannot follow is
    /// refused with its line.
    pub fn lookup(&self, host: &str) -> Result<HostEntry, SshConfigError> {
        let (entry, jump_line) = lookup_lines(&self.text, host);
        self.check_jump(entry, jump_line)
    }

    /// The settings of a jump host, whose own ProxyJump is not followed.
    pub fn lookup_jump_host(&self, host: &str) -> HostEntry {
        HostEntry { proxy_jump: None, ..lookup_lines(&self.text, host).0 }
    }

    fn check_jump(&self, entry: HostEntry, jump_line: Option<usize>) -> Result<HostEntry, SshConfigError> {
        if let (Some(jump), Some(line)) = (&entry.proxy_jump, jump_line) {
            let refuse = |problem| SshConfigError::Line { file: self.file.clone(), line, problem };
            if jump.contains(',') {
                return Err(refuse(LineProblem::JumpChain(jump.clone())));
            }
            if parse_jump(jump).is_none() {
                return Err(refuse(LineProblem::BadJumpPort(jump.clone())));
            }
        }
        Ok(entry)
    }
}

/// The keyword lines of `text`: (line number, lower-case keyword, value).
fn lines(text: &str) -> impl Iterator<Item = (usize, String, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (keyword, value) = match line.find(|c: char| c.is_whitespace() || c == '=') {
            Some(i) => (&line[..i], line[i..].trim_start_matches(|c: char| c.is_whitespace() || c == '=').trim()),
            None => (line, ""),
        };
        Some((i + 1, keyword.to_ascii_lowercase(), value.trim_matches('"')))
    })
}

/// The settings of `host` in the configuration `text`.
#[cfg(test)]
fn lookup(text: &str, host: &str) -> HostEntry {
    lookup_lines(text, host).0
}

/// The settings of `host` in `text`, and the line of its `ProxyJump`.
fn lookup_lines(text: &str, host: &str) -> (HostEntry, Option<usize>) {
    let mut entry = HostEntry::default();
    let mut jump_line = None;
    // Lines before the first Host block apply to every host.
    let mut active = true;
    for (line, keyword, value) in lines(text) {
        match keyword.as_str() {
            "host" => active = host_matches(value, host),
            "match" => active = false,
            _ if !active => {}
            "hostname" if entry.host_name.is_none() => entry.host_name = Some(value.replace("%h", host)),
            "user" if entry.user.is_none() => entry.user = Some(value.to_string()),
            "port" if entry.port.is_none() => entry.port = value.parse().ok(),
            "identityfile" => entry.identity_files.push(value.to_string()),
            "proxyjump" if jump_line.is_none() => {
                jump_line = Some(line);
                entry.proxy_jump = Some(value.to_string()).filter(|v| !v.eq_ignore_ascii_case("none"))
            }
            _ => {}
        }
    }
    (entry, jump_line)
}

/// Whether a `Host` line's patterns select `host`: one pattern matches and
/// no negated one does.
fn host_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split_whitespace() {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), host.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), host.as_bytes()) {
            matched = true;
        }
    }
    matched
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first().is_some_and(|t| t.eq_ignore_ascii_case(c)) && glob(rest, &text[1..]),
    }
}

/// `[user@]host[:port]`, the form of a `ProxyJump` hop (the first of a
/// chain); none when the port is not a port number.
pub fn parse_jump(jump: &str) -> Option<(Option<String>, String, Option<u16>)> {
    let first = jump.split(',').next().unwrap_or(jump).trim();
    let (user, rest) = match first.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, first),
    };
    match rest.rsplit_once(':') {
        // `[::1]` or a bare IPv6 address has colons of its own.
        Some((h, _)) if h.contains(':') || rest.starts_with('[') => Some((user, rest.to_string(), None)),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if port > 0 => Some((user, h.to_string(), Some(port))),
            _ => None,
        },
        None => Some((user, rest.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "
User everyone
Host web*.example.com !web3.example.com
    HostName %h.internal
    Port 2222
    IdentityFile ~/.ssh/web
Host *
    User=fallback
    Port 22
    IdentityFile ~/.ssh/id_other
    ProxyJump jump@bastion:2200
";

    #[test]
    fn first_value_wins_and_patterns_match() {
        let web = lookup(CONFIG, "web1.example.com");
        assert_eq!(web.host_name.as_deref(), Some("web1.example.com.internal"));
        assert_eq!(web.user.as_deref(), Some("everyone"));
        assert_eq!(web.port, Some(2222));
        assert_eq!(web.identity_files, ["~/.ssh/web", "~/.ssh/id_other"]);
        let web3 = lookup(CONFIG, "web3.example.com");
        assert_eq!((web3.host_name, web3.port), (None, Some(22)));
        assert_eq!(
            parse_jump(web3.proxy_jump.as_deref().unwrap()),
            Some((Some("jump".into()), "bastion".into(), Some(2200)))
        );
        assert_eq!(parse_jump("bastion"), Some((None, "bastion".into(), None)));
        assert_eq!(parse_jump("bastion:ssh"), None);
    }

    fn refused(result: Result<impl std::fmt::Debug, SshConfigError>) -> (String, usize, LineProblem) {
        match result {
            Err(SshConfigError::Line { file, line, problem }) => (file, line, problem),
            other => panic!("not a refused line: {other:?}"),
        }
    }

    #[test]
    fn refused_lines_are_named_with_file_and_line() {
        let text = "Host a\n  ProxyJump one,two\nHost b\n  ProxyJump jump:twenty\nHost c\n  HostName c.example\n";
        let config = SshConfig::parse("ssh_config".into(), text.into()).unwrap();
        assert_eq!(refused(config.lookup("a")), ("ssh_config".into(), 2, LineProblem::JumpChain("one,two".into())));
        assert_eq!(refused(config.lookup("b")).1, 4);
        // A chain for another host is no concern of this one.
        assert_eq!(config.lookup("c").unwrap().host_name.as_deref(), Some("c.example"));
        // A jump host's own ProxyJump is not followed, so not refused.
        assert_eq!(config.lookup_jump_host("a").proxy_jump, None);
        let error = config.lookup("a").unwrap_err();
        assert!(error.to_string().starts_with("ssh_config:2: `ProxyJump one,two` is a chain"), "{error}");

        let bad_port = SshConfig::parse("cfg".into(), "Host x\n\n  Port 70000\n".into());
        assert_eq!(refused(bad_port), ("cfg".into(), 3, LineProblem::BadPort("70000".into())));
    }

    #[test]
    fn a_file_that_is_not_text_is_refused_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh_config");
        std::fs::write(&path, b"Host a\n  User \xff\n").unwrap();
        assert_eq!(refused(SshConfig::read(&path, "ssh_config".into())).1, 2);
        let missing = SshConfig::read(&dir.path().join("none"), "none".into()).unwrap_err();
        assert!(matches!(missing, SshConfigError::Unreadable { .. }), "{missing:?}");
        assert!(missing.to_string().starts_with("cannot read none: "), "{missing}");
    }
}
