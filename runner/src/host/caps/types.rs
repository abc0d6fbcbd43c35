use crate::host::CapError;
use crate::host::bindings::{WitError, batou::deploy::types};
use crate::host::state::StoreData;

impl types::Host for StoreData {
    fn convert_error(&mut self, err: CapError) -> wasmtime::Result<WitError> {
        let CapError::Guest(e) = err;
        Ok(e)
    }
}
