//! `batou-run component new NAME --lang rust|python|js`: a component of
//! the deployment that builds and deploys as is; `batou-run component
//! sdk`: where the Rust SDK that builds use is, for an editor.

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
    /// Print the folder of the Rust SDK (crate batou-sdk) that builds use,
    /// for an editor: `patch.crates-io.batou-sdk.path = '<it>'` in a
    /// .cargo/config.toml of the deployment.
    Sdk,
}

pub fn run(args: ComponentArgs) -> Result<(), Failure> {
    let (name, lang, deployment) = match args.action {
        Action::New { name, lang, deployment } => (name, lang, deployment),
        Action::Sdk => return sdk(),
    };
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

/// Writes the embedded SDK to the cache (as a build does) and prints the
/// Rust crate's folder.
fn sdk() -> Result<(), Failure> {
    let cache = super::cache_dir()?;
    crate::host::cache::private_dir(&cache).map_err(|e| anyhow::anyhow!("batou-run component sdk: {e}"))?;
    let sdk = crate::modules::sdk::materialise(&cache).map_err(|d| anyhow::anyhow!("batou-run component sdk: {d}"))?;
    println!("{}", sdk.dir.join(crate::modules::sdk::RUST_CRATE).display());
    Ok(())
}
