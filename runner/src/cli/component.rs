//! `batou-run component new NAME --lang rust|python|js`: a component of
//! the deployment that builds and deploys as is.

use std::path::PathBuf;

use super::Failure;
use crate::scaffold::{self, Language};

#[derive(clap::Args)]
pub struct ComponentArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create components/NAME/ with a kind NAME.
    New {
        /// The component's (and its kind's) name.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// The deployment directory (holding environments/ and components/).
        #[arg(long, short = 'd', default_value = ".")]
        deployment: PathBuf,
    },
}

pub fn run(args: ComponentArgs) -> Result<(), Failure> {
    let Action::New { name, lang, deployment } = args.action;
    if !deployment.join("environments").is_dir() {
        return Err(anyhow::anyhow!(
            "{} is not a deployment (no environments/ folder); create one with `batou-run new DIR`",
            deployment.display()
        )
        .into());
    }
    let made =
        scaffold::component(&deployment, &name, lang).map_err(|e| anyhow::anyhow!("batou-run component new: {e}"))?;
    for file in made {
        println!("created {}", deployment.join(file).display());
    }
    println!("Use it: add \"{name}\" to a host's `components` in environments/<env>.toml, then deploy.");
    Ok(())
}
