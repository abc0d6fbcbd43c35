//! `batou-run new DIR`: a deployment that deploys as is.

use std::path::PathBuf;

use serde_json::json;

use super::{CliError, created};
use crate::output::Output;
use crate::scaffold::{self, ScaffoldError};

/// Create a deployment that deploys as is.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The folder to create (it must not exist, or be empty).
    dir: PathBuf,
}

pub fn run(args: NewArgs, out: &Output) -> Result<(), CliError> {
    let made = scaffold::deployment(&args.dir).map_err(scaffold_error)?;
    for file in made {
        created(out, &args.dir.join(file));
    }
    out.summary(
        &format!("Deploy it with: batou-run deploy dev --deployment {}", args.dir.display()),
        json!({"deployment": args.dir, "environment": "dev"}),
    );
    Ok(())
}

/// A refusal is the command line's mistake; a failed write is not.
pub fn scaffold_error(e: ScaffoldError) -> CliError {
    match e {
        ScaffoldError::Refused(why) => CliError::usage(why),
        ScaffoldError::Io(e) => anyhow::anyhow!("cannot write the files: {e}").into(),
    }
}
