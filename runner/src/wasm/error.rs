//! Errors of capability calls, as the guest and the runner see them.

use super::bindings::{CallError, Failure};
use crate::system::SysError;

/// What a capability call returns on failure: a `call-error` the component
/// receives and may handle, or a trap that ends the component: a limit it
/// went over (which handling the error would not mend), or a bug of the
/// runner's own, which must not look like the component's mistake.
#[derive(Debug)]
pub enum CapError {
    Guest(CallError),
    Trap(String),
}

impl CapError {
    pub fn denied(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::AccessDenied(msg.into()))
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::NotFound(msg.into()))
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::Invalid(msg.into()))
    }
    pub fn io(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::Io(msg.into()))
    }
    pub fn wrong_phase(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::WrongPhase(msg.into()))
    }
    pub fn not_implemented(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::NotImplemented(msg.into()))
    }
    pub fn child_failed(msg: impl Into<String>) -> Self {
        CapError::Guest(CallError::ChildFailed(msg.into()))
    }
    /// A runner bug (an invariant that does not hold): the component ends
    /// with the message, reported as the runner's fault.
    pub fn bug(msg: impl std::fmt::Display) -> Self {
        CapError::Trap(format!("batou-run bug: {msg}; please report it"))
    }
}

impl From<CallError> for CapError {
    fn from(e: CallError) -> Self {
        CapError::Guest(e)
    }
}

impl From<SysError> for CapError {
    fn from(e: SysError) -> Self {
        match e {
            SysError::Denied(m) => CapError::denied(m),
            SysError::NotFound(m) => CapError::not_found(m),
            SysError::Invalid(m) => CapError::invalid(m),
            SysError::Io(m) | SysError::Failed(m) => CapError::io(m),
            SysError::NotImplemented(m) => CapError::not_implemented(m),
        }
    }
}

/// The operator-facing text of a call error.
pub fn describe_call(e: &CallError) -> String {
    match e {
        CallError::AccessDenied(m) => format!("access denied: {m}"),
        CallError::NotFound(m) => format!("not found: {m}"),
        CallError::Invalid(m) => format!("invalid: {m}"),
        CallError::Io(m) => format!("i/o error: {m}"),
        CallError::WrongPhase(m) => format!("not allowed now: {m}"),
        CallError::ChildFailed(m) => format!("a sub-component failed: {m}"),
        CallError::NotImplemented(m) => format!("not implemented: {m}"),
    }
}

/// The operator-facing text of a lifecycle failure.
pub fn describe(e: &Failure) -> String {
    match e {
        Failure::Failed(m) => m.clone(),
        Failure::Attribute(p) => format!("attribute `{}`: {}", p.name, p.message),
        Failure::Call(c) => describe_call(c),
    }
}
