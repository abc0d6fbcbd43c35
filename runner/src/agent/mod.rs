//! The agent: deploys one host's part of a plan. It replays configure from
//! the recorded inputs (a mismatch means configure is not deterministic),
//! then deploys each component batou's way: sub-components first, then
//! verify, then update if verify asked for it and this is not a predict run.
//!
//! `connect = "local"` runs this in-process; `batou-run agent` runs the
//! same code in a process of its own, driven over [`protocol`] (as SSH
//! deploys will, on the target).

mod events;
pub mod protocol;
pub mod serve;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use events::{Event, render_diff};

use crate::host::bindings::VerifyResult;
use crate::host::caps::template::Origins;
use crate::host::grants::Grant;
use crate::host::remote::RemoteCommands;
use crate::host::sandbox::Sandbox;
use crate::host::state::{Added, HostInfo, RequireAnswers, RequireRecord, on_this_host};
use crate::host::{LiveComponent, Runtime, StorePool};
use crate::model::configure::{Configurator, ConfigureFailure, Spec};
use crate::model::plan::{HostPlan, Node, RootPlan};
use crate::modules::Modules;

/// What happened on one host.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct HostOutcome {
    /// Components whose update ran (or would run, when predicting).
    pub changed: usize,
    pub components: usize,
    pub failed: bool,
    /// What the controller shipped to the host's agent; filled in by the
    /// controller (an agent always reports zero).
    #[serde(default)]
    pub uploaded: Uploaded,
}

/// What travelled to an agent before its deploy.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub modules: usize,
    /// Asset files.
    pub assets: usize,
    pub bytes: u64,
    /// The agent binary, when the host did not have it (SSH).
    #[serde(default)]
    pub agent_bytes: u64,
}

pub struct Agent<'a> {
    pub configurator: Configurator<'a>,
    pub predict: bool,
    pub sink: &'a mut dyn FnMut(Event),
}

/// A component failed; the host's deploy stops.
struct Failed;

/// A workdir is the root's default grant: `work/` or `work/<root>` shipped
/// as a symlink (a repository can hold one) must not move it elsewhere.
fn refuse_linked_workdir(workdir: &std::path::Path) -> Result<(), String> {
    for path in [workdir.parent(), Some(workdir)].into_iter().flatten() {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            let to = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            return Err(format!(
                "{} is a symlink (to {to}): a workdir must be a folder of its own, not moved by a link; remove the link",
                path.display()
            ));
        }
    }
    Ok(())
}

impl<'a> Agent<'a> {
    pub fn new(
        runtime: &'a Runtime,
        modules: &'a Modules,
        remote: Arc<dyn RemoteCommands>,
        predict: bool,
        sink: &'a mut dyn FnMut(Event),
    ) -> Self {
        Agent { configurator: Configurator { runtime, modules, remote }, predict, sink }
    }

    pub fn deploy_host(&mut self, plan: &HostPlan) -> HostOutcome {
        let host = Arc::new(plan.host.clone());
        let mut outcome = HostOutcome::default();
        for root in &plan.roots {
            let sandbox = on_this_host(&root.workdir)
                .map_err(|e| format!("cannot resolve the workdir {}: {e}", root.workdir.display()))
                .and_then(|workdir| {
                    refuse_linked_workdir(&workdir)?;
                    if !self.predict {
                        std::fs::create_dir_all(&workdir)
                            .map_err(|e| format!("cannot create the workdir {}: {e}", root.workdir.display()))?;
                    }
                    Sandbox::new(&root.grants, &workdir)
                });
            let sandbox = match sandbox {
                Ok(sandbox) => Arc::new(sandbox),
                Err(message) => {
                    self.fail(&host, &root.node.path, message);
                    outcome.failed = true;
                    return outcome;
                }
            };
            // One store per module for this root's components.
            let mut pool = self.configurator.pool(root.limits);
            let result = self.deploy_node(&mut pool, &host, root, &sandbox, &root.node, &mut outcome);
            self.report_grants(&host, root, &sandbox);
            if result.is_err() {
                outcome.failed = true;
                return outcome;
            }
        }
        outcome
    }

    /// Says which grants the root's components used, which declared ones
    /// went unused, and which calls were refused.
    fn report_grants(&mut self, host: &Arc<HostInfo>, root: &RootPlan, sandbox: &Sandbox) {
        for (component, asked, advice) in sandbox.take_denied() {
            (self.sink)(Event::Denied { host: host.name.clone(), component, asked, advice });
        }
        let used = sandbox.used();
        let declared = root.grants.declared();
        let unused: Vec<Grant> = declared.into_iter().filter(|g| !used.iter().any(|(_, u)| u == g)).collect();
        (self.sink)(Event::Grants {
            host: host.name.clone(),
            root: root.name.clone(),
            used: used.into_iter().collect(),
            unused,
        });
    }

    /// Deploys a component and its subtree; returns whether anything changed.
    fn deploy_node(
        &mut self,
        pool: &mut StorePool<'_>,
        host: &Arc<HostInfo>,
        root: &RootPlan,
        sandbox: &Arc<Sandbox>,
        node: &Node,
        outcome: &mut HostOutcome,
    ) -> Result<bool, Failed> {
        outcome.components += 1;
        let mut live = self.replay_configure(pool, host, root, sandbox, node)?;
        let mut changed = false;
        for child in &node.children {
            changed |= self.deploy_node(pool, host, root, sandbox, child, outcome)?;
        }
        live.ctx().children_changed = changed;
        let verdict = pool.verify(&mut live);
        self.flush_logs(host, node, &mut live);
        match verdict {
            Err(e) => {
                self.fail(host, &node.path, format!("verify: {e}"));
                return Err(Failed);
            }
            Ok(VerifyResult::UpToDate) => {}
            Ok(VerifyResult::UpdateNeeded(reason)) => {
                changed = true;
                (self.sink)(Event::Changed {
                    host: host.name.clone(),
                    component: node.path.clone(),
                    reason,
                    predicted: self.predict,
                });
                for d in std::mem::take(&mut live.ctx().diffs) {
                    (self.sink)(Event::Diff {
                        host: host.name.clone(),
                        component: node.path.clone(),
                        diff: render_diff(&d),
                    });
                }
                if !self.predict {
                    let result = pool.update(&mut live);
                    self.flush_logs(host, node, &mut live);
                    if let Err(e) = result {
                        self.fail(host, &node.path, format!("update: {e}"));
                        return Err(Failed);
                    }
                }
                // Counted once its update went through (or would, predicted):
                // a component whose update failed did not change.
                outcome.changed += 1;
            }
        }
        pool.discard(live);
        Ok(changed)
    }

    /// Runs configure again with the answers recorded in the plan and
    /// checks it declares the same sub-components and values.
    fn replay_configure(
        &mut self,
        pool: &mut StorePool<'_>,
        host: &Arc<HostInfo>,
        root: &RootPlan,
        sandbox: &Arc<Sandbox>,
        node: &Node,
    ) -> Result<LiveComponent, Failed> {
        let spec = Spec {
            host,
            kind: &node.kind,
            name: &node.name,
            path: node.path.clone(),
            attributes: &node.attributes,
            workdir: &root.workdir,
            assets: node.assets.clone(),
            templates: Origins {
                assets: node.assets_name.clone(),
                attributes: Origins::root_attributes(&root.attribute_locations, &root.node.attributes),
            },
            sandbox,
            limits: root.limits,
        };
        let answers: Arc<dyn RequireAnswers> = Arc::new(Recorded(node.required.clone()));
        let mut live = match self.configurator.create_and_configure(pool, &spec, answers) {
            Ok(live) => live,
            Err(ConfigureFailure::Failed { message, .. }) => {
                self.fail(host, &node.path, message);
                return Err(Failed);
            }
            Err(ConfigureFailure::Unsatisfied { keys, .. }) => {
                let key = keys.first().map(|(k, _)| k.as_str()).unwrap_or_default();
                self.fail(host, &node.path, format!("configure: `{key}` has no value now, but had one when the plan was made: configure must be deterministic"));
                return Err(Failed);
            }
        };
        let record = std::mem::take(&mut live.ctx().record);
        let planned: Vec<Added> = node
            .children
            .iter()
            .map(|c| Added { kind: c.kind.clone(), name: c.name.clone(), attributes: c.attributes.clone() })
            .collect();
        let mismatch = if record.added != planned {
            Some("it added different sub-components")
        } else if record.provided != node.provided {
            Some("it provided different values")
        } else if record.required != node.required {
            Some("it required different values")
        } else {
            None
        };
        if let Some(what) = mismatch {
            self.fail(host, &node.path, format!(
                "configure is not deterministic: run again with the same attributes and required values, {what} than when the plan was made"
            ));
            self.flush_logs(host, node, &mut live);
            return Err(Failed);
        }
        self.flush_logs(host, node, &mut live);
        Ok(live)
    }

    fn flush_logs(&mut self, host: &Arc<HostInfo>, node: &Node, live: &mut LiveComponent) {
        for (level, message) in std::mem::take(&mut live.ctx().logs) {
            (self.sink)(Event::Log { host: host.name.clone(), component: node.path.clone(), level, message });
        }
    }

    fn fail(&mut self, host: &Arc<HostInfo>, path: &str, message: String) {
        (self.sink)(Event::Failed { host: host.name.clone(), component: path.to_string(), message });
    }
}

/// Answers `require` from what the plan recorded.
struct Recorded(Vec<RequireRecord>);

impl RequireAnswers for Recorded {
    fn answer(&self, key: &str, host_only: bool) -> Option<Vec<serde_json::Value>> {
        self.0.iter().find(|r| r.key == key && r.host_only == host_only).map(|r| r.values.clone())
    }
}
