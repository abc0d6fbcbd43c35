//! Asset folders as the controller ships them: a manifest (relative path
//! to sha256 of each file) whose files travel as blobs.
//!
//! Shipped: every regular file of the folder (a symlink counts as the file
//! it points to), a crate's `Cargo.toml` and sources included, so that a
//! component reads the same files wherever it runs. Not shipped: `target/`
//! and `.git/` folders (build output and history, large and never read by
//! a component) and `*.wasm` files (the module itself travels as a module).

use std::io;
use std::path::{Path, PathBuf};

use crate::agent::protocol::{Manifest, sha256_hex};

/// Folder names never shipped.
const SKIPPED_DIRS: &[&str] = &["target", ".git"];

/// An asset folder scanned on the controller.
pub struct Folder {
    pub manifest: Manifest,
    /// sha256 and local path of each file of the manifest.
    pub files: Vec<(String, PathBuf)>,
}

/// Reads `dir` and hashes every file it ships.
pub fn scan(dir: &Path) -> io::Result<Folder> {
    let mut folder = Folder { manifest: Manifest::default(), files: Vec::new() };
    walk(dir, "", &mut folder)?;
    Ok(folder)
}

fn walk(dir: &Path, prefix: &str, folder: &mut Folder) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a UTF-8 file name; rename it", path.display()),
            ));
        };
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                walk(&path, &rel, folder)?;
            }
        } else if name.ends_with(".wasm") {
            continue;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let sha = sha256_hex(&std::fs::read(&path)?);
            folder.manifest.files.insert(rel, sha.clone());
            folder.files.push((sha, path));
        } else {
            tracing::debug!(path = %path.display(), "not shipping an asset that is not a regular file");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_and_modules_are_not_shipped() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, content) in
            [("a.txt", "a"), ("sub/b.j2", "b"), ("target/x", "x"), (".git/HEAD", "h"), ("m.wasm", "w")]
        {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let folder = scan(dir.path()).unwrap();
        let names: Vec<&str> = folder.manifest.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["a.txt", "sub/b.j2"]);
        assert_eq!(folder.manifest.files["a.txt"], sha256_hex(b"a"));
    }
}
