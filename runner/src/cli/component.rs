//! `batou-run component new NAME --lang rust|python|js`: a component of
//! the deployment that builds and deploys as is.

use std::path::PathBuf;

use serde_json::json;

use super::new::scaffold_error;
use super::{CliError, check_deployment, created};
use crate::output::Output;
use crate::scaffold::{self, Language};

/// Create a component of the deployment (Rust, Python or JavaScript).
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

pub fn run(args: ComponentArgs, out: &Output) -> Result<(), CliError> {
    let Action::New { name, lang, deployment } = args.action;
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
