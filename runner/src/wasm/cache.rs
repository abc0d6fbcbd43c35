//! The compiled-module cache on disk: `<cache>/compiled/<sha256>-<engine>.cwasm`,
//! shared by every deployment (and, on a target, every deploy of its
//! agent). Entries are written atomically (temporary file, rename), so
//! deploys at once never see half a file; a hit refreshes the entry's
//! modification time, and the least recently used entries go when the
//! cache grows over its limit.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Creates `dir` (and missing parents) closed to other users, and checks
/// that it and the folder holding it are this user's and closed to
/// others' writes: compiled modules are native code, so a folder someone
/// else can write to could make the runner execute their code.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let meta = std::fs::symlink_metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        let fix = "make it private (`chmod 700`, owned by you), or point BATOU_RUN_CACHE to a folder of your own";
        if !meta.is_dir() {
            return Err(format!("{} is not a folder (a symlink?); {fix}", d.display()));
        }
        if meta.uid() != current_uid() {
            return Err(format!(
                "{} belongs to uid {}, not to you (uid {}); {fix}",
                d.display(),
                meta.uid(),
                current_uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            // This user's own folder, made under a umask of 002: closed now.
            // (What others may have put there meanwhile is not loaded:
            // each entry is checked on its own.)
            let closed = std::fs::Permissions::from_mode(meta.mode() & 0o7755);
            if std::fs::set_permissions(d, closed).is_err() {
                return Err(format!("{} is writable by others (mode {:o}); {fix}", d.display(), meta.mode() & 0o7777));
            }
            tracing::info!(path = %d.display(), "closed the cache folder to others' writes");
        }
    }
    Ok(())
}

/// Opens a cache entry to execute only if it is a regular file of this
/// user's that no one else may write (not following a symlink).
pub fn open_private(path: &Path) -> Option<std::fs::File> {
    let file = std::fs::File::options().read(true).custom_flags(libc::O_NOFOLLOW).open(path).ok()?;
    let meta = file.metadata().ok()?;
    let private = meta.is_file() && meta.uid() == current_uid() && meta.mode() & 0o022 == 0;
    if !private {
        tracing::warn!(path = %path.display(), uid = meta.uid(), mode = meta.mode(), "ignoring a compiled module that is not private to this user");
        return None;
    }
    Some(file)
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The default limit of the compiled-module cache.
pub const DEFAULT_LIMIT_MIB: u64 = 2048;

/// The limit: `BATOU_RUN_CACHE_LIMIT_MIB`, else [`DEFAULT_LIMIT_MIB`].
pub fn limit_bytes() -> u64 {
    std::env::var("BATOU_RUN_CACHE_LIMIT_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_LIMIT_MIB)
        .saturating_mul(1 << 20)
}

/// One cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub size: u64,
    pub used: SystemTime,
}

/// The compiled modules in `dir`, least recently used first.
pub fn entries(dir: &Path) -> Vec<Entry> {
    let mut out: Vec<Entry> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some(Entry { path: e.path(), size: meta.len(), used: meta.modified().ok()? })
        })
        .collect();
    out.sort_by_key(|e| e.used);
    out
}

/// Marks an entry as just used.
pub fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Removes least recently used entries of `dir` until it holds at most
/// `limit` bytes, never `keep` (the entry just written). A file another
/// deploy has mapped stays readable by it after the removal.
pub fn evict(dir: &Path, limit: u64, keep: &Path) -> Vec<PathBuf> {
    let all = entries(dir);
    let mut total: u64 = all.iter().map(|e| e.size).sum();
    let mut removed = Vec::new();
    for entry in all {
        if total <= limit {
            break;
        }
        if entry.path == keep {
            continue;
        }
        if std::fs::remove_file(&entry.path).is_ok() {
            tracing::info!(path = %entry.path.display(), bytes = entry.size, "evicted from the compiled-module cache");
            total -= entry.size;
            removed.push(entry.path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn evicts_least_recently_used_first_and_keeps_the_new_entry() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            let path = dir.path().join(format!("{name}.cwasm"));
            std::fs::write(&path, vec![0u8; 100]).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(now - Duration::from_secs(100 - i as u64 * 10)).unwrap();
        }
        // `a` is the oldest, but was just used.
        touch(&dir.path().join("a.cwasm"));
        let removed = evict(dir.path(), 200, &dir.path().join("d.cwasm"));
        let names: Vec<_> = removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["b.cwasm", "c.cwasm"]);
        let left: Vec<_> = entries(dir.path()).iter().map(|e| e.path.clone()).collect();
        assert_eq!(left, [dir.path().join("d.cwasm"), dir.path().join("a.cwasm")]);
    }
}
