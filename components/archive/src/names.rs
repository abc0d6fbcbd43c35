//! The names of an archive's entries: what is refused, what `strip`
//! drops, and where a symlink leads.

use batou_sdk::prelude::*;

use crate::refused;

/// The folder an archive is unpacked into, absolute.
pub struct Target {
    pub root: String,
}

impl Target {
    /// `rel` (checked) below the folder.
    pub fn join(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    /// Checks that a symlink at `path` (below the folder) to `to` leads to
    /// a place below the folder too; `to` as it is kept.
    pub fn symlink(&self, path: &str, to: &str, shown: &str) -> Result<String> {
        if to.is_empty() {
            return Err(refused(shown, "it is a symlink to nothing"));
        }
        if to.starts_with('/') {
            return Err(refused(shown, &format!("it is a symlink to the absolute path {to}, outside the folder")));
        }
        let mut depth: Vec<&str> = path.split('/').collect();
        depth.pop();
        for part in to.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if depth.pop().is_none() {
                        return Err(refused(shown, &format!("it is a symlink to {to}, which leads outside the folder")));
                    }
                }
                name => depth.push(name),
            }
        }
        Ok(to.to_owned())
    }
}

/// An entry's path below the folder, with `strip` leading parts dropped;
/// `None` for an entry `strip` drops whole (the top folder itself).
/// Refused: not UTF-8, absolute, or with a `..` part.
pub fn entry_path(raw: &[u8], strip: u32) -> Result<Option<String>> {
    let shown = String::from_utf8_lossy(raw);
    let Ok(text) = std::str::from_utf8(raw) else { return Err(refused(&shown, "its name is not UTF-8")) };
    if text.starts_with('/') {
        return Err(refused(&shown, "it is an absolute path"));
    }
    if text.contains('\0') {
        return Err(refused(&shown, "its name holds a NUL byte"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(refused(&shown, "a `..` in its path leads outside the folder")),
            name => parts.push(name),
        }
    }
    let strip = strip as usize;
    if parts.len() <= strip {
        return Ok(None);
    }
    Ok(Some(parts[strip..].join("/")))
}
