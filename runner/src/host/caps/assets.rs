//! `assets`: files shipped beside a component, read-only.

use std::path::{Component, Path};

use crate::host::CapError;
use crate::host::bindings::batou::deploy::assets;
use crate::host::error::io_error;
use crate::host::state::StoreData;

impl assets::Host for StoreData {
    fn read(&mut self, name: String) -> Result<Vec<u8>, CapError> {
        let Some(dir) = self.call.assets.clone() else {
            return Err(CapError::not_found(format!(
                "asset `{name}`: this component has no asset folder (a root of a standard kind reads assets from components/<root name>/)"
            )));
        };
        let rel = Path::new(&name);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(CapError::denied(format!(
                "asset `{name}`: asset names are relative paths inside the component's folder, without `..`"
            )));
        }
        std::fs::read(dir.join(rel)).map_err(|e| io_error(&dir.join(rel), e))
    }
}
