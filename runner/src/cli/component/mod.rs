//! `batou-run component …`: the commands about one component module.
//! One module per subcommand: `new` (and `sdk`), `build`, `inspect`,
//! `push`, `pull`, `docs`.

mod build;
mod docs;
mod inspect;
mod new;
mod pull;
mod push;

use super::CliError;
use crate::output::Output;

/// Create, build, inspect and share component modules.
#[derive(clap::Args)]
pub struct ComponentArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    New(new::NewArgs),
    Sdk(new::SdkArgs),
    Build(build::BuildArgs),
    Inspect(inspect::InspectArgs),
    Push(push::PushArgs),
    Pull(pull::PullArgs),
    Docs(docs::DocsArgs),
}

pub fn run(args: ComponentArgs, out: &Output) -> Result<(), CliError> {
    match args.action {
        Action::New(args) => new::run(args, out),
        Action::Sdk(args) => new::sdk(args, out),
        Action::Build(args) => build::run(args, out),
        Action::Inspect(args) => inspect::run(args, out),
        Action::Push(args) => push::run(args, out),
        Action::Pull(args) => pull::run(args, out),
        Action::Docs(args) => docs::run(args, out),
    }
}
