//! `content`: a file's bytes, from a string or an asset, rendered as a
//! template; an asset that is no template is compared by digest and copied
//! in pieces, so that its size is not bounded by the component's memory.

use std::borrow::Cow;

use batou_sdk::files::parent;
use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::Deserialize;
use serde_json::json;

use crate::attributes;

/// How much of an asset is read, and written, at once.
const PIECE: u32 = 1 << 20;

/// Up to this size both sides of a changed file are read to show a diff.
const DIFF_LIMIT: u64 = 1 << 20;

/// A file's bytes, from a string or an asset, rendered as a template.
#[derive(Deserialize)]
#[serde(from = "stdlib::Content")]
pub struct Content {
    attributes: stdlib::Content,
    /// What the file must hold, computed by `configure`.
    wanted: Option<Wanted>,
}

impl From<stdlib::Content> for Content {
    fn from(attributes: stdlib::Content) -> Self {
        Content { attributes, wanted: None }
    }
}

attributes!(Content => stdlib::Content, attributes);

/// What the file must hold.
#[derive(Clone)]
enum Wanted {
    /// These bytes: a string, or a rendered template.
    Bytes(Vec<u8>),
    /// The asset as it is, known by its sha256 and never held whole.
    Asset { name: String, digest: String },
}

impl Component for Content {
    fn kind() -> Kind {
        stdlib::Content::spec()
    }

    fn configure(&mut self) -> Result<()> {
        self.wanted = Some(self.compute()?);
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        match &*self.wanted()? {
            Wanted::Bytes(bytes) if self.sensitive => verify_sensitive(&self.path, &batou_sdk::sha256_hex(bytes)),
            Wanted::Asset { digest, .. } if self.sensitive => verify_sensitive(&self.path, digest),
            Wanted::Bytes(bytes) => ensure_content(&self.path, bytes),
            Wanted::Asset { name, digest } => verify_copy(&self.path, name, digest),
        }
    }

    fn update(&mut self) -> Result<()> {
        if self.leading
            && let Some(dir) = parent(&self.path)
        {
            files::mkdir(dir, true)?;
        }
        let mode = self.mode.or(self.secret_file.as_ref().map(|_| crate::SECRET_MODE));
        match &*self.wanted()? {
            Wanted::Bytes(bytes) => files::write_with_mode(&self.path, bytes, mode),
            Wanted::Asset { name, .. } => copy(name, &self.path, mode),
        }
    }
}

impl Content {
    /// What the file must hold, as `configure` computed it (or computed
    /// now, should `configure` not have run on this instance).
    fn wanted(&self) -> Result<Cow<'_, Wanted>> {
        match &self.wanted {
            Some(wanted) => Ok(Cow::Borrowed(wanted)),
            None => self.compute().map(Cow::Owned),
        }
    }

    fn compute(&self) -> Result<Wanted> {
        if let Some(name) = &self.secret_file {
            if self.content.is_some() || self.source.is_some() {
                return Err(Error::Invalid("set one of content, source and secret_file".to_owned()));
            }
            // As it is: a secret file may be any bytes, and is no template.
            return Ok(Wanted::Bytes(model::secret_file(name)?));
        }
        let raw: Vec<u8> = match (&self.content, &self.source) {
            (Some(content), None) => content.clone().into_bytes(),
            (None, Some(source)) if !self.is_template => {
                return Ok(Wanted::Asset { name: source.clone(), digest: assets::digest(source)? });
            }
            (None, Some(source)) => assets::read(source)?,
            (Some(_), Some(_)) => {
                return Err(Error::Invalid("set either content or source, not both".to_owned()));
            }
            (None, None) => return Err(Error::Invalid("set content or source".to_owned())),
        };
        if !self.is_template {
            return Ok(Wanted::Bytes(raw));
        }
        let what = self.source.as_deref().map_or_else(|| "content".to_owned(), |s| format!("asset {s}"));
        let source = String::from_utf8(raw).map_err(|_| {
            Error::Invalid(format!("{what} is not UTF-8 text, so it cannot be a template; set is_template = false"))
        })?;
        // The runner names the template in errors (file and line).
        let origin = self.source.as_deref().map_or(template::Origin::Attribute("content"), template::Origin::Asset);
        let rendered = template::render_from(&source, &json!({ "component": self.context }), origin)?;
        Ok(Wanted::Bytes(rendered.into_bytes()))
    }
}

/// As `ensure_content`, for the asset `name` with the sha256 `digest`:
/// both digests are computed where the bytes are, so an unchanged file
/// is never read. A diff is shown when both sides are small.
fn verify_copy(path: &str, name: &str, digest: &str) -> Result<()> {
    let current = files::digest(path)?;
    if current.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(digest)) {
        return Ok(());
    }
    let old = match &current {
        None => Some(Vec::new()),
        Some(_) => small_file(path)?,
    };
    match (old, small_asset(name)?) {
        (Some(old), Some(new)) => log::diff(path, &old, &new),
        _ => log::debug(format!("{path}: larger than {} MiB, no diff shown", DIFF_LIMIT >> 20)),
    }
    Err(update_needed(if current.is_none() { "file is missing" } else { "content changed" }))
}

/// Whether the file at `path` has the sha256 `digest`, telling that it
/// changed but never how (`sensitive = true`).
fn verify_sensitive(path: &str, digest: &str) -> Result<()> {
    let current = files::digest(path)?;
    if current.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(digest)) {
        return Ok(());
    }
    log::info(format!("{path}: no diff shown (sensitive = true)"));
    Err(update_needed(if current.is_none() { "file is missing" } else { "content changed" }))
}

/// The file at `path`, if it is small enough for a diff.
fn small_file(path: &str) -> Result<Option<Vec<u8>>> {
    match files::stat(path)? {
        Some(stat) if stat.is_file() && stat.size <= DIFF_LIMIT => files::read(path).map(Some),
        _ => Ok(None),
    }
}

/// The asset `name`, if it is small enough for a diff. There is no size
/// of an asset to ask for: its first piece is all of it if nothing
/// follows (the runner may return less than asked for, so a short piece
/// alone does not tell).
fn small_asset(name: &str) -> Result<Option<Vec<u8>>> {
    let first = assets::read_at(name, 0, DIFF_LIMIT as u32)?;
    if assets::read_at(name, first.len() as u64, 1)?.is_empty() { Ok(Some(first)) } else { Ok(None) }
}

/// Copies the asset `name` to `path` in pieces: written beside it and put
/// in place at the end, as a whole write is.
fn copy(name: &str, path: &str, mode: Option<u32>) -> Result<()> {
    let mut writer = files::Writer::create(path, mode)?;
    let mut offset = 0u64;
    loop {
        let piece = assets::read_at(name, offset, PIECE)?;
        if piece.is_empty() {
            break;
        }
        offset += piece.len() as u64;
        writer.append(&piece)?;
    }
    writer.finish()?;
    log::debug(format!("{path}: copied {offset} bytes of asset {name}"));
    Ok(())
}
