//! One live component: its store, its instance, and lifecycle calls that
//! end in a clear error instead of a crash when the guest misbehaves.

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

pub struct LiveComponent {
    store: Store<StoreData>,
    bindings: DeploymentComponent,
    instance: ResourceAny,
}

fn new_store(
    runtime: &Runtime,
    kinds: Arc<Kinds>,
    call: CallCtx,
    memory_limit: usize,
) -> Store<StoreData> {
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
    let limits = StoreLimitsBuilder::new()
        .memory_size(memory_limit)
        .instances(64)
        .trap_on_grow_failure(true)
        .build();
    let data = StoreData {
        wasi,
        table: Default::default(),
        limits,
        memory_limit,
        stderr,
        kinds,
        call,
    };
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
    let call = CallCtx {
        phase: Phase::Create,
        host: Arc::new(super::state::HostInfo {
            name: String::new(),
            fqdn: String::new(),
            data: serde_json::Value::Null,
            environment: String::new(),
        }),
        path: module.name.clone(),
        workdir: std::path::PathBuf::from("/nonexistent"),
        assets: None,
        answers: Arc::new(NoAnswers),
        record: Default::default(),
        children_changed: false,
        diffs: Vec::new(),
        logs: Vec::new(),
        logged_bytes: 0,
        host_time: Duration::ZERO,
        call_started: Instant::now(),
        timeout: Duration::from_secs(10),
        timed_out: false,
    };
    let mut store = new_store(runtime, Arc::new(Kinds::default()), call, 256 << 20);
    let bindings = module
        .pre
        .instantiate(&mut store)
        .map_err(|e| trapped(&store, e))?;
    let result = bindings.batou_deploy_component().call_describe(&mut store);
    result.map_err(|e| trapped(&store, e))
}

struct NoAnswers;
impl super::state::RequireAnswers for NoAnswers {
    fn answer(&self, _: &str, _: bool) -> Option<Vec<serde_json::Value>> {
        Some(Vec::new())
    }
}

impl LiveComponent {
    /// Instantiates `module` and creates a component of `kind`.
    pub fn create(
        runtime: &Runtime,
        module: &LoadedModule,
        kinds: Arc<Kinds>,
        call: CallCtx,
        memory_limit: usize,
        kind: &str,
        attributes: &serde_json::Value,
    ) -> Result<LiveComponent, ComponentError> {
        let mut store = new_store(runtime, kinds, call, memory_limit);
        store.data_mut().call.call_started = Instant::now();
        let bindings = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| trapped(&store, e))?;
        let attrs = attributes.to_string();
        let result = bindings
            .batou_deploy_component()
            .instance()
            .call_create(&mut store, kind, &attrs);
        let instance = match result {
            Ok(Ok(instance)) => instance,
            Ok(Err(e)) => return Err(ComponentError::Returned(e)),
            Err(e) => return Err(trapped(&store, e)),
        };
        Ok(LiveComponent {
            store,
            bindings,
            instance,
        })
    }

    pub fn ctx(&mut self) -> &mut CallCtx {
        &mut self.store.data_mut().call
    }

    fn start(&mut self, phase: Phase) {
        let call = self.ctx();
        call.phase = phase;
        call.call_started = Instant::now();
        call.host_time = Duration::ZERO;
        call.logged_bytes = 0;
    }

    pub fn configure(&mut self) -> Result<(), ComponentError> {
        self.start(Phase::Configure);
        let r = self
            .bindings
            .batou_deploy_component()
            .instance()
            .call_configure(&mut self.store, self.instance);
        self.finish(r)
    }

    pub fn verify(&mut self) -> Result<VerifyResult, ComponentError> {
        self.start(Phase::Verify);
        let r = self
            .bindings
            .batou_deploy_component()
            .instance()
            .call_verify(&mut self.store, self.instance);
        self.finish(r)
    }

    pub fn update(&mut self) -> Result<(), ComponentError> {
        self.start(Phase::Update);
        let r = self
            .bindings
            .batou_deploy_component()
            .instance()
            .call_update(&mut self.store, self.instance);
        self.finish(r)
    }

    fn finish<T>(&mut self, r: wasmtime::Result<Result<T, WitError>>) -> Result<T, ComponentError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ComponentError::Returned(e)),
            Err(e) => Err(trapped(&self.store, e)),
        }
    }
}

/// Turns a trap into the operator's words: which limit was hit, or what
/// the guest printed before it died (a Rust panic message, say).
fn trapped(store: &Store<StoreData>, e: wasmtime::Error) -> ComponentError {
    let data = store.data();
    if data.call.timed_out {
        return ComponentError::Trapped(format!(
            "ran longer than the limit of {}s and was stopped (an endless loop?); raise `timeout` in [environment] if it needs longer",
            data.call.timeout.as_secs_f64()
        ));
    }
    let stderr = String::from_utf8_lossy(&data.stderr.contents()).into_owned();
    let root = format!("{}", e.root_cause());
    let mut message = if root.contains("forcing trap when growing memory") {
        format!(
            "exceeded the memory limit of {} MiB and was stopped; raise `memory_limit` in [environment] if it needs more",
            data.memory_limit >> 20
        )
    } else {
        let trap = e
            .downcast_ref::<wasmtime::Trap>()
            .map(|t| t.to_string())
            .unwrap_or(root);
        format!("trapped: {trap}")
    };
    // What a panicking Rust guest printed, without the advice that only
    // applies to native programs.
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("RUST_BACKTRACE"))
        .collect();
    if !tail.is_empty() {
        let start = tail.len().saturating_sub(5);
        message.push_str(&format!(
            "\n  component output: {}",
            tail[start..].join("\n    ")
        ));
    }
    ComponentError::Trapped(message)
}
