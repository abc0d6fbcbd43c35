//! `process`: programs run on the target, with a timeout and bounded output.

use std::io::Read;
use std::process::{Command as OsCommand, Stdio};
use std::time::{Duration, Instant};

use crate::host::CapError;
use crate::host::bindings::batou::deploy::{process, types::Command, types::CommandOutput};
use crate::host::error::io_error;
use crate::host::state::{Phase, StoreData};

/// A command without its own timeout gets this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Output beyond this many bytes per stream is dropped.
const OUTPUT_LIMIT: usize = 16 << 20;
/// What commands see of the runner's environment.
const PASSED_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];

impl process::Host for StoreData {
    fn run(&mut self, cmd: Command) -> Result<CommandOutput, CapError> {
        self.call.allow("process.run", &[Phase::Verify, Phase::Update])?;
        let cwd = self.call.resolve(cmd.cwd.as_deref().unwrap_or("."));
        let started = Instant::now();
        let result = run_command(&cmd, &cwd);
        self.call.host_time += started.elapsed();
        result
    }
}

/// Runs `cmd` in `cwd`, killing it after its timeout.
pub fn run_command(cmd: &Command, cwd: &std::path::Path) -> Result<CommandOutput, CapError> {
    let mut os = OsCommand::new(&cmd.program);
    os.args(&cmd.args).current_dir(cwd).env_clear();
    for name in PASSED_ENV {
        if let Ok(value) = std::env::var(name) {
            os.env(name, value);
        }
    }
    os.envs(cmd.env.iter().map(|(k, v)| (k, v)));
    os.stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    os.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = os.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !cwd.is_dir() => CapError::not_found(format!(
            "cannot run `{}`: its working directory {} does not exist",
            cmd.program,
            cwd.display()
        )),
        std::io::ErrorKind::NotFound => CapError::not_found(format!(
            "cannot run `{}`: no such program in PATH; install it on the target or give an absolute path",
            cmd.program
        )),
        _ => io_error(std::path::Path::new(&cmd.program), e),
    })?;
    let stdin = cmd.stdin.clone();
    let mut pipe_in = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let (Some(data), Some(pipe)) = (stdin, pipe_in.as_mut()) {
            let _ = std::io::Write::write_all(pipe, &data);
        }
    });
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let timeout = cmd.timeout_ms.map(|ms| Duration::from_millis(ms.into())).unwrap_or(DEFAULT_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| CapError::io(format!("waiting for `{}`: {e}", cmd.program)))? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let _ = feeder.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        None => Err(CapError::command_failed(format!(
            "`{}` was killed after its timeout of {:.1}s",
            cmd.program,
            timeout.as_secs_f64()
        ))),
        Some(status) => Ok(CommandOutput { status: status.code().unwrap_or(-1), stdout, stderr }),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = pipe {
            let mut limited = pipe.take(OUTPUT_LIMIT as u64);
            let _ = limited.read_to_end(&mut buf);
            // Drain the rest so the program is not blocked on a full pipe.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        buf
    })
}
