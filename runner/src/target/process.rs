//! An agent in a child process, driven over its stdin and stdout: what a
//! remote deploy does over SSH, without SSH. The agent's stderr (its logs)
//! goes to ours.

use std::ffi::OsString;
use std::io::{BufReader, BufWriter};
use std::process::{Command, Stdio};

use super::session::Session;
use super::{Target, TargetError};
use crate::agent::{Event, HostOutcome};
use crate::plan::HostPlan;
use crate::sources::Modules;

/// Starts `program args...` for each host and deploys through it.
pub struct Process<'a> {
    program: OsString,
    args: Vec<OsString>,
    modules: &'a Modules,
}

impl<'a> Process<'a> {
    /// An agent started as `program args...`.
    pub fn new(program: OsString, args: Vec<OsString>, modules: &'a Modules) -> Self {
        Process { program, args, modules }
    }

    /// This very binary, as `batou-run agent --cache CACHE`; or the
    /// command line in `BATOU_RUN_AGENT_PROCESS` (words split at white
    /// space) with `agent --cache CACHE` added: another build of the agent,
    /// one under an emulator (`qemu-aarch64 /path/batou-run`) or in a
    /// chroot (`chroot /srv/root /batou-run`).
    pub fn this_binary(cache: &std::path::Path, modules: &'a Modules) -> std::io::Result<Self> {
        let mut args: Vec<OsString> = Vec::new();
        let program = match std::env::var("BATOU_RUN_AGENT_PROCESS").ok().filter(|c| !c.trim().is_empty()) {
            Some(command) => {
                let mut words = command.split_whitespace().map(OsString::from);
                let program = words.next().expect("not empty");
                args.extend(words);
                program
            }
            None => {
                // /proc/self/exe still names this binary after a rebuild
                // replaced the file, where current_exe() would give
                // `... (deleted)`.
                let proc_exe = std::path::Path::new("/proc/self/exe");
                let exe = if proc_exe.exists() { proc_exe.to_path_buf() } else { std::env::current_exe()? };
                exe.into_os_string()
            }
        };
        args.extend(["agent".into(), "--cache".into(), cache.as_os_str().to_owned()]);
        Ok(Process::new(program, args, modules))
    }

    fn command_line(&self) -> String {
        std::iter::once(&self.program).chain(&self.args).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    }
}

impl Target for Process<'_> {
    fn deploy(
        &mut self,
        plan: &HostPlan,
        predict: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<HostOutcome, TargetError> {
        let host = plan.host.name.clone();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| TargetError::Spawn { host: host.clone(), command: self.command_line(), source })?;
        let input = BufReader::new(child.stdout.take().expect("piped"));
        let output = BufWriter::new(child.stdin.take().expect("piped"));
        // An agent process runs on this machine, like every host of a
        // local environment.
        let remote = std::sync::Arc::new(crate::system::remote::ThisMachine);
        let mut session = Session::new(host.clone(), input, output, self.modules, remote);
        let result = session.deploy(plan, predict, sink);
        // Closing its stdin tells the agent the session is over; an agent
        // the session could not follow is stopped.
        drop(session);
        if result.is_err() {
            let _ = child.kill();
        }
        let status = child.wait();
        match (result, status) {
            (Err(e), _) => Err(e),
            (Ok(outcome), Ok(status)) if status.success() => Ok(outcome),
            (Ok(_), Ok(status)) => {
                Err(TargetError::Agent { host, message: format!("it exited with {status} after the deploy") })
            }
            (Ok(_), Err(e)) => Err(TargetError::Agent { host, message: format!("cannot wait for it: {e}") }),
        }
    }
}
