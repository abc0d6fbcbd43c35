//! Files shipped with a component, such as templates.
//!
//! Assets live beside the component's `Cargo.toml` (or `.wasm`); standard
//! library components see the assets of the component that added them.
//! Allowed in every step, including `configure`.

use crate::__bindings::batou::deploy::assets as wit;
use crate::{Error, Result};

/// Reads the asset `name` (a path relative to the component's folder).
pub fn read(name: &str) -> Result<Vec<u8>> {
    Ok(wit::read(name)?)
}

/// Reads the asset `name` as UTF-8 text.
pub fn read_to_string(name: &str) -> Result<String> {
    String::from_utf8(read(name)?)
        .map_err(|e| Error::Invalid(format!("asset {name} is not UTF-8 text: {e}")))
}

/// At most `length` bytes of the asset `name` from `offset`: fewer at its
/// end, none from there on.
pub fn read_at(name: &str, offset: u64, length: u32) -> Result<Vec<u8>> {
    Ok(wit::read_at(name, offset, length)?)
}

/// The sha256 of the asset `name` as lowercase hex; the runner knows it
/// without the component reading the asset.
pub fn digest(name: &str) -> Result<String> {
    Ok(wit::digest(name)?)
}

/// The asset files beneath the folder `name` (`""` for the whole asset
/// folder), at any depth, as sorted paths relative to it (`name/path`
/// reads one). These are the files that travel to an agent, so the list
/// is the same wherever the component runs: regular files, without
/// `target/` and `.git/` folders or `*.wasm` files; empty folders are not
/// listed. An error if `name` is no folder or holds no files.
pub fn list(name: &str) -> Result<Vec<String>> {
    Ok(wit::list(name)?)
}
