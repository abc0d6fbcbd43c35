//! The agent's content-addressed cache: `<cache>/agent/modules/<sha>.wasm`,
//! `<cache>/agent/blobs/<sha>` (asset files) and
//! `<cache>/agent/assets/<manifest hash>/` (asset folders, materialised from
//! blobs). Every write is atomic (a temporary name, then a rename), so
//! agents sharing a cache never see half a file or half a folder.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use super::protocol::{BlobKind, Manifest, sha256_hex};

/// Why the cache could not serve or store something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{0}` is not a sha256 (64 lowercase hex digits)")]
    BadHash(String),
    #[error("the blob announced as {expected} has sha256 {actual}: it was corrupted on the way; deploy again")]
    HashMismatch { expected: String, actual: String },
    #[error("module {0} is not in the agent's cache: the controller must upload it first")]
    NoModule(String),
    #[error("asset file {0} is not in the agent's cache: the controller must upload it first")]
    NoBlob(String),
    #[error("the asset path `{0}` is not a plain relative path")]
    BadPath(String),
    #[error("cannot use the agent cache at {path}: {source}; check its permissions and free space")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The agent's part of a cache directory.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store under `<cache>/agent`, created if missing.
    pub fn open(cache: &Path) -> Result<Store, StoreError> {
        let root = cache.join("agent");
        for sub in ["modules", "blobs", "assets"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })?;
        }
        Ok(Store { root })
    }

    /// Where asset folders are materialised.
    pub fn assets_dir(&self) -> PathBuf {
        self.root.join("assets")
    }

    fn path(&self, kind: BlobKind, sha: &str) -> Result<PathBuf, StoreError> {
        check_hash(sha)?;
        Ok(match kind {
            BlobKind::Module => self.root.join("modules").join(format!("{sha}.wasm")),
            BlobKind::Asset => self.root.join("blobs").join(sha),
        })
    }

    /// Whether the agent has this blob (modules of the standard library
    /// embedded in this binary count as present).
    pub fn has(&self, kind: BlobKind, sha: &str) -> bool {
        if kind == BlobKind::Module && crate::sources::embedded(sha).is_some() {
            return true;
        }
        self.path(kind, sha).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Checks `bytes` against `sha` and stores them.
    pub fn put(&self, kind: BlobKind, sha: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(kind, sha)?;
        let actual = sha256_hex(bytes);
        if actual != sha {
            return Err(StoreError::HashMismatch { expected: sha.to_string(), actual });
        }
        write_atomically(&path, bytes).map_err(|source| StoreError::Io { path, source })
    }

    /// A module's bytes: embedded, or from the cache.
    pub fn module(&self, sha: &str) -> Result<Cow<'static, [u8]>, StoreError> {
        if let Some((_, bytes)) = crate::sources::embedded(sha) {
            return Ok(Cow::Borrowed(bytes));
        }
        let path = self.path(BlobKind::Module, sha)?;
        std::fs::read(&path).map(Cow::Owned).map_err(|_| StoreError::NoModule(sha.to_string()))
    }

    /// Makes sure the folder of `manifest` exists under [`Store::assets_dir`]
    /// and returns it. It is built in a temporary folder, then renamed.
    pub fn materialise(&self, manifest: &Manifest) -> Result<PathBuf, StoreError> {
        let dir = self.assets_dir().join(manifest.hash());
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = self.assets_dir().join(format!(".tmp-{}-{}", manifest.hash(), std::process::id()));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let built = (|| {
            for (rel, sha) in &manifest.files {
                let target = tmp.join(safe_relative(rel)?);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let blob = self.path(BlobKind::Asset, sha)?;
                if !blob.is_file() {
                    return Err(StoreError::NoBlob(sha.clone()));
                }
                std::fs::copy(&blob, &target).map_err(io(&target))?;
            }
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => Ok(()),
                // Another agent sharing the cache made it meanwhile.
                Err(_) if dir.is_dir() => Ok(()),
                Err(e) => Err(StoreError::Io { path: dir.clone(), source: e }),
            }
        })();
        if built.is_err() || tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        built.map(|()| dir)
    }
}

fn check_hash(sha: &str) -> Result<(), StoreError> {
    if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(StoreError::BadHash(sha.to_string()))
    }
}

/// `rel` as a path that stays inside the folder it is joined to.
fn safe_relative(rel: &str) -> Result<PathBuf, StoreError> {
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(StoreError::BadPath(rel.to_string()));
    }
    Ok(path.to_path_buf())
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::atomic_file::write(path, data, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_checked_and_folders_materialised() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::open(cache.path()).unwrap();
        let sha = sha256_hex(b"hello");
        assert!(!store.has(BlobKind::Asset, &sha));
        let err = store.put(BlobKind::Asset, &sha, b"jello").unwrap_err();
        assert!(err.to_string().contains(&sha), "{err}");
        store.put(BlobKind::Asset, &sha, b"hello").unwrap();
        assert!(store.has(BlobKind::Asset, &sha));
        let mut manifest = Manifest::default();
        manifest.files.insert("sub/t.txt".into(), sha.clone());
        let dir = store.materialise(&manifest).unwrap();
        assert_eq!(std::fs::read(dir.join("sub/t.txt")).unwrap(), b"hello");
        assert_eq!(store.materialise(&manifest).unwrap(), dir, "a second time reuses the folder");
    }

    #[test]
    fn paths_and_hashes_cannot_escape() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::open(cache.path()).unwrap();
        assert!(matches!(store.put(BlobKind::Module, "../x", b""), Err(StoreError::BadHash(_))));
        let mut manifest = Manifest::default();
        manifest.files.insert("../evil".into(), sha256_hex(b""));
        store.put(BlobKind::Asset, &sha256_hex(b""), b"").unwrap();
        assert!(matches!(store.materialise(&manifest), Err(StoreError::BadPath(_))));
    }
}
