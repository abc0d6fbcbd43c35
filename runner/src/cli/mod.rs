//! The `batou-run` command line: one module per command, each with its
//! help on its own arguments struct; every command ends in a
//! [`CliError`], whose kind alone decides the exit code (`error.rs`).

mod agent;
mod agents;
mod cache;
mod component;
mod deploy;
pub mod error;
mod lock;
mod new;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use self::error::CliError;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::output::Output;

#[derive(Parser)]
#[command(name = "batou-run", version, long_version = concat!(env!("CARGO_PKG_VERSION"), "\nsource ", env!("BATOU_RUN_SOURCE_ID")), about = "Deploy with sandboxed WebAssembly components, the batou way")]
#[command(after_help = "Exit codes: 0 done; 1 a deploy failed; 2 a usage or configuration error \
(nothing was touched); 3 the agent's controller is gone; 4 an internal error.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// One JSON event per line on stdout, errors included (`agent`
    /// always speaks its protocol there, and reports errors on stderr).
    #[arg(long, global = true)]
    json: bool,
}

/// The commands; each one's help is on its arguments struct.
#[derive(Subcommand)]
enum Command {
    Deploy(deploy::DeployArgs),
    New(new::NewArgs),
    Component(component::ComponentArgs),
    Lock(lock::LockArgs),
    Cache(cache::CacheArgs),
    Secrets(secrets::SecretsArgs),
    Agent(agent::AgentArgs),
    Agents(agents::AgentsArgs),
}

pub fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return CliError::from(e).exit(&Output::plain(json_asked())),
    };
    let out = match &cli.command {
        Command::Deploy(args) => args.output(cli.json),
        // stdout is the agent protocol's.
        Command::Agent(_) => Output::plain(false),
        _ => Output::plain(cli.json),
    };
    let result = match cli.command {
        Command::Agent(args) => agent::run(args),
        // The agent shipped to hosts is built with `agent-only`: what only
        // a controller does (SSH, registries, secrets, builds) is then
        // never called, and the linker leaves it out (a third of the size).
        #[cfg(feature = "agent-only")]
        _ => Err(CliError::Usage(
            Diagnostic::new("this batou-run is the agent shipped to hosts: it only runs `batou-run agent`")
                .hint("run the batou-run you deploy with")
                .into(),
        )),
        #[cfg(not(feature = "agent-only"))]
        Command::Deploy(args) => deploy::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::Agents(args) => agents::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::Cache(args) => cache::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::Lock(args) => lock::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::New(args) => new::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::Component(args) => component::run(args, &out),
        #[cfg(not(feature = "agent-only"))]
        Command::Secrets(args) => secrets::run(args, &out),
    };
    match result {
        Ok(()) => ExitCode::from(error::code::OK),
        Err(e) => e.exit(&out),
    }
}

/// Whether `--json` is on a command line clap refused (before a `--`).
fn json_asked() -> bool {
    std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json")
}

/// `dir` holds a deployment (an `environments/` folder), as every command
/// that works on one checks, with the same words.
pub fn check_deployment(dir: &Path) -> Result<(), CliError> {
    if dir.join("environments").is_dir() {
        return Ok(());
    }
    Err(CliError::Usage(
        Diagnostic::new(format!("{} is not a deployment: it has no environments/ folder", dir.display()))
            .hint("run batou-run from the deployment's directory, pass --deployment DIR, or create one with `batou-run new DIR`")
            .into(),
    ))
}

/// A file a command made: `created PATH`, or a `created` event.
fn created(out: &Output, path: &Path) {
    if out.json {
        out.json_line(&serde_json::json!({"event": "created", "path": path}));
    } else {
        println!("created {}", crate::output::shown(&path.display().to_string()));
    }
}

/// Developer logs: `BATOU_RUN_LOG=debug`, to stderr, apart from the output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATOU_RUN_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| crate::redact::Stderr).with_target(false).init();
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
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Each command's help comes from its arguments struct.
    #[test]
    fn every_command_has_its_help() {
        let cli = super::Cli::command();
        let about = |name: &str| {
            let command = cli.find_subcommand(name).unwrap_or_else(|| panic!("no command {name}"));
            command.get_about().map(|a| a.to_string()).unwrap_or_default()
        };
        assert!(about("deploy").starts_with("Bring every host"), "{}", about("deploy"));
        assert!(about("new").starts_with("Create a deployment"), "{}", about("new"));
        assert!(about("component").starts_with("Create, build, inspect and share"), "{}", about("component"));
        assert!(about("lock").starts_with("Pin the modules of batou.toml"), "{}", about("lock"));
        assert!(about("cache").starts_with("Show or empty the cache"), "{}", about("cache"));
        assert!(about("secrets").starts_with("Edit, list and re-encrypt"), "{}", about("secrets"));
        assert!(about("agent").starts_with("Serve the agent protocol"), "{}", about("agent"));
    }
}
