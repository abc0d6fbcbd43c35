//! `batou-run component pull`.

use super::super::CliError;
use crate::diagnostic::Diagnostic;
use crate::output::Output;

/// Pull a module from an OCI registry into the cache.
#[derive(clap::Args)]
pub struct PullArgs {}

pub fn run(_args: PullArgs, _out: &Output) -> Result<(), CliError> {
    Err(CliError::Usage(Diagnostic::new("batou-run component pull: not implemented").into()))
}
