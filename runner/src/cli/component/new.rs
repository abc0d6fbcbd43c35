//! `batou-run component new NAME --lang rust|python|js`: a component of
//! the deployment that builds and deploys as is; `batou-run component
//! sdk`: where the Rust SDK that builds use is, for an editor.

use std::path::PathBuf;

use serde_json::json;

use super::super::new::scaffold_error;
use super::super::{CliError, check_deployment, created};
use crate::output::Output;
use crate::scaffold::{self, Language};

/// Create components/NAME/ with a kind NAME.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The component's (and its kind's) name.
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Language,
    /// The deployment directory (holding environments/ and components/).
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
}

/// Print the folder of the Rust SDK (crate batou-sdk) that builds use,
/// for an editor: `patch.crates-io.batou-sdk.path = '<it>'` in a
/// .cargo/config.toml of the deployment.
#[derive(clap::Args)]
pub struct SdkArgs {}

pub fn run(args: NewArgs, out: &Output) -> Result<(), CliError> {
    let NewArgs { name, lang, deployment } = args;
    check_deployment(&deployment)?;
    let made = scaffold::component(&deployment, &name, lang).map_err(scaffold_error)?;
    for file in made {
        created(out, &deployment.join(file));
    }
    out.summary(
        &format!("Use it: add \"{name}\" to a host's `components` in environments/<env>.toml, then deploy."),
        json!({"component": name}),
    );
    Ok(())
}

/// Writes the embedded SDK to the cache (as a build does) and prints the
/// Rust crate's folder.
pub fn sdk(_args: SdkArgs, out: &Output) -> Result<(), CliError> {
    let cache = super::super::cache_dir()?;
    crate::wasm::cache::private_dir(&cache).map_err(|e| anyhow::anyhow!("batou-run component sdk: {e}"))?;
    let sdk = crate::sources::sdk::materialise(&cache).map_err(|d| anyhow::anyhow!("batou-run component sdk: {d}"))?;
    let path = sdk.dir.join(crate::sources::sdk::RUST_CRATE).display().to_string();
    out.summary(&path, json!({"sdk": path}));
    Ok(())
}
