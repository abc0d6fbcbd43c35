//! What one component instance's store holds: its WASI context (which
//! grants nothing), its limits, and what the runner knows about the call
//! in progress.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::CapError;
use super::remote::{NoRemote, RemoteCommands};
use super::sandbox::Sandbox;
use crate::model::kinds::Kinds;

/// The lifecycle step a component is in; capabilities check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Creating the instance from its attributes.
    Create,
    Configure,
    Verify,
    Update,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Configure => "configure",
            Phase::Verify => "verify",
            Phase::Update => "update",
        }
    }
}

/// The host and environment a component is deployed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub fqdn: String,
    pub data: Value,
    pub environment: String,
}

/// Answers `model.require` during configure.
pub trait RequireAnswers: Send + Sync {
    /// The values provided under `key` (only on this host when `host_only`),
    /// or `None` if a replayed configure asks something it did not ask
    /// before.
    fn answer(&self, key: &str, host_only: bool) -> Option<Vec<Value>>;
}

/// A `require` call and the values it received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequireRecord {
    pub key: String,
    pub host_only: bool,
    pub strict: bool,
    pub reverse: bool,
    pub values: Vec<Value>,
}

/// A sub-component declared by `model.add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Added {
    pub kind: String,
    pub name: String,
    /// Checked against the kind's spec, defaults filled in.
    pub attributes: Value,
}

/// Everything a configure call declared.
#[derive(Debug, Clone, Default)]
pub struct ConfigureRecord {
    pub added: Vec<Added>,
    pub provided: Vec<(String, Value)>,
    pub required: Vec<RequireRecord>,
    /// Errors the runner saw in capability calls (reported even if the
    /// component swallows them).
    pub errors: Vec<String>,
    /// The strict `require`s that found nothing (key, host-only).
    pub unsatisfied: Vec<(String, bool)>,
}

/// A file change reported through `log.diff`.
#[derive(Debug, Clone)]
pub struct FileDiff {
    pub path: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// Levels of `log.log`, as the runner keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// How much a component may log in one call before it is stopped.
pub const LOG_LIMIT_BYTES: usize = 1 << 20;

/// The component-specific part of the store.
pub struct CallCtx {
    pub phase: Phase,
    pub host: Arc<HostInfo>,
    /// `root > kind('name') > ...`, for messages.
    pub path: String,
    /// The root's working directory as the plan says it (what
    /// `model.workdir` returns, the same on controller and agent).
    pub workdir: PathBuf,
    /// That directory on this host; relative paths resolve here.
    pub real_workdir: PathBuf,
    /// The folder `assets.read` reads from.
    pub assets: Option<Arc<PathBuf>>,
    /// What names the component's templates in errors.
    pub templates: crate::host::caps::template::Origins,
    pub answers: Arc<dyn RequireAnswers>,
    /// The root's grants, enforced (shared by the root's whole tree).
    pub sandbox: Arc<Sandbox>,
    /// Where `ssh.run` goes.
    pub remote: Arc<dyn RemoteCommands>,
    pub record: ConfigureRecord,
    /// Whether any sub-component changed (for `model.changed`).
    pub children_changed: bool,
    pub diffs: Vec<FileDiff>,
    pub logs: Vec<(Level, String)>,
    pub logged_bytes: usize,
    /// What the runner holds for this component (diffs, provided values),
    /// charged against its memory_limit for its whole life.
    pub held_bytes: usize,
    /// Time spent in capability calls (such as commands) during the
    /// current lifecycle call; it does not count against the deadline.
    pub host_time: Duration,
    pub call_started: Instant,
    pub timeout: Duration,
    pub timed_out: bool,
}

impl CallCtx {
    /// The context of a component about to be created.
    pub fn new(
        host: Arc<HostInfo>,
        path: String,
        workdir: PathBuf,
        assets: Option<Arc<PathBuf>>,
        answers: Arc<dyn RequireAnswers>,
        timeout: Duration,
    ) -> CallCtx {
        CallCtx {
            phase: Phase::Create,
            host,
            path,
            // Configure (on the controller) reaches no file; an agent checks
            // that the workdir resolves before it deploys a root.
            real_workdir: on_this_host(&workdir).unwrap_or_else(|_| workdir.clone()),
            workdir,
            assets,
            templates: Default::default(),
            answers,
            sandbox: Arc::new(Sandbox::nothing()),
            remote: Arc::new(NoRemote),
            record: ConfigureRecord::default(),
            children_changed: false,
            diffs: Vec::new(),
            logs: Vec::new(),
            logged_bytes: 0,
            held_bytes: 0,
            host_time: Duration::ZERO,
            call_started: Instant::now(),
            timeout,
            timed_out: false,
        }
    }

    /// A context for a store between calls: the same host and limits,
    /// nothing recorded.
    pub fn placeholder(&self) -> CallCtx {
        let mut ctx = CallCtx::new(
            self.host.clone(),
            self.path.clone(),
            self.workdir.clone(),
            None,
            self.answers.clone(),
            self.timeout,
        );
        ctx.sandbox = self.sandbox.clone();
        ctx.remote = self.remote.clone();
        ctx.templates = self.templates.clone();
        ctx
    }

    /// Refuses a capability outside the lifecycle steps that may use it.
    pub fn allow(&self, what: &str, phases: &[Phase]) -> Result<(), CapError> {
        if phases.contains(&self.phase) {
            Ok(())
        } else {
            let allowed: Vec<&str> = phases.iter().map(|p| p.name()).collect();
            Err(CapError::wrong_phase(format!(
                "{what} is not allowed during {} (only during {}): configure must be a pure function of the attributes, and verify only reads",
                self.phase.name(),
                allowed.join(" and ")
            )))
        }
    }

    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = std::path::Path::new(path);
        if p.is_absolute() { p.to_path_buf() } else { self.real_workdir.join(p) }
    }
}

/// A workdir as an SSH controller writes it (`~/deployment/work/x`, or
/// relative to the login user's home), made absolute with this host's $HOME.
/// Without a home, a workdir that needs one is an error: it must not
/// resolve against whatever the current folder is.
pub fn on_this_host(workdir: &Path) -> Result<PathBuf, crate::home::NoHome> {
    if workdir.is_absolute() {
        return Ok(workdir.to_path_buf());
    }
    let home = crate::home::home()?;
    Ok(home.join(workdir.strip_prefix("~").unwrap_or(workdir)))
}

/// The data of one component's store.
pub struct StoreData {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    /// The linear-memory limit in `limits`, for messages.
    pub memory_limit: usize,
    pub stderr: MemoryOutputPipe,
    pub kinds: Arc<Kinds>,
    pub call: CallCtx,
}

impl StoreData {
    /// Charges `bytes` the runner keeps for this component (`what`, for
    /// the message) against its memory_limit: what it makes the runner
    /// hold counts as much as its own memory. Over the limit, it is ended.
    pub fn hold(&mut self, bytes: usize, what: &str) -> Result<(), CapError> {
        self.call.held_bytes = self.call.held_bytes.saturating_add(bytes);
        if self.call.held_bytes > self.memory_limit {
            return Err(CapError::Trap(format!(
                "made the runner hold more than its memory limit of {} MiB ({what}) and was stopped; raise \
                 `memory_limit` in [limits.<root>] if it needs more",
                self.memory_limit >> 20
            )));
        }
        Ok(())
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
