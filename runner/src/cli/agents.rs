//! `batou-run agents [MACHINE...]`: the static agents shipped to hosts,
//! found or built now rather than by the first deploy that needs one.

use serde_json::json;

use super::{CliError, cache_dir};
use crate::diagnostic::Diagnostic;
use crate::output::Output;
use crate::target::agents::{Agents, Machine, machine_list};

/// Find or build the static agent for hosts of each MACHINE (`uname -m`;
/// default: this machine's) and show where it is and what a new host is
/// sent of it. A deploy does the same for the machines its hosts have.
#[derive(clap::Args)]
pub struct AgentsArgs {
    /// Machines as `uname -m` names them: x86_64, aarch64.
    machines: Vec<String>,
}

pub fn run(args: AgentsArgs, out: &Output) -> Result<(), CliError> {
    let cache = cache_dir()?;
    let agents = Agents::new(&cache).map_err(|e| CliError::Usage(Diagnostic::new(e).into()))?;
    let machines = if args.machines.is_empty() { vec![std::env::consts::ARCH.to_string()] } else { args.machines };
    for name in &machines {
        if Machine::named(name).is_none() {
            return Err(CliError::Usage(
                Diagnostic::new(format!("batou-run has no agent for {name} hosts"))
                    .hint(format!("name one of {}", machine_list()))
                    .into(),
            ));
        }
    }
    for name in &machines {
        let agent = agents.for_machine(name).map_err(|e| CliError::Internal(anyhow::anyhow!(e)))?;
        let (size, gzipped) = agent.sizes().map_err(|e| CliError::Internal(anyhow::anyhow!(e)))?;
        let path = agent.path().display().to_string();
        if out.json {
            out.json_line(
                &json!({"event": "agent", "machine": name, "path": path, "bytes": size, "gzipped_bytes": gzipped}),
            );
        } else {
            println!(
                "{name}: {} ({:.1} MB; {:.1} MB gzipped, sent to a new host)",
                crate::output::shown(&path),
                size as f64 / 1e6,
                gzipped as f64 / 1e6
            );
        }
    }
    Ok(())
}
