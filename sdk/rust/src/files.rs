//! The target's file system.
//!
//! Relative paths resolve against the root component's workdir on the
//! target (see [`model::workdir`](crate::model::workdir)). Nothing here is
//! allowed during `configure`; during `verify` only the reading calls are
//! (a writing call returns [`Error::WrongPhase`](crate::Error::WrongPhase)).

use crate::__bindings::batou::deploy::files as wit;
use crate::__bindings::batou::deploy::types::FileKind as WitFileKind;
use crate::Result;

/// What kind of object a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (`stat` does not follow links).
    Symlink,
    /// A device, socket or pipe.
    Other,
}

impl FileKind {
    /// The kind with an article, for messages: "a directory".
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::File => "a file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symlink",
            FileKind::Other => "a device, socket or pipe",
        }
    }
}

/// What [`stat`] learns about a path, without following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The kind of object.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits, such as `0o644` (without the file type bits).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Owner name, if the target's user database knows it.
    pub owner: Option<String>,
    /// Group name, if the target's group database knows it.
    pub group: Option<String>,
}

impl Stat {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Directory
    }

    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }
}

/// Describes `path` without following a final symlink; `None` if nothing
/// is there.
pub fn stat(path: &str) -> Result<Option<Stat>> {
    Ok(wit::stat(path)?.map(|s| Stat {
        kind: match s.kind {
            WitFileKind::File => FileKind::File,
            WitFileKind::Directory => FileKind::Directory,
            WitFileKind::Symlink => FileKind::Symlink,
            WitFileKind::Other => FileKind::Other,
        },
        size: s.size,
        mode: s.mode,
        uid: s.uid,
        gid: s.gid,
        owner: s.owner,
        group: s.group,
    }))
}

/// Whether anything (a file, directory, symlink, ...) is at `path`.
pub fn exists(path: &str) -> Result<bool> {
    Ok(wit::stat(path)?.is_some())
}

/// Reads a whole file.
pub fn read(path: &str) -> Result<Vec<u8>> {
    Ok(wit::read(path)?)
}

/// Reads a whole file as UTF-8 text.
pub fn read_to_string(path: &str) -> Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|e| crate::Error::Invalid(format!("{path} is not UTF-8 text: {e}")))
}

/// At most `length` bytes of the file at `path` from `offset`: fewer at
/// its end, none from there on. Read a file of any size in pieces without
/// holding it whole.
pub fn read_at(path: &str, offset: u64, length: u32) -> Result<Vec<u8>> {
    Ok(wit::read_at(path, offset, length)?)
}

/// A file written in pieces: its bytes go to a temporary file beside
/// `path`, and [`Writer::finish`] puts it in place atomically. Dropped
/// without `finish`, it leaves `path` as it was.
pub struct Writer(wit::Writer);

impl Writer {
    /// Starts writing `path` (a new file gets `mode`, or the runner's
    /// default). Only during `update`.
    pub fn create(path: &str, mode: Option<u32>) -> Result<Writer> {
        Ok(Writer(wit::create_writer(path, mode)?))
    }

    /// Appends `data`.
    pub fn append(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        Ok(self.0.append(data.as_ref())?)
    }

    /// Puts the file in place.
    pub fn finish(self) -> Result<()> {
        Ok(self.0.finish()?)
    }
}

/// The sha256 of a file's bytes as lowercase hex, computed on the target;
/// `None` if the file does not exist.
pub fn digest(path: &str) -> Result<Option<String>> {
    Ok(wit::digest(path)?)
}

/// Replaces a file's bytes atomically (a temporary file beside it is
/// renamed over it). An existing file's permission bits are kept.
pub fn write(path: &str, data: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::write(path, data.as_ref(), None)?)
}

/// Like [`write`], but a file that does not exist yet is created with the
/// permission bits `mode` from the start (an existing file keeps its own).
pub fn write_with_mode(path: &str, data: impl AsRef<[u8]>, mode: Option<u32>) -> Result<()> {
    Ok(wit::write(path, data.as_ref(), mode)?)
}

/// Creates a directory, with missing parents if `parents`.
pub fn mkdir(path: &str, parents: bool) -> Result<()> {
    Ok(wit::mkdir(path, parents)?)
}

/// Removes a file, a symlink, or a directory (with its contents if
/// `recursive`). Removing nothing is not an error.
pub fn remove(path: &str, recursive: bool) -> Result<()> {
    Ok(wit::remove(path, recursive)?)
}

/// Creates a symlink at `link` pointing to `target`, replacing an existing
/// symlink atomically.
pub fn symlink(target: &str, link: &str) -> Result<()> {
    Ok(wit::symlink(target, link)?)
}

/// Where the symlink at `path` points.
pub fn read_link(path: &str) -> Result<String> {
    Ok(wit::read_link(path)?)
}

/// Sets a path's permission bits, such as `0o644`.
pub fn set_mode(path: &str, mode: u32) -> Result<()> {
    Ok(wit::set_mode(path, mode)?)
}

/// Sets a path's owner and/or group by name; `None` leaves it as it is.
pub fn set_owner(path: &str, owner: Option<&str>, group: Option<&str>) -> Result<()> {
    Ok(wit::set_owner(path, owner, group)?)
}

/// The names of a directory's entries, sorted.
pub fn list(path: &str) -> Result<Vec<String>> {
    Ok(wit::list(path)?)
}

/// The paths matching a glob pattern (`*`, `?`, `[...]`, `**`), sorted; a
/// pattern without wildcards matches the path it names if it exists.
pub fn glob(pattern: &str) -> Result<Vec<String>> {
    Ok(wit::glob(pattern)?)
}

/// The absolute path on the target that `path` names (a relative path
/// joined to the workdir there, `.` and `..` worked out lexically),
/// touching nothing: for a path written into a file or a symlink. Not in
/// `configure`, since the workdir on the target is only known there.
pub fn resolve(path: &str) -> Result<String> {
    Ok(wit::resolve(path)?)
}

/// The parent directory of `path` as written, if it names one:
/// `"a/b.txt"` → `Some("a")`, `"/etc/x"` → `Some("/etc")`, `"b.txt"` →
/// `None` (the workdir). Trailing slashes are ignored.
pub fn parent(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => match trimmed[..i].trim_end_matches('/') {
            "" => Some("/"),
            parent => Some(parent),
        },
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parent;

    #[test]
    fn parents() {
        assert_eq!(parent("a/b.txt"), Some("a"));
        assert_eq!(parent("a//b/"), Some("a"));
        assert_eq!(parent("/etc/x"), Some("/etc"));
        assert_eq!(parent("/x"), Some("/"));
        assert_eq!(parent("//x"), Some("/"));
        assert_eq!(parent("b.txt"), None);
        assert_eq!(parent("dir/"), None);
        assert_eq!(parent("/"), None);
    }
}
