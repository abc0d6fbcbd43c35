//! `files`: the target's file system, as the component's phase allows.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::host::CapError;
use crate::host::bindings::batou::deploy::files;
use crate::host::bindings::{FileKind, FileStat};
use crate::host::error::io_error;
use crate::host::state::{Phase, StoreData};
use crate::host::users;

const READ: &[Phase] = &[Phase::Verify, Phase::Update];
const WRITE: &[Phase] = &[Phase::Update];

impl files::Host for StoreData {
    fn stat(&mut self, path: String) -> Result<Option<FileStat>, CapError> {
        self.call.allow("files.stat", READ)?;
        let p = self.call.resolve(&path);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(Some(stat_of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&p, e)),
        }
    }

    fn read(&mut self, path: String) -> Result<Vec<u8>, CapError> {
        self.call.allow("files.read", READ)?;
        let p = self.call.resolve(&path);
        fs::read(&p).map_err(|e| io_error(&p, e))
    }

    fn digest(&mut self, path: String) -> Result<Option<String>, CapError> {
        self.call.allow("files.digest", READ)?;
        let p = self.call.resolve(&path);
        match fs::File::open(&p) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => Err(CapError::invalid(format!(
                "{} is a directory, not a file: remove it, or choose another path",
                p.display()
            ))),
            Ok(mut f) => {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| io_error(&p, e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                Ok(Some(hex(&hasher.finalize())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&p, e)),
        }
    }

    fn write(&mut self, path: String, data: Vec<u8>, mode: Option<u32>) -> Result<(), CapError> {
        self.call.allow("files.write", WRITE)?;
        let p = self.call.resolve(&path);
        write_atomically(&p, &data, mode)
    }

    fn mkdir(&mut self, path: String, parents: bool) -> Result<(), CapError> {
        self.call.allow("files.mkdir", WRITE)?;
        let p = self.call.resolve(&path);
        let result = if parents { fs::create_dir_all(&p) } else { fs::create_dir(&p) };
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
            other => other.map_err(|e| io_error(&p, e)),
        }
    }

    fn remove(&mut self, path: String, recursive: bool) -> Result<(), CapError> {
        self.call.allow("files.remove", WRITE)?;
        let p = self.call.resolve(&path);
        let result = match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => Err(e),
            Ok(m) if m.is_dir() && recursive => fs::remove_dir_all(&p),
            Ok(m) if m.is_dir() => fs::remove_dir(&p),
            Ok(_) => fs::remove_file(&p),
        };
        result.map_err(|e| io_error(&p, e))
    }

    fn symlink(&mut self, target: String, link: String) -> Result<(), CapError> {
        self.call.allow("files.symlink", WRITE)?;
        let p = self.call.resolve(&link);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if !m.file_type().is_symlink() {
                return Err(CapError::invalid(format!(
                    "{}: is not a symlink; remove it first (e.g. with a `purge` component) if a symlink should replace it",
                    p.display()
                )));
            }
        }
        // Create beside and rename over, so the link is never missing.
        let tmp = temp_beside(&p);
        std::os::unix::fs::symlink(&target, &tmp).map_err(|e| io_error(&tmp, e))?;
        fs::rename(&tmp, &p).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(&p, e)
        })
    }

    fn read_link(&mut self, path: String) -> Result<String, CapError> {
        self.call.allow("files.read-link", READ)?;
        let p = self.call.resolve(&path);
        fs::read_link(&p).map(|t| t.display().to_string()).map_err(|e| io_error(&p, e))
    }

    fn set_mode(&mut self, path: String, mode: u32) -> Result<(), CapError> {
        self.call.allow("files.set-mode", WRITE)?;
        let p = self.call.resolve(&path);
        fs::set_permissions(&p, fs::Permissions::from_mode(mode & 0o7777)).map_err(|e| io_error(&p, e))
    }

    fn set_owner(&mut self, path: String, owner: Option<String>, group: Option<String>) -> Result<(), CapError> {
        self.call.allow("files.set-owner", WRITE)?;
        let p = self.call.resolve(&path);
        let uid = owner
            .map(|name| {
                users::uid_of(&name).ok_or_else(|| CapError::not_found(format!("no user `{name}` on this host")))
            })
            .transpose()?;
        let gid = group
            .map(|name| {
                users::gid_of(&name).ok_or_else(|| CapError::not_found(format!("no group `{name}` on this host")))
            })
            .transpose()?;
        std::os::unix::fs::lchown(&p, uid, gid).map_err(|e| io_error(&p, e))
    }

    fn list(&mut self, path: String) -> Result<Vec<String>, CapError> {
        self.call.allow("files.list", READ)?;
        let p = self.call.resolve(&path);
        let mut names = Vec::new();
        for entry in fs::read_dir(&p).map_err(|e| io_error(&p, e))? {
            names.push(entry.map_err(|e| io_error(&p, e))?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn glob(&mut self, pattern: String) -> Result<Vec<String>, CapError> {
        self.call.allow("files.glob", READ)?;
        let full = self.call.resolve(&pattern);
        // As a shell does (and batou), `*` does not match hidden files.
        let options = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
        let paths = glob::glob_with(&full.to_string_lossy(), options)
            .map_err(|e| CapError::invalid(format!("glob `{pattern}`: {e}")))?;
        let mut out: Vec<String> = paths.filter_map(Result::ok).map(|p| p.display().to_string()).collect();
        out.sort();
        Ok(out)
    }
}

fn stat_of(m: &fs::Metadata) -> FileStat {
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Directory
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    FileStat {
        kind,
        size: m.len(),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        owner: users::user_name(m.uid()),
        group: users::group_name(m.gid()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn temp_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.batou-tmp.{}.{n}", std::process::id()))
}

/// Writes a file so that readers see the old or the new bytes, never a
/// mix: a temporary file beside it is renamed over it. An existing file
/// keeps its mode, owner and group; a new one gets `new_mode` before any
/// byte is written. A symlink at `path` is written through.
pub fn write_atomically(path: &Path, data: &[u8], new_mode: Option<u32>) -> Result<(), CapError> {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = if is_link { fs::canonicalize(path).map_err(|e| io_error(path, e))? } else { path.to_path_buf() };
    let old = fs::metadata(&target).ok();
    let mode = old.as_ref().map(|m| m.permissions().mode() & 0o7777).or(new_mode.map(|m| m & 0o7777));
    let tmp = temp_beside(&target);
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            // Never more open than wanted, even before the umask is undone.
            options.mode(mode & 0o700);
        }
        let mut f = options.open(&tmp)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        if let Some(old) = &old {
            if let Err(e) = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid())) {
                tracing::debug!(path = %target.display(), error = %e, "cannot keep the owner of a rewritten file");
            }
        }
        f.write_all(data)?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error(&target, e)
    })
}
