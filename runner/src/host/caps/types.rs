use crate::host::CapError;
use crate::host::bindings::{WitError, batou::deploy::types};
use crate::host::state::StoreData;

impl types::Host for StoreData {
    fn convert_error(&mut self, err: CapError) -> wasmtime::Result<WitError> {
        match err {
            CapError::Guest(e) => Ok(e),
            CapError::Trap(message) => Err(wasmtime::Error::msg(message)),
        }
    }
}
