//! `batou-run agent`: the agent as a process of its own, speaking the agent
//! protocol (`agent::protocol`) on stdin and stdout, as it will on a target
//! over SSH. Logs go to stderr only.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::FromRawFd;
use std::path::PathBuf;

use super::{CliError, cache_dir};
use crate::agent::serve::serve;

/// Serve the agent protocol on stdin/stdout (started by a controller,
/// locally or over SSH; not for interactive use).
#[derive(clap::Args)]
pub struct AgentArgs {
    /// The cache folder (modules, assets, compiled code); by default the
    /// one `deploy` uses ($BATOU_RUN_CACHE, or ~/.cache/batou-run).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn run(args: AgentArgs) -> Result<(), CliError> {
    let cache = match args.cache {
        Some(dir) => dir,
        None => cache_dir()?,
    };
    let (input, output) =
        take_stdio().map_err(|e| anyhow::anyhow!("batou-run agent: cannot set up stdin/stdout: {e}"))?;
    exit_when_controller_is_gone()?;
    tracing::debug!(cache = %cache.display(), "agent started");
    serve(BufReader::new(input), BufWriter::new(output), &cache)
        .map_err(|e| anyhow::anyhow!("batou-run agent: {e}").into())
}

/// Ends the agent when the process that started it ends (the SSH
/// session's sshd when the connection drops, or the controller itself): an
/// agent nobody listens to must not go on changing the host. Files are
/// written atomically, so what is cut off at most leaves a temporary file.
fn exit_when_controller_is_gone() -> Result<(), CliError> {
    // SAFETY: prctl and getppid take and return plain integers.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot ask to end with the parent process");
        }
        // The parent may have gone before the request above.
        if libc::getppid() == 1 {
            return Err(CliError::ControllerGone);
        }
    }
    Ok(())
}

/// Takes stdin and stdout for the protocol and points file descriptors 0
/// and 1 elsewhere (/dev/null and stderr), so that nothing else, such as a
/// stray `println!` or a child process, can read or corrupt a frame.
fn take_stdio() -> std::io::Result<(File, File)> {
    // SAFETY: plain descriptor calls on this process's own descriptors;
    // each new descriptor is owned by exactly one `File`.
    unsafe {
        let input = libc::dup(0);
        if input < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let input = File::from_raw_fd(input);
        let output = libc::dup(1);
        if output < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let output = File::from_raw_fd(output);
        // A host without /dev/null (a bare chroot) gets an empty pipe,
        // which reads as the end of input just the same.
        let null = match File::open("/dev/null") {
            Ok(null) => null,
            Err(_) => {
                let mut fds = [0; 2];
                if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fds[1]);
                File::from_raw_fd(fds[0])
            }
        };
        if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((input, output))
    }
}
