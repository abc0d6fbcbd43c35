//! The error type every SDK call and lifecycle step returns.

use std::fmt;

use crate::__bindings::batou::deploy::types::{AttributeProblem, CallError, Failure};

/// Why a call or a lifecycle step did not succeed.
///
/// Apart from [`Error::UpdateNeeded`], [`Error::Attribute`] and
/// [`Error::Failed`], the variants mirror the contract's `call-error` one
/// to one: an error a capability call returned keeps its variant when it
/// is passed on with `?`, and the runner shows it with its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a failure: [`Component::verify`](crate::Component::verify) found
    /// that the target differs and [`Component::update`](crate::Component::update)
    /// must run. The reason is shown to the operator.
    UpdateNeeded(String),
    /// The root's grants do not allow the call; the message names the
    /// grant to add.
    AccessDenied(String),
    /// A path, asset, host or sub-component the call names does not exist.
    NotFound(String),
    /// An argument was malformed: a bad path, bad JSON, a bad template, an
    /// unknown kind or attribute of a sub-component.
    Invalid(String),
    /// The operating system reported an error.
    Io(String),
    /// The call is not allowed in the current lifecycle step.
    WrongPhase(String),
    /// A sub-component that [`model::add`](crate::model::add) configured
    /// failed; the runner reports why under its path. Pass it on with `?`.
    ChildFailed(String),
    /// The runner does not implement the call.
    NotImplemented(String),
    /// An attribute's value is wrong in a way its type cannot say; the
    /// runner names where the environment sets it. See [`bad_attribute`].
    Attribute {
        /// The attribute's name.
        name: String,
        /// What is wrong and what would be right.
        message: String,
    },
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

/// An attribute's value the component refuses (a port out of range, two
/// attributes that exclude each other): the runner shows the message with
/// the file and line where the environment sets the attribute.
pub fn bad_attribute(name: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Attribute {
        name: name.into(),
        message: message.into(),
    }
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
            | Error::WrongPhase(m)
            | Error::ChildFailed(m)
            | Error::NotImplemented(m)
            | Error::Attribute { message: m, .. }
            | Error::Failed(m) => m,
        }
    }

    /// Whether this is [`Error::UpdateNeeded`].
    pub fn is_update_needed(&self) -> bool {
        matches!(self, Error::UpdateNeeded(_))
    }

    /// Whether a capability call found nothing at the name it was given
    /// ([`Error::NotFound`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
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
            Error::WrongPhase(m) => Error::WrongPhase(wrap(m)),
            Error::ChildFailed(m) => Error::ChildFailed(wrap(m)),
            Error::NotImplemented(m) => Error::NotImplemented(wrap(m)),
            Error::Attribute { name, message } => Error::Attribute {
                name,
                message: wrap(message),
            },
            Error::Failed(m) => Error::Failed(wrap(m)),
        }
    }

    /// The contract's failure for this one. `UpdateNeeded` outside `verify`
    /// is a component's mistake and becomes `failed`.
    pub(crate) fn into_wit(self) -> Failure {
        let call = Failure::Call;
        match self {
            Error::UpdateNeeded(m) => Failure::Failed(format!("update needed outside verify: {m}")),
            Error::AccessDenied(m) => call(CallError::AccessDenied(m)),
            Error::NotFound(m) => call(CallError::NotFound(m)),
            Error::Invalid(m) => call(CallError::Invalid(m)),
            Error::Io(m) => call(CallError::Io(m)),
            Error::WrongPhase(m) => call(CallError::WrongPhase(m)),
            Error::ChildFailed(m) => call(CallError::ChildFailed(m)),
            Error::NotImplemented(m) => call(CallError::NotImplemented(m)),
            Error::Attribute { name, message } => {
                Failure::Attribute(AttributeProblem { name, message })
            }
            Error::Failed(m) => Failure::Failed(m),
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::AccessDenied(m) => Error::AccessDenied(m),
            CallError::NotFound(m) => Error::NotFound(m),
            CallError::Invalid(m) => Error::Invalid(m),
            CallError::Io(m) => Error::Io(m),
            CallError::WrongPhase(m) => Error::WrongPhase(m),
            CallError::ChildFailed(m) => Error::ChildFailed(m),
            CallError::NotImplemented(m) => Error::NotImplemented(m),
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
            Error::WrongPhase(_) => "wrong phase",
            Error::ChildFailed(_) => "sub-component failed",
            Error::NotImplemented(_) => "not implemented",
            Error::Attribute { name, .. } => return write!(f, "attribute `{name}`: {}", self.message()),
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
