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
use crate::wasm::caps::assets::shipped;

/// An asset folder scanned on the controller.
pub struct Folder {
    pub manifest: Manifest,
    /// sha256 and local path of each file of the manifest.
    pub files: Vec<(String, PathBuf)>,
}

/// Reads `dir` and hashes every file it ships (the files `assets.list`
/// lists, see [`shipped`]).
pub fn scan(dir: &Path) -> io::Result<Folder> {
    let mut folder = Folder { manifest: Manifest::default(), files: Vec::new() };
    for (rel, path) in shipped(dir)? {
        let sha = sha256_hex(&std::fs::read(&path)?);
        folder.manifest.files.insert(rel, sha.clone());
        folder.files.push((sha, path));
    }
    Ok(folder)
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
