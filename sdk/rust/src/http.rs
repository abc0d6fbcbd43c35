//! Downloads on the target, made by the runner (contract 0.2.2): the
//! bytes go from the server into a temporary file beside the target and
//! never through the component's memory; the file is renamed into place
//! only when its sha256 is the one given.

use std::time::Duration;

use crate::Result;
use crate::__bindings::batou::deploy::http as wit;

/// How a [`download`] may go; `Default` is the runner's defaults (five
/// minutes, 1 GiB, mode 0o644).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// How long the whole download may take.
    pub timeout: Option<Duration>,
    /// How many bytes it may have at most.
    pub max_size: Option<u64>,
    /// The new file's permission bits.
    pub mode: Option<u32>,
}

/// What a [`download`] fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its size in bytes.
    pub size: u64,
    /// The URL it came from, after redirects.
    pub url: String,
}

/// Fetches `url` into `path` (relative to the workdir) if its sha256 is
/// `checksum` (`sha256:<64 hex digits>`); else an error, and `path` is as
/// it was. The root needs the URL's host (and every redirect's) in its
/// `http` grant. Only during `update`.
pub fn download(url: &str, path: &str, checksum: &str, options: &Options) -> Result<Downloaded> {
    let options = wit::DownloadOptions {
        timeout_ms: options.timeout.map(|t| t.as_millis().min(u64::MAX as u128) as u64),
        max_size: options.max_size,
        mode: options.mode,
    };
    let got = wit::download(url, path, checksum, options)?;
    Ok(Downloaded { size: got.size, url: got.url })
}
