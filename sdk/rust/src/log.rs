//! Messages for the operator, shown under the component's path.
//!
//! The functions take anything string-like; the macros
//! ([`info!`](crate::info) and friends) take `format!` arguments.

use crate::__bindings::batou::deploy::log as wit;

/// Logs detail for `--verbose` runs.
pub fn debug(message: impl AsRef<str>) {
    wit::log(wit::Level::Debug, message.as_ref());
}

/// Logs normal progress.
pub fn info(message: impl AsRef<str>) {
    wit::log(wit::Level::Info, message.as_ref());
}

/// Logs something the operator should look at.
pub fn warn(message: impl AsRef<str>) {
    wit::log(wit::Level::Warn, message.as_ref());
}

/// Logs something that failed.
pub fn error(message: impl AsRef<str>) {
    wit::log(wit::Level::Error, message.as_ref());
}

/// Reports how the file at `path` changes (or would change, in predict
/// mode): the runner shows a unified diff of `old` and `new`.
/// [`ensure_content`](crate::ensure_content) calls it for you.
pub fn diff(path: &str, old: &[u8], new: &[u8]) {
    wit::diff(path, old, new);
}

/// Logs a `format!` message for `--verbose` runs.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(::std::format!($($arg)*)) };
}

/// Logs a `format!` message about normal progress.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(::std::format!($($arg)*)) };
}

/// Logs a `format!` message the operator should look at.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(::std::format!($($arg)*)) };
}

/// Logs a `format!` message about something that failed.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(::std::format!($($arg)*)) };
}
