//! The `batou-run` command line: one module per command; error kinds map
//! to exit codes.

mod agent;
mod cache;
mod component;
mod deploy;
mod new;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diagnostic::Diagnostics;

#[derive(Parser)]
#[command(name = "batou-run", version, about = "Deploy with sandboxed WebAssembly components, the batou way")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring every host of an environment to the state its components describe.
    Deploy(deploy::DeployArgs),
    /// Create a deployment that deploys as is.
    New(new::NewArgs),
    /// Create a component of the deployment (Rust, Python or JavaScript).
    Component(component::ComponentArgs),
    /// Show or empty the cache of compiled modules and built components.
    Cache(cache::CacheArgs),
    /// Serve the agent protocol on stdin/stdout (started by a controller,
    /// locally or over SSH; not for interactive use).
    Agent(agent::AgentArgs),
}

/// How a command ended, as the exit code says it.
pub enum Failure {
    /// A component failed while deploying (exit 1).
    Deploy,
    /// The deployment's configuration is wrong (exit 2); already reported.
    Config(Diagnostics),
    /// The runner itself could not work (exit 1).
    Internal(anyhow::Error),
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Failure::Config(d)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Internal(e)
    }
}

pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deploy(args) => deploy::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Cache(args) => cache::run(args),
        Command::New(args) => new::run(args),
        Command::Component(args) => component::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Deploy) => ExitCode::from(1),
        Err(Failure::Config(_)) => ExitCode::from(2),
        Err(Failure::Internal(e)) => {
            eprintln!("ERROR: {}", crate::output::shown(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Developer logs: `BATOU_RUN_LOG=debug`, to stderr, apart from the output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATOU_RUN_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

/// Where compiled modules and built components are kept between runs:
/// `$BATOU_RUN_CACHE`, else `$XDG_CACHE_HOME/batou-run`, else
/// `~/.cache/batou-run`. Never a shared temporary folder: the cache holds
/// native code the runner executes, and another user could plant it there.
pub fn cache_dir() -> Result<PathBuf, Diagnostics> {
    if let Some(dir) = std::env::var_os("BATOU_RUN_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(base) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|b| b.is_absolute()) {
        return Ok(base.join("batou-run"));
    }
    let home = crate::home::home().map_err(|e| {
        Diagnostics::from(
            crate::diagnostic::Diagnostic::new(format!("no folder for batou-run's cache: {e}"))
                .hint("set HOME, XDG_CACHE_HOME or BATOU_RUN_CACHE to a folder of your own"),
        )
    })?;
    Ok(home.join(".cache").join("batou-run"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
