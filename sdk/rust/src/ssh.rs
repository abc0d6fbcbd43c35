//! Running programs on another host of the environment, through the
//! runner's SSH connection to it, where the environment grants it.

use crate::__bindings::batou::deploy::ssh as wit;
use crate::Result;
use crate::process::{Command, Output};

/// Runs `cmd` on `host` (a host name of the environment) to completion. As
/// with [`Command::run`], a non-zero status is not an error.
pub fn run(host: &str, cmd: &Command) -> Result<Output> {
    Ok(wit::run(host, &cmd.to_wit())?.into())
}

/// Runs `cmd` on `host` and fails with
/// [`Error::Failed`](crate::Error::Failed) unless it exits 0.
pub fn check(host: &str, cmd: &Command) -> Result<Output> {
    let out = run(host, cmd)?;
    if out.success() {
        Ok(out)
    } else {
        Err(out.failure(cmd).context(format!("on {host}")))
    }
}
