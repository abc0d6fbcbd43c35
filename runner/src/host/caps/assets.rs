//! `assets`: files shipped beside a component, read-only.

use crate::host::CapError;
use crate::host::bindings::batou::deploy::assets;
use crate::host::state::StoreData;

impl assets::Host for StoreData {
    fn read(&mut self, name: String) -> Result<Vec<u8>, CapError> {
        let Some(dir) = self.call.assets.clone() else {
            return Err(CapError::not_found(format!(
                "asset `{name}`: this component has no asset folder (a root of a standard kind reads assets from components/<root name>/)"
            )));
        };
        crate::host::sandbox::read_beneath(&dir, &name)
    }
}
