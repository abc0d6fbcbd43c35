//! Running configure for one root. Its sub-components are configured
//! during their parent's `add`, as in batou (the wasm side does that);
//! here the configured tree becomes plan nodes, and what a sub-component
//! needs (its assets, its answers) is worked out.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::plan::host::HostInfo;
use crate::plan::kinds::Kinds;
use crate::plan::origins::{Origins, asset_folder_name};
use crate::plan::require::{Added, RequireAnswers};
use crate::plan::{Limits, Node};
use crate::sources::Modules;
use crate::system::remote::RemoteCommands;
use crate::system::sandbox::Sandbox;
use crate::wasm::bindings::Failure;
use crate::wasm::state::{CallCtx, ChildSetup, Lineage, LogBook, SecretFiles};
use crate::wasm::{ComponentError, LiveComponent, LoadedModule, Runtime, StorePool};

/// Why configuring a root did not produce a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigureFailure {
    /// Strict `require`s (key, host-only) found no value yet; the resolver
    /// retries later. What configure provided still counts, as in batou,
    /// so that two roots requiring each other's values are found as a cycle.
    Unsatisfied { path: String, keys: Vec<(String, bool)>, provided: Vec<(String, Value)> },
    /// Anything else: the root is not retried. `at` is where the
    /// environment sets the attribute the component refused, if it did.
    Failed { path: String, message: String, at: Option<String> },
}

/// A root to configure.
pub struct Spec<'a> {
    pub host: &'a Arc<HostInfo>,
    pub kind: &'a str,
    pub name: &'a str,
    pub path: String,
    pub attributes: &'a Value,
    pub workdir: &'a PathBuf,
    pub assets: Option<PathBuf>,
    /// What names its templates in errors.
    pub templates: Origins,
    /// The root's grants, enforced.
    pub sandbox: &'a Arc<Sandbox>,
    /// The root's limits.
    pub limits: Limits,
    /// Where the tree's log lines go, in order.
    pub logs: LogBook,
    /// The secret files the root may read.
    pub secrets: Arc<SecretFiles>,
}

#[derive(Clone)]
pub struct Configurator<'a> {
    pub runtime: &'a Runtime,
    pub modules: &'a Modules,
    /// Where `ssh.run` goes.
    pub remote: Arc<dyn RemoteCommands>,
}

impl<'a> Configurator<'a> {
    /// A store context for a root about to be created.
    fn call_ctx(&self, spec: &Spec<'_>, answers: Arc<dyn RequireAnswers>, lineage: Arc<dyn Lineage>) -> CallCtx {
        let mut ctx = CallCtx::new(
            spec.host.clone(),
            spec.path.clone(),
            spec.workdir.clone(),
            spec.assets.clone().map(Arc::new),
            answers,
            spec.limits.timeout(),
        );
        ctx.sandbox = spec.sandbox.clone();
        ctx.remote = self.remote.clone();
        ctx.templates = spec.templates.clone();
        ctx.model.lineage = lineage;
        ctx.model.secrets = spec.secrets.clone();
        ctx.log.book = spec.logs.clone();
        ctx
    }

    /// A store pool for one root's components.
    pub fn pool(&self, limits: Limits) -> StorePool {
        StorePool::new(self.runtime, self.modules.loaded.clone(), self.modules.kinds.clone(), limits.memory)
    }

    /// Creates the root and runs its configure, which configures every
    /// sub-component as it is added. A failure anywhere in the tree is the
    /// root's, named by the path of the component that failed.
    pub fn create_and_configure(
        &self,
        pool: &StorePool,
        spec: &Spec<'_>,
        answers: Arc<dyn RequireAnswers>,
        lineage: Arc<dyn Lineage>,
    ) -> Result<LiveComponent, ConfigureFailure> {
        let failed = |message: String| ConfigureFailure::Failed { path: spec.path.clone(), message, at: None };
        // A refused attribute of the root is named where the environment
        // sets it.
        let refused = |e: &ComponentError, message: String| {
            let at = match e {
                ComponentError::Returned(Failure::Attribute(p)) => {
                    spec.templates.attributes.iter().find(|a| a.name == p.name).map(|a| a.location.clone())
                }
                _ => None,
            };
            ConfigureFailure::Failed { path: spec.path.clone(), message, at }
        };
        let (module, _) =
            pool.module_of(spec.kind).ok_or_else(|| failed(format!("unknown component kind `{}`", spec.kind)))?;
        let call = self.call_ctx(spec, answers, lineage);
        // Written straight into bytes: `to_string` goes through the
        // formatter, a call per piece.
        let attributes = serde_json::to_string(spec.attributes).map_err(|e| failed(e.to_string()))?;
        let mut live =
            pool.create(&module, call, spec.kind, &attributes).map_err(|e| refused(&e, format!("create: {e}")))?;
        let result = pool.configure(&mut live);
        let record = &mut live.ctx().model.record;
        if !record.unsatisfied.is_empty() {
            let keys = record.unsatisfied.clone();
            let provided = provided_in(&mut live);
            pool.discard(live);
            return Err(ConfigureFailure::Unsatisfied { path: spec.path.clone(), keys, provided });
        }
        if let Some((path, message)) = record.failed.take() {
            pool.discard(live);
            return Err(ConfigureFailure::Failed { path, message, at: None });
        }
        let errors = std::mem::take(&mut record.errors);
        match result {
            Err(e) => {
                let mut message = format!("configure: {e}");
                for extra in errors.iter().filter(|m| !message.contains(m.as_str())).collect::<Vec<_>>() {
                    message.push_str(&format!("\n  also: {extra}"));
                }
                pool.discard(live);
                Err(refused(&e, message))
            }
            Ok(()) if !errors.is_empty() => {
                pool.discard(live);
                Err(failed(format!("configure: {}", errors.join("; "))))
            }
            Ok(()) => Ok(live),
        }
    }

    /// Configures a root and, as they are added, its sub-components, into
    /// the plan's tree.
    pub fn configure_tree(&self, spec: &Spec<'_>, answers: &Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure> {
        let pool = self.pool(spec.limits);
        let (node, live) = self.configure_live(&pool, spec, answers)?;
        pool.discard(live);
        Ok(node)
    }

    /// Configures a root into the plan's tree, and keeps the configured
    /// components alive (in `pool`) for the caller to deploy.
    pub fn configure_live(
        &self,
        pool: &StorePool,
        spec: &Spec<'_>,
        answers: &Arc<dyn RequireAnswers>,
    ) -> Result<(Node, LiveComponent), ConfigureFailure> {
        let lineage = Arc::new(Planning {
            modules: self.modules.loaded.clone(),
            kinds: self.modules.kinds.clone(),
            answers: answers.clone(),
        });
        let mut live = self.create_and_configure(pool, spec, answers.clone(), lineage)?;
        let added =
            Added { kind: spec.kind.to_string(), name: spec.name.to_string(), attributes: spec.attributes.clone() };
        let node = node_of(pool, added, &mut live);
        Ok((node, live))
    }
}

/// Every value provided in a configured tree.
fn provided_in(live: &mut LiveComponent) -> Vec<(String, Value)> {
    let mut out = live.ctx().model.record.provided.clone();
    for child in &mut live.ctx().model.record.children {
        out.extend(provided_in(&mut child.live));
    }
    out
}

/// The plan node of a configured component and its sub-components (which
/// stay in place, to be deployed or discarded).
fn node_of(pool: &StorePool, added: Added, live: &mut LiveComponent) -> Node {
    let ctx = live.ctx();
    let module = pool.module_of(&added.kind).map(|(m, _)| m.hash).unwrap_or_default();
    let record = &mut ctx.model.record;
    let mut node = Node {
        kind: added.kind,
        name: added.name,
        path: ctx.path.clone(),
        module,
        attributes: added.attributes,
        assets: ctx.assets.as_deref().cloned(),
        assets_name: ctx.templates.assets.clone(),
        required: record.required.clone(),
        provided: record.provided.clone(),
        children: Vec::with_capacity(record.children.len()),
    };
    for child in &mut ctx.model.record.children {
        // Taken, not cloned: nothing reads a configured child's `added`
        // once its node is made.
        let added = std::mem::replace(
            &mut child.added,
            Added { kind: String::new(), name: String::new(), attributes: Value::Null },
        );
        node.children.push(node_of(pool, added, &mut child.live));
    }
    node
}

/// How a plan is made: a sub-component of a deployment's own kind reads
/// its own module's assets, one of a standard kind its parent's (as a
/// `file` with `source` reads the template shipped with the component
/// that added it); every require is answered by the resolver.
struct Planning {
    modules: Arc<Vec<LoadedModule>>,
    kinds: Arc<Kinds>,
    answers: Arc<dyn RequireAnswers>,
}

impl Lineage for Planning {
    fn child(&self, parent: &CallCtx, _index: usize, added: &Added) -> Result<ChildSetup, String> {
        let own = self.kinds.get(&added.kind).and_then(|k| self.modules[k.module].assets.clone());
        let assets = own.map(Arc::new).or_else(|| parent.assets.clone());
        Ok(ChildSetup {
            assets_name: assets.as_deref().map(|d| asset_folder_name(d)),
            assets,
            answers: self.answers.clone(),
            lineage: parent.model.lineage.clone(),
        })
    }
}
