//! `assets`: files shipped beside a component, read-only.
//!
//! Which files are a component's assets is decided by one walk
//! (`system::walk`: built-in ignores, the folder's `.gitignore` and
//! `.batou-run-ignore`), which also decides what a build's key is made of:
//! the controller ships exactly these to an agent ([`shipped`], used by
//! `target::assets`), `assets.list` lists exactly these and `assets.read`
//! reads only these, so a component sees the same files on the
//! controller, in-process and on an agent.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::system::error::io_error;
use crate::system::walk::Walk;
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::assets;
use crate::wasm::state::StoreData;

impl assets::Host for StoreData {
    fn read(&mut self, name: String) -> Result<Vec<u8>, CapError> {
        let dir = self.shipped_folder(&name)?;
        Ok(crate::system::sandbox::read_beneath(&dir, &name, self.memory_limit)?)
    }

    fn read_at(&mut self, name: String, offset: u64, length: u32) -> Result<Vec<u8>, CapError> {
        use std::io::{Read, Seek, SeekFrom};
        let dir = self.shipped_folder(&name)?;
        let mut file = crate::system::sandbox::open_beneath_file(&dir, &name)?;
        let length = u64::from(length).min(self.memory_limit as u64);
        file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(&dir.join(&name), e))?;
        let mut piece = Vec::new();
        file.take(length).read_to_end(&mut piece).map_err(|e| io_error(&dir.join(&name), e))?;
        Ok(piece)
    }

    fn digest(&mut self, name: String) -> Result<String, CapError> {
        use sha2::{Digest, Sha256};
        let dir = self.shipped_folder(&name)?;
        let mut file = crate::system::sandbox::open_beneath_file(&dir, &name)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| io_error(&dir.join(&name), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    fn list(&mut self, name: String) -> Result<Vec<String>, CapError> {
        let dir = self.asset_folder(&name)?;
        list_beneath(&dir, &name)
    }
}

impl StoreData {
    /// The asset folder of a file that travels with the component: what
    /// does not travel is not read here either, so a deploy in process
    /// does not see a `.env` that an agent never gets. (A name with `..`
    /// or `/` at the start is refused by the read.)
    fn shipped_folder(&self, name: &str) -> Result<std::sync::Arc<PathBuf>, CapError> {
        let dir = self.asset_folder(name)?;
        let path = Path::new(name);
        if !path.is_absolute() && path.components().all(|c| matches!(c, Component::Normal(_))) {
            let walk = Walk::new(&dir).map_err(|e| io_error(&dir, e.into()))?;
            if let Some(why) = walk.ignored_by(name, false).map_err(|e| io_error(&dir, e.into()))? {
                return Err(CapError::not_found(format!(
                    "asset `{name}` is not one of the component's files (ignored by {why}): it stays on the controller"
                )));
            }
        }
        Ok(dir)
    }

    /// The component's asset folder, or why it has none.
    fn asset_folder(&self, name: &str) -> Result<std::sync::Arc<PathBuf>, CapError> {
        self.call.assets.clone().ok_or_else(|| {
            CapError::not_found(format!(
                "asset `{name}`: this component has no asset folder (a root of a standard kind reads assets from components/<root name>/)"
            ))
        })
    }
}

/// The asset files beneath the folder `name` of the asset folder `dir`,
/// relative to it: what `assets.list` returns.
pub fn list_beneath(dir: &Path, name: &str) -> Result<Vec<String>, CapError> {
    let rel = match name.trim_end_matches('/') {
        "." => "",
        rel => rel,
    };
    let path = Path::new(rel);
    if path.is_absolute() || path.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(CapError::denied(format!(
            "asset folder `{name}`: asset names are relative paths inside the component's folder, without `..`"
        )));
    }
    let walk = Walk::new(dir).map_err(|e| io_error(dir, e.into()))?;
    // Every folder on the way must be one that travels: a real folder
    // (a symlink to a folder does not), not ignored.
    let mut folder = dir.to_path_buf();
    for part in path.iter() {
        folder.push(part);
        match std::fs::symlink_metadata(&folder) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(CapError::invalid(format!(
                    "asset `{name}` is not a folder of assets (a symlink to a folder is not shipped)"
                )));
            }
            Err(e) => return Err(io_error(&folder, e).into()),
        }
    }
    if let Some(why) = walk.ignored_by(rel, true).map_err(|e| io_error(dir, e.into()))? {
        return Err(CapError::invalid(format!(
            "asset `{name}` is not a folder of assets: it is ignored by {why}, and not shipped"
        )));
    }
    let files = walk.files_beneath(rel).map_err(|e| io_error(&folder, e.into()))?;
    if files.is_empty() {
        // Such a folder does not reach an agent at all.
        return Err(CapError::not_found(format!("asset folder `{name}` holds no asset files")));
    }
    Ok(files.into_iter().map(|(rel, _)| rel).collect())
}

/// The asset files of the asset folder `dir`, sorted by their path
/// relative to it (`/` between names), each with its local path: the
/// component's files as `modules::walk` finds them (regular files and
/// symlinks to files within the folder, nothing ignored).
///
/// A symlink that leads out of the folder is not an asset: a component
/// reads its assets beneath their folder wherever it runs (locally the
/// read refuses it), so such a link must not make the controller ship the
/// file it points to (a key in `~/.ssh`, say) to every host.
pub fn shipped(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    Ok(crate::system::walk::files(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::CallError as WitError;

    #[test]
    fn a_listing_is_what_travels_and_stays_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        for rel in ["site/b.txt", "site/a/c.txt", "site/target/x", "site/.git/HEAD", "site/m.wasm", "site/empty/.keep"]
        {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, rel).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("site/nothing")).unwrap();
        std::fs::create_dir_all(dir.path().join("bare")).unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("b.txt", dir.path().join("site/link.txt")).unwrap();
        // Out of `site` but within the asset folder: an asset, as it
        // travels; out of the asset folder: none, here or on an agent.
        std::fs::create_dir_all(dir.path().join("other")).unwrap();
        std::fs::write(dir.path().join("other/x.txt"), "x").unwrap();
        std::os::unix::fs::symlink("../other/x.txt", dir.path().join("site/sibling.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("site/leak.txt")).unwrap();

        let list = |name: &str| list_beneath(dir.path(), name);
        assert_eq!(list("site").unwrap(), ["a/c.txt", "b.txt", "empty/.keep", "link.txt", "sibling.txt"]);
        let travels: Vec<String> = shipped(dir.path()).unwrap().into_iter().map(|(rel, _)| rel).collect();
        assert!(travels.contains(&"site/sibling.txt".to_string()) && !travels.iter().any(|r| r.contains("leak")));
        assert_eq!(list("site/").unwrap(), list("site").unwrap());
        assert_eq!(list("site/a").unwrap(), ["c.txt"]);
        assert!(list(".").unwrap().contains(&"site/b.txt".to_string()));
        assert_eq!(list("").unwrap(), list(".").unwrap());
        assert!(!list("").unwrap().iter().any(|f| f.contains("secret")), "a symlinked folder does not travel");
        for escape in ["..", "../x", "/etc", "site/../.."] {
            assert!(matches!(list(escape), Err(CapError::Guest(WitError::AccessDenied(_)))), "{escape}");
        }
        for not_shipped in ["out", "site/target", "site/.git", "site/b.txt"] {
            assert!(matches!(list(not_shipped), Err(CapError::Guest(WitError::Invalid(_)))), "{not_shipped}");
        }
        for empty in ["site/nothing", "bare", "missing"] {
            assert!(matches!(list(empty), Err(CapError::Guest(WitError::NotFound(_)))), "{empty}");
        }
    }
}
