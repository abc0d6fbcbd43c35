//! `line-in-file`: one line of a text file, kept present (replacing the
//! lines that start as `starts_with` says) or absent, the rest of the
//! file as it is. Verify computes the file as it should be and compares;
//! update writes that whole, atomically, keeping mode and owner.

use batou_sdk::prelude::*;
use batou_sdk::stdlib::{self, LinePresence};
use serde::Deserialize;

use crate::attributes;

/// A line in a text file.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct LineInFile(stdlib::LineInFile);

attributes!(LineInFile => stdlib::LineInFile, 0);

impl Component for LineInFile {
    fn kind() -> Kind {
        stdlib::LineInFile::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if self.line.contains('\n') || self.line.contains('\r') {
            return Err(bad_attribute("line", "is one line: it cannot hold a line break"));
        }
        if self.starts_with.as_deref() == Some("") {
            return Err(bad_attribute("starts_with", "is empty, so it would match every line; leave it out"));
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let (old, new) = self.contents()?;
        if old.as_deref() == Some(new.as_slice()) || (old.is_none() && self.ensure == LinePresence::Absent) {
            return Ok(());
        }
        log::diff(&self.path, old.as_deref().unwrap_or_default(), &new);
        Err(update_needed(match (old.is_some(), self.ensure) {
            (false, _) => "file is missing",
            (true, LinePresence::Present) => "line is missing",
            (true, LinePresence::Absent) => "line is there",
        }))
    }

    fn update(&mut self) -> Result<()> {
        let (_, new) = self.contents()?;
        files::write(&self.path, &new)
    }
}

impl LineInFile {
    /// The file as it is (None if missing) and as it should be.
    fn contents(&self) -> Result<(Option<Vec<u8>>, Vec<u8>)> {
        let old = match files::stat(&self.path)? {
            None => None,
            Some(stat) if stat.is_file() => Some(files::read(&self.path)?),
            Some(_) => return Err(Error::Invalid(format!("{} is not a regular file: line-in-file manages lines of a text file; point `path` at one", self.path))),
        };
        let text = match &old {
            None => String::new(),
            Some(bytes) => String::from_utf8(bytes.clone())
                .map_err(|_| Error::Invalid(format!("{} is not UTF-8 text, so it has no lines to manage: use `file` to replace it whole", self.path)))?,
        };
        Ok((old, with_line(&text, &self.line, self.starts_with.as_deref(), self.ensure).into_bytes()))
    }
}

/// `text` with `line` present or absent. Present: every line that is
/// `line` or starts with `starts_with` becomes `line`, once (the first
/// such place; later ones are removed); none, and it is appended. Absent:
/// those lines are removed. A last line without a line break gets one
/// only when a line is appended after it.
pub fn with_line(text: &str, line: &str, starts_with: Option<&str>, ensure: LinePresence) -> String {
    let is_ours = |l: &str| l == line || starts_with.is_some_and(|p| l.starts_with(p));
    let mut out = String::with_capacity(text.len() + line.len() + 1);
    let mut placed = false;
    for piece in text.split_inclusive('\n') {
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        if !is_ours(content) {
            out.push_str(piece);
            continue;
        }
        if ensure == LinePresence::Present && !placed {
            placed = true;
            out.push_str(line);
            out.push_str(&piece[content.len()..]);
        }
    }
    if ensure == LinePresence::Present && !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
