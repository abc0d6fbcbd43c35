//! The controller's work before any host is touched: check the
//! environment's roots against the kinds, configure everything to a
//! fixpoint, and produce the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::agent::speculate::Speculations;
use crate::agent::{Agent, Configured};
use crate::config::{Environment, RootConfig};
use crate::diagnostic::{Diagnostic, Diagnostics, Stage};
use crate::model::configure::{Configurator, ConfigureFailure, Spec};
use crate::model::resolver::{ConfigureRoot, RootId, resolve_graph};
use crate::plan::grants::Grants;
use crate::plan::host::HostInfo;
use crate::plan::origins::{Origins, asset_folder_name};
use crate::plan::require::RequireAnswers;
use crate::plan::{HostPlan, Limits, ModuleUse, Node, Plan, RootPlan, RootRef};
use crate::sources::{Modules, component_folders};
use crate::system::remote::{NoRemote, ThisMachine};
use crate::system::sandbox::Sandbox;
use crate::wasm::Runtime;
use crate::wasm::state::LogBook;
use crate::wasm::state::SecretFiles;

/// What the environment's secrets add to a plan beyond attributes and
/// host data (which are in the environment by now).
#[derive(Default)]
pub struct PlanSecrets {
    /// The secret files, by name, decrypted.
    pub files: BTreeMap<String, Arc<Vec<u8>>>,
    /// Every secret to mask: (key, value).
    pub masked: Vec<crate::redact::Secret>,
}

/// A root ready to configure.
struct Root {
    host: Arc<HostInfo>,
    name: String,
    kind: String,
    attributes: Value,
    workdir: std::path::PathBuf,
    assets: Option<std::path::PathBuf>,
    grants: Grants,
    /// The secret files its grants name.
    secrets: Arc<SecretFiles>,
    limits: Limits,
    /// Where the environment sets its attributes, for template errors.
    attribute_locations: Vec<(String, String)>,
}

fn limits(env: &Environment) -> Limits {
    Limits { timeout_ms: env.timeout.as_millis() as u64, memory: env.memory_limit }
}

/// The environment's limits, with the root's `[limits.<root>]` over them.
fn root_limits(env: &Environment, root: &str) -> Limits {
    let mut limits = limits(env);
    if let Some(own) = env.limits.get(root) {
        if let Some(timeout) = own.timeout {
            limits.timeout_ms = timeout.as_millis() as u64;
        }
        if let Some(memory) = own.memory {
            limits.memory = memory;
        }
    }
    limits
}

/// Configures the environment and returns the plan, or every problem found:
/// the roots whose kind or attributes are wrong are reported, and the
/// others are configured all the same, so that their problems are
/// reported in the same run.
///
/// With `speculations` (a deploy or predict on this machine, in this
/// process), each root whose workdir exists is also verified right after
/// its configure, with the instances configure made: its deploy uses that
/// if it still holds (see [`crate::agent::speculate`]).
pub fn plan(
    env: &Environment,
    deployment: &Path,
    runtime: &Runtime,
    modules: &Modules,
    secrets: &PlanSecrets,
    speculations: Option<&Speculations>,
) -> Result<Plan, Diagnostics> {
    let (roots, root_errors) = roots(env, deployment, modules, secrets);
    let mut errors = root_errors.in_stage(Stage::Kinds);
    let ids: Vec<RootId> = roots.iter().map(|r| RootId { host: r.host.name.clone(), name: r.name.clone() }).collect();
    // Configure touches nothing on a host: no grants, no connections.
    let configurator = Configurator { runtime, modules, remote: Arc::new(NoRemote) };
    let mut by_root =
        RootConfigurer { roots: &roots, configurator, sandbox: Arc::new(Sandbox::nothing()), early: speculations };
    let started = std::time::Instant::now();
    let resolved = resolve_graph(&ids, &mut by_root);
    drop(by_root);
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, "resolved");
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(e) => {
            errors.extend(e.in_stage(Stage::Configure));
            return Err(errors);
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut hosts: Vec<HostPlan> = env
        .hosts
        .iter()
        .map(|h| HostPlan {
            host: (*host_info(env, &h.name, &h.data)).clone(),
            // Sized once: a root's plan is large, and growing the list
            // moved every one of them into memory not touched yet.
            roots: Vec::with_capacity(h.components.len()),
            secret_files: BTreeMap::new(),
            masked: Vec::new(),
        })
        .collect();
    let mut roots = roots;
    for (r, node) in resolved.roots {
        let root = &mut roots[r];
        let mut waits_for: Vec<RootRef> = resolved
            .edges
            .iter()
            .filter(|(_, after)| *after == r)
            .map(|(before, _)| RootRef { host: ids[*before].host.clone(), root: ids[*before].name.clone() })
            .collect();
        waits_for.sort();
        waits_for.dedup();
        tracing::debug!(host = %root.host.name, root = %root.name, attributes = %node.attributes, "planned");
        let plan = hosts.iter_mut().find(|h| h.host.name == root.host.name).expect("every root's host is planned");
        plan.roots.push(RootPlan {
            // Each root is planned once: what it holds moves into the plan.
            name: std::mem::take(&mut root.name),
            workdir: std::mem::take(&mut root.workdir),
            grants: std::mem::take(&mut root.grants),
            limits: root.limits,
            modules: modules_used(&node, modules),
            node,
            waits_for,
            attribute_locations: std::mem::take(&mut root.attribute_locations),
        });
    }
    let redactor = crate::redact::Redactor::new(&secrets.masked);
    for host in &mut hosts {
        add_secrets(host, secrets, &redactor);
    }
    Ok(Plan { environment: env.name.clone(), hosts })
}

/// Gives a host's plan the secret files its roots are granted, and the
/// secrets any part of the plan holds (for its agent to mask).
fn add_secrets(host: &mut HostPlan, secrets: &PlanSecrets, redactor: &crate::redact::Redactor) {
    for root in &host.roots {
        for name in &root.grants.secret_files {
            if let Some(bytes) = secrets.files.get(name) {
                host.secret_files.insert(name.clone(), bytes.as_ref().clone());
            }
        }
    }
    if redactor.is_empty() {
        return;
    }
    let mut keys = redactor.keys_in(&serde_json::to_string(&*host).expect("a plan serializes"));
    for bytes in host.secret_files.values() {
        keys.extend(redactor.keys_in(&String::from_utf8_lossy(bytes)));
    }
    host.masked = secrets.masked.iter().filter(|(key, _)| keys.contains(key)).cloned().collect();
}

/// The modules a root's tree runs, each once, with where it came from.
fn modules_used(node: &Node, modules: &Modules) -> Vec<ModuleUse> {
    let mut used: Vec<ModuleUse> = Vec::new();
    node.walk(&mut |n| {
        if !used.iter().any(|u| u.sha256 == n.module) {
            let origin = modules.loaded.iter().position(|m| m.hash == n.module).and_then(|i| modules.origins.get(i));
            used.push(ModuleUse { origin: origin.cloned().unwrap_or_default(), sha256: n.module.clone() });
        }
    });
    used
}

struct RootConfigurer<'a> {
    roots: &'a [Root],
    configurator: Configurator<'a>,
    sandbox: Arc<Sandbox>,
    /// Where roots verified ahead go, when they are.
    early: Option<&'a Speculations>,
}

impl ConfigureRoot for RootConfigurer<'_> {
    fn configure(&mut self, r: usize, answers: Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure> {
        self.configure_root(r, answers)
    }

    /// Roots are independent while they configure (each has stores of its
    /// own): every core takes some.
    fn configure_batch(&mut self, batch: Vec<(usize, Arc<dyn RequireAnswers>)>) -> Vec<Result<Node, ConfigureFailure>> {
        let this = &*self;
        crate::parallel::map(&batch, |(r, answers)| this.configure_root(*r, answers.clone()))
    }
}

impl RootConfigurer<'_> {
    fn configure_root(&self, r: usize, answers: Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure> {
        let root = &self.roots[r];
        // Deployed by this process: the root is verified ahead if its
        // workdir exists, and its components are kept for its turn.
        let in_process = self.early.filter(|s| s.wants(&root.host.name));
        let early = in_process
            .and_then(|s| s.existing_sandbox(&root.grants, &root.workdir).map(|sandbox| (s, Arc::new(sandbox))));
        let logs = LogBook::default();
        let spec = Spec {
            host: &root.host,
            kind: &root.kind,
            name: &root.name,
            path: root.name.clone(),
            attributes: &root.attributes,
            workdir: &root.workdir,
            assets: root.assets.clone(),
            templates: Origins {
                assets: root.assets.as_deref().map(asset_folder_name),
                attributes: Origins::root_attributes(&root.attribute_locations, &root.attributes),
            },
            // A root verified ahead is configured as its deploy would:
            // in its sandbox (configure may use none of it).
            sandbox: early.as_ref().map(|(_, sandbox)| sandbox).unwrap_or(&self.sandbox),
            limits: root.limits,
            // Configure's messages are shown when the root deploys.
            logs: logs.clone(),
            secrets: root.secrets.clone(),
        };
        let Some(speculations) = in_process else {
            return self.configurator.configure_tree(&spec, &answers);
        };
        let configurator = Configurator {
            runtime: self.configurator.runtime,
            modules: self.configurator.modules,
            remote: Arc::new(ThisMachine),
        };
        let pool = configurator.pool(root.limits);
        let (node, mut live) = configurator.configure_live(&pool, &spec, &answers)?;
        let Some((_, sandbox)) = early.as_ref() else {
            // A workdir still to be made: nothing to verify ahead (its
            // turn makes the folder, a change).
            speculations.insert(&root.host.name, &root.name, None, Configured::new(pool, logs, live));
            return Ok(node);
        };
        // Configure's lines, for its turn: verify ahead sends them with
        // its own.
        let configure_lines = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let speculated = Agent::speculate(
            configurator.runtime,
            configurator.modules,
            |agent, outcome| {
                agent.deploy_configured(&pool, &logs, &root.host, &node, &mut live, outcome);
            },
            sandbox.clone(),
        );
        *logs.lock().unwrap_or_else(|e| e.into_inner()) = configure_lines;
        // The verify ahead's sandbox goes now, with its handles: the
        // root's turn gives the components its own.
        live.rebind(&self.sandbox, &configurator.remote);
        speculations.insert(&root.host.name, &root.name, Some(speculated), Configured::new(pool, logs, live));
        Ok(node)
    }
}

fn host_info(env: &Environment, name: &str, data: &Value) -> Arc<HostInfo> {
    let fqdn = match &env.host_domain {
        Some(domain) => format!("{name}.{domain}"),
        None => name.to_string(),
    };
    Arc::new(HostInfo { name: name.to_string(), fqdn, data: data.clone(), environment: env.name.clone() })
}

/// The roots of every host whose kind is known and whose attributes are
/// right, and the problems of the others.
fn roots(env: &Environment, deployment: &Path, modules: &Modules, secrets: &PlanSecrets) -> (Vec<Root>, Diagnostics) {
    let mut errors = Diagnostics::default();
    let folders = component_folders(deployment);
    let mut listed = Vec::new();
    for host in &env.hosts {
        let info = host_info(env, &host.name, &host.data);
        let mut seen = BTreeSet::new();
        for (name, location) in &host.components {
            let twice = !seen.insert(name.clone());
            listed.push((info.clone(), name, location, twice));
        }
    }
    // Each root is checked on its own (its attributes against its kind's
    // spec), on every core: one after the other, 500 roots took 4 ms.
    let checked = crate::parallel::map(&listed, |(info, name, location, twice)| {
        if *twice {
            return Err(Diagnostic::new(format!("component `{name}` is listed twice for host `{}`", info.name))
                .at(location.to_string())
                .hint("list each root once per host")
                .into());
        }
        one_root(env, deployment, modules, secrets, &folders, info, name, location)
    });
    let mut roots = Vec::new();
    for result in checked {
        match result {
            Ok(Some(root)) => roots.push(root),
            Ok(None) => {}
            Err(e) => errors.0.extend(e.0),
        }
    }
    // The same root on several hosts must not report its errors twice.
    errors.0.dedup_by(|a, b| a.location == b.location && a.message == b.message);
    (roots, errors)
}

/// The root `name` of the host `info`, checked; none when its kind's
/// component failed to build (reported already).
#[allow(clippy::too_many_arguments)]
fn one_root(
    env: &Environment,
    deployment: &Path,
    modules: &Modules,
    secrets: &PlanSecrets,
    folders: &std::collections::HashSet<String>,
    info: &Arc<HostInfo>,
    name: &str,
    location: &str,
) -> Result<Option<Root>, Diagnostics> {
    let config = env.root(name);
    let (kind, kind_location) = match config.and_then(|c| c.kind.clone()) {
        Some((kind, at)) => (kind, at),
        None => (name.to_string(), location.to_string()),
    };
    if modules.kinds.get(&kind).is_none() && modules.unbuilt.contains(&kind) {
        // Its component failed to build: that is reported already.
        return Ok(None);
    }
    if modules.kinds.get(&kind).is_none() {
        let own = deployment.join("components").join(&kind);
        let mut hint = format!(
            "{}; or write it in components/{kind}/ (a Rust crate or a prebuilt {kind}.wasm){}",
            crate::diagnostic::choices_hint(&kind, modules.kinds.names()),
            if config.is_none() { ", or add a [components.NAME] table with `kind`" } else { "" }
        );
        if !modules.unloaded_external.is_empty() {
            // What a module exports is known only once it loads.
            let names: Vec<String> = modules.unloaded_external.iter().map(|n| format!("`{n}`")).collect();
            hint = format!(
                "the kind may be one of batou.toml's module {} that could not be loaded (see above); {hint}",
                names.join(", ")
            );
        }
        let message = if own.is_dir() {
            format!("unknown component kind `{kind}`: components/{kind}/ has no Cargo.toml and no {kind}.wasm")
        } else {
            format!("unknown component kind `{kind}`")
        };
        return Err(Diagnostic::new(message).at(kind_location).on_host(info.name.clone()).hint(hint).into());
    }
    match check_root_attributes(&kind, config, modules) {
        Ok(attributes) => {
            let grants = env.grants_of(name);
            Ok(Some(Root {
                host: info.clone(),
                name: name.to_string(),
                secrets: Arc::new(SecretFiles::granted(&grants, &secrets.files)),
                grants,
                attributes,
                workdir: workdir(env, deployment, name),
                assets: modules
                    .module_of(&kind)
                    .and_then(|m| m.assets.clone())
                    .or_else(|| folders.contains(name).then(|| deployment.join("components").join(name))),
                kind,
                limits: root_limits(env, name),
                attribute_locations: config
                    .map(|c| c.attributes.iter().map(|(k, _, at)| (k.clone(), at.clone())).collect())
                    .unwrap_or_default(),
            }))
        }
        Err(mut e) => {
            for d in &mut e.0 {
                d.host = Some(info.name.clone());
                d.component = Some(name.to_string());
                if d.location.is_none() {
                    d.location = Some(config.map(|c| c.location.clone()).unwrap_or_else(|| location.to_string()));
                }
            }
            Err(e)
        }
    }
}

fn check_root_attributes(kind: &str, config: Option<&RootConfig>, modules: &Modules) -> Result<Value, Diagnostics> {
    let attributes: Map<String, Value> =
        config.map(|c| c.attributes.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    modules.kinds.check(kind, attributes).map_err(|errs| {
        Diagnostics(
            errs.into_iter()
                .map(|e| {
                    let location = e
                        .attribute
                        .as_ref()
                        .and_then(|a| config.and_then(|c| c.attributes.iter().find(|(k, _, _)| k == a)))
                        .map(|(_, _, at)| at.clone());
                    let mut d = Diagnostic::new(e.message);
                    d.location = location;
                    d.hint = e.hint;
                    d
                })
                .collect(),
        )
    })
}

fn workdir(env: &Environment, deployment: &Path, root: &str) -> std::path::PathBuf {
    match &env.target_directory {
        Some(dir) if env.connect == crate::config::Connect::Ssh => Path::new(dir).join("work").join(root),
        _ => deployment.join("work").join(root),
    }
}
