//! Live components: stores, instances, and lifecycle calls that end in a
//! clear error instead of a crash when the guest misbehaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::bindings::{DeploymentComponent, KindSpec, VerifyResult, WitError};
use super::error::describe as describe_error;
use super::module::{LoadedModule, Runtime};
use super::state::{CallCtx, Phase, StoreData};
use crate::model::kinds::Kinds;

/// How a lifecycle call of a component failed.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The component returned an error.
    #[error("{}", describe_error(.0))]
    Returned(WitError),
    /// The component trapped (a panic, `unreachable`, a limit).
    #[error("{0}")]
    Trapped(String),
}

/// What a guest may write to stderr (panic messages) before it is cut.
const STDERR_CAPACITY: usize = 64 << 10;

/// The stores of one root's components: one per module, so that the
/// `file`, `presence` and `content` of a root share an instance (each is a
/// resource in it) instead of paying for a fresh instance and fresh memory
/// each. Roots never share a store.
pub struct StorePool<'r> {
    runtime: &'r Runtime,
    kinds: Arc<Kinds>,
    memory_limit: usize,
    stores: Vec<(String, ModuleStore)>,
}

struct ModuleStore {
    store: Store<StoreData>,
    bindings: DeploymentComponent,
}

/// One component: a resource in its module's store, and its context
/// while no call of it runs.
pub struct LiveComponent {
    store: usize,
    instance: ResourceAny,
    ctx: CallCtx,
}

impl LiveComponent {
    pub fn ctx(&mut self) -> &mut CallCtx {
        &mut self.ctx
    }
}

impl<'r> StorePool<'r> {
    pub fn new(runtime: &'r Runtime, kinds: Arc<Kinds>, memory_limit: usize) -> Self {
        StorePool { runtime, kinds, memory_limit, stores: Vec::new() }
    }

    fn store_for(&mut self, module: &LoadedModule, call: &CallCtx) -> Result<usize, ComponentError> {
        if let Some(i) = self.stores.iter().position(|(hash, _)| *hash == module.hash) {
            return Ok(i);
        }
        let placeholder = call.placeholder();
        let started = Instant::now();
        let mut store = new_store(self.runtime, self.kinds.clone(), placeholder, self.memory_limit);
        let bindings = module.pre.instantiate(&mut store).map_err(|e| trapped(&store, e, 0))?;
        // For bench/languages.py: what instantiating a module costs.
        tracing::info!(module = %module.name, us = started.elapsed().as_micros() as u64, "instantiated");
        self.stores.push((module.hash.clone(), ModuleStore { store, bindings }));
        Ok(self.stores.len() - 1)
    }

    /// Creates a component of `kind` in its module's store.
    pub fn create(
        &mut self,
        module: &LoadedModule,
        call: CallCtx,
        kind: &str,
        attributes: &serde_json::Value,
    ) -> Result<LiveComponent, ComponentError> {
        let store = self.store_for(module, &call)?;
        let mut ctx = call;
        let attrs = attributes.to_string();
        let instance = self.run(store, &mut ctx, Phase::Create, |b, s| {
            b.batou_deploy_component().instance().call_create(s, kind, &attrs)
        })?;
        Ok(LiveComponent { store, instance, ctx })
    }

    /// Drops a component that will not be called again, so its module
    /// frees what it holds.
    pub fn discard(&mut self, c: LiveComponent) {
        let store = &mut self.stores[c.store].1.store;
        if let Err(e) = c.instance.resource_drop(&mut *store) {
            tracing::debug!(error = %e, "dropping a component resource");
        }
    }

    pub fn configure(&mut self, c: &mut LiveComponent) -> Result<(), ComponentError> {
        let r = c.instance;
        self.run(c.store, &mut c.ctx, Phase::Configure, |b, s| {
            b.batou_deploy_component().instance().call_configure(s, r)
        })
    }

    pub fn verify(&mut self, c: &mut LiveComponent) -> Result<VerifyResult, ComponentError> {
        let r = c.instance;
        self.run(c.store, &mut c.ctx, Phase::Verify, |b, s| b.batou_deploy_component().instance().call_verify(s, r))
    }

    pub fn update(&mut self, c: &mut LiveComponent) -> Result<(), ComponentError> {
        let r = c.instance;
        self.run(c.store, &mut c.ctx, Phase::Update, |b, s| b.batou_deploy_component().instance().call_update(s, r))
    }

    /// Runs one lifecycle call with the component's context in the store.
    fn run<T>(
        &mut self,
        store: usize,
        ctx: &mut CallCtx,
        phase: Phase,
        f: impl FnOnce(&DeploymentComponent, &mut Store<StoreData>) -> wasmtime::Result<Result<T, WitError>>,
    ) -> Result<T, ComponentError> {
        let ModuleStore { store, bindings } = &mut self.stores[store].1;
        ctx.phase = phase;
        ctx.call_started = Instant::now();
        ctx.host_time = Duration::ZERO;
        ctx.logged_bytes = 0;
        std::mem::swap(&mut store.data_mut().call, ctx);
        let stderr_before = store.data().stderr.contents().len();
        let result = f(bindings, store);
        let outcome = match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ComponentError::Returned(e)),
            Err(e) => Err(trapped(store, e, stderr_before)),
        };
        std::mem::swap(&mut store.data_mut().call, ctx);
        outcome
    }
}

fn new_store(runtime: &Runtime, kinds: Arc<Kinds>, call: CallCtx, memory_limit: usize) -> Store<StoreData> {
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    // No preopened directories, no environment, no arguments, no sockets:
    // a component reaches the target only through the batou interfaces.
    let wasi = WasiCtxBuilder::new()
        .stdout(stderr.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let limits = StoreLimitsBuilder::new().memory_size(memory_limit).instances(64).trap_on_grow_failure(true).build();
    let data = StoreData { wasi, table: Default::default(), limits, memory_limit, stderr, kinds, call };
    let mut store = Store::new(&runtime.engine, data);
    store.limiter(|d| &mut d.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let call = &ctx.data().call;
        let spent = call.call_started.elapsed().saturating_sub(call.host_time);
        if spent > call.timeout {
            ctx.data_mut().call.timed_out = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}

/// Calls `describe()` of a module.
pub fn describe(runtime: &Runtime, module: &LoadedModule) -> Result<Vec<KindSpec>, ComponentError> {
    let nowhere = super::state::HostInfo {
        name: String::new(),
        fqdn: String::new(),
        data: serde_json::Value::Null,
        environment: String::new(),
    };
    let call = CallCtx::new(
        Arc::new(nowhere),
        module.name.clone(),
        std::path::PathBuf::from("/nonexistent"),
        None,
        Arc::new(NoAnswers),
        Duration::from_secs(10),
    );
    let mut store = new_store(runtime, Arc::new(Kinds::default()), call, 256 << 20);
    let bindings = module.pre.instantiate(&mut store).map_err(|e| trapped(&store, e, 0))?;
    let result = bindings.batou_deploy_component().call_describe(&mut store);
    result.map_err(|e| trapped(&store, e, 0))
}

struct NoAnswers;
impl super::state::RequireAnswers for NoAnswers {
    fn answer(&self, _: &str, _: bool) -> Option<Vec<serde_json::Value>> {
        Some(Vec::new())
    }
}

/// Turns a trap into the operator's words: which limit was hit, or what
/// the guest printed before it died (a Rust panic message, say).
fn trapped(store: &Store<StoreData>, e: wasmtime::Error, stderr_from: usize) -> ComponentError {
    let data = store.data();
    if data.call.timed_out {
        return ComponentError::Trapped(format!(
            "ran longer than the limit of {}s and was stopped (an endless loop?); raise `timeout` in [limits.{}] (or in [environment], for every root) if it needs longer",
            data.call.timeout.as_secs_f64(),
            root_of(&data.call.path)
        ));
    }
    let contents = data.stderr.contents();
    let stderr = String::from_utf8_lossy(contents.get(stderr_from..).unwrap_or_default()).into_owned();
    let root = format!("{}", e.root_cause());
    let mut message = if root.contains("forcing trap when growing memory") {
        format!(
            "exceeded the memory limit of {} MiB and was stopped; raise `memory_limit` in [limits.{}] (or in [environment], for every root) if it needs more",
            data.memory_limit >> 20,
            root_of(&data.call.path)
        )
    } else {
        let trap = e.downcast_ref::<wasmtime::Trap>().map(|t| t.to_string()).unwrap_or(root);
        format!("trapped: {trap}")
    };
    // What a panicking Rust guest printed, without the advice that only
    // applies to native programs.
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !l.contains("RUST_BACKTRACE")).collect();
    if !tail.is_empty() {
        let start = tail.len().saturating_sub(5);
        message.push_str(&format!("\n  component output: {}", tail[start..].join("\n    ")));
    }
    ComponentError::Trapped(message)
}

/// The root of a component path (`root > kind('name') > ...`).
fn root_of(path: &str) -> &str {
    path.split(" > ").next().unwrap_or(path)
}
