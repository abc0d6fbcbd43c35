//! Asset folders as the controller ships them: a manifest (relative path
//! to sha256 of each file) whose files travel as blobs.
//!
//! Shipped: the component's files as `modules::walk` finds them, a crate's
//! `Cargo.toml` and sources included, so that a component reads the same
//! files wherever it runs. Not shipped: what the walk's rule ignores
//! (built in: `.git`, `.env`, `.env.*`, `node_modules/`, `target/`,
//! `__pycache__/` and `*.wasm`, as the module itself travels as a module;
//! then the folder's `.gitignore` and `.batou-run-ignore`), and symlinks
//! leading out of the folder.

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
        for (rel, content) in [
            ("a.txt", "a"),
            ("sub/b.j2", "b"),
            ("target/x", "x"),
            (".git/HEAD", "h"),
            ("m.wasm", "w"),
            (".env", "SECRET=1"),
            ("node_modules/x/i.js", "n"),
            ("__pycache__/y.pyc", "p"),
        ] {
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
