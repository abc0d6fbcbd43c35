//! The user's home folder, for `~`: `$HOME` if it is set and absolute,
//! else nothing. A path that needs a home and has none is an error for
//! its caller to report: never `/`, never the current folder, which would
//! widen what `~/...` names.

use std::path::{Path, PathBuf};

/// `$HOME`, when it is set to an absolute path.
pub fn home() -> Result<PathBuf, NoHome> {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home),
        Some(home) if !home.as_os_str().is_empty() => Err(NoHome::Relative(home)),
        _ => Err(NoHome::Unset),
    }
}

/// `path` with a leading `~` (alone, or `~/...`) replaced by the home;
/// other paths as they are.
pub fn expand(path: &Path) -> Result<PathBuf, NoHome> {
    match path.strip_prefix("~") {
        Ok(rest) => Ok(home()?.join(rest)),
        Err(_) => Ok(path.to_path_buf()),
    }
}

/// Why `~` cannot be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoHome {
    #[error("HOME is not set, so `~` names no folder")]
    Unset,
    #[error("HOME is {0:?}, not an absolute path, so `~` names no folder")]
    Relative(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_tilde_is_the_home() {
        // Whatever HOME is in this test's environment: a path without `~`
        // never depends on it.
        assert_eq!(expand(Path::new("/srv/x")).unwrap(), PathBuf::from("/srv/x"));
        assert_eq!(expand(Path::new("rel/~x")).unwrap(), PathBuf::from("rel/~x"));
        assert_eq!(expand(Path::new("~x")).unwrap(), PathBuf::from("~x"));
    }
}
