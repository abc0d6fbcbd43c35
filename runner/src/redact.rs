//! Secret values kept out of everything a person or a log sees: each is
//! replaced by a marker naming its key (`[secret components.db.password]`)
//! in deploy output, diffs, `--json` events, error messages and logs.
//!
//! One process-wide redactor, installed once the secrets are decrypted
//! (the controller) or a plan arrives (an agent), and applied where text
//! leaves the process: `output::shown` and the JSON lines (`output`), the
//! tracing writer ([`Stderr`]) and the agent's stderr relayed by the SSH
//! target. Masking at the exits rather than at every place a value could
//! be formatted is what makes "never shown" hold for messages written
//! later by code that knows nothing of secrets.
//!
//! A leaf: it knows strings, not where they came from.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

/// Shorter pieces of a secret are not masked: masking `on` or `80` in
/// every line would garble the output and protect nothing.
pub const MIN_LEN: usize = 4;

/// A secret to mask: its key (`components.db.password`,
/// `hosts.web.data.token`, `secret file tls-key`) and its value as text.
pub type Secret = (String, String);

/// Finds every piece of every secret in a text and masks it.
pub struct Redactor {
    /// What it was made of (to extend it).
    secrets: Vec<Secret>,
    matcher: Option<AhoCorasick>,
    /// The key of each pattern, by pattern index.
    keys: Vec<String>,
}

impl Redactor {
    /// A redactor of `secrets`: each line of a value (trimmed) of at least
    /// [`MIN_LEN`] characters, and its JSON-escaped form where that
    /// differs (a template writing JSON, TOML or YAML escapes quotes and
    /// backslashes the same way). Where two secrets share a piece, the
    /// first one's key names it.
    pub fn new(secrets: &[Secret]) -> Redactor {
        let mut patterns: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        for (key, value) in secrets {
            for piece in pieces(value) {
                if !patterns.contains(&piece) {
                    patterns.push(piece);
                    keys.push(key.clone());
                }
            }
        }
        let matcher = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("plain string patterns build")
        });
        Redactor { secrets: secrets.to_vec(), matcher, keys }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `text` with every secret masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.text_keys(text).0
    }

    /// `text` with every secret masked, and the keys of those found (each
    /// once, in the order first found).
    pub fn text_keys<'a>(&self, text: &'a str) -> (Cow<'a, str>, Vec<String>) {
        let Some(matcher) = &self.matcher else { return (Cow::Borrowed(text), Vec::new()) };
        let mut found: Vec<String> = Vec::new();
        let mut out = String::new();
        let mut last = 0;
        for m in matcher.find_iter(text) {
            let key = &self.keys[m.pattern().as_usize()];
            // Patterns are whole UTF-8 strings, so a match of one in UTF-8
            // text starts and ends on character boundaries.
            out.push_str(&text[last..m.start()]);
            out.push_str(&marker(key));
            last = m.end();
            if !found.contains(key) {
                found.push(key.clone());
            }
        }
        if found.is_empty() {
            return (Cow::Borrowed(text), found);
        }
        out.push_str(&text[last..]);
        (Cow::Owned(out), found)
    }

    /// Masks every string in a JSON value, in place (object keys too).
    pub fn value(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(masked) = self.text(s) {
                    *s = masked;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            serde_json::Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    self.value(&mut v);
                    map.insert(self.text(&k).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// The keys of the secrets any piece of which is in `text`.
    pub fn keys_in(&self, text: &str) -> Vec<String> {
        self.text_keys(text).1
    }
}

/// What stands in for a secret.
pub fn marker(key: &str) -> String {
    format!("[secret {key}]")
}

/// The pieces of `value` that are masked.
fn pieces(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| l.chars().count() >= MIN_LEN) {
        out.push(line.to_string());
        let escaped = serde_json::to_string(line).expect("a string serializes");
        let escaped = &escaped[1..escaped.len() - 1];
        if escaped != line {
            out.push(escaped.to_string());
        }
    }
    out
}

/// Whether a secret's value is too short to mask anywhere (not empty, no
/// line of [`MIN_LEN`] characters), so that the user can be told.
pub fn too_short(value: &str) -> bool {
    !value.trim().is_empty() && pieces(value).is_empty()
}

static INSTALLED: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Makes `redactor` the one every exit of this process applies.
pub fn install(redactor: Redactor) {
    *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(redactor));
}

/// Adds `secrets` to those the installed redactor masks (an in-process
/// agent adds its plan's to the controller's).
pub fn extend(secrets: &[Secret]) {
    let mut installed = INSTALLED.write().unwrap_or_else(|e| e.into_inner());
    let mut all = installed.as_ref().map(|r| r.secrets.clone()).unwrap_or_default();
    let before = all.len();
    for s in secrets {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    if all.len() != before || installed.is_none() {
        *installed = Some(Arc::new(Redactor::new(&all)));
    }
}

/// The installed redactor, if any.
fn installed() -> Option<Arc<Redactor>> {
    INSTALLED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `text` masked by the installed redactor.
pub fn text(text: &str) -> Cow<'_, str> {
    match installed() {
        Some(r) => r.text(text),
        None => Cow::Borrowed(text),
    }
}

/// `text` masked by the installed redactor, and the keys it masked.
pub fn text_keys(text: &str) -> (Cow<'_, str>, Vec<String>) {
    match installed() {
        Some(r) => r.text_keys(text),
        None => (Cow::Borrowed(text), Vec::new()),
    }
}

/// A JSON value masked by the installed redactor.
pub fn value(value: &serde_json::Value) -> Cow<'_, serde_json::Value> {
    match installed() {
        Some(r) if !r.is_empty() => {
            let mut v = value.clone();
            r.value(&mut v);
            Cow::Owned(v)
        }
        _ => Cow::Borrowed(value),
    }
}

/// stderr through the installed redactor, for the tracing subscriber:
/// it writes each formatted event in one call, so a secret is never split
/// between two writes.
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(text(&s).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(secrets: &[(&str, &str)]) -> Redactor {
        Redactor::new(&secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn every_line_of_a_secret_is_masked_and_named() {
        let r =
            r(&[("components.db.password", "hunter2"), ("secret file key", "-----BEGIN-----\nAAAA\n-----END-----\n")]);
        let (text, keys) = r.text_keys("+password = hunter2\n+AAAA\n unchanged");
        assert_eq!(text, "+password = [secret components.db.password]\n+[secret secret file key]\n unchanged");
        assert_eq!(keys, ["components.db.password", "secret file key"]);
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_longest_secret_wins_and_short_ones_are_not_masked() {
        let r = r(&[("a", "abcd"), ("b", "abcdefgh"), ("c", "on")]);
        assert_eq!(r.text("xabcdefghx abcd on"), "x[secret b]x [secret a] on");
        assert!(too_short("on") && !too_short("abcd") && !too_short(""));
    }

    #[test]
    fn a_json_escaped_secret_is_masked_and_json_values_in_place() {
        let r = r(&[("k", "pa\"ss\\word")]);
        assert_eq!(r.text(r#"{"p": "pa\"ss\\word"}"#), r#"{"p": "[secret k]"}"#);
        let mut v = serde_json::json!({"message": "pa\"ss\\word!", "n": [1, "pa\"ss\\word"]});
        r.value(&mut v);
        assert_eq!(v, serde_json::json!({"message": "[secret k]!", "n": [1, "[secret k]"]}));
    }

    #[test]
    fn multibyte_text_around_a_secret_stays_whole() {
        let r = r(&[("k", "gehéim")]);
        assert_eq!(r.text("ä gehéimö"), "ä [secret k]ö");
    }
}
