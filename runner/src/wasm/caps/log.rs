//! `log`: messages and file diffs, kept with the component they belong to.

use crate::plan::events::{FileDiff, Level};
use crate::wasm::bindings::batou::deploy::log;
use crate::wasm::state::{LOG_LIMIT_BYTES, StoreData};

impl log::Host for StoreData {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.charge_log(message.len())?;
        let level = match level {
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        self.call.log(level, message);
        Ok(())
    }

    fn diff(&mut self, path: String, old: Vec<u8>, new: Vec<u8>) -> wasmtime::Result<()> {
        self.charge_log(path.len() + old.len().min(4096) + new.len().min(4096))?;
        // Kept (and diffed) in the runner's memory: charged in full.
        if let Err(crate::wasm::CapError::Trap(message)) =
            self.hold(path.len() + old.len() + new.len(), "the contents of the files it reported diffs of")
        {
            return Err(wasmtime::Error::msg(message));
        }
        self.call.log.diffs.push(FileDiff { path, old, new });
        Ok(())
    }
}

impl StoreData {
    /// Ends a component that floods the output.
    fn charge_log(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.call.log.bytes += bytes;
        if self.call.log.bytes > LOG_LIMIT_BYTES {
            return Err(wasmtime::Error::msg(format!(
                "logged more than {} KiB in one {} call; stopped",
                LOG_LIMIT_BYTES >> 10,
                self.call.phase.name()
            )));
        }
        Ok(())
    }
}
