//! Errors of capability calls, as the guest and the runner see them.

use super::bindings::WitError;

/// What a capability call returns on failure: an `error` the component
/// receives and may handle, or a trap that ends the component (a limit it
/// went over, which handling the error would not mend).
#[derive(Debug)]
pub enum CapError {
    Guest(WitError),
    Trap(String),
}

impl CapError {
    pub fn denied(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::AccessDenied(msg.into()))
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::NotFound(msg.into()))
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::Invalid(msg.into()))
    }
    pub fn io(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::Io(msg.into()))
    }
    pub fn wrong_phase(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::WrongPhase(msg.into()))
    }
    pub fn not_implemented(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::NotImplemented(msg.into()))
    }
    pub fn command_failed(msg: impl Into<String>) -> Self {
        CapError::Guest(WitError::CommandFailed(msg.into()))
    }
}

impl From<WitError> for CapError {
    fn from(e: WitError) -> Self {
        CapError::Guest(e)
    }
}

/// The operator-facing text of a WIT error.
pub fn describe(e: &WitError) -> String {
    match e {
        WitError::AccessDenied(m) => format!("access denied: {m}"),
        WitError::NotFound(m) => format!("not found: {m}"),
        WitError::Invalid(m) => format!("invalid: {m}"),
        WitError::Io(m) => format!("i/o error: {m}"),
        WitError::CommandFailed(m) => format!("command failed: {m}"),
        WitError::WrongPhase(m) => format!("not allowed now: {m}"),
        WitError::Unsatisfied(m) => format!("unsatisfied: {m}"),
        WitError::NotImplemented(m) => format!("not implemented: {m}"),
        WitError::Failed(m) => m.clone(),
    }
}

/// A path-related I/O error, with the path in the message.
pub fn io_error(path: &std::path::Path, e: std::io::Error) -> CapError {
    match e.kind() {
        std::io::ErrorKind::NotFound => CapError::not_found(format!("{}: {e}", path.display())),
        std::io::ErrorKind::PermissionDenied => CapError::io(format!(
            "{}: {e} (the runner's user may not touch it; use `owner` or deploy as a user that may)",
            path.display()
        )),
        _ => CapError::io(format!("{}: {e}", path.display())),
    }
}
