//! `batou-run component push`.

use super::super::CliError;
use crate::diagnostic::Diagnostic;
use crate::output::Output;

/// Push a module to an OCI registry, as a Wasm OCI artifact.
#[derive(clap::Args)]
pub struct PushArgs {}

pub fn run(_args: PushArgs, _out: &Output) -> Result<(), CliError> {
    Err(CliError::Usage(Diagnostic::new("batou-run component push: not implemented").into()))
}
