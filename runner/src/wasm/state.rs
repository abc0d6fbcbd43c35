//! What one component instance's store holds: its WASI context (which
//! grants nothing), its limits, and what the runner knows about the call
//! in progress.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::CapError;
use super::instance::{Limits, LiveComponent, StorePool};
use crate::plan::events::{FileDiff, Level};
use crate::plan::grants::Grants;
use crate::plan::host::HostInfo;
use crate::plan::kinds::Kinds;
use crate::plan::origins::Origins;
use crate::plan::require::{Added, RequireAnswers, RequireRecord};
use crate::system::on_this_host;
use crate::system::remote::{NoRemote, RemoteCommands};
use crate::system::sandbox::Sandbox;

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

/// Everything a configure call declared.
#[derive(Default)]
pub struct ConfigureRecord {
    /// The sub-components `add` configured, in order.
    pub children: Vec<Child>,
    pub provided: Vec<(String, Value)>,
    pub required: Vec<RequireRecord>,
    /// What `expose` made readable by the parent.
    pub exposed: Map<String, Value>,
    /// Errors the runner saw in capability calls (reported even if the
    /// component swallows them).
    pub errors: Vec<String>,
    /// The strict `require`s that found nothing (key, host-only).
    pub unsatisfied: Vec<(String, bool)>,
    /// A sub-component (at any depth) whose configure failed: its path
    /// and why. The failure is the root's, whatever the parent returned.
    pub failed: Option<(String, String)>,
}

/// A sub-component as `add` configured it.
pub struct Child {
    pub added: Added,
    pub live: LiveComponent,
}

/// What a sub-component needs beyond its parent's context: where its
/// assets are, how its templates are named, and what answers its
/// requires. Making a plan computes it; an agent's replay takes it from
/// the plan and checks the sub-component is the one planned.
pub trait Lineage: Send + Sync {
    /// For the `index`-th sub-component `added` below `parent`.
    fn child(&self, parent: &CallCtx, index: usize, added: &Added) -> Result<ChildSetup, String>;
}

pub struct ChildSetup {
    pub assets: Option<Arc<PathBuf>>,
    pub assets_name: Option<String>,
    pub answers: Arc<dyn RequireAnswers>,
    pub lineage: Arc<dyn Lineage>,
}

/// For stores that never configure (describe, placeholders).
pub struct NoChildren;

impl Lineage for NoChildren {
    fn child(&self, _: &CallCtx, _: usize, _: &Added) -> Result<ChildSetup, String> {
        Err("no sub-components can be added here".into())
    }
}

/// The log lines of one root's components, in the order they were
/// logged: a sub-component configured during its parent's `add` logs
/// between its parent's lines, as in batou.
pub type LogBook = Arc<Mutex<Vec<(String, Level, String)>>>;

/// How much a component may log in one call before it is stopped.
pub const LOG_LIMIT_BYTES: usize = 1 << 20;

/// How a sub-component appears in a component path.
pub fn sub_label(kind: &str, name: &str) -> String {
    format!("{kind}('{name}')")
}

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
    /// What names the component's templates in errors (`template`).
    pub templates: Origins,
    /// The root's grants, enforced (shared by the root's whole tree) for
    /// `files`, `process` and `ssh`.
    pub sandbox: Arc<Sandbox>,
    /// Where `ssh.run` goes.
    pub remote: Arc<dyn RemoteCommands>,
    /// `model`: what configure declares and how sub-components are made.
    pub model: ModelState,
    /// `log`: messages and diffs.
    pub log: LogState,
    /// The lifecycle call's deadline.
    pub clock: Clock,
    /// What the runner holds for this component (diffs, provided values),
    /// charged against its memory_limit for its whole life.
    pub held_bytes: usize,
    /// What of it configure made the runner hold: a root kept from the
    /// plan for its turn holds no more than that then (the diffs of its
    /// verify ahead are gone).
    pub held_by_configure: usize,
}

/// The secret files a root may read with `model.secret-file`: the
/// environment's files its grants name, decrypted. Shared by the root's
/// tree; the grants also tell a refused name from a missing file.
#[derive(Debug, Default)]
pub struct SecretFiles {
    pub grants: Grants,
    pub files: BTreeMap<String, Arc<Vec<u8>>>,
}

impl SecretFiles {
    /// The files of `all` that `grants` names.
    pub fn granted(grants: &Grants, all: &BTreeMap<String, Arc<Vec<u8>>>) -> SecretFiles {
        let files = all
            .iter()
            .filter(|(name, _)| grants.secret_files.contains(name))
            .map(|(name, bytes)| (name.clone(), bytes.clone()))
            .collect();
        SecretFiles { grants: grants.clone(), files }
    }
}

/// The state of the `model` capability.
pub struct ModelState {
    pub answers: Arc<dyn RequireAnswers>,
    /// Where a sub-component's setup comes from.
    pub lineage: Arc<dyn Lineage>,
    /// The root's stores, during configure (for `add`).
    pub pool: Option<StorePool>,
    pub record: ConfigureRecord,
    /// Whether any sub-component changed (for `model.changed`).
    pub children_changed: bool,
    /// What `secret-file` reads.
    pub secrets: Arc<SecretFiles>,
}

/// The state of the `log` capability.
pub struct LogState {
    /// Shared by the root's tree, in the order logged.
    pub book: LogBook,
    pub diffs: Vec<FileDiff>,
    /// Bytes logged in the current call, against LOG_LIMIT_BYTES.
    pub bytes: usize,
}

/// The deadline of a lifecycle call.
pub struct Clock {
    /// Time spent in capability calls (such as commands) during the
    /// current lifecycle call; it does not count against the deadline.
    pub host_time: Duration,
    pub started: Instant,
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
            sandbox: Arc::new(Sandbox::nothing()),
            remote: Arc::new(NoRemote),
            model: ModelState {
                answers,
                lineage: Arc::new(NoChildren),
                pool: None,
                record: ConfigureRecord::default(),
                children_changed: false,
                secrets: Arc::default(),
            },
            log: LogState { book: LogBook::default(), diffs: Vec::new(), bytes: 0 },
            clock: Clock { host_time: Duration::ZERO, started: Instant::now(), timeout, timed_out: false },
            held_bytes: 0,
            held_by_configure: 0,
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
            self.model.answers.clone(),
            self.clock.timeout,
        );
        ctx.sandbox = self.sandbox.clone();
        ctx.remote = self.remote.clone();
        ctx.model.secrets = self.model.secrets.clone();
        ctx.templates = self.templates.clone();
        ctx.log.book = self.log.book.clone();
        ctx
    }

    /// The context of a sub-component about to be created by `add`: its
    /// parent's host, workdir, grants, limits and log book.
    pub fn for_child(&self, kind: &str, name: &str, setup: ChildSetup) -> CallCtx {
        let mut ctx = CallCtx::new(
            self.host.clone(),
            format!("{} > {}", self.path, sub_label(kind, name)),
            self.workdir.clone(),
            setup.assets,
            setup.answers,
            self.clock.timeout,
        );
        ctx.real_workdir = self.real_workdir.clone();
        ctx.sandbox = self.sandbox.clone();
        ctx.remote = self.remote.clone();
        ctx.model.lineage = setup.lineage;
        ctx.model.secrets = self.model.secrets.clone();
        ctx.templates = Origins { assets: setup.assets_name, attributes: self.templates.attributes.clone() };
        ctx.log.book = self.log.book.clone();
        ctx
    }

    /// Logs a line under this component's path.
    pub fn log(&self, level: Level, message: String) {
        self.log.book.lock().unwrap_or_else(|e| e.into_inner()).push((self.path.clone(), level, message));
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

/// The data of one component's store.
pub struct StoreData {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: Limits,
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
