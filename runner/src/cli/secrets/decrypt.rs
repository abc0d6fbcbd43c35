//! `batou-run secrets decrypt-to-stdout FILE`: for `git diff` (textconv).

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, identities, secrets_error};

/// Decrypt an age file to stdout, for git's textconv (docs/secrets.md:
/// `*.age diff=batou-run-age` in .gitattributes).
#[derive(clap::Args)]
pub struct DecryptArgs {
    /// The age file (armored or binary).
    file: PathBuf,
    /// Accepted for symmetry with the other commands; the file's path is
    /// all that counts.
    #[arg(long, short = 'd', hide = true)]
    deployment: Option<PathBuf>,
}

pub fn run(args: DecryptArgs) -> Result<(), CliError> {
    let shown = args.file.display().to_string();
    let identities = identities()?;
    let plain = identities.decrypt(&args.file, &shown).map_err(secrets_error)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&plain).and_then(|()| stdout.flush()).map_err(|e| anyhow::anyhow!("cannot write stdout: {e}"))?;
    Ok(())
}
