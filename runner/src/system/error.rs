//! What a system call on behalf of a component can end in. The wasm side
//! turns it into the contract's `call-error` (or a trap).

/// Why an operation on this machine did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SysError {
    /// The root's grants do not allow it; the message names the grant.
    #[error("access denied: {0}")]
    Denied(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A malformed argument (a bad path, say).
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("i/o error: {0}")]
    Io(String),
    /// A command ran and failed.
    #[error("{0}")]
    Failed(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

impl SysError {
    pub fn denied(msg: impl Into<String>) -> Self {
        SysError::Denied(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        SysError::NotFound(msg.into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        SysError::Invalid(msg.into())
    }
    pub fn io(msg: impl Into<String>) -> Self {
        SysError::Io(msg.into())
    }
    pub fn failed(msg: impl Into<String>) -> Self {
        SysError::Failed(msg.into())
    }
    pub fn not_implemented(msg: impl Into<String>) -> Self {
        SysError::NotImplemented(msg.into())
    }
}

/// A path-related I/O error, with the path in the message.
pub fn io_error(path: &std::path::Path, e: std::io::Error) -> SysError {
    match e.kind() {
        // The commonest error (verify of a file not there yet), worded as
        // std words it, without its call into libc's strerror.
        std::io::ErrorKind::NotFound if e.raw_os_error() == Some(libc::ENOENT) => {
            SysError::not_found(format!("{}: No such file or directory (os error 2)", path.display()))
        }
        std::io::ErrorKind::NotFound => SysError::not_found(format!("{}: {e}", path.display())),
        std::io::ErrorKind::PermissionDenied => SysError::io(format!(
            "{}: {e} (the runner's user may not touch it; use `owner` or deploy as a user that may)",
            path.display()
        )),
        _ => SysError::io(format!("{}: {e}", path.display())),
    }
}
