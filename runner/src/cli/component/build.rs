//! `batou-run component build`.

use super::super::CliError;
use crate::diagnostic::Diagnostic;
use crate::output::Output;

/// Build a component of the deployment into one module file (its assets inside).
#[derive(clap::Args)]
pub struct BuildArgs {}

pub fn run(_args: BuildArgs, _out: &Output) -> Result<(), CliError> {
    Err(CliError::Usage(Diagnostic::new("batou-run component build: not implemented").into()))
}
