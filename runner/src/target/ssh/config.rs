//! The basics of OpenSSH's client configuration (`~/.ssh/config`, or
//! `ssh_config` in the deployment): `Host` blocks with `*`/`?` patterns and
//! `!` negation, and `HostName`, `User`, `Port`, `IdentityFile`,
//! `ProxyJump`. As in OpenSSH, the first value found for a keyword wins
//! (`IdentityFile` accumulates). `Match` blocks and other keywords are
//! ignored.

/// What the configuration says about one host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub proxy_jump: Option<String>,
}

/// The settings of `host` in the configuration `text`.
pub fn lookup(text: &str, host: &str) -> HostEntry {
    let mut entry = HostEntry::default();
    // Lines before the first Host block apply to every host.
    let mut active = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, value) = match line.find(|c: char| c.is_whitespace() || c == '=') {
            Some(i) => (&line[..i], line[i..].trim_start_matches(|c: char| c.is_whitespace() || c == '=').trim()),
            None => (line, ""),
        };
        let value = value.trim_matches('"');
        match keyword.to_ascii_lowercase().as_str() {
            "host" => active = host_matches(value, host),
            "match" => active = false,
            _ if !active => {}
            "hostname" if entry.host_name.is_none() => entry.host_name = Some(value.replace("%h", host)),
            "user" if entry.user.is_none() => entry.user = Some(value.to_string()),
            "port" if entry.port.is_none() => entry.port = value.parse().ok(),
            "identityfile" => entry.identity_files.push(value.to_string()),
            "proxyjump" if entry.proxy_jump.is_none() => {
                entry.proxy_jump = Some(value.to_string()).filter(|v| !v.eq_ignore_ascii_case("none"))
            }
            _ => {}
        }
    }
    entry
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

/// `[user@]host[:port]`, the form of a `ProxyJump` hop.
pub fn parse_jump(jump: &str) -> (Option<String>, String, Option<u16>) {
    let first = jump.split(',').next().unwrap_or(jump).trim();
    let (user, rest) = match first.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, first),
    };
    match rest.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (user, h.to_string(), p.parse().ok()),
        _ => (user, rest.to_string(), None),
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
            (Some("jump".into()), "bastion".into(), Some(2200))
        );
        assert_eq!(parse_jump("bastion"), (None, "bastion".into(), None));
    }
}
