//! `batou-run deploy ENV`: configure, then verify and update every host.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::{Failure, cache_dir};
use crate::agent::Uploaded;
use crate::config::{Connect, load_environment};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::host::Runtime;
use crate::output::Output;
use crate::target::Target;
use crate::target::local::Local;
use crate::target::process::Process;
use crate::target::ssh::Ssh;
use crate::{controller, modules};

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
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
    /// Also show components' debug messages.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Run the agent as a separate process, as SSH deploys will
    /// (`batou-run agent`, fed over its stdin and stdout).
    #[arg(long)]
    agent_process: bool,
    /// SSH: add the key of a host not yet in known_hosts to it (a changed
    /// key is always refused).
    #[arg(long)]
    accept_new_host_keys: bool,
}

pub fn run(args: DeployArgs) -> Result<(), Failure> {
    let out = Output { json: args.json, verbose: args.verbose };
    let started = Instant::now();
    let result = deploy(&args, &out, started);
    if let Err(Failure::Config(d)) = &result {
        out.diagnostics(d);
    }
    result
}

fn deploy(args: &DeployArgs, out: &Output, started: Instant) -> Result<(), Failure> {
    let deployment = &args.deployment;
    if !deployment.join("environments").is_dir() {
        return Err(Diagnostics::from(
            Diagnostic::new(format!("{} is not a deployment: it has no environments/ folder", deployment.display()))
                .hint("run batou-run from the deployment's directory, or pass --deployment DIR"),
        )
        .into());
    }
    let deployment = deployment.canonicalize().map_err(|e| anyhow::anyhow!("{}: {e}", deployment.display()))?;
    let env = load_environment(&deployment, &args.environment)?;
    let cache = cache_dir();
    let runtime = Runtime::new(cache.clone())?;
    let modules = modules::load(&runtime, &deployment, &cache)?;
    let plan = controller::plan(&env, &deployment, &runtime, &modules)?;
    let components: usize = plan.hosts.iter().flat_map(|h| &h.roots).map(|r| r.node.count()).sum();
    let hosts = plan.hosts.len();
    let host_word = if hosts == 1 { "host" } else { "hosts" };

    if args.consistency {
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

    let mut target: Box<dyn Target + '_> = if env.connect == Connect::Ssh {
        Box::new(
            Ssh::new(&env, &deployment, args.accept_new_host_keys, &cache, &modules, plan.limits)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )
    } else if args.agent_process {
        Box::new(
            Process::this_binary(&cache, &modules, plan.limits)
                .map_err(|e| anyhow::anyhow!("cannot find the batou-run binary to start the agent: {e}"))?,
        )
    } else {
        Box::new(Local::new(&runtime, &modules, plan.limits))
    };
    let mut sink = |e: crate::agent::Event| out.event(&e);
    let mut changed = 0;
    let mut uploaded = Uploaded::default();
    let mut failed_hosts = Vec::new();
    for host_plan in &plan.hosts {
        match target.deploy(host_plan, args.predict, &mut sink) {
            Ok(outcome) => {
                changed += outcome.changed;
                uploaded.modules += outcome.uploaded.modules;
                uploaded.assets += outcome.uploaded.assets;
                uploaded.bytes += outcome.uploaded.bytes;
                uploaded.agent_bytes += outcome.uploaded.agent_bytes;
                if outcome.failed {
                    failed_hosts.push(host_plan.host.name.clone());
                }
            }
            Err(e) => {
                out.diagnostics(&Diagnostics::from(Diagnostic::new(e.to_string())));
                failed_hosts.push(host_plan.host.name.clone());
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let fields = json!({
        "environment": env.name, "predict": args.predict, "changed": changed,
        "components": components, "hosts": hosts, "failed_hosts": failed_hosts, "seconds": seconds,
    });
    let mut fields = fields;
    if args.agent_process || env.connect == Connect::Ssh {
        fields["uploaded"] = json!({"modules": uploaded.modules, "assets": uploaded.assets, "bytes": uploaded.bytes});
        if env.connect == Connect::Ssh {
            fields["uploaded"]["agent_bytes"] = json!(uploaded.agent_bytes);
        }
    }
    let text = if !failed_hosts.is_empty() {
        format!(
            "Deployment of `{}` FAILED on {}: {changed} of {components} components changed before the failure ({seconds:.2}s).",
            env.name,
            failed_hosts.join(", ")
        )
    } else if args.predict {
        format!(
            "Predicted for `{}`: {changed} of {components} components would change on {hosts} {host_word} ({seconds:.2}s); nothing was changed.",
            env.name
        )
    } else {
        format!(
            "Deployed `{}`: {changed} of {components} components changed on {hosts} {host_word} ({seconds:.2}s).",
            env.name
        )
    };
    out.summary(&text, fields);
    if failed_hosts.is_empty() { Ok(()) } else { Err(Failure::Deploy) }
}
