//! `batou-run new DIR`: a deployment that deploys as is.

use std::path::PathBuf;

use super::Failure;
use crate::scaffold;

#[derive(clap::Args)]
pub struct NewArgs {
    /// The folder to create (it must not exist, or be empty).
    dir: PathBuf,
}

pub fn run(args: NewArgs) -> Result<(), Failure> {
    let made = scaffold::deployment(&args.dir).map_err(|e| anyhow::anyhow!("batou-run new: {e}"))?;
    for file in made {
        println!("created {}", args.dir.join(file).display());
    }
    println!("Deploy it with: batou-run deploy dev --deployment {}", args.dir.display());
    Ok(())
}
