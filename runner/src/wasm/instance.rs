//! Live components: stores, instances, and lifecycle calls that end in a
//! clear error instead of a crash when the guest misbehaves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::bindings::{self, DeploymentComponent, Failure, VerifyResult};
use super::error::describe as describe_error;
use super::module::{LoadedModule, Runtime};
use super::state::{CallCtx, Phase, StoreData};
use crate::plan::kinds::Kinds;
use crate::plan::kinds::{AttributeSpec, AttributeType, KindSpec, ScalarType};

/// How a lifecycle call of a component failed.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The component returned a failure.
    #[error("{}", describe_error(.0))]
    Returned(Failure),
    /// The component trapped (a panic, `unreachable`, a limit).
    #[error("{0}")]
    Trapped(String),
}

/// What a guest may write to stderr (panic messages) before it is cut.
const STDERR_CAPACITY: usize = 64 << 10;

/// The stores of one root's components. A module's components share a
/// store (each is a resource in it), so the `file`, `presence` and
/// `content` of a root do not pay for a fresh instance and fresh memory
/// each. Since `model.add` configures a sub-component while its parent's
/// configure runs, and a component instance cannot be entered twice, a
/// module has one store per level of nesting that is busy at once. Roots
/// never share a store.
///
/// The exception: stores of the embedded standard library (known by the
/// module's sha256) go back to a per-thread shelf when their root is done,
/// every component in them dropped, and the next root of the thread takes
/// them instead of a fresh instance. Its code keeps nothing between
/// components (no statics), and it is the runner's own; a module from
/// anyone else never shares a store between roots, so that what one root
/// was given cannot reach another through the module's memory.
///
/// A handle: clones share the stores. A component's `add` reaches the pool
/// through its call context during configure.
#[derive(Clone)]
pub struct StorePool {
    inner: Arc<Mutex<PoolInner>>,
}

struct PoolInner {
    engine: Engine,
    modules: Arc<Vec<LoadedModule>>,
    kinds: Arc<Kinds>,
    memory_limit: usize,
    slots: Vec<Slot>,
}

struct Slot {
    hash: String,
    /// None while a call runs in it.
    store: Option<ModuleStore>,
    /// Components created in it and not dropped yet.
    live: usize,
    /// A call trapped in it: the instance is not to be used again.
    poisoned: bool,
    /// It may serve another root afterwards (a standard-library module).
    shelve: bool,
}

struct ModuleStore {
    store: Store<StoreData>,
    bindings: DeploymentComponent,
}

/// A standard-library module's store between roots.
struct Shelved {
    engine: Engine,
    hash: String,
    memory_limit: usize,
    store: ModuleStore,
}

/// At most this many stores wait on all shelves together: a shelved store
/// holds one of the pooling allocator's slots (`POOL_SLOTS`), and a root
/// of the standard library holds one per level of nesting busy at once,
/// on each thread that configures or deploys.
const SHELVES: usize = 32;

/// At most this many wait on one thread's own shelf.
const THREAD_SHELF: usize = 8;

/// Stores on all shelves.
static SHELVED: AtomicUsize = AtomicUsize::new(0);

/// Stores between roots that any thread may take: those a thread left
/// when it ended (a round of configures on every core), and those beyond
/// its own shelf (roots configured on one thread and deployed on
/// another). It is a static, never dropped: a process that ends does not
/// reset the memory of the stores still on it, which it would do page by
/// page.
static SHARED_SHELF: std::sync::Mutex<Vec<Shelved>> = std::sync::Mutex::new(Vec::new());

/// A thread's own stores between roots, taken without a lock; what is on
/// it when the thread ends goes to the shared shelf.
struct ThreadShelf(Vec<Shelved>);

impl Drop for ThreadShelf {
    fn drop(&mut self) {
        for shelved in self.0.drain(..) {
            SHELVED.fetch_sub(1, Ordering::Relaxed);
            share(shelved);
        }
    }
}

thread_local! {
    static THREAD_STORES: std::cell::RefCell<ThreadShelf> = const { std::cell::RefCell::new(ThreadShelf(Vec::new())) };
}

/// Counts one more shelved store, if all shelves together have room.
fn reserve_shelf_place() -> bool {
    SHELVED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < SHELVES).then_some(n + 1)).is_ok()
}

/// Puts a store on the shared shelf; when all shelves are full, the
/// oldest shared store (it may be of an engine no longer used) makes
/// room, or, if there is none, this one is dropped.
fn share(shelved: Shelved) {
    let dropped = {
        let mut shelf = SHARED_SHELF.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if reserve_shelf_place() {
            shelf.push(shelved);
            None
        } else if shelf.is_empty() {
            Some(shelved)
        } else {
            let oldest = shelf.remove(0);
            shelf.push(shelved);
            Some(oldest)
        }
    };
    // Dropping a store resets its memory: not while holding the lock.
    drop(dropped);
}

/// Puts a store on this thread's shelf, or on the shared one.
fn shelve(shelved: Shelved) {
    let mut pending = Some(shelved);
    // The thread's shelf is gone while the thread ends: then shared.
    let _ = THREAD_STORES.try_with(|shelf| {
        let mut shelf = shelf.borrow_mut();
        if shelf.0.len() < THREAD_SHELF && reserve_shelf_place() {
            shelf.0.extend(pending.take());
        }
    });
    if let Some(shelved) = pending {
        share(shelved);
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            let Some(mut store) = slot.store else { continue };
            if !slot.shelve || slot.poisoned || slot.live > 0 {
                continue;
            }
            // Between calls a store holds the context it was made with:
            // the root's sandbox, answers and secret files. A shelved store
            // keeps none of them (the next root puts in its own).
            let between = &store.store.data().call;
            let neutral = CallCtx::new(
                between.host.clone(),
                String::new(),
                between.workdir.clone(),
                None,
                Arc::new(NoAnswers),
                between.clock.timeout,
            );
            store.store.data_mut().call = neutral;
            let shelved =
                Shelved { engine: self.engine.clone(), hash: slot.hash, memory_limit: self.memory_limit, store };
            shelve(shelved);
        }
    }
}

/// A shelved store of `hash` for a root with `memory_limit`, if there is one.
fn unshelve(engine: &Engine, hash: &str, memory_limit: usize) -> Option<ModuleStore> {
    let fits = |s: &Shelved| s.hash == hash && s.memory_limit == memory_limit && Engine::same(&s.engine, engine);
    let own = THREAD_STORES
        .try_with(|shelf| {
            let mut shelf = shelf.borrow_mut();
            let i = shelf.0.iter().position(fits)?;
            Some(shelf.0.swap_remove(i))
        })
        .ok()
        .flatten();
    let shelved = own.or_else(|| {
        let mut shelf = SHARED_SHELF.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let i = shelf.iter().position(fits)?;
        Some(shelf.swap_remove(i))
    })?;
    SHELVED.fetch_sub(1, Ordering::Relaxed);
    Some(shelved.store)
}

/// One component: a resource in one of its module's stores, its context
/// while no call of it runs, and (after configure) its sub-components.
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

impl StorePool {
    pub fn new(runtime: &Runtime, modules: Arc<Vec<LoadedModule>>, kinds: Arc<Kinds>, memory_limit: usize) -> Self {
        let inner = PoolInner { engine: runtime.engine.clone(), modules, kinds, memory_limit, slots: Vec::new() };
        StorePool { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        // A panic while the lock was held cannot leave the slots half
        // changed: every change is one push or one take/put.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The module that exports `kind`, with its assets folder.
    pub fn module_of(&self, kind: &str) -> Option<(LoadedModuleRef, Option<PathBuf>)> {
        let inner = self.lock();
        let entry = inner.kinds.get(kind)?;
        let module = &inner.modules[entry.module];
        Some((LoadedModuleRef { index: entry.module, hash: module.hash.clone() }, module.assets.clone()))
    }

    /// A free store of `module`, made if every one is busy.
    fn store_for(&self, module: &LoadedModuleRef, call: &CallCtx) -> Result<usize, ComponentError> {
        let mut inner = self.lock();
        if let Some(i) = inner.slots.iter().position(|s| s.hash == module.hash && s.store.is_some()) {
            return Ok(i);
        }
        let shelve = inner.modules[module.index].shares_stores;
        if shelve {
            if let Some(mut ms) = unshelve(&inner.engine, &module.hash, inner.memory_limit) {
                ms.store.data_mut().kinds = inner.kinds.clone();
                ms.store.data_mut().call = call.placeholder();
                inner.slots.push(Slot { hash: module.hash.clone(), store: Some(ms), live: 0, poisoned: false, shelve });
                return Ok(inner.slots.len() - 1);
            }
        }
        let placeholder = call.placeholder();
        let started = Instant::now();
        let loaded = &inner.modules[module.index];
        let mut store = new_store(&inner.engine, inner.kinds.clone(), placeholder, inner.memory_limit);
        // A standard library module is prepared at its first component.
        let pre = loaded.pre().map_err(ComponentError::Trapped)?;
        let bindings = pre.instantiate(&mut store).map_err(|e| trapped(&store, e, 0))?;
        // For bench/languages.py: what instantiating a module costs.
        tracing::info!(module = %loaded.name, us = started.elapsed().as_micros() as u64, "instantiated");
        let store = Some(ModuleStore { store, bindings });
        inner.slots.push(Slot { hash: module.hash.clone(), store, live: 0, poisoned: false, shelve });
        Ok(inner.slots.len() - 1)
    }

    /// Creates a component of `kind` in a store of its module, given its
    /// attributes as JSON.
    // `&String`: the bindings' `call_create` takes one.
    #[allow(clippy::ptr_arg)]
    pub fn create(
        &self,
        module: &LoadedModuleRef,
        call: CallCtx,
        kind: &str,
        attributes: &String,
    ) -> Result<LiveComponent, ComponentError> {
        let store = self.store_for(module, &call)?;
        let mut ctx = call;
        let instance = self.run(store, &mut ctx, Phase::Create, |b, s| {
            b.batou_deploy_component().instance().call_create(s, kind, attributes)
        })?;
        self.lock().slots[store].live += 1;
        Ok(LiveComponent { store, instance, ctx })
    }

    /// Drops a component that will not be called again (and its
    /// sub-components), so its module frees what it holds.
    pub fn discard(&self, mut c: LiveComponent) {
        for child in std::mem::take(&mut c.ctx.model.record.children) {
            self.discard(child.live);
        }
        let mut inner = self.lock();
        let slot = &mut inner.slots[c.store];
        let Some(ms) = slot.store.as_mut() else {
            tracing::debug!("dropping a component whose store is busy");
            return;
        };
        match c.instance.resource_drop(&mut ms.store) {
            Ok(()) => slot.live -= 1,
            Err(e) => tracing::debug!(error = %e, "dropping a component resource"),
        }
    }

    /// Runs configure; the sub-components it adds are configured during
    /// their `add` and end up in the context's record.
    pub fn configure(&self, c: &mut LiveComponent) -> Result<(), ComponentError> {
        let r = c.instance;
        tracing::debug!(component = %c.ctx.path, "configure");
        c.ctx.model.pool = Some(self.clone());
        let result = self.run(c.store, &mut c.ctx, Phase::Configure, |b, s| {
            b.batou_deploy_component().instance().call_configure(s, r)
        });
        // The handle is for configure only; dropping it here also keeps a
        // component's context from holding its own pool alive.
        c.ctx.model.pool = None;
        result
    }

    pub fn verify(&self, c: &mut LiveComponent) -> Result<VerifyResult, ComponentError> {
        let r = c.instance;
        self.run(c.store, &mut c.ctx, Phase::Verify, |b, s| b.batou_deploy_component().instance().call_verify(s, r))
    }

    pub fn update(&self, c: &mut LiveComponent) -> Result<(), ComponentError> {
        let r = c.instance;
        self.run(c.store, &mut c.ctx, Phase::Update, |b, s| b.batou_deploy_component().instance().call_update(s, r))
    }

    /// Runs one lifecycle call with the component's context in the store.
    /// The store is taken out of its slot meanwhile, so that a nested
    /// configure (from `add`) uses another one, and the pool is not locked
    /// while the guest runs.
    fn run<T>(
        &self,
        slot: usize,
        ctx: &mut CallCtx,
        phase: Phase,
        f: impl FnOnce(&DeploymentComponent, &mut Store<StoreData>) -> wasmtime::Result<Result<T, Failure>>,
    ) -> Result<T, ComponentError> {
        let taken = self.lock().slots[slot].store.take();
        let Some(mut ms) = taken else {
            return Err(ComponentError::Trapped(format!(
                "batou-run bug: the store of {} is busy; please report it",
                ctx.path
            )));
        };
        ctx.phase = phase;
        ctx.clock.started = Instant::now();
        ctx.clock.host_time = Duration::ZERO;
        ctx.log.bytes = 0;
        std::mem::swap(&mut ms.store.data_mut().call, ctx);
        let stderr_before = ms.store.data().stderr.contents().len();
        let result = f(&ms.bindings, &mut ms.store);
        let outcome = match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ComponentError::Returned(e)),
            Err(e) => Err(trapped(&ms.store, e, stderr_before)),
        };
        std::mem::swap(&mut ms.store.data_mut().call, ctx);
        let mut inner = self.lock();
        inner.slots[slot].poisoned |= matches!(outcome, Err(ComponentError::Trapped(_)));
        inner.slots[slot].store = Some(ms);
        outcome
    }
}

/// Which loaded module a component comes from.
#[derive(Debug, Clone)]
pub struct LoadedModuleRef {
    index: usize,
    pub hash: String,
}

fn new_store(engine: &Engine, kinds: Arc<Kinds>, call: CallCtx, memory_limit: usize) -> Store<StoreData> {
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
    let mut store = Store::new(engine, data);
    store.limiter(|d| &mut d.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let call = &ctx.data().call;
        let spent = call.clock.started.elapsed().saturating_sub(call.clock.host_time);
        if spent > call.clock.timeout {
            ctx.data_mut().call.clock.timed_out = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}

/// Calls `describe()` of a module.
pub fn describe(runtime: &Runtime, module: &LoadedModule) -> Result<Vec<KindSpec>, ComponentError> {
    let nowhere = crate::plan::host::HostInfo {
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
    let mut store = new_store(&runtime.engine, Arc::new(Kinds::default()), call, 256 << 20);
    let bindings =
        module.pre().map_err(ComponentError::Trapped)?.instantiate(&mut store).map_err(|e| trapped(&store, e, 0))?;
    let result = bindings.batou_deploy_component().call_describe(&mut store);
    let specs = result.map_err(|e| trapped(&store, e, 0))?;
    Ok(specs.into_iter().map(kind_spec).collect())
}

/// The contract's kind spec as the plan keeps it.
fn kind_spec(spec: bindings::KindSpec) -> KindSpec {
    let scalar = |s: bindings::ScalarType| match s {
        bindings::ScalarType::String => ScalarType::String,
        bindings::ScalarType::Integer => ScalarType::Integer,
        bindings::ScalarType::Float => ScalarType::Float,
        bindings::ScalarType::Boolean => ScalarType::Boolean,
        bindings::ScalarType::Mode => ScalarType::Mode,
    };
    let ty = |t: bindings::AttributeType| match t {
        bindings::AttributeType::String => AttributeType::String,
        bindings::AttributeType::Integer => AttributeType::Integer,
        bindings::AttributeType::Float => AttributeType::Float,
        bindings::AttributeType::Boolean => AttributeType::Boolean,
        bindings::AttributeType::List => AttributeType::List,
        bindings::AttributeType::ListOf(s) => AttributeType::ListOf(scalar(s)),
        bindings::AttributeType::Table => AttributeType::Table,
        bindings::AttributeType::Mode => AttributeType::Mode,
        bindings::AttributeType::Choice(c) => AttributeType::Choice(c),
        bindings::AttributeType::Any => AttributeType::Any,
    };
    KindSpec {
        name: spec.name,
        doc: spec.doc,
        attributes: spec
            .attributes
            .into_iter()
            .map(|a| AttributeSpec { name: a.name, type_: ty(a.type_), default: a.default, doc: a.doc })
            .collect(),
    }
}

struct NoAnswers;
impl crate::plan::require::RequireAnswers for NoAnswers {
    fn answer(&self, _: &str, _: bool) -> Option<Vec<serde_json::Value>> {
        Some(Vec::new())
    }
}

/// Turns a trap into the operator's words: which limit was hit, or what
/// the guest printed before it died (a Rust panic message, say).
fn trapped(store: &Store<StoreData>, e: wasmtime::Error, stderr_from: usize) -> ComponentError {
    let data = store.data();
    if data.call.clock.timed_out {
        return ComponentError::Trapped(format!(
            "ran longer than the limit of {}s and was stopped (an endless loop?); raise `timeout` in [limits.{}] (or in [environment], for every root) if it needs longer",
            data.call.clock.timeout.as_secs_f64(),
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
