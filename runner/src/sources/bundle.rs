//! A module's assets inside its bytes: a custom section named
//! [`SECTION`] holding an uncompressed tar of the files that would ship
//! from the component's folder (`system::walk`: the same rule as what
//! ships to agents), paths relative to that folder, regular files only,
//! sorted, with mtime 0, uid/gid 0 and mode 0644, so the same folder
//! always gives the same bytes. One sha256 then pins code and templates
//! together, and a shared module is still one `application/wasm` file:
//! a component binary may carry custom sections, and wasmtime ignores
//! those it does not know.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::system::walk;
use crate::wasm::interfaces::{custom_sections, with_custom_section};

/// The custom section's name.
pub const SECTION: &str = "batou-run:assets";

/// Why a bundle could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{module}: {message}")]
    Module { module: String, message: String },
    #[error("cannot bundle the assets of {}: {message}", folder.display())]
    Folder { folder: PathBuf, message: String },
    #[error("cannot unpack the assets of {module} into {}: {message}", folder.display())]
    Unpack { module: String, folder: PathBuf, message: String },
}

fn module_error(message: impl Into<String>) -> BundleError {
    BundleError::Module { module: "the module".to_string(), message: message.into() }
}

impl BundleError {
    /// The same error naming the module `name` (`components/web`).
    pub fn of(self, name: &str) -> BundleError {
        match self {
            BundleError::Module { message, .. } => BundleError::Module { module: name.to_string(), message },
            BundleError::Unpack { folder, message, .. } => {
                BundleError::Unpack { module: name.to_string(), folder, message }
            }
            other => other,
        }
    }
}

/// `wasm` with the files of `assets_dir` appended as a [`SECTION`]
/// section. A module that already carries one is refused.
pub fn embed(wasm: &[u8], assets_dir: &Path) -> Result<Vec<u8>, BundleError> {
    if section(wasm)?.is_some() {
        return Err(module_error(format!(
            "it already carries its assets (a `{SECTION}` section); use it as it is, or rebuild it from its sources"
        )));
    }
    let tar = pack(assets_dir)?;
    Ok(with_custom_section(wasm, SECTION, &tar))
}

/// The tar of the module's assets, if it carries any.
pub fn section(wasm: &[u8]) -> Result<Option<&[u8]>, BundleError> {
    let found = custom_sections(wasm, SECTION).map_err(|e| module_error(e.to_string()))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(module_error(format!(
            "it carries {} `{SECTION}` sections; a module carries its assets once: rebuild it with `batou-run component build`",
            found.len()
        ))),
    }
}

/// Extracts the module's assets into `<cache>/assets/<sha256 of the tar>/`
/// (kept and reused: the name is the content) and returns that folder, or
/// `None` if the module carries no assets. An entry that is absolute,
/// holds `..`, is not a regular file, or comes twice is refused, and
/// nothing is kept.
pub fn unpack(wasm: &[u8], cache_dir: &Path) -> Result<Option<PathBuf>, BundleError> {
    let Some(tar) = section(wasm)? else { return Ok(None) };
    let hash: String = Sha256::digest(tar).iter().map(|b| format!("{b:02x}")).collect();
    let parent = cache_dir.join("assets");
    let folder = parent.join(&hash);
    if folder.is_dir() {
        return Ok(Some(folder));
    }
    let fail =
        |message: String| BundleError::Unpack { module: "the module".to_string(), folder: folder.clone(), message };
    std::fs::create_dir_all(&parent).map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let tmp = parent.join(format!(".{hash}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = extract(tar, &tmp).map_err(|m| fail(format!("{m}; rebuild it with `batou-run component build`")));
    let result = result.and_then(|()| match std::fs::rename(&tmp, &folder) {
        Ok(()) => Ok(()),
        // Another run unpacked the same bytes meanwhile.
        Err(_) if folder.is_dir() => Ok(()),
        Err(e) => Err(fail(format!("cannot rename {}: {e}", tmp.display()))),
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| Some(folder))
}

/// The folder's shipped files as a deterministic tar.
fn pack(dir: &Path) -> Result<Vec<u8>, BundleError> {
    let fail = |message: String| BundleError::Folder { folder: dir.to_path_buf(), message };
    let files = walk::files(dir).map_err(|e| fail(e.to_string()))?;
    let mut builder = tar::Builder::new(Vec::new());
    for (rel, path) in files {
        let data = std::fs::read(&path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder.append_data(&mut header, &rel, data.as_slice()).map_err(|e| fail(format!("{rel}: {e}")))?;
    }
    builder.into_inner().map_err(|e| fail(e.to_string()))
}

/// Writes the tar's files beneath `dest` (which must not exist), refusing
/// anything but plain relative regular files, each once.
fn extract(tar: &[u8], dest: &Path) -> Result<(), String> {
    std::fs::create_dir(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut archive = tar::Archive::new(tar);
    let mut seen = std::collections::BTreeSet::new();
    for entry in archive.entries().map_err(|e| format!("its assets are not a tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("its assets are not a tar: {e}"))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| "an asset's name is not UTF-8".to_string())?;
        if !entry.header().entry_type().is_file() {
            return Err(format!("asset `{name}` is not a regular file"));
        }
        let rel = Path::new(&name);
        if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("asset `{name}` is not a plain relative path (absolute, `..` or `.`)"));
        }
        if !seen.insert(name.clone()) {
            return Err(format!("asset `{name}` comes twice"));
        }
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| format!("asset `{name}`: {e}"))?;
        // create_new: a path that a folder of the same name already took
        // (`a` after `a/b`) fails rather than being replaced.
        use std::io::Write;
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| format!("asset `{name}`: cannot create {}: {e}", target.display()))?;
        file.write_all(&data).map_err(|e| format!("asset `{name}`: {e}"))?;
    }
    Ok(())
}

/// The names and sizes of the files of a bundle's tar, in its order.
pub fn listing(tar: &[u8]) -> Result<Vec<(String, u64)>, BundleError> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    let bad = |e: std::io::Error| module_error(format!("its assets are not a tar: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        out.push((name, entry.header().size().map_err(bad)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component binary: its preamble.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, content) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    fn read_tree(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            walk::files(dir).unwrap().into_iter().map(|(rel, p)| (rel, std::fs::read_to_string(p).unwrap())).collect();
        out.sort();
        out
    }

    /// A tar with one entry written header by header, as a hostile
    /// builder would.
    fn hostile_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            // set_path refuses `..` and absolute paths: write the bytes.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    fn with_section(tar: &[u8]) -> Vec<u8> {
        with_custom_section(EMPTY, SECTION, tar)
    }

    #[test]
    fn embed_section_unpack_round_trip() {
        let dir = folder(&[
            ("page.txt.j2", "Hello {{ host.name }}\n"),
            ("static/css/site.css", "body {}\n"),
            (".gitignore", "*.bak\n"),
            ("notes.bak", "not shipped"),
            (".env", "SECRET=1"),
            // Longer than a tar header holds (a GNU long-name entry).
            (format!("deep/{}/file.txt", "x".repeat(120)).as_str(), "deep"),
        ]);
        let wasm = embed(EMPTY, dir.path()).unwrap();
        assert!(wasm.starts_with(EMPTY));
        let tar = section(&wasm).unwrap().expect("a bundle");
        let names: Vec<String> = listing(tar).unwrap().into_iter().map(|(n, _)| n).collect();
        let long = format!("deep/{}/file.txt", "x".repeat(120));
        assert_eq!(names, [".gitignore", &long, "page.txt.j2", "static/css/site.css"]);
        assert_eq!(section(EMPTY).unwrap(), None);
        let cache = tempfile::tempdir().unwrap();
        let unpacked = unpack(&wasm, cache.path()).unwrap().expect("a folder");
        assert!(unpacked.starts_with(cache.path().join("assets")));
        assert_eq!(read_tree(&unpacked), read_tree(dir.path()));
        // Unpacked once, then reused.
        assert_eq!(unpack(&wasm, cache.path()).unwrap(), Some(unpacked));
        assert_eq!(unpack(EMPTY, cache.path()).unwrap(), None);
        let err = embed(&wasm, dir.path()).unwrap_err().of("components/web").to_string();
        assert!(err.starts_with("components/web: it already carries its assets"), "{err}");
    }

    #[test]
    fn the_same_folder_gives_the_same_bytes() {
        let a = folder(&[("b.txt", "b"), ("a/x.txt", "x")]);
        let first = embed(EMPTY, a.path()).unwrap();
        // Other times and modes change nothing.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = folder(&[("a/x.txt", "x"), ("b.txt", "b")]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.path().join("b.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(embed(EMPTY, b.path()).unwrap(), first);
        let header = tar::Archive::new(section(&first).unwrap().unwrap())
            .entries()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .header()
            .clone();
        assert_eq!((header.mtime().unwrap(), header.uid().unwrap(), header.mode().unwrap()), (0, 0, 0o644));
    }

    #[test]
    fn hostile_tars_are_refused_and_nothing_is_kept() {
        use tar::EntryType::{Directory, Link, Regular, Symlink};
        type Entries<'a> = &'a [(&'a str, tar::EntryType, &'a [u8])];
        let cases: &[(Entries, &str)] = &[
            (&[("../escape", Regular, b"x")], "not a plain relative path"),
            (&[("a/../../escape", Regular, b"x")], "not a plain relative path"),
            (&[("/etc/passwd", Regular, b"x")], "not a plain relative path"),
            (&[("./a", Regular, b"x")], "not a plain relative path"),
            (&[("link", Symlink, b"")], "not a regular file"),
            (&[("dir", Directory, b"")], "not a regular file"),
            (&[("hard", Link, b"")], "not a regular file"),
            (&[("a", Regular, b"1"), ("a", Regular, b"2")], "comes twice"),
            (&[("a/b", Regular, b"1"), ("a", Regular, b"2")], "cannot create"),
        ];
        for (entries, expected) in cases {
            let cache = tempfile::tempdir().unwrap();
            let err = unpack(&with_section(&hostile_tar(entries)), cache.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{entries:?}: {err}");
            assert!(err.contains("rebuild it"), "{err}");
            let left: Vec<_> = std::fs::read_dir(cache.path().join("assets")).unwrap().collect();
            assert!(left.is_empty(), "{entries:?} left {left:?}");
        }
        // Two sections are one too many.
        let tar = hostile_tar(&[("a", Regular, b"1")]);
        let mut twice = with_section(&tar);
        twice.extend_from_slice(&with_section(&tar)[EMPTY.len()..]);
        assert!(section(&twice).unwrap_err().to_string().contains("2 `batou-run:assets` sections"));
    }
}
