//! Live components: stores, instances, and lifecycle calls that end in a
//! clear error instead of a crash when the guest misbehaves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::bindings::{self, DeploymentComponent, Failure, VerifyResult};
use super::error::describe as describe_error;
use super::module::{LoadedModule, Runtime};
use super::state::{CallCtx, Phase, StoreData};
use crate::plan::kinds::Kinds;
use crate::plan::kinds::{AttributeSpec, AttributeType, KindSpec, ScalarType};
use crate::system::remote::RemoteCommands;
use crate::system::sandbox::Sandbox;

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
/// module has one store per level of nesting that is busy at once.
///
/// Roots never share a store, with one exception: the embedded standard
/// library (known by the module's sha256), whose code keeps nothing
/// between components (no statics) and is the runner's own. Its stores are
/// the process's ([`STANDARD_STORES`]): a root takes one in which no call
/// runs, whichever roots' components live in it, and a store serves root
/// after root. So the roots of a deploy configured once and kept until
/// their turn (`agent::speculate`) hold their components, not a store
/// each. A module from anyone else never shares a store between roots,
/// so that what one root was given cannot reach another through the
/// module's memory.
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
    /// The stores this root's components live in.
    slots: Vec<Arc<Slot>>,
    /// This root's components not dropped yet, by store: those in a
    /// standard-library store are dropped there when the pool goes.
    live: Vec<(usize, ResourceAny)>,
}

/// A store of one module, and what lives in it.
struct Slot {
    hash: String,
    /// A standard-library store, which may hold components of several
    /// roots and serve root after root.
    shared: bool,
    state: Mutex<SlotState>,
    /// A thread waits here for a call in the store to end (shared stores).
    freed: Condvar,
    /// The thread that used it last ([`this_thread`]): a thread takes the
    /// stores warm in its own caches first, and looks at them without
    /// taking another thread's lock.
    last_thread: AtomicUsize,
}

struct SlotState {
    /// None while a call runs in it.
    store: Option<ModuleStore>,
    /// The thread whose call runs in it ([`this_thread`]).
    caller: Option<usize>,
    /// The thread that picked it for its next call, about to take it:
    /// no other thread picks it meanwhile.
    claimed: Option<usize>,
    /// Threads waiting for it.
    waiting: usize,
    /// Components created in it and not dropped yet, of every root.
    live: usize,
    /// A call trapped in it: the instance is not to be used again.
    poisoned: bool,
    /// Components of roots whose pool is gone, dropped before its next call.
    orphans: Vec<ResourceAny>,
}

impl Slot {
    fn new(hash: String, shared: bool, store: ModuleStore) -> Slot {
        let state = SlotState {
            store: Some(store),
            caller: None,
            claimed: Some(this_thread()),
            waiting: 0,
            live: 0,
            poisoned: false,
            orphans: Vec::new(),
        };
        let last_thread = AtomicUsize::new(this_thread());
        Slot { hash, shared, state: Mutex::new(state), freed: Condvar::new(), last_thread }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Every change under the lock is a take, a put or a count.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks it for this thread's next call, if it is free (and, for
    /// another root's store, has room).
    fn claim(&self, room: Option<usize>) -> bool {
        let mut state = self.lock();
        let fits = state.free()
            && room.is_none_or(|room| state.store.as_ref().is_some_and(|ms| ms.store.data().limits.memory < room));
        if fits {
            state.claimed = Some(this_thread());
        }
        fits
    }
}

impl SlotState {
    /// No call runs in it or is about to, and none trapped.
    fn free(&self) -> bool {
        self.store.is_some() && !self.poisoned && self.claimed.is_none()
    }
}

struct ModuleStore {
    store: Store<StoreData>,
    bindings: DeploymentComponent,
    _counted: Counted,
}

/// Stores alive in this process: with [`STORE_MEMORY`], what decides
/// whether a root configured for the plan may keep its components until
/// its turn ([`room_to_keep`]).
static STORES: AtomicUsize = AtomicUsize::new(0);

/// Counts a store while it lives.
struct Counted;

impl Counted {
    fn new() -> Counted {
        STORES.fetch_add(1, Ordering::Relaxed);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        STORES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Roots configured for the plan keep their components for their turn
/// while this process has fewer stores: each holds one of the pooling
/// allocator's slots (`POOL_SLOTS`, 128), and the deploy needs some for
/// the roots it configures and the standard library's stores.
const KEEP_WHILE_STORES: usize = 64;

/// Roots configured for the plan keep their components while all stores
/// together have less linear memory than this.
const KEEP_WHILE_MEMORY: usize = 256 << 20;

/// Whether a root just configured may keep its components (its stores and
/// the memory they hold) until its turn.
pub fn room_to_keep() -> bool {
    STORES.load(Ordering::Relaxed) < KEEP_WHILE_STORES && STORE_MEMORY.load(Ordering::Relaxed) < KEEP_WHILE_MEMORY
}

/// The linear memory of all stores alive, as they grew it.
static STORE_MEMORY: AtomicUsize = AtomicUsize::new(0);

/// A store's limits, and the linear memory it has grown to (counted in
/// [`STORE_MEMORY`] while it lives).
pub struct Limits {
    limits: StoreLimits,
    /// The largest linear memory of the store, in bytes.
    pub memory: usize,
}

impl Limits {
    fn new(limits: StoreLimits) -> Limits {
        Limits { limits, memory: 0 }
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        STORE_MEMORY.fetch_sub(self.memory, Ordering::Relaxed);
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grows = self.limits.memory_growing(current, desired, maximum)?;
        if grows && desired > self.memory {
            STORE_MEMORY.fetch_add(desired - self.memory, Ordering::Relaxed);
            self.memory = desired;
        }
        Ok(grows)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A standard-library store takes components of another root only while
/// its memory is under this share of the roots' `memory_limit`: what
/// other roots left in it must not push a root over its limit.
const SHARED_MEMORY_SHARE: usize = 4;

/// ... and under this, whatever the limit.
const SHARED_MEMORY_MAX: usize = 32 << 20;

/// A standard-library store of this process, for the roots of one host
/// with one `memory_limit`. Roots of one host deploy one after the other,
/// so a long call (a command) of one root keeps no other host's root
/// waiting for the store.
struct Registered {
    engine: Engine,
    host: String,
    memory_limit: usize,
    slot: Arc<Slot>,
}

impl Registered {
    /// The memory under which it takes components of another root.
    fn room(&self) -> usize {
        (self.memory_limit / SHARED_MEMORY_SHARE).clamp(1, SHARED_MEMORY_MAX)
    }
}

/// The standard library's stores, whichever roots' components live in
/// them (roots of one host). It is a static, never dropped: a process that ends does not
/// reset the memory of the stores still in it, which it would do page by
/// page.
static STANDARD_STORES: Mutex<Vec<Arc<Registered>>> = Mutex::new(Vec::new());

/// At most this many stores are in [`STANDARD_STORES`]; a store made
/// beyond them serves only the root that made it.
const STANDARD_STORES_MAX: usize = 32;

fn standard_stores() -> MutexGuard<'static, Vec<Arc<Registered>>> {
    STANDARD_STORES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A standard-library store of `hash` for a root of `host` with
/// `memory_limit` in which no call runs, and with room for the root: the
/// calling thread's last one first.
fn standard_store(engine: &Engine, host: &str, hash: &str, memory_limit: usize) -> Option<Arc<Slot>> {
    let me = this_thread();
    let fits = |r: &Registered| {
        r.slot.hash == hash
            && r.memory_limit == memory_limit
            && r.host == host
            && Engine::same(&r.engine, engine)
            && r.slot.claim(Some(r.room()))
    };
    // This thread's own first, without the process's lock.
    let recent = RECENT.try_with(|recent| recent.borrow().0.iter().find(|r| fits(r)).map(|r| r.slot.clone()));
    if let Ok(Some(slot)) = recent {
        return Some(slot);
    }
    // Then one no running thread uses: a store another thread uses holds
    // its roots' components, whose next calls would wait for this root's.
    let found = {
        let stores = standard_stores();
        let unused = |r: &&Arc<Registered>| {
            let last = r.slot.last_thread.load(Ordering::Relaxed);
            last == 0 || last == me
        };
        stores.iter().filter(unused).find(|r| fits(r)).cloned()
    }?;
    let slot = found.slot.clone();
    remember(found);
    Some(slot)
}

/// The standard-library stores this thread used last, looked at before
/// the process's.
const RECENT_MAX: usize = 8;

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(Recent(Vec::new())) };
}

/// A thread's recent stores; when the thread ends, they are nobody's.
struct Recent(Vec<Arc<Registered>>);

impl Drop for Recent {
    fn drop(&mut self) {
        let Ok(me) = THREAD.try_with(|me| *me) else { return };
        for r in &self.0 {
            let _ = r.slot.last_thread.compare_exchange(me, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

fn remember(store: Arc<Registered>) {
    let _ = RECENT.try_with(|recent| {
        let recent = &mut recent.borrow_mut().0;
        if recent.iter().any(|r| Arc::ptr_eq(r, &store)) {
            return;
        }
        if recent.len() >= RECENT_MAX {
            recent.remove(0);
        }
        recent.push(store);
    });
}

/// A number for this thread, without a handle on the thread each time.
fn this_thread() -> usize {
    THREAD.with(|me| *me)
}

/// Threads numbered so far; 0 is nobody.
static THREADS: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

/// Makes `slot` one of the process's standard-library stores, if there is
/// room. Stores that can serve no root any more go first (those a call
/// trapped in, and empty ones grown too large for another root); then,
/// if all places are taken, an empty one in which no call runs.
fn register(engine: &Engine, host: &str, memory_limit: usize, slot: &Arc<Slot>) {
    let mut gone = Vec::new();
    {
        let mut stores = standard_stores();
        let mut i = 0;
        while i < stores.len() {
            let state = stores[i].slot.lock();
            let empty = state.free() && state.live == 0 && state.orphans.is_empty();
            let useless = state.poisoned
                || (empty && state.store.as_ref().is_some_and(|ms| ms.store.data().limits.memory >= stores[i].room()));
            drop(state);
            if useless {
                gone.push(stores.remove(i));
            } else {
                i += 1;
            }
        }
        if stores.len() >= STANDARD_STORES_MAX {
            let Some(i) = stores.iter().position(|r| {
                let state = r.slot.lock();
                state.free() && state.live == 0 && state.orphans.is_empty()
            }) else {
                return;
            };
            gone.push(stores.remove(i));
        }
        let registered =
            Arc::new(Registered { engine: engine.clone(), host: host.to_string(), memory_limit, slot: slot.clone() });
        stores.push(registered.clone());
        remember(registered);
    }
    // Dropping a store resets its memory: not while holding the lock.
    drop(gone);
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // This root's components not dropped yet: in a standard-library
        // store, they are dropped before its next call (another thread's
        // call may run in it now); a store of the root's own goes with them.
        for (slot, instance) in self.live.drain(..) {
            let slot = &self.slots[slot];
            if slot.shared {
                slot.lock().orphans.push(instance);
            }
        }
        for slot in self.slots.drain(..) {
            if !slot.shared {
                continue;
            }
            // Between calls a store holds the context it was made with:
            // a root's sandbox, answers and secret files. A store this root
            // used last keeps none of them (the next root puts in its own).
            let mut state = slot.lock();
            let Some(ms) = state.store.as_mut() else { continue };
            let between = &ms.store.data().call;
            let neutral = CallCtx::new(
                between.host.clone(),
                String::new(),
                between.workdir.clone(),
                None,
                Arc::new(NoAnswers),
                between.clock.timeout,
            );
            ms.store.data_mut().call = neutral;
        }
    }
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

    /// Gives this component and its sub-components the sandbox and the
    /// commands of the deploy that now takes them: a root configured for
    /// the plan was given none.
    pub fn rebind(&mut self, sandbox: &Arc<Sandbox>, remote: &Arc<dyn RemoteCommands>) {
        self.ctx.sandbox = sandbox.clone();
        self.ctx.remote = remote.clone();
        self.ctx.log.diffs.clear();
        self.ctx.held_bytes = self.ctx.held_by_configure;
        for child in &mut self.ctx.model.record.children {
            child.live.rebind(sandbox, remote);
        }
    }
}

impl StorePool {
    pub fn new(runtime: &Runtime, modules: Arc<Vec<LoadedModule>>, kinds: Arc<Kinds>, memory_limit: usize) -> Self {
        let inner = PoolInner {
            engine: runtime.engine.clone(),
            modules,
            kinds,
            memory_limit,
            slots: Vec::new(),
            live: Vec::new(),
        };
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

    /// Whether no call trapped in any of this root's stores: a root kept
    /// from the plan whose store another root's trap poisoned is
    /// configured again.
    pub fn healthy(&self) -> bool {
        self.lock().slots.iter().all(|s| !s.lock().poisoned)
    }

    /// A free store of `module`, made if every one is busy.
    fn store_for(&self, module: &LoadedModuleRef, call: &CallCtx) -> Result<usize, ComponentError> {
        let mut inner = self.lock();
        if let Some(i) = inner.slots.iter().position(|s| s.hash == module.hash && s.claim(None)) {
            return Ok(i);
        }
        let shared = inner.modules[module.index].shares_stores;
        if shared {
            if let Some(slot) = standard_store(&inner.engine, &call.host.name, &module.hash, inner.memory_limit) {
                inner.slots.push(slot);
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
        let slot =
            Arc::new(Slot::new(module.hash.clone(), shared, ModuleStore { store, bindings, _counted: Counted::new() }));
        if shared {
            register(&inner.engine, &call.host.name, inner.memory_limit, &slot);
        }
        inner.slots.push(slot);
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
        let mut inner = self.lock();
        inner.slots[store].lock().live += 1;
        inner.live.push((store, instance));
        Ok(LiveComponent { store, instance, ctx })
    }

    /// Drops a component that will not be called again (and its
    /// sub-components), so its module frees what it holds.
    pub fn discard(&self, mut c: LiveComponent) {
        for child in std::mem::take(&mut c.ctx.model.record.children) {
            self.discard(child.live);
        }
        let mut inner = self.lock();
        if let Some(i) = inner.live.iter().rposition(|&(s, r)| s == c.store && r == c.instance) {
            inner.live.swap_remove(i);
        }
        let slot = inner.slots[c.store].clone();
        drop(inner);
        let mut state = slot.lock();
        let Some(ms) = state.store.as_mut() else {
            // Another thread's call runs in this shared store: dropped
            // before the next one.
            if slot.shared {
                state.orphans.push(c.instance);
            } else {
                tracing::debug!("dropping a component whose store is busy");
            }
            return;
        };
        ms.store.data_mut().call.clock.started = Instant::now();
        match c.instance.resource_drop(&mut ms.store) {
            Ok(()) => state.live -= 1,
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
        c.ctx.held_by_configure = c.ctx.held_bytes;
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
    /// configure (from `add`) uses another one, and no lock is held while
    /// the guest runs. In a standard-library store another thread's call
    /// may run: this one waits for it (no thread waits while a call of
    /// its own runs, so none waits for another that waits).
    fn run<T>(
        &self,
        slot: usize,
        ctx: &mut CallCtx,
        phase: Phase,
        f: impl FnOnce(&DeploymentComponent, &mut Store<StoreData>) -> wasmtime::Result<Result<T, Failure>>,
    ) -> Result<T, ComponentError> {
        let (slot, kinds) = {
            let inner = self.lock();
            (inner.slots[slot].clone(), Arc::as_ptr(&inner.kinds))
        };
        let me = this_thread();
        let (mut ms, orphans) = {
            let mut state = slot.lock();
            loop {
                let others = state.claimed.is_some_and(|c| c != me);
                if let Some(ms) = state.store.take_if(|_| !others) {
                    state.caller = Some(me);
                    state.claimed = None;
                    if slot.last_thread.load(Ordering::Relaxed) != me {
                        slot.last_thread.store(me, Ordering::Relaxed);
                    }
                    break (ms, std::mem::take(&mut state.orphans));
                }
                if !slot.shared || state.caller == Some(me) {
                    return Err(ComponentError::Trapped(format!(
                        "batou-run bug: the store of {} is busy; please report it",
                        ctx.path
                    )));
                }
                state.waiting += 1;
                state = slot.freed.wait(state).unwrap_or_else(|e| e.into_inner());
                state.waiting -= 1;
            }
        };
        let mut dropped = 0;
        for orphan in orphans {
            ms.store.data_mut().call.clock.started = Instant::now();
            match orphan.resource_drop(&mut ms.store) {
                Ok(()) => dropped += 1,
                Err(e) => tracing::debug!(error = %e, "dropping a component resource"),
            }
        }
        // Another root's kinds (of another deploy in this process).
        if !std::ptr::eq(Arc::as_ptr(&ms.store.data().kinds), kinds) {
            ms.store.data_mut().kinds = self.lock().kinds.clone();
        }
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
        let mut state = slot.lock();
        state.poisoned |= matches!(outcome, Err(ComponentError::Trapped(_)));
        state.live -= dropped;
        state.store = Some(ms);
        state.caller = None;
        // A wake-up is a system call: only when someone waits.
        if state.waiting > 0 {
            slot.freed.notify_all();
        }
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
    let limits = Limits::new(limits);
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
