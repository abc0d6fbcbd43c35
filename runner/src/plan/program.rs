//! Programs that travel: a component's request to run a program on
//! another host (the `ssh` capability), and what came back.

use serde::{Deserialize, Serialize};

/// A program to run on another host, as it travels between agent and
/// controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub program: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Relative to the login user's home on that host.
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub stdin: Option<Vec<u8>>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
}

/// What a command on another host produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramOutput {
    /// The exit status, or -1 when a signal ended the program.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a command on another host did not run to completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum RemoteError {
    /// The grants do not allow it.
    #[error("{0}")]
    Denied(String),
    /// No such host, or no such program there.
    #[error("{0}")]
    NotFound(String),
    /// The host could not be reached, or the command was stopped.
    #[error("{0}")]
    Failed(String),
}
