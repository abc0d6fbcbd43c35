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
