//! `batou-run deploy ENV`: configure, then verify and update every host.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::{CliError, cache_dir, check_deployment};
use crate::agent::speculate::Speculations;
use crate::config::deployment::load_deployment_config;
use crate::config::{Connect, Environment, Loaded, load_environment};
use crate::diagnostic::{Diagnostic, Diagnostics, Stage, choices_hint};
use crate::orchestrate::{self, Report};
use crate::output::Output;
use crate::plan::HostPlan;
use crate::sources::Modules;
use crate::sources::external::{LockMode, Update};
use crate::target::local::Local;
use crate::target::process::Process;
use crate::target::ssh::{Ssh, SshHosts, SshSetupError};
use crate::target::{Target, TargetError};
use crate::wasm::Runtime;
use crate::{controller, deploy_lock, sources};

/// Bring every host of an environment to the state its components describe.
#[derive(clap::Args)]
pub struct DeployArgs {
    /// The environment: environments/ENV.toml or environments/ENV/environment.toml.
    environment: String,
    /// The deployment directory (holding environments/ and components/).
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
    /// Verify only and show what would change, with diffs; change nothing.
    #[arg(long, short = 'P')]
    predict: bool,
    /// Configure only: check the environment and the components' model,
    /// without touching any host.
    #[arg(long, short = 'c', conflicts_with = "predict")]
    consistency: bool,
    /// Also show components' debug messages.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Run the agent as a separate process, as SSH deploys will
    /// (`batou-run agent`, fed over its stdin and stdout).
    #[arg(long)]
    agent_process: bool,
    /// Deploy up to N hosts at once (default: `jobs` in [environment],
    /// else 1: one host after the other).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Deploy only this host (repeatable). Configure still runs for every
    /// host; the roots of other hosts count as deployed.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// SSH: add the key of a host not yet in known_hosts to it (a changed
    /// key is always refused).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Never write batou.lock: a module of batou.toml it does not pin is
    /// an error (the default when the variable CI is set).
    #[arg(long)]
    locked: bool,
}

impl DeployArgs {
    /// What the deploy shows, and how (`--json` is the command line's).
    pub fn output(&self, json: bool) -> Output {
        Output { json, verbose: self.verbose, grants: self.predict || self.verbose }
    }
}

pub fn run(args: DeployArgs, out: &Output) -> Result<(), CliError> {
    crate::progress::start(out.json);
    let started = Instant::now();
    let deployment = &args.deployment;
    check_deployment(deployment)?;
    let deployment = deployment.canonicalize().map_err(|e| anyhow::anyhow!("{}: {e}", deployment.display()))?;
    // The engine and the standard library depend on nothing the
    // environment says: they start on another core while it is read
    // (a no-change deploy of 500 roots waited 4 ms for each in turn).
    let cache = cache_dir();
    let early = match &cache {
        Ok(dir) => Some(start_runtime(dir.clone())?),
        Err(_) => None,
    };
    // Every problem found before a host is touched is reported in one go:
    // each stage goes on with what the one before could make sense of.
    let Loaded { mut env, errors, warnings } = load_environment(&deployment, &args.environment)?;
    let mut errors = errors.in_stage(Stage::Environment);
    let plan_secrets = match secrets_into(&deployment, &mut env, &mut errors, out) {
        Ok(s) => s,
        Err(e) => {
            errors.extend(e);
            return Err(errors.into());
        }
    };
    out.warnings(&warnings);
    if let Err(e) = check_hosts(&env, &args.hosts) {
        errors.extend(e.in_stage(Stage::Environment));
    }
    // One connection per host for the whole deploy, shared by the host's
    // agent and by the `ssh` capability of components on other hosts. The
    // SSH settings are read here (nothing connects yet), so that what
    // cannot be followed is reported with the other problems, by `-c` too.
    let cache = cache?;
    let ssh_hosts = match env.connect {
        Connect::Ssh => match SshHosts::new(&env, &args.deployment, args.accept_new_host_keys, &cache) {
            Ok(hosts) => Some(Arc::new(hosts)),
            Err(e) => {
                errors.extend(ssh_setup_error(e)?.in_stage(Stage::Environment));
                None
            }
        },
        Connect::Local => None,
    };
    // One deploy of a deployment at a time, from before configure (which
    // may build the deployment's components) to the summary.
    let _lock =
        if args.consistency { None } else { Some(deploy_lock::acquire(&deployment).map_err(Diagnostics::from)?) };
    let mode = lock_mode(args.locked, args.predict || args.consistency);
    let (fetched, unresolved, module_errors) = resolve_modules(&deployment, &cache, mode, &Update::Nothing, out);
    errors.extend(module_errors.in_stage(Stage::Modules));
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "stage: environment read");
    let early = early.expect("started once the cache folder was known");
    let (runtime, stdlib) = early.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "stage: runtime started");
    let (modules, build_errors) = sources::load(&runtime, stdlib, &deployment, &cache, fetched, unresolved);
    errors.extend(build_errors.in_stage(Stage::Build));
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "stage: modules loaded");
    // In-process deploys verify each root right after its configure, with
    // the same instances (`agent::speculate`).
    let in_process = env.connect == Connect::Local && !args.agent_process && !args.consistency;
    let roots = env.hosts.iter().map(|h| h.components.len()).sum();
    let speculations = in_process.then(|| Arc::new(Speculations::for_hosts(&args.hosts, roots)));
    let plan = match controller::plan(&env, &deployment, &runtime, &modules, &plan_secrets, speculations.as_deref()) {
        Ok(plan) => errors.into_result(plan)?,
        Err(e) => {
            errors.extend(e);
            return Err(errors.into());
        }
    };

    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "stage: planned");
    tracing::info!(roots = speculations.as_ref().map_or(0, |s| s.len()), "verified ahead");
    if args.consistency {
        let components: usize = plan.hosts.iter().flat_map(|h| &h.roots).map(|r| r.node.count()).sum();
        let hosts = plan.hosts.len();
        let host_word = if hosts == 1 { "host" } else { "hosts" };
        out.summary(
            &format!(
                "Configuration of `{}` is consistent: {components} components on {hosts} {host_word} ({:.2}s).",
                env.name,
                started.elapsed().as_secs_f64()
            ),
            json!({"environment": env.name, "components": components, "hosts": hosts, "seconds": started.elapsed().as_secs_f64()}),
        );
        return Ok(());
    }

    let selected = |name: &str| args.hosts.is_empty() || args.hosts.iter().any(|h| h == name);
    let jobs = args.jobs.map(|j| j as usize).or(env.jobs).unwrap_or(1);
    let options = orchestrate::Options { jobs, predict: args.predict, selected: &selected };
    let make_target =
        |host: &HostPlan| target(&args, ssh_hosts.as_ref(), &cache, &runtime, &modules, speculations.as_ref(), host);
    let report = orchestrate::deploy(&plan, &options, &make_target, out);
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "stage: deployed");
    summary(&args, &env.name, env.connect == Connect::Ssh, &report, started, out);
    // The process ends here: freeing the plan, the modules and the
    // environment one allocation at a time took 1.5 ms of 500 roots'
    // no-change deploy, for memory the exit returns at once.
    std::mem::forget((plan, modules, env, speculations));
    if report.ok() { Ok(()) } else { Err(CliError::Deploy) }
}

/// Starts the Wasm engine and loads the standard library into it, on a
/// thread of its own.
fn start_runtime(
    cache: PathBuf,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<(Runtime, sources::Preloaded)>>> {
    let start = move || {
        let runtime = Runtime::new(cache)?;
        let stdlib = sources::preload_stdlib(&runtime);
        Ok((runtime, stdlib))
    };
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(start)
        .map_err(|e| anyhow::anyhow!("cannot start a thread: {e}"))
}

/// Reads the environment's secrets into it (attribute and host data
/// overrides) and masks every secret from here on, in everything this
/// process shows. What cannot be decrypted ends the run here: a deploy
/// without its secrets would deploy something else.
fn secrets_into(
    deployment: &Path,
    env: &mut Environment,
    errors: &mut Diagnostics,
    out: &Output,
) -> Result<controller::PlanSecrets, Diagnostics> {
    let secrets = crate::secrets::load(deployment, &env.name)?;
    let (problems, warnings) = crate::secrets::into_environment(secrets.as_ref(), env);
    let Some(secrets) = secrets else {
        errors.extend(problems);
        return Ok(Default::default());
    };
    let masked = secrets.masked();
    crate::redact::install(crate::redact::Redactor::new(&masked));
    out.warnings(&warnings);
    errors.extend(problems);
    Ok(controller::PlanSecrets {
        files: secrets.files.into_iter().map(|(name, bytes)| (name, Arc::new(bytes))).collect(),
        masked,
    })
}

/// Whether this run may write batou.lock: not with `--locked`, not in CI
/// (a pipeline deploys what was committed); a predict or a consistency
/// check, which change nothing, only say what they would pin.
pub fn lock_mode(locked: bool, changes_nothing: bool) -> LockMode {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if locked {
        LockMode::ReadOnly("--locked")
    } else if ci {
        LockMode::ReadOnly("CI is set (as --locked)")
    } else if changes_nothing {
        LockMode::DryRun
    } else {
        LockMode::Write
    }
}

/// Resolves batou.toml's modules against batou.lock, telling the user
/// about every pin made or moved: the modules resolved, the names of
/// those that could not be, and why.
pub fn resolve_modules(
    deployment: &Path,
    cache: &Path,
    mode: LockMode,
    update: &Update,
    out: &Output,
) -> (Vec<sources::external::Fetched>, Vec<String>, Diagnostics) {
    let config = match load_deployment_config(deployment) {
        Ok(config) => config,
        Err(e) => return (Vec::new(), Vec::new(), e),
    };
    let resolution = sources::external::resolve(deployment, cache, &config, mode, update);
    for change in &resolution.changes {
        pinned(out, change, resolution.written);
    }
    let fetched: std::collections::BTreeSet<&str> = resolution.modules.iter().map(|m| m.name.as_str()).collect();
    let unresolved =
        config.modules.iter().filter(|m| !fetched.contains(m.name.as_str())).map(|m| m.name.clone()).collect();
    (resolution.modules, unresolved, resolution.errors)
}

/// A pin made or moved: `batou.lock: pinned NAME to sha256:… (resolved)`.
fn pinned(out: &Output, change: &sources::external::PinChange, written: bool) {
    let verb = match (&change.old, written) {
        (None, true) => "pinned",
        (Some(_), true) => "moved the pin of",
        (None, false) => "would pin",
        (Some(_), false) => "would move the pin of",
    };
    if out.json {
        out.json_line(&json!({
            "event": "pinned", "module": change.name, "written": written,
            "source": change.new.source, "resolved": change.new.resolved, "sha256": change.new.sha256,
            "previous": change.old.as_ref().map(|o| &o.sha256),
        }));
    } else {
        let from = change.old.as_ref().map(|o| format!(" (was {})", o.sha256)).unwrap_or_default();
        println!(
            "batou.lock: {verb} `{}` to {}{from} ({})",
            crate::output::shown(&change.name),
            change.new.sha256,
            crate::output::shown(&change.new.resolved)
        );
    }
}

/// The target that deploys `host`, made in the host's worker thread.
fn target<'a>(
    args: &DeployArgs,
    ssh_hosts: Option<&Arc<SshHosts>>,
    cache: &Path,
    runtime: &'a Runtime,
    modules: &'a Modules,
    speculations: Option<&Arc<Speculations>>,
    host: &HostPlan,
) -> Result<Box<dyn Target + 'a>, TargetError> {
    if let Some(hosts) = ssh_hosts {
        return Ok(Box::new(Ssh::new(hosts.clone(), modules)));
    }
    if args.agent_process {
        let process = Process::this_binary(cache, modules).map_err(|source| TargetError::Spawn {
            host: host.host.name.clone(),
            command: "batou-run agent".into(),
            source,
        })?;
        return Ok(Box::new(process));
    }
    Ok(Box::new(Local::new(runtime, modules, speculations.cloned())))
}

/// SSH settings that cannot be followed are the configuration's mistake,
/// each with its file and line; a runtime that does not start is not.
fn ssh_setup_error(e: SshSetupError) -> Result<Diagnostics, CliError> {
    match e {
        SshSetupError::Config(refused) => {
            let mut errors = Diagnostics::default();
            for (host, e) in refused {
                let mut d = Diagnostic::new(e.problem()).at(e.location()).hint(e.hint());
                if let Some(host) = host {
                    d = d.on_host(host);
                }
                errors.push(d);
            }
            Ok(errors)
        }
        SshSetupError::NoHome(_) => Ok(Diagnostic::new(e.to_string()).hint("set HOME to your home folder").into()),
        SshSetupError::Agents(_) => Ok(Diagnostic::new(e.to_string())
            .hint("name static batou-run builds (`cargo build --profile agent --features agent-only --target x86_64-unknown-linux-musl`), separated by `:`, or unset it")
            .into()),
        SshSetupError::Runtime(_) => Err(CliError::Internal(e.into())),
    }
}

/// `--host` must name hosts of the environment.
fn check_hosts(env: &Environment, wanted: &[String]) -> Result<(), Diagnostics> {
    let names = || env.hosts.iter().map(|h| h.name.as_str());
    let mut errors = Diagnostics::default();
    for name in wanted.iter().filter(|w| !names().any(|n| n == w.as_str())) {
        errors.push(
            Diagnostic::new(format!("--host {name}: environment `{}` has no host `{name}`", env.name))
                .at(env.file.clone())
                .hint(choices_hint(name, names())),
        );
    }
    errors.into_result(())
}

fn summary(args: &DeployArgs, environment: &str, ssh: bool, report: &Report, started: Instant, out: &Output) {
    let Report { changed, components, hosts, uploaded, failed_hosts, skipped_hosts, .. } = report;
    let host_word = if *hosts == 1 { "host" } else { "hosts" };
    let seconds = started.elapsed().as_secs_f64();
    let failed_roots: Vec<String> = report.failed.iter().map(|r| r.to_string()).collect();
    let skipped_roots: Vec<String> = report.skipped.iter().map(|(r, _)| r.to_string()).collect();
    let mut fields = json!({
        "environment": environment, "predict": args.predict, "changed": changed,
        "components": components, "hosts": hosts, "failed_hosts": failed_hosts, "seconds": seconds,
        "failed": failed_roots, "skipped_hosts": skipped_hosts, "skipped": skipped_roots,
    });
    if args.agent_process || ssh {
        fields["uploaded"] = json!({"modules": uploaded.modules, "assets": uploaded.assets, "bytes": uploaded.bytes});
        if ssh {
            fields["uploaded"]["agent_bytes"] = json!(uploaded.agent_bytes);
        }
    }
    let text = if !report.ok() {
        let mut text = format!("Deployment of `{environment}` FAILED");
        if !failed_hosts.is_empty() {
            text.push_str(&format!(" on {}", failed_hosts.join(", ")));
        }
        text.push_str(&format!(": {changed} of {components} components changed before the failure"));
        if !failed_roots.is_empty() {
            text.push_str(&format!("; failed: {}", failed_roots.join(", ")));
        }
        if !skipped_roots.is_empty() {
            text.push_str(&format!("; skipped: {}", skipped_roots.join(", ")));
        }
        if !skipped_hosts.is_empty() {
            text.push_str(&format!(" (hosts with skipped roots: {})", skipped_hosts.join(", ")));
        }
        format!("{text} ({seconds:.2}s).")
    } else if args.predict {
        format!(
            "Predicted for `{environment}`: {changed} of {components} components would change on {hosts} {host_word} ({seconds:.2}s); nothing was changed."
        )
    } else {
        format!(
            "Deployed `{environment}`: {changed} of {components} components changed on {hosts} {host_word} ({seconds:.2}s)."
        )
    };
    out.summary(&text, fields);
}
