//! `batou-run component inspect`.

use super::super::CliError;
use crate::diagnostic::Diagnostic;
use crate::output::Output;

/// Show what a module exports, the contract it targets and the capabilities it could ask for.
#[derive(clap::Args)]
pub struct InspectArgs {}

pub fn run(_args: InspectArgs, _out: &Output) -> Result<(), CliError> {
    Err(CliError::Usage(Diagnostic::new("batou-run component inspect: not implemented").into()))
}
