//! Running configure for one root and its sub-components.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::plan::{Limits, Node};
use crate::host::caps::template::{Origins, asset_folder_name};
use crate::host::remote::RemoteCommands;
use crate::host::sandbox::Sandbox;
use crate::host::state::{CallCtx, HostInfo, RequireAnswers};
use crate::host::{ComponentError, LiveComponent, Runtime, StorePool};
use crate::modules::Modules;

/// Why configuring a root did not produce a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigureFailure {
    /// Strict `require`s (key, host-only) found no value yet; the resolver
    /// retries later. What configure provided still counts, as in batou,
    /// so that two roots requiring each other's values are found as a cycle.
    Unsatisfied { path: String, keys: Vec<(String, bool)>, provided: Vec<(String, Value)> },
    /// Anything else: the root is not retried.
    Failed { path: String, message: String },
}

/// A component to configure.
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
}

pub struct Configurator<'a> {
    pub runtime: &'a Runtime,
    pub modules: &'a Modules,
    /// Where `ssh.run` goes.
    pub remote: Arc<dyn RemoteCommands>,
}

impl<'a> Configurator<'a> {
    /// A store context for a component about to be created.
    pub fn call_ctx(&self, spec: &Spec<'_>, answers: Arc<dyn RequireAnswers>) -> CallCtx {
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
        ctx
    }

    /// Creates the component and runs its configure (not its children's).
    pub fn create_and_configure(
        &self,
        pool: &mut StorePool<'_>,
        spec: &Spec<'_>,
        answers: Arc<dyn RequireAnswers>,
    ) -> Result<LiveComponent, ConfigureFailure> {
        let failed = |message: String| ConfigureFailure::Failed { path: spec.path.clone(), message };
        let module = self
            .modules
            .module_of(spec.kind)
            .ok_or_else(|| failed(format!("unknown component kind `{}`", spec.kind)))?;
        let call = self.call_ctx(spec, answers);
        let mut live =
            pool.create(module, call, spec.kind, spec.attributes).map_err(|e| failed(format!("create: {e}")))?;
        let result = pool.configure(&mut live);
        let record = &live.ctx().record;
        if !record.unsatisfied.is_empty() {
            let (keys, provided) = (record.unsatisfied.clone(), record.provided.clone());
            return Err(ConfigureFailure::Unsatisfied { path: spec.path.clone(), keys, provided });
        }
        match result {
            Err(e @ ComponentError::Returned(_)) | Err(e @ ComponentError::Trapped(_)) => {
                let mut message = format!("configure: {e}");
                let extras: Vec<&String> = record.errors.iter().filter(|m| !message.contains(m.as_str())).collect();
                for extra in extras {
                    message.push_str(&format!("\n  also: {extra}"));
                }
                Err(failed(message))
            }
            Ok(()) if !record.errors.is_empty() => Err(failed(format!("configure: {}", record.errors.join("; ")))),
            Ok(()) => Ok(live),
        }
    }

    /// A store pool for one root's components.
    pub fn pool(&self, limits: Limits) -> StorePool<'a> {
        StorePool::new(self.runtime, self.modules.kinds.clone(), limits.memory)
    }

    /// Configures a component and, depth first, every sub-component it adds.
    pub fn configure_tree(&self, spec: &Spec<'_>, answers: &Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure> {
        let mut before = Vec::new();
        let mut pool = self.pool(spec.limits);
        self.configure_subtree(&mut pool, spec, answers, &mut before)
    }

    /// `provided_before` collects the values provided by components
    /// configured so far, for an `Unsatisfied` failure further on.
    fn configure_subtree(
        &self,
        pool: &mut StorePool<'_>,
        spec: &Spec<'_>,
        answers: &Arc<dyn RequireAnswers>,
        provided_before: &mut Vec<(String, Value)>,
    ) -> Result<Node, ConfigureFailure> {
        let mut live = self.create_and_configure(pool, spec, answers.clone()).map_err(|failure| match failure {
            ConfigureFailure::Unsatisfied { path, keys, provided } => {
                let mut all = std::mem::take(provided_before);
                all.extend(provided);
                ConfigureFailure::Unsatisfied { path, keys, provided: all }
            }
            other => other,
        })?;
        let record = std::mem::take(&mut live.ctx().record);
        pool.discard(live);
        let module = self.modules.module_of(spec.kind).expect("checked when created");
        let mut node = Node {
            kind: spec.kind.to_string(),
            name: spec.name.to_string(),
            path: spec.path.clone(),
            module: module.hash.clone(),
            attributes: spec.attributes.clone(),
            assets: spec.assets.clone(),
            assets_name: spec.templates.assets.clone(),
            required: record.required,
            provided: record.provided,
            children: Vec::with_capacity(record.added.len()),
        };
        provided_before.extend(node.provided.iter().cloned());
        for added in &record.added {
            let child_assets = self.child_assets(&added.kind, &spec.assets);
            let child = Spec {
                host: spec.host,
                kind: &added.kind,
                name: &added.name,
                path: format!("{} > {}", spec.path, sub_label(&added.kind, &added.name)),
                attributes: &added.attributes,
                workdir: spec.workdir,
                sandbox: spec.sandbox,
                limits: spec.limits,
                assets: child_assets.clone(),
                templates: Origins {
                    assets: child_assets.as_deref().map(asset_folder_name),
                    attributes: spec.templates.attributes.clone(),
                },
            };
            node.children.push(self.configure_subtree(pool, &child, answers, provided_before)?);
        }
        Ok(node)
    }

    /// A sub-component of a deployment's own kind reads its own module's
    /// assets; one of a standard kind reads its parent's (as a `file` with
    /// `source` reads the template shipped with the component that added it).
    pub fn child_assets(&self, kind: &str, parent: &Option<PathBuf>) -> Option<PathBuf> {
        self.modules.module_of(kind).and_then(|m| m.assets.clone()).or_else(|| parent.clone())
    }
}

/// How a sub-component appears in a component path.
pub fn sub_label(kind: &str, name: &str) -> String {
    format!("{kind}('{name}')")
}
