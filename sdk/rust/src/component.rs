//! The [`Component`] trait and the `ensure_*` helpers for `verify`.

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::files::{self, FileKind};
use crate::process::Command;
use crate::{Kind, Result, fail, log, update_needed};

/// A kind of component: its attributes are the fields of the type, filled
/// from the attributes' JSON object with `serde`.
///
/// Declare every field as an attribute in [`Component::kind`] (the runner
/// rejects unknown attributes and fills in defaults, so deserialising only
/// fails for a field the kind does not declare): best with
/// `#[derive(Kind)]` on the struct and `fn kind() -> Kind { Self::spec() }`
/// (see [one struct per kind](crate#one-struct-per-kind)). By hand, use `Option<T>` for
/// attributes with [`Attr::optional`](crate::Attr::optional), `u32` for
/// [`Attr::mode`](crate::Attr::mode), and `#[serde(skip)]` for state the
/// steps compute. A kind without attributes is `struct Name {}` (a unit
/// struct does not deserialise from `{}`).
///
/// Each step may keep what it learns in `self` (configure runs first on the
/// same value; verify, then update, run later on it).
pub trait Component: DeserializeOwned + 'static {
    /// The kind's name, documentation and attributes: `Self::spec()` for a
    /// struct with `#[derive(Kind)]`, or built with [`Kind::new`].
    fn kind() -> Kind;

    /// Declares sub-components, provides and requires: a pure function of
    /// the attributes and the required values. Allowed: [`crate::model`],
    /// [`crate::assets`], [`crate::template`], [`crate::log`]. No files, no
    /// commands. The runner may configure a fresh instance again when
    /// required values change.
    fn configure(&mut self) -> Result<()> {
        Ok(())
    }

    /// Checks the target after the sub-components were deployed, read-only.
    /// `Ok(())` means up to date; `Err(Error::UpdateNeeded(reason))` (see
    /// [`update_needed`] and the `ensure_*` helpers) means `update` must
    /// run. Any other error fails the component. The default: up to date.
    fn verify(&mut self) -> Result<()> {
        Ok(())
    }

    /// Brings the target to the described state. Runs only when `verify`
    /// said an update is needed, and never in predict mode.
    fn update(&mut self) -> Result<()> {
        Ok(())
    }
}

/// An update is needed for `reason` unless `condition` holds:
/// `ensure(config_ok, "config outdated")?`.
pub fn ensure(condition: bool, reason: impl Into<String>) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(update_needed(reason))
    }
}

/// Up to date if a regular file is at `path`; an update is needed if
/// nothing is there. Anything else there (a directory, a symlink) is an
/// error the operator must resolve.
pub fn ensure_file(path: &str) -> Result<()> {
    ensure_kind(path, FileKind::File)
}

/// Up to date if a directory is at `path`; an update is needed if nothing
/// is there. Anything else there is an error the operator must resolve.
pub fn ensure_directory(path: &str) -> Result<()> {
    ensure_kind(path, FileKind::Directory)
}

fn ensure_kind(path: &str, wanted: FileKind) -> Result<()> {
    match files::stat(path)? {
        None => Err(update_needed(format!("{path} is missing"))),
        Some(stat) if stat.kind == wanted => Ok(()),
        Some(stat) => Err(fail(format!(
            "{path} is {}, not {}: remove it, or choose another path",
            stat.kind.describe(),
            wanted.describe()
        ))),
    }
}

/// Files larger than this are compared by digest only, without a diff.
const DIFF_LIMIT: u64 = 1 << 20;

/// Up to date if the file at `path` holds exactly `wanted`. Otherwise
/// shows the operator a diff (also in predict mode) and says an update is
/// needed: "file is missing" or "content changed".
///
/// The comparison uses the sha256 computed on the target, so an unchanged
/// file is never transferred.
pub fn ensure_content(path: &str, wanted: impl AsRef<[u8]>) -> Result<()> {
    let wanted = wanted.as_ref();
    match files::digest(path)? {
        None => {
            log::diff(path, &[], wanted);
            Err(update_needed("file is missing"))
        }
        Some(digest) if digest.eq_ignore_ascii_case(&sha256_hex(wanted)) => Ok(()),
        Some(_) => {
            // The diff is for people: a file too large to read (or to
            // show) is reported by its size, and never held whole.
            let size = files::stat(path)?.map(|s| s.size).unwrap_or(0);
            if size <= DIFF_LIMIT && wanted.len() as u64 <= DIFF_LIMIT {
                let old = files::read(path)?;
                log::diff(path, &old, wanted);
                Err(update_needed("content changed"))
            } else {
                Err(update_needed(format!(
                    "content changed ({size} bytes now, {} wanted; too large for a diff)",
                    wanted.len()
                )))
            }
        }
    }
}

/// Up to date if the permission bits of `path` are `mode` (such as
/// `0o644`; only the lowest 12 bits count). An update is needed if they
/// differ or nothing is at `path` yet.
pub fn ensure_mode(path: &str, mode: u32) -> Result<()> {
    let wanted = mode & 0o7777;
    match files::stat(path)? {
        None => Err(update_needed(format!("{path} is missing"))),
        // Linux has no modes of symlinks (chmod changes the target).
        Some(stat) if stat.kind == files::FileKind::Symlink => Ok(()),
        Some(stat) if stat.mode & 0o7777 == wanted => Ok(()),
        Some(stat) => Err(update_needed(format!(
            "mode is {:04o}, wanted {wanted:04o}",
            stat.mode & 0o7777
        ))),
    }
}

/// Up to date if `path` is a symlink pointing to `target`. An update is
/// needed if nothing is there or the symlink points elsewhere; anything
/// other than a symlink there is an error the operator must resolve.
pub fn ensure_symlink(path: &str, target: &str) -> Result<()> {
    match files::stat(path)? {
        None => Err(update_needed(format!("{path} is missing"))),
        Some(stat) if stat.kind == FileKind::Symlink => {
            let current = files::read_link(path)?;
            ensure(
                current == target,
                format!("points to {current}, wanted {target}"),
            )
        }
        Some(stat) => Err(fail(format!(
            "{path} is {}, not a symlink: remove it, or choose another path",
            stat.kind.describe()
        ))),
    }
}

/// Up to date if `cmd` exits with status 0; otherwise an update is needed.
/// Only its status counts: use it for checks like `test -e` or
/// `systemctl is-active`.
pub fn ensure_command(cmd: &Command) -> Result<()> {
    let out = cmd.run()?;
    ensure(out.success(), format!("`{cmd}` {}", out.describe_status()))
}

/// The sha256 of `data` as lowercase hex, as [`files::digest`] returns it.
pub fn sha256_hex(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in hash.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// The object-safe face of a [`Component`], for the export machinery.
#[doc(hidden)]
pub trait DynComponent {
    fn configure(&mut self) -> Result<()>;
    fn verify(&mut self) -> Result<()>;
    fn update(&mut self) -> Result<()>;
}

impl<T: Component> DynComponent for T {
    fn configure(&mut self) -> Result<()> {
        Component::configure(self)
    }
    fn verify(&mut self) -> Result<()> {
        Component::verify(self)
    }
    fn update(&mut self) -> Result<()> {
        Component::update(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
