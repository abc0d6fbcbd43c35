//! The error type every SDK call and lifecycle step returns.

use std::fmt;

use crate::__bindings::batou::deploy::types::Error as WitError;

/// Why a call or a lifecycle step did not succeed.
///
/// Apart from [`Error::UpdateNeeded`], the variants mirror the contract's
/// `error` variant one to one: an error a host call returned keeps its
/// variant when it is passed on with `?`, so the runner can tell an
/// `unsatisfied` require (which it retries) from a real failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a failure: [`Component::verify`](crate::Component::verify) found
    /// that the target differs and [`Component::update`](crate::Component::update)
    /// must run. The reason is shown to the operator.
    UpdateNeeded(String),
    /// The component's grants do not allow the call.
    AccessDenied(String),
    /// A path, asset, attribute or required value does not exist.
    NotFound(String),
    /// An argument was malformed: a bad path, bad JSON, a bad template, a
    /// bad attribute value.
    Invalid(String),
    /// The operating system reported an input/output error.
    Io(String),
    /// A command ran and failed; the message holds its status and stderr.
    CommandFailed(String),
    /// The call is not allowed in the current lifecycle step.
    WrongPhase(String),
    /// A strict `require` found no value; the runner configures the
    /// component again later. Pass it on with `?`.
    Unsatisfied(String),
    /// The runner does not implement the call yet.
    NotImplemented(String),
    /// Anything else; see [`fail`].
    Failed(String),
}

/// A `Result` whose error is the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Says that `update` must run, for the reason given: return it from
/// `verify` as `Err(update_needed("config changed"))`.
pub fn update_needed(reason: impl Into<String>) -> Error {
    Error::UpdateNeeded(reason.into())
}

/// A failure with a message for the operator: `return Err(fail("..."))`.
/// Say what happened and, if you know it, what to do about it.
pub fn fail(message: impl Into<String>) -> Error {
    Error::Failed(message.into())
}

impl Error {
    /// The message, without the variant.
    pub fn message(&self) -> &str {
        match self {
            Error::UpdateNeeded(m)
            | Error::AccessDenied(m)
            | Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Io(m)
            | Error::CommandFailed(m)
            | Error::WrongPhase(m)
            | Error::Unsatisfied(m)
            | Error::NotImplemented(m)
            | Error::Failed(m) => m,
        }
    }

    /// Whether this is [`Error::UpdateNeeded`].
    pub fn is_update_needed(&self) -> bool {
        matches!(self, Error::UpdateNeeded(_))
    }

    /// Puts `context` before the message, keeping the variant:
    /// `files::read(p).map_err(|e| e.context(format!("reading {p}")))`.
    pub fn context(self, context: impl fmt::Display) -> Error {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Error::UpdateNeeded(m) => Error::UpdateNeeded(wrap(m)),
            Error::AccessDenied(m) => Error::AccessDenied(wrap(m)),
            Error::NotFound(m) => Error::NotFound(wrap(m)),
            Error::Invalid(m) => Error::Invalid(wrap(m)),
            Error::Io(m) => Error::Io(wrap(m)),
            Error::CommandFailed(m) => Error::CommandFailed(wrap(m)),
            Error::WrongPhase(m) => Error::WrongPhase(wrap(m)),
            Error::Unsatisfied(m) => Error::Unsatisfied(wrap(m)),
            Error::NotImplemented(m) => Error::NotImplemented(wrap(m)),
            Error::Failed(m) => Error::Failed(wrap(m)),
        }
    }

    /// The contract's error for this one. `UpdateNeeded` outside `verify`
    /// is a component's mistake and becomes `failed`.
    pub(crate) fn into_wit(self) -> WitError {
        match self {
            Error::UpdateNeeded(m) => {
                WitError::Failed(format!("update needed outside verify: {m}"))
            }
            Error::AccessDenied(m) => WitError::AccessDenied(m),
            Error::NotFound(m) => WitError::NotFound(m),
            Error::Invalid(m) => WitError::Invalid(m),
            Error::Io(m) => WitError::Io(m),
            Error::CommandFailed(m) => WitError::CommandFailed(m),
            Error::WrongPhase(m) => WitError::WrongPhase(m),
            Error::Unsatisfied(m) => WitError::Unsatisfied(m),
            Error::NotImplemented(m) => WitError::NotImplemented(m),
            Error::Failed(m) => WitError::Failed(m),
        }
    }
}

impl From<WitError> for Error {
    fn from(e: WitError) -> Self {
        match e {
            WitError::AccessDenied(m) => Error::AccessDenied(m),
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::Invalid(m) => Error::Invalid(m),
            WitError::Io(m) => Error::Io(m),
            WitError::CommandFailed(m) => Error::CommandFailed(m),
            WitError::WrongPhase(m) => Error::WrongPhase(m),
            WitError::Unsatisfied(m) => Error::Unsatisfied(m),
            WitError::NotImplemented(m) => Error::NotImplemented(m),
            WitError::Failed(m) => Error::Failed(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::UpdateNeeded(_) => "update needed",
            Error::AccessDenied(_) => "access denied",
            Error::NotFound(_) => "not found",
            Error::Invalid(_) => "invalid",
            Error::Io(_) => "i/o error",
            Error::CommandFailed(_) => "command failed",
            Error::WrongPhase(_) => "wrong phase",
            Error::Unsatisfied(_) => "unsatisfied",
            Error::NotImplemented(_) => "not implemented",
            Error::Failed(_) => "failed",
        };
        write!(f, "{what}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// Bad JSON, or JSON that does not fit the type asked for, is `Invalid`.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(json_message(&e))
    }
}

/// A serde_json error's message without its " at line 1 column 29": the
/// position is in JSON the runner made, which no operator has seen.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) if e.line() != 0 => message[..i].to_owned(),
        _ => message,
    }
}

/// Bytes that should have been UTF-8 text are `Invalid`.
impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// Errors of the guest's own `std` calls (rare in a sandbox) are `Io`.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
