//! known_hosts as OpenSSH reads it: plain and hashed (`|1|salt|hash`) host
//! patterns with `*`, `?` and `!`, `[host]:port` for other ports, and the
//! markers `@revoked` (a key refused always) and `@cert-authority` (which
//! batou-run does not support: it checks plain host keys, and says so).
//!
//! A host listed with a key of any type is known: a key it offers that no
//! line of it lists is a CHANGED key, whatever its type, as OpenSSH
//! treats it; only a host no line names is unknown.

use std::path::Path;

use base64ct::Encoding;
use hmac::{KeyInit, Mac};
use russh::keys::PublicKey;

/// What known_hosts says of a key a host offers.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No line names the host.
    Unknown,
    /// Lines name the host, none with this key: the first such line.
    Changed {
        line: usize,
    },
    /// A `@revoked` line lists this key.
    Revoked {
        line: usize,
    },
    /// Only `@cert-authority` lines name the host.
    CertAuthorityOnly {
        line: usize,
    },
}

/// Checks `key` offered by `address` (`port`) against the file's lines.
pub fn check(path: &Path, address: &str, port: u16, key: &PublicKey) -> std::io::Result<Verdict> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(verdict(&text, address, port, key))
}

fn verdict(text: &str, address: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = if port == 22 { address.to_string() } else { format!("[{address}]:{port}") };
    let mut known = false;
    let mut listed = None;
    let mut cert_authority = None;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let mut words = line.split_whitespace();
        let Some(mut first) = words.next() else { continue };
        if first.starts_with('#') {
            continue;
        }
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            let Some(next) = words.next() else { continue };
            first = next;
        }
        let (Some(_kind), Some(blob)) = (words.next(), words.next()) else { continue };
        let same_key = russh::keys::parse_public_key_base64(blob).is_ok_and(|k| k.key_data() == key.key_data());
        match marker {
            Some("revoked") if same_key && (first == "*" || matches(first, &name)) => {
                return Verdict::Revoked { line: number };
            }
            Some("revoked") => {}
            Some(_) if matches(first, &name) => {
                cert_authority.get_or_insert(number);
            }
            Some(_) => {}
            // Not returned at once: a `@revoked` line further down wins.
            None if matches(first, &name) => {
                known |= same_key;
                listed.get_or_insert(number);
            }
            None => {}
        }
    }
    if known {
        return Verdict::Known;
    }
    match (listed, cert_authority) {
        (Some(line), _) => Verdict::Changed { line },
        (None, Some(line)) => Verdict::CertAuthorityOnly { line },
        (None, None) => Verdict::Unknown,
    }
}

/// Whether a line's host field names `name`: one hashed name, or a comma
/// list of patterns where a matching `!pattern` excludes the host.
fn matches(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `salt|hash`: HMAC-SHA1 of the name keyed by the salt, both base64.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (base64ct::Base64::decode_vec(salt), base64ct::Base64::decode_vec(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else { return false };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` as OpenSSH's patterns mean them (case-insensitive).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p.eq_ignore_ascii_case(t) => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC";

    fn key(blob: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(blob).unwrap()
    }

    #[test]
    fn a_host_listed_with_another_key_of_any_type_is_changed() {
        let text = format!("# comment\n[10.0.0.1]:2222 ssh-ed25519 {OTHER}\n");
        assert_eq!(verdict(&text, "10.0.0.1", 2222, &key(ED)), Verdict::Changed { line: 2 });
        assert_eq!(verdict(&text, "10.0.0.1", 2222, &key(OTHER)), Verdict::Known);
        assert_eq!(verdict(&text, "10.0.0.1", 22, &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn revoked_keys_are_refused_even_when_listed() {
        let text = format!("web ssh-ed25519 {ED}\n@revoked * ssh-ed25519 {ED}\n");
        assert_eq!(verdict(&text, "web", 22, &key(ED)), Verdict::Revoked { line: 2 });
        assert_eq!(verdict(&text, "web", 22, &key(OTHER)), Verdict::Changed { line: 1 });
        let text = format!("@revoked * ssh-ed25519 {ED}\nweb ssh-ed25519 {ED}\n");
        assert_eq!(verdict(&text, "web", 22, &key(ED)), Verdict::Revoked { line: 1 });
    }

    #[test]
    fn patterns_negations_and_hashed_names() {
        let text = format!("*.example.com,!db.example.com ssh-ed25519 {ED}\n");
        assert_eq!(verdict(&text, "web.example.com", 22, &key(ED)), Verdict::Known);
        assert_eq!(verdict(&text, "db.example.com", 22, &key(ED)), Verdict::Unknown);
        // `ssh-keygen -H` of "web" with this salt.
        let salt = base64ct::Base64::encode_string(b"0123456789abcdefghij");
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").unwrap();
        mac.update(b"web");
        let hash = base64ct::Base64::encode_string(&mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} ssh-ed25519 {OTHER}\n");
        assert_eq!(verdict(&text, "web", 22, &key(ED)), Verdict::Changed { line: 1 });
        assert_eq!(verdict(&text, "other", 22, &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn cert_authority_lines_are_named() {
        let text = format!("@cert-authority *.example.com ssh-ed25519 {OTHER}\n");
        assert_eq!(verdict(&text, "web.example.com", 22, &key(ED)), Verdict::CertAuthorityOnly { line: 1 });
    }
}
