//! Where a host's plan is deployed: in this process ([`local`]) or by an
//! agent process speaking the agent protocol ([`process`], over a child's
//! stdin/stdout; an SSH target will drive the same [`session`] over an exec
//! channel).

pub mod agents;
mod assets;
pub mod local;
pub mod process;
pub mod session;
pub mod ssh;

use crate::agent::protocol::FrameError;
use crate::agent::{Event, HostOutcome};
use crate::plan::HostPlan;

/// Something that deploys one host's plan.
pub trait Target {
    /// Deploys `plan`, giving each event to `sink` as it happens. A failed
    /// component is an `Ok` outcome with `failed` set; an `Err` means the
    /// target itself could not be driven.
    fn deploy(
        &mut self,
        plan: &HostPlan,
        predict: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<HostOutcome, TargetError>;
}

/// Why a host could not be deployed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("host {host}: cannot start the agent `{command}`: {source}")]
    Spawn { host: String, command: String, source: std::io::Error },
    #[error("host {host}: {message}")]
    Connect { host: String, message: String },
    #[error("host {host}: the agent failed: {message}")]
    Agent { host: String, message: String },
    #[error(
        "host {host}: the agent ended before the deploy finished ({detail}); the last component it reported was {last}; \
         its messages are above, and the deploy may be half done: deploy again"
    )]
    Died { host: String, detail: String, last: String },
    #[error("host {host}: {message}")]
    Mismatch { host: String, message: String },
    #[error("host {host}: the agent sent {got} where {expected} was expected")]
    Unexpected { host: String, expected: &'static str, got: String },
    #[error("host {host}: talking to the agent: {source}")]
    Frame { host: String, source: FrameError },
    #[error("host {host}: cannot ship the assets {path}: {source}")]
    Assets { host: String, path: std::path::PathBuf, source: std::io::Error },
    #[error("host {host}: the plan uses module {sha256}, which the controller has not loaded")]
    UnknownModule { host: String, sha256: String },
}
