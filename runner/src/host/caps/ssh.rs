//! `ssh`: commands on other hosts of the environment.

use crate::host::CapError;
use crate::host::bindings::batou::deploy::{ssh, types::Command, types::CommandOutput};
use crate::host::state::StoreData;

impl ssh::Host for StoreData {
    fn run(&mut self, host: String, _cmd: Command) -> Result<CommandOutput, CapError> {
        Err(CapError::not_implemented(format!(
            "ssh.run on `{host}`: remote commands arrive with SSH deploys (connect = \"ssh\")"
        )))
    }
}
