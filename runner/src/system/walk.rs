//! Which files of a component's folder are the component's: the one walk
//! that decides both what ships to hosts as its assets
//! (`host::caps::assets`, `target::assets`) and which files a build's key
//! is made of (`modules::build`), so that nothing reaches a host that a
//! rebuild would not notice, and nothing the controller keeps to itself
//! (a `.env`, `node_modules/`) travels.
//!
//! The rule, lowest precedence first, with git's semantics (last match
//! wins, `!` re-includes, a trailing `/` matches folders only, a pattern
//! with a `/` is anchored at its file's folder):
//! 1. built in ([`BUILT_IN`]): `.git`, `.env`, `.env.*`, `node_modules/`,
//!    `target/`, `__pycache__/`, `*.wasm` (a module travels as a module);
//! 2. a `.gitignore` in the component folder or any folder beneath it;
//! 3. a `.batou-run-ignore` there, the runner's own, for what git should
//!    keep but hosts should not get (or the other way round, with `!`).
//!
//! A symlink to a file beneath the folder counts as that file; one leading
//! out of it is not shipped (it could name a key in `~/.ssh`) but is a
//! source of a build, which reads through it ([`sources`]). A symlink to
//! a folder is not followed.
//!
//! As in git, a folder that is ignored is not entered, so nothing beneath
//! it can be re-included. Only the component folder's own files count: no
//! `.gitignore` of a folder above it, no global git excludes, so the rule
//! is the same on every controller and, since the rule files are shipped
//! with the folder, on the agent that lists the folder again.
//!
//! This module imports nothing of the crate: `host` and `modules` both
//! use it without an arrow between them.

use std::io;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The built-in part of the rule, as `.gitignore` lines.
pub const BUILT_IN: &[&str] = &[".git", ".env", ".env.*", "node_modules/", "target/", "__pycache__/", "*.wasm"];

/// The runner's own ignore file, read after (and so over) `.gitignore`.
pub const IGNORE_FILE: &str = ".batou-run-ignore";

/// Why a component folder could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is not a UTF-8 file name; rename it")]
    NotUtf8(PathBuf),
    #[error("{path}: {message}; fix the pattern (gitignore syntax)")]
    Rule { path: PathBuf, message: String },
}

impl From<WalkError> for io::Error {
    fn from(e: WalkError) -> io::Error {
        match e {
            WalkError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound => {
                io::Error::new(io::ErrorKind::NotFound, e.to_string())
            }
            e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        }
    }
}

/// A component folder with its rule.
pub struct Walk {
    root: PathBuf,
    /// The folder as the kernel names it: a symlink among the files
    /// counts only if it leads to a file beneath it.
    canonical: PathBuf,
    built_in: &'static Gitignore,
    /// Whether a symlink leading out of the folder counts (see
    /// [`sources`]).
    outside: bool,
}

/// The rule files of one folder, matched against paths relative to it.
struct Layer {
    /// The folder, relative to the component folder.
    rel: String,
    rule: Gitignore,
}

impl Walk {
    pub fn new(root: &Path) -> Result<Walk, WalkError> {
        let canonical = root.canonicalize().map_err(|source| WalkError::Io { path: root.to_path_buf(), source })?;
        // Compiled once: every `assets.read` asks.
        static BUILT: std::sync::OnceLock<Gitignore> = std::sync::OnceLock::new();
        let built_in = BUILT.get_or_init(|| {
            let mut builder = GitignoreBuilder::new("");
            for line in BUILT_IN {
                builder.add_line(None, line).expect("the built-in patterns parse");
            }
            builder.build().expect("the built-in patterns build")
        });
        Ok(Walk { root: root.to_path_buf(), canonical, built_in, outside: false })
    }

    /// Every file of the folder, sorted by its path relative to it (`/`
    /// between names), each with its local path: regular files, and
    /// symlinks to a file beneath the folder (a symlink leading out is not
    /// the component's: it must not make the controller ship the file it
    /// points to, a key in `~/.ssh` say, to every host; a symlink to a
    /// folder is not followed).
    pub fn files(&self) -> Result<Vec<(String, PathBuf)>, WalkError> {
        self.files_beneath("")
    }

    /// [`Walk::files`] of the subfolder `rel` (`a/b`, no `..`), relative
    /// to it; the rules of the folders above it apply, and a subfolder
    /// that is ignored holds none.
    pub fn files_beneath(&self, rel: &str) -> Result<Vec<(String, PathBuf)>, WalkError> {
        let mut layers = Vec::new();
        let mut dir = self.root.clone();
        let mut at = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            layers.push(self.layer(&dir, &at)?);
            at = join(&at, part);
            dir.push(part);
            if self.ignored(&layers, &at, true).is_some() {
                return Ok(Vec::new());
            }
        }
        let mut files = Vec::new();
        self.walk(&dir, &at, &mut layers, &mut files)?;
        let strip = if at.is_empty() { 0 } else { at.len() + 1 };
        let mut files: Vec<(String, PathBuf)> = files.into_iter().map(|(r, p)| (r[strip..].to_string(), p)).collect();
        files.sort();
        Ok(files)
    }

    /// What ignores the file or folder `rel` (`a/b`), if anything does:
    /// the pattern and where it is written, for messages.
    pub fn ignored_by(&self, rel: &str, is_dir: bool) -> Result<Option<String>, WalkError> {
        let mut layers = Vec::new();
        let mut dir = self.root.clone();
        let mut at = String::new();
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            layers.push(self.layer(&dir, &at)?);
            at = join(&at, part);
            dir.push(part);
            let last = i + 1 == parts.len();
            if let Some(why) = self.ignored(&layers, &at, !last || is_dir) {
                return Ok(Some(why));
            }
        }
        Ok(None)
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        layers: &mut Vec<Layer>,
        files: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), WalkError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WalkError::Io { path, source }
        };
        layers.push(self.layer(dir, rel)?);
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(WalkError::NotUtf8(path));
            };
            let rel = join(rel, &name);
            let kind = entry.file_type().map_err(io(&path))?;
            if let Some(why) = self.ignored(layers, &rel, kind.is_dir()) {
                tracing::debug!(path = %path.display(), why, "not the component's: ignored");
                continue;
            }
            if kind.is_dir() {
                self.walk(&path, &rel, layers, files)?;
            } else if kind.is_file() {
                files.push((rel, path));
            } else if kind.is_symlink() && path.is_file() {
                if self.outside || path.canonicalize().is_ok_and(|target| target.starts_with(&self.canonical)) {
                    files.push((rel, path));
                } else {
                    tracing::warn!(path = %path.display(), "not an asset: a symlink leading out of its component's folder");
                }
            } else {
                tracing::debug!(path = %path.display(), "not the component's: not a regular file");
            }
        }
        layers.pop();
        Ok(())
    }

    /// The rule files of `dir` (`rel` in the component folder).
    fn layer(&self, dir: &Path, rel: &str) -> Result<Layer, WalkError> {
        let files: Vec<PathBuf> =
            [".gitignore", IGNORE_FILE].iter().map(|f| dir.join(f)).filter(|p| p.is_file()).collect();
        if files.is_empty() {
            return Ok(Layer { rel: rel.to_string(), rule: Gitignore::empty() });
        }
        let mut builder = GitignoreBuilder::new(dir);
        for path in files {
            if let Some(e) = builder.add(&path) {
                return Err(WalkError::Rule { path, message: e.to_string() });
            }
        }
        let rule = builder.build().map_err(|e| WalkError::Rule { path: dir.to_path_buf(), message: e.to_string() })?;
        Ok(Layer { rel: rel.to_string(), rule })
    }

    /// The deepest folder's rule that says anything about `rel` decides;
    /// failing all, the built-in one. `Some` names the pattern ignoring it.
    fn ignored(&self, layers: &[Layer], rel: &str, is_dir: bool) -> Option<String> {
        for layer in layers.iter().rev() {
            let inside = if layer.rel.is_empty() { rel } else { &rel[layer.rel.len() + 1..] };
            match layer.rule.matched(inside, is_dir) {
                Match::None => continue,
                Match::Whitelist(_) => return None,
                Match::Ignore(glob) => {
                    let from = glob.from().and_then(|f| f.strip_prefix(&self.root).ok()).unwrap_or(Path::new("?"));
                    return Some(format!("`{}` in {}", glob.original(), from.display()));
                }
            }
        }
        match self.built_in.matched(rel, is_dir) {
            Match::Ignore(glob) => Some(format!("`{}` (built in)", glob.original())),
            _ => None,
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") }
}

/// The component's files of `dir` (see [`Walk::files`]): what ships.
pub fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, WalkError> {
    Walk::new(dir)?.files()
}

/// What a build of `dir` may read: [`files`], and symlinks to files
/// outside the folder too (a crate's `src/shared.rs` linked from beside
/// it is compiled in, so a change to it must rebuild), by the same rule.
pub fn sources(dir: &Path) -> Result<Vec<(String, PathBuf)>, WalkError> {
    Walk { outside: true, ..Walk::new(dir)? }.files()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, content) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        files(dir).unwrap().into_iter().map(|(rel, _)| rel).collect()
    }

    #[test]
    fn built_in_ignores_stay_on_the_controller() {
        let dir = tree(&[
            ("app.py", ""),
            (".env", "SECRET=1"),
            (".env.local", "SECRET=2"),
            (".envrc", "kept: not .env"),
            (".htaccess", "a hidden asset travels"),
            ("node_modules/x/index.js", ""),
            ("__pycache__/app.cpython-314.pyc", ""),
            ("target/release/x", ""),
            (".git/HEAD", ""),
            ("sub/.git", "gitdir: a submodule's"),
            ("m.wasm", ""),
            ("sub/target.txt", "a file named like a folder rule"),
        ]);
        assert_eq!(names(dir.path()), [".envrc", ".htaccess", "app.py", "sub/target.txt"]);
    }

    #[test]
    fn gitignore_and_the_runners_ignore_file_are_read_with_gits_semantics() {
        let dir = tree(&[
            (".gitignore", "*.log\n/build/\nnotes/\n!keep.log\n"),
            (IGNORE_FILE, "secret.txt\n!.env.example\n"),
            ("a.log", ""),
            ("keep.log", ""),
            ("build/x", ""),
            ("sub/build/y", "anchored: only the top build/ is ignored"),
            ("sub/notes/z", ""),
            ("secret.txt", ""),
            (".env.example", "re-included"),
            ("deep/.gitignore", "!*.log\nlocal.txt\n"),
            ("deep/b.log", "re-included below"),
            ("deep/local.txt", ""),
        ]);
        assert_eq!(
            names(dir.path()),
            [
                ".batou-run-ignore",
                ".env.example",
                ".gitignore",
                "deep/.gitignore",
                "deep/b.log",
                "keep.log",
                "sub/build/y"
            ]
        );
        let walk = Walk::new(dir.path()).unwrap();
        assert_eq!(walk.ignored_by("a.log", false).unwrap().unwrap(), "`*.log` in .gitignore");
        assert_eq!(walk.ignored_by("secret.txt", false).unwrap().unwrap(), "`secret.txt` in .batou-run-ignore");
        assert_eq!(walk.ignored_by("sub/notes/z", false).unwrap().unwrap(), "`notes/` in .gitignore");
        assert_eq!(walk.ignored_by(".env", false).unwrap().unwrap(), "`.env` (built in)");
        assert_eq!(walk.ignored_by("deep/b.log", false).unwrap(), None);
        assert_eq!(
            walk.files_beneath("deep").unwrap().iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
            [".gitignore", "b.log"]
        );
        assert!(walk.files_beneath("sub/notes").unwrap().is_empty());
    }

    #[test]
    fn a_symlink_leading_out_does_not_ship_but_is_a_source() {
        let dir = tree(&[("src/lib.rs", ""), (".gitignore", "ignored.rs\n")]);
        let outside = tree(&[("shared.rs", ""), ("ignored.rs", "")]);
        std::os::unix::fs::symlink(outside.path().join("shared.rs"), dir.path().join("src/shared.rs")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("ignored.rs"), dir.path().join("ignored.rs")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked-folder")).unwrap();
        assert_eq!(names(dir.path()), [".gitignore", "src/lib.rs"]);
        let sources: Vec<String> = sources(dir.path()).unwrap().into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(sources, [".gitignore", "src/lib.rs", "src/shared.rs"]);
    }

    #[test]
    fn a_bad_pattern_is_an_error_naming_its_file() {
        let dir = tree(&[(".gitignore", "ok\n{a,b\n"), ("x", "")]);
        let err = files(dir.path()).unwrap_err();
        assert!(err.to_string().contains(".gitignore"), "{err}");
    }
}
