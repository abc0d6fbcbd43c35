//! The agent: deploys one host's part of a plan. It replays configure from
//! the recorded inputs (a mismatch means configure is not deterministic),
//! then deploys each component batou's way: sub-components first, then
//! verify, then update if verify asked for it and this is not a predict run.
//!
//! `connect = "local"` runs this in-process; `batou-run agent` runs the
//! same code in a process of its own, driven over [`protocol`] (as SSH
//! deploys will, on the target).

mod ahead;
pub mod protocol;
pub mod serve;
pub mod speculate;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::plan::events::{Event, render_diff};

use crate::model::configure::{Configurator, ConfigureFailure, Spec};
use crate::plan::grants::Grant;
use crate::plan::host::HostInfo;
use crate::plan::origins::Origins;
use crate::plan::require::{Added, RequireAnswers, RequireRecord};
use crate::plan::{HostPlan, Node, RootPlan};
use crate::sources::Modules;
use crate::system::on_this_host;
use crate::system::remote::RemoteCommands;
use crate::system::sandbox::Sandbox;
use crate::wasm::bindings::VerifyResult;
use crate::wasm::state::{CallCtx, ChildSetup, Lineage, LogBook, SecretFiles};
use crate::wasm::{LiveComponent, Runtime, StorePool};

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
    /// Roots verified ahead of their turn ([`speculate`]).
    pub speculated: Option<Arc<speculate::Speculations>>,
}

/// A component failed; the host's deploy stops.
struct Failed;

/// A workdir is the root's default grant: `work/` or `work/<root>` shipped
/// as a symlink (a repository can hold one) must not move it elsewhere.
/// Makes the workdir unless predicting, and returns whether it was there
/// already (a folder). `plain_parents`: the folders holding workdirs found
/// to be no symlink in this deploy (every root's is in the same `work/`).
fn prepare_workdir(workdir: &Path, create: bool, plain_parents: &mut Vec<PathBuf>) -> Result<bool, String> {
    let linked = |path: &Path| {
        let to = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        format!(
            "{} is a symlink (to {to}): a workdir must be a folder of its own, not moved by a link; remove the link",
            path.display()
        )
    };
    if let Some(parent) = workdir.parent().filter(|p| !plain_parents.iter().any(|known| known == p)) {
        match std::fs::symlink_metadata(parent) {
            Ok(m) if m.file_type().is_symlink() => return Err(linked(parent)),
            Ok(_) => plain_parents.push(parent.to_path_buf()),
            Err(_) => {}
        }
    }
    let cannot = |e: std::io::Error| format!("cannot create the workdir {}: {e}", workdir.display());
    if create {
        // Made first, looked at only when it was there: a folder made
        // just now is no symlink (one system call for a new root, not three).
        match std::fs::create_dir(workdir) {
            Ok(()) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(workdir).map_err(cannot)?;
                return Ok(false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    match std::fs::symlink_metadata(workdir) {
        Ok(m) if m.file_type().is_symlink() => Err(linked(workdir)),
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) if create => Err(format!(
            "cannot create the workdir {}: something that is not a folder is in its place; remove it, and the deploy makes the folder",
            workdir.display()
        )),
        _ => Ok(false),
    }
}

impl<'a> Agent<'a> {
    pub fn new(
        runtime: &'a Runtime,
        modules: &'a Modules,
        remote: Arc<dyn RemoteCommands>,
        predict: bool,
        sink: &'a mut dyn FnMut(Event),
    ) -> Self {
        Agent { configurator: Configurator { runtime, modules, remote }, predict, sink, speculated: None }
    }

    pub fn deploy_host(&mut self, plan: &HostPlan) -> HostOutcome {
        let host = Arc::new(plan.host.clone());
        if !plan.masked.is_empty() {
            // What the agent writes itself (its logs) is masked here; what
            // it sends back is masked again where it is shown.
            crate::redact::extend(&plan.masked);
        }
        let secret_files: std::collections::BTreeMap<String, Arc<Vec<u8>>> =
            plan.secret_files.iter().map(|(name, bytes)| (name.clone(), Arc::new(bytes.clone()))).collect();
        if plan.roots.len() < 2 || crate::parallel::threads() < 2 {
            return self.deploy_roots(&host, plan, &secret_files, None);
        }
        // Roots are configured ahead on a second thread ([`ahead`]).
        let configurator = self.configurator.clone();
        let speculated = self.speculated.clone();
        let predict = self.predict;
        std::thread::scope(|scope| {
            let (sending, receiving) = ahead::channel();
            let (configurator, host, secret_files) = (&configurator, &host, &secret_files);
            scope.spawn(move || {
                ahead::configure_ahead(configurator, host, plan, secret_files, speculated.as_deref(), predict, sending)
            });
            // Returning drops the receiver: a thread still configuring
            // stops at its next root.
            self.deploy_roots(host, plan, secret_files, Some(receiving))
        })
    }

    /// Deploys the roots in order; `ahead` sends one message per root
    /// (configured ahead, or not).
    fn deploy_roots(
        &mut self,
        host: &Arc<HostInfo>,
        plan: &HostPlan,
        secret_files: &std::collections::BTreeMap<String, Arc<Vec<u8>>>,
        ahead: Option<ahead::Receiving>,
    ) -> HostOutcome {
        let mut outcome = HostOutcome::default();
        let mut plain_parents = Vec::new();
        for root in &plan.roots {
            let prepared = ahead.as_ref().and_then(ahead::Receiving::next);
            let taken = match &self.speculated {
                Some(s) => s.take(&host.name, &root.name, self.predict),
                None => speculate::Taken::Nothing,
            };
            let kept = match taken {
                speculate::Taken::Verified(early) => {
                    if let Some(prepared) = prepared {
                        prepared.discard();
                    }
                    for event in early.events {
                        (self.sink)(event);
                    }
                    self.report_grants(host, root, early.denied, early.used);
                    outcome.components += early.outcome.components;
                    outcome.changed += early.outcome.changed;
                    continue;
                }
                speculate::Taken::Kept(kept) => Some(kept),
                speculate::Taken::Nothing => None,
            };
            let changed_before = outcome.changed;
            // As the plan's configure left it (in this process), or
            // configured ahead, or neither: then configured at its turn.
            let (ahead_sandbox, configured) = match (kept, prepared) {
                (Some(kept), prepared) => {
                    tracing::debug!(root = %root.name, "configured for the plan");
                    if let Some(prepared) = prepared {
                        prepared.discard();
                    }
                    (None, Some(Turn::Kept(kept)))
                }
                (None, Some(p)) => {
                    tracing::debug!(root = %root.name, "configured ahead");
                    (Some(p.sandbox), Some(Turn::Ahead(p.configured)))
                }
                (None, None) => (None, None),
            };
            let sandbox = on_this_host(&root.workdir)
                .map_err(|e| format!("cannot resolve the workdir {}: {e}", root.workdir.display()))
                .and_then(|workdir| {
                    let there = prepare_workdir(&workdir, !self.predict, &mut plain_parents)?;
                    if !self.predict && !there {
                        // A new folder is a change others may see.
                        if let Some(s) = &self.speculated {
                            s.something_changed();
                        }
                    }
                    match ahead_sandbox {
                        Some(sandbox) => Ok(sandbox),
                        None => Sandbox::new(&root.grants, &workdir).map(Arc::new),
                    }
                });
            let sandbox = match sandbox {
                Ok(sandbox) => sandbox,
                Err(message) => {
                    if let Some(configured) = configured {
                        configured.into_inner().discard();
                    }
                    self.fail(host, &root.node.path, message);
                    outcome.failed = true;
                    return outcome;
                }
            };
            let result = self.deploy_root(host, root, &sandbox, secret_files, configured, &mut outcome);
            // A failed update may have changed something too.
            if !self.predict && (outcome.changed != changed_before || result.is_err()) {
                if let Some(s) = &self.speculated {
                    s.something_changed();
                }
            }
            self.report_grants(host, root, sandbox.take_denied(), sandbox.used());
            if result.is_err() {
                outcome.failed = true;
                return outcome;
            }
        }
        outcome
    }

    /// Says which grants the root's components used, which declared ones
    /// went unused, and which calls were refused.
    /// `denied` and `used`: the root's sandbox's (`take_denied`, `used`).
    fn report_grants(
        &mut self,
        host: &Arc<HostInfo>,
        root: &RootPlan,
        denied: Vec<(String, String, String)>,
        used: std::collections::BTreeSet<(String, Grant)>,
    ) {
        for (component, asked, advice) in denied {
            (self.sink)(Event::Denied { host: host.name.clone(), component, asked, advice });
        }
        let declared = root.grants.declared();
        let unused: Vec<Grant> = declared.into_iter().filter(|g| !used.iter().any(|(_, u)| u == g)).collect();
        (self.sink)(Event::Grants {
            host: host.name.clone(),
            root: root.name.clone(),
            used: used.into_iter().collect(),
            unused,
            modules: root.modules.clone(),
        });
    }

    /// Configures a root again (its sub-components during their `add`,
    /// from the recorded answers), checks it is the tree that was planned,
    /// and deploys it. `configured`: the root configured already, for the
    /// plan in this process or ahead on another thread.
    fn deploy_root(
        &mut self,
        host: &Arc<HostInfo>,
        root: &RootPlan,
        sandbox: &Arc<Sandbox>,
        secret_files: &std::collections::BTreeMap<String, Arc<Vec<u8>>>,
        configured: Option<Turn>,
        outcome: &mut HostOutcome,
    ) -> Result<bool, Failed> {
        let configure = || {
            let secrets = Arc::new(SecretFiles::granted(&root.grants, secret_files));
            configure_root(&self.configurator, host, root, sandbox, secrets)
        };
        let configured = match configured {
            Some(Turn::Ahead(configured)) => configured,
            // Kept from the plan: given this turn's sandbox and commands.
            // One whose store another root's trap ended is configured
            // again.
            Some(Turn::Kept(mut kept)) => {
                let healthy = kept.pool.healthy();
                match kept.live.as_mut() {
                    Ok(live) if healthy => {
                        live.rebind(sandbox, &self.configurator.remote);
                        kept
                    }
                    _ => {
                        kept.discard();
                        configure()
                    }
                }
            }
            None => configure(),
        };
        let Configured { pool, logs, live } = configured;
        let node = &root.node;
        let mut live = match live {
            Ok(live) => live,
            Err(ConfigureFailure::Failed { path, message, .. }) => {
                self.flush_logs(host, &logs);
                self.fail(host, &path, message);
                return Err(Failed);
            }
            Err(ConfigureFailure::Unsatisfied { path, keys, .. }) => {
                let key = keys.first().map(|(k, _)| k.as_str()).unwrap_or_default();
                self.flush_logs(host, &logs);
                self.fail(host, &path, format!("configure: `{key}` has no value now, but had one when the plan was made: configure must be deterministic"));
                return Err(Failed);
            }
        };
        self.flush_logs(host, &logs);
        if let Err((path, what)) = same_as_planned(node, &mut live) {
            self.fail(host, &path, format!(
                "configure is not deterministic: run again with the same attributes and required values, {what} than when the plan was made"
            ));
            pool.discard(live);
            return Err(Failed);
        }
        let deployed = self.deploy_node(&pool, &logs, host, node, &mut live, outcome);
        pool.discard(live);
        deployed
    }

    /// Deploys a root configured just now (by the controller, in
    /// process): its configure's log lines, then its components. A
    /// failure is in the events (`Failed`). The components stay alive:
    /// the caller drops or keeps them.
    pub fn deploy_configured(
        &mut self,
        pool: &StorePool,
        logs: &LogBook,
        host: &Arc<HostInfo>,
        node: &Node,
        live: &mut LiveComponent,
        outcome: &mut HostOutcome,
    ) {
        self.flush_logs(host, logs);
        let _ = self.deploy_node(pool, logs, host, node, live, outcome);
    }

    /// Deploys a configured component: its sub-components first, then its
    /// verify and, if needed, update. Returns whether anything changed.
    /// The components stay alive (the caller drops the root's tree).
    fn deploy_node(
        &mut self,
        pool: &StorePool,
        logs: &LogBook,
        host: &Arc<HostInfo>,
        node: &Node,
        live: &mut LiveComponent,
        outcome: &mut HostOutcome,
    ) -> Result<bool, Failed> {
        outcome.components += 1;
        let mut children = std::mem::take(&mut live.ctx().model.record.children);
        let mut changed = false;
        let mut failed = false;
        for (planned, child) in node.children.iter().zip(children.iter_mut()) {
            match self.deploy_node(pool, logs, host, planned, &mut child.live, outcome) {
                Ok(c) => changed |= c,
                Err(Failed) => {
                    failed = true;
                    break;
                }
            }
        }
        live.ctx().model.record.children = children;
        if failed {
            return Err(Failed);
        }
        live.ctx().model.children_changed = changed;
        let verdict = pool.verify(live);
        self.flush_logs(host, logs);
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
                for d in std::mem::take(&mut live.ctx().log.diffs) {
                    (self.sink)(Event::Diff {
                        host: host.name.clone(),
                        component: node.path.clone(),
                        diff: render_diff(&d),
                    });
                }
                if !self.predict {
                    let result = pool.update(live);
                    self.flush_logs(host, logs);
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
        Ok(changed)
    }

    /// Sends the log lines of the root's components, in the order logged.
    fn flush_logs(&mut self, host: &Arc<HostInfo>, logs: &LogBook) {
        let lines = std::mem::take(&mut *logs.lock().unwrap_or_else(|e| e.into_inner()));
        for (component, level, message) in lines {
            (self.sink)(Event::Log { host: host.name.clone(), component, level, message });
        }
    }

    fn fail(&mut self, host: &Arc<HostInfo>, path: &str, message: String) {
        (self.sink)(Event::Failed { host: host.name.clone(), component: path.to_string(), message });
    }
}

/// A root configured for its deploy: its stores, its configure's log
/// lines (not sent yet), and its tree or why there is none.
pub struct Configured {
    pool: StorePool,
    logs: LogBook,
    live: Result<LiveComponent, ConfigureFailure>,
}

impl Configured {
    /// A root the controller configured in this process for the plan,
    /// with its configure's log lines in `logs`.
    pub fn new(pool: StorePool, logs: LogBook, live: LiveComponent) -> Configured {
        Configured { pool, logs, live: Ok(live) }
    }

    /// Frees what it holds, when no turn uses it.
    pub fn discard(self) {
        if let Ok(live) = self.live {
            self.pool.discard(live);
        }
    }
}

/// How a root comes to its turn configured already.
enum Turn {
    /// Configured ahead, on another thread, for the turn.
    Ahead(Configured),
    /// Configured for the plan, in this process, and kept.
    Kept(Configured),
}

impl Turn {
    fn into_inner(self) -> Configured {
        match self {
            Turn::Ahead(c) | Turn::Kept(c) => c,
        }
    }
}

/// Configures a root for its deploy, from the answers and tree recorded
/// in the plan. It reads nothing on the host (configure may not), so it
/// may run ahead of the root's turn.
fn configure_root(
    configurator: &Configurator<'_>,
    host: &Arc<HostInfo>,
    root: &RootPlan,
    sandbox: &Arc<Sandbox>,
    secrets: Arc<SecretFiles>,
) -> Configured {
    let pool = configurator.pool(root.limits);
    let node = &root.node;
    let logs = LogBook::default();
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
            attributes: Origins::root_attributes(&root.attribute_locations, &node.attributes),
        },
        sandbox,
        limits: root.limits,
        logs: logs.clone(),
        secrets,
    };
    let answers: Arc<dyn RequireAnswers> = Arc::new(Recorded(node.required.clone()));
    let lineage = Arc::new(Replay::new(node.clone()));
    let live = configurator.create_and_configure(&pool, &spec, answers, lineage);
    Configured { pool, logs, live }
}

/// Answers `require` from what the plan recorded.
struct Recorded(Vec<RequireRecord>);

impl RequireAnswers for Recorded {
    fn answer(&self, key: &str, host_only: bool) -> Option<Vec<serde_json::Value>> {
        self.0.iter().find(|r| r.key == key && r.host_only == host_only).map(|r| r.values.clone())
    }
}

/// An agent's replay of configure: a sub-component gets the assets and
/// the answers the plan recorded for it, and must be the one planned.
struct Replay {
    root: Arc<Node>,
    /// Where each planned component is in the tree (its child indices),
    /// by path: found once, not by a walk per `add`.
    at: std::collections::HashMap<String, Vec<usize>>,
}

impl Replay {
    fn new(root: Node) -> Replay {
        fn index(node: &Node, trail: &mut Vec<usize>, at: &mut std::collections::HashMap<String, Vec<usize>>) {
            at.entry(node.path.clone()).or_insert_with(|| trail.clone());
            for (i, child) in node.children.iter().enumerate() {
                trail.push(i);
                index(child, trail, at);
                trail.pop();
            }
        }
        let mut at = std::collections::HashMap::new();
        index(&root, &mut Vec::new(), &mut at);
        Replay { root: Arc::new(root), at }
    }

    fn planned(&self, path: &str) -> Option<&Node> {
        let trail = self.at.get(path)?;
        trail.iter().try_fold(&*self.root, |node, &i| node.children.get(i))
    }
}

impl Lineage for Replay {
    fn child(&self, parent: &CallCtx, index: usize, added: &Added) -> Result<ChildSetup, String> {
        let planned = self.planned(&parent.path).and_then(|p| p.children.get(index));
        let Some(planned) =
            planned.filter(|p| p.kind == added.kind && p.name == added.name && p.attributes == added.attributes)
        else {
            return Err(format!(
                "configure is not deterministic: {} added {}('{}') as its sub-component {}, which the plan does not have; \
                 configure must be a pure function of the attributes and the required values",
                parent.path,
                added.kind,
                added.name,
                index + 1
            ));
        };
        Ok(ChildSetup {
            assets: planned.assets.clone().map(Arc::new),
            assets_name: planned.assets_name.clone(),
            answers: Arc::new(Recorded(planned.required.clone())),
            lineage: parent.model.lineage.clone(),
        })
    }
}

/// Whether a replayed tree provides, requires and adds what the plan
/// recorded: the path of the first component that differs, and how.
fn same_as_planned(node: &Node, live: &mut LiveComponent) -> Result<(), (String, &'static str)> {
    let record = &mut live.ctx().model.record;
    let what = if record.children.len() != node.children.len() {
        Some("it added different sub-components")
    } else if record.provided != node.provided {
        Some("it provided different values")
    } else if record.required != node.required {
        Some("it required different values")
    } else {
        None
    };
    if let Some(what) = what {
        return Err((node.path.clone(), what));
    }
    for (planned, child) in node.children.iter().zip(record.children.iter_mut()) {
        same_as_planned(planned, &mut child.live)?;
    }
    Ok(())
}
