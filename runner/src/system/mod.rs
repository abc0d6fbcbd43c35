//! What a capability does on this machine, without wasmtime: the path
//! sandbox, starting granted programs, the user database, and commands on
//! other hosts. The `wasm` side calls these and speaks the contract.

pub mod error;
pub mod fd_table;
pub mod process;
pub mod remote;
pub mod sandbox;
pub mod users;
pub mod walk;

pub use error::SysError;

use std::path::{Path, PathBuf};

/// A workdir as an SSH controller writes it (`~/deployment/work/x`, or
/// relative to the login user's home), made absolute with this host's $HOME.
/// Without a home, a workdir that needs one is an error: it must not
/// resolve against whatever the current folder is.
pub fn on_this_host(workdir: &Path) -> Result<PathBuf, crate::home::NoHome> {
    if workdir.is_absolute() {
        return Ok(workdir.to_path_buf());
    }
    let home = crate::home::home()?;
    Ok(home.join(workdir.strip_prefix("~").unwrap_or(workdir)))
}
