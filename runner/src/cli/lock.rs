//! `batou-run lock update [NAME]...`: pins the modules of batou.toml to
//! the bytes their sources give now (a moved tag, a new file), in
//! batou.lock.

use std::path::PathBuf;

use serde_json::json;

use super::deploy::resolve_modules;
use super::{CliError, cache_dir, check_deployment};
use crate::output::Output;
use crate::sources::external::{LockMode, Update};

/// Pin the modules of batou.toml (those named, else all) to what their sources give now, in batou.lock.
#[derive(clap::Args)]
pub struct LockArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Fetch the modules again and pin the bytes they are now.
    Update {
        /// The modules to update (their names in batou.toml); all when none is named.
        names: Vec<String>,
        /// The deployment directory (holding environments/ and batou.toml).
        #[arg(long, short = 'd', default_value = ".")]
        deployment: PathBuf,
    },
}

pub fn run(args: LockArgs, out: &Output) -> Result<(), CliError> {
    let Action::Update { names, deployment } = args.action;
    check_deployment(&deployment)?;
    let cache = cache_dir()?;
    let update = if names.is_empty() { Update::All } else { Update::Only(names) };
    let (fetched, _, errors) = resolve_modules(&deployment, &cache, LockMode::Write, &update, out);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    out.summary(
        &format!("batou.lock pins {} module(s) of batou.toml.", fetched.len()),
        json!({"pinned": fetched.iter().map(|m| json!({"module": m.name, "resolved": m.origin})).collect::<Vec<_>>()}),
    );
    Ok(())
}
