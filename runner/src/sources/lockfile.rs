//! `batou.lock`: for every module of `batou.toml`, where it came from,
//! what that resolved to, and the sha256 of its bytes. A deploy runs the
//! pinned bytes or refuses; only `batou-run lock update` (or a first
//! deploy, for a module not pinned yet) moves a pin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

pub const FILE: &str = "batou.lock";

const HEADER: &str = "\
# batou.lock: written by batou-run. It pins each module of batou.toml to
# the sha256 of its bytes; a deploy refuses other bytes. Commit it.
# `batou-run lock update [NAME]` moves a pin.
";

/// The format's version; a lock of a newer one is refused, not rewritten.
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub modules: BTreeMap<String, Pin>,
}

/// One module's pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The source as batou.toml writes it; a pin of another source is
    /// not this module's any more.
    pub source: String,
    /// What it resolved to: the registry reference by digest, the URL,
    /// the file.
    pub resolved: String,
    /// sha256 of the module's bytes, `sha256:<hex>`.
    pub sha256: String,
    pub size: u64,
}

impl Pin {
    /// The pinned sha256 as hex.
    pub fn hex(&self) -> &str {
        self.sha256.strip_prefix("sha256:").unwrap_or(&self.sha256)
    }
}

pub fn path(deployment: &Path) -> PathBuf {
    deployment.join(FILE)
}

/// Reads the deployment's lock; none is an empty one.
pub fn read(deployment: &Path) -> Result<LockFile, Diagnostic> {
    let path = path(deployment);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LockFile { version: VERSION, ..Default::default() });
        }
        Err(e) => return Err(Diagnostic::new(format!("cannot read {FILE}: {e}")).at(FILE)),
    };
    parse(&text)
}

pub fn parse(text: &str) -> Result<LockFile, Diagnostic> {
    let lock: LockFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        Diagnostic::new(format!("{FILE} is malformed: {}", e.message().trim()))
            .at(line.map(|l| format!("{FILE}:{l}")).unwrap_or_else(|| FILE.to_string()))
            .hint("batou-run writes this file: restore it from version control, or remove it and run `batou-run lock update`")
    })?;
    if lock.version != VERSION {
        return Err(Diagnostic::new(format!(
            "{FILE} is of format version {}; this batou-run reads version {VERSION}",
            lock.version
        ))
        .at(FILE)
        .hint("use the batou-run that wrote it, or remove it and run `batou-run lock update`"));
    }
    Ok(lock)
}

/// The lock's text, with its header: stable, so an unchanged lock is
/// the same bytes and a changed one a small diff.
pub fn render(lock: &LockFile) -> String {
    let body = toml::to_string(&LockFile { version: VERSION, modules: lock.modules.clone() })
        .expect("a lock file is plain strings and integers");
    format!("{HEADER}{body}")
}

/// Writes the lock atomically.
pub fn write(deployment: &Path, lock: &LockFile) -> Result<(), Diagnostic> {
    crate::atomic_file::write(&path(deployment), render(lock).as_bytes(), 0o644).map_err(|e| {
        Diagnostic::new(format!("cannot write {FILE}: {e}"))
            .at(FILE)
            .hint("the deployment's directory must be writable for the user running batou-run")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(n: u8) -> Pin {
        Pin {
            source: format!("oci://127.0.0.1:5000/team/m:{n}"),
            resolved: format!("oci://127.0.0.1:5000/team/m@sha256:{}", "a".repeat(64)),
            sha256: format!("sha256:{}", "b".repeat(64)),
            size: 42,
        }
    }

    #[test]
    fn a_lock_reads_back_what_was_written() {
        let mut lock = LockFile { version: VERSION, ..Default::default() };
        lock.modules.insert("m".into(), pin(1));
        lock.modules.insert("a".into(), pin(2));
        let text = render(&lock);
        assert!(text.starts_with("# batou.lock"), "{text}");
        assert!(text.find("[modules.a]").unwrap() < text.find("[modules.m]").unwrap(), "sorted: {text}");
        assert_eq!(parse(&text).unwrap(), lock);
        assert_eq!(render(&parse(&text).unwrap()), text, "stable");
    }

    #[test]
    fn a_broken_or_newer_lock_is_refused_with_its_line() {
        let err = parse("version = 1\n[modules.m]\nsource = \"x\"\nsha = 1\n").unwrap_err();
        assert_eq!(err.location.as_deref(), Some("batou.lock:4"), "{err:?}");
        assert!(err.message.contains("unknown field `sha`"), "{err:?}");
        let err = parse("version = 7\n").unwrap_err();
        assert!(err.message.contains("format version 7"), "{err:?}");
    }
}
