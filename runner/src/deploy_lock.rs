//! The deploy lock: one deploy of a deployment at a time, as batou's
//! `.batou-lock`. `<deployment>/.batou-run/lock` is held with `flock` for
//! the whole deploy; the kernel releases it when the process ends, however
//! it ends, so a lock is never stale. The file names the process holding
//! it, for the message the next deploy prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;

/// Held while it lives.
pub struct DeployLock {
    file: File,
}

/// Where a deployment's lock is.
pub fn lock_path(deployment: &Path) -> PathBuf {
    deployment.join(".batou-run").join("lock")
}

/// Takes the deployment's lock, or says at once who holds it.
pub fn acquire(deployment: &Path) -> Result<DeployLock, Diagnostic> {
    let path = lock_path(deployment);
    let cannot = |e: std::io::Error| {
        Diagnostic::new(format!("cannot open the deploy lock {}: {e}", path.display()))
            .hint("the deployment's directory must be writable for the user running batou-run")
    };
    // A deployment is someone's repository: `.batou-run` or the lock
    // shipped as a symlink must not make a deploy write elsewhere.
    let folder = path.parent().expect("the lock is in a folder");
    match std::fs::symlink_metadata(folder) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Diagnostic::new(format!("{} is not a folder (a symlink?)", folder.display()))
                .hint("remove it: batou-run keeps its lock there and makes it again"));
        }
        Ok(_) => {}
        Err(_) => std::fs::create_dir(folder).map_err(cannot)?,
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Diagnostic::new(format!("the deploy lock {} is a symlink", path.display()))
                    .hint("remove it: batou-run makes it again, as a file of its own")
            } else {
                cannot(e)
            }
        })?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(Diagnostic::new(format!("the deploy lock {} is not a regular file", path.display()))
            .hint("remove it: batou-run makes it again, as a file of its own"));
    }
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(cannot(e));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() { "another process".to_string() } else { holder.to_string() };
        return Err(Diagnostic::new(format!(
            "the deployment is locked: {who} holds {} and is deploying it",
            path.display()
        ))
        .hint(
            "wait until that deploy has finished, then deploy again (the lock goes with the process that holds it)",
        ));
    }
    let holder = format!("batou-run process {} (deploy started at unix time {})\n", std::process::id(), unix_now());
    let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(holder.as_bytes()));
    Ok(DeployLock { file })
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        // Forget the holder before letting go; closing the file unlocks.
        let _ = self.file.set_len(0);
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let err = acquire(dir.path()).err().expect("the second lock must fail").to_string();
        assert!(err.contains(&format!("batou-run process {}", std::process::id())), "{err}");
        drop(first);
        acquire(dir.path()).expect("free again");
    }
}
