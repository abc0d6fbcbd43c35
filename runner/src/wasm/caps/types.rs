use crate::wasm::CapError;
use crate::wasm::bindings::{CallError, batou::deploy::types};
use crate::wasm::state::StoreData;

impl types::Host for StoreData {
    fn convert_call_error(&mut self, err: CapError) -> wasmtime::Result<CallError> {
        match err {
            CapError::Guest(e) => Ok(e),
            CapError::Trap(message) => Err(wasmtime::Error::msg(message)),
        }
    }
}
