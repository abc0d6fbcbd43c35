//! `process`: programs run on the target, only those granted, with the
//! environment granted, a timeout and bounded output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command as OsCommand, Stdio};
use std::time::{Duration, Instant};

use super::error::{SysError, io_error};
use super::sandbox::{Sandbox, normalize};
use crate::plan::grants::{Grant, Grants};
use crate::plan::program::{Program, ProgramOutput};

/// A command without its own timeout gets this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Output beyond this many bytes per stream is dropped.
pub const OUTPUT_LIMIT: usize = 16 << 20;
/// What every command sees of the runner's environment (nothing secret);
/// `env` grants add to it.
const PASSED_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];

/// Checks `cmd` against the root's `commands` and `env` grants and
/// returns the program to start: a granted name is looked up in the
/// runner's PATH here, so that a `PATH` the component sets cannot swap it.
pub fn authorize(sandbox: &Sandbox, who: &str, cmd: &Program) -> Result<PathBuf, SysError> {
    let grants = sandbox.grants();
    let denied = |what: String, key: &str, value: &str| sandbox.refuse(who, what, grants.advice(key, value));
    let program = &cmd.program;
    let (path, grant) = if program.contains('/') {
        if !program.starts_with('/') {
            return Err(SysError::invalid(format!(
                "cannot run `{program}`: give a program's name (looked up in PATH) or its absolute path"
            )));
        }
        let path = normalize(Path::new(program));
        let grant = grants.commands.iter().find(|c| {
            **c == path.to_string_lossy() || (!c.contains('/') && which(c).is_some_and(|found| found == path))
        });
        (Some(path), grant)
    } else {
        let found = which(program);
        let grant = grants.commands.iter().find(|c| {
            *c == program || (c.starts_with('/') && found.as_deref().is_some_and(|f| Path::new(c.as_str()) == f))
        });
        (found, grant)
    };
    let Some(grant) = grant else {
        return Err(denied(format!("run `{program}`"), "commands", program));
    };
    sandbox.note_use(who, &Grant::Command(grant.clone()));
    if let Some((name, _)) = cmd.env.iter().find(|(name, _)| !grants.env.contains(name)) {
        return Err(denied(format!("pass `{name}` to `{program}`"), "env", name));
    }
    for (name, _) in &cmd.env {
        sandbox.note_use(who, &Grant::Env(name.clone()));
    }
    path.ok_or_else(|| {
        SysError::not_found(format!(
            "cannot run `{program}`: no such program in PATH; install it on the target or give an absolute path"
        ))
    })
}

/// The environment of a command: the harmless basics of the runner's, the
/// granted variables the runner has, then what the component set.
pub fn environment(grants: &Grants, set: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = PASSED_ENV
        .iter()
        .copied()
        .chain(grants.env.iter().map(String::as_str))
        .filter_map(|name| std::env::var(name).ok().map(|value| (name.to_string(), value)))
        .collect();
    env.extend(set.iter().cloned());
    env
}

/// The first executable file called `name` in the runner's PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Runs `program` with `cmd`'s arguments and stdin in `cwd`, with exactly
/// `env`, killing it after its timeout.
/// Where a command runs.
pub enum Cwd {
    /// A directory the sandbox opened (and its path, for messages).
    Handle(std::os::fd::OwnedFd, PathBuf),
    /// A path, for a command that is not sandboxed here (one another
    /// host's grants allowed, run on this machine).
    Path(PathBuf),
}

impl Cwd {
    fn path(&self) -> &Path {
        match self {
            Cwd::Handle(_, path) | Cwd::Path(path) => path,
        }
    }
}

pub fn run_command(
    program: &Path,
    cmd: &Program,
    env: &[(String, String)],
    cwd: &Cwd,
    output_limit: usize,
) -> Result<ProgramOutput, SysError> {
    let mut os = OsCommand::new(program);
    os.args(&cmd.args).env_clear();
    match cwd {
        Cwd::Path(path) => {
            os.current_dir(path);
        }
        Cwd::Handle(fd, _) => {
            use std::os::fd::AsRawFd;
            use std::os::unix::process::CommandExt;
            let raw = fd.as_raw_fd();
            // SAFETY: fchdir is async-signal-safe; the descriptor stays
            // open in the parent until the child has started.
            unsafe {
                os.pre_exec(move || {
                    if libc::fchdir(raw) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }
    let cwd = cwd.path();
    os.envs(env.iter().map(|(k, v)| (k, v)));
    os.stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    os.stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so that a timeout ends what it started too;
    // and it ends when the thread that runs it does (the runner or agent
    // killed meanwhile).
    {
        use std::os::unix::process::CommandExt;
        os.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches only this process.
        unsafe {
            os.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = os.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !cwd.is_dir() => SysError::not_found(format!(
            "cannot run `{}`: its working directory {} does not exist",
            cmd.program,
            cwd.display()
        )),
        std::io::ErrorKind::NotFound => SysError::not_found(format!(
            "cannot run `{}`: no such program in PATH; install it on the target or give an absolute path",
            cmd.program
        )),
        _ => io_error(program, e),
    })?;
    let stdin = cmd.stdin.clone();
    let mut pipe_in = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let (Some(data), Some(pipe)) = (stdin, pipe_in.as_mut()) {
            let _ = std::io::Write::write_all(pipe, &data);
        }
    });
    let out = reader(child.stdout.take(), output_limit);
    let err = reader(child.stderr.take(), output_limit);
    let timeout = cmd.timeout_ms.map(|ms| Duration::from_millis(ms.into())).unwrap_or(DEFAULT_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: a signal to the process group the child leads.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    let status = loop {
        match child.try_wait().map_err(|e| SysError::io(format!("waiting for `{}`: {e}", cmd.program)))? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    // A program that left something running with its output open (a
    // daemon that did not close stdout): waited for until the timeout,
    // then its process group is ended.
    let mut status = status;
    while !(out.is_finished() && err.is_finished()) {
        if Instant::now() >= deadline {
            kill_group();
            status = None;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if status.is_none() {
        kill_group();
    }
    let _ = feeder.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        None => Err(SysError::failed(format!(
            "`{}` was killed after its timeout of {:.1}s",
            cmd.program,
            timeout.as_secs_f64()
        ))),
        Some(status) => Ok(ProgramOutput { status: status.code().unwrap_or(-1), stdout, stderr }),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>, limit: usize) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = pipe {
            let mut limited = pipe.take(limit as u64);
            let _ = limited.read_to_end(&mut buf);
            // Drain the rest so the program is not blocked on a full pipe.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        buf
    })
}
