//! `ssh`: commands on other hosts of the environment, through the runner's
//! connection to that host, as the root's `ssh`, `commands` and `env`
//! grants allow.

use std::time::Instant;

use crate::plan::grants::Grant;
use crate::plan::program::{Program, RemoteError};
use crate::system::remote;
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::{ssh, types::Command, types::CommandOutput};
use crate::wasm::state::{Phase, StoreData};

impl ssh::Host for StoreData {
    fn run(&mut self, host: String, cmd: Command) -> Result<CommandOutput, CapError> {
        self.call.allow("ssh.run", &[Phase::Verify, Phase::Update])?;
        let who = self.call.path.clone();
        let sandbox = self.call.sandbox.clone();
        let cmd = Program::from(cmd);
        if let Err(RemoteError::Denied(message)) = remote::check(sandbox.grants(), &host, &cmd) {
            let (asked, advice) = message.split_once(": ").unwrap_or((&message, ""));
            return Err(sandbox.refuse(&who, asked.to_string(), advice.to_string()).into());
        }
        sandbox.note_use(&who, &Grant::Ssh(host.clone()));
        sandbox.note_use(&who, &Grant::Command(cmd.program.clone()));
        for (name, _) in &cmd.env {
            sandbox.note_use(&who, &Grant::Env(name.clone()));
        }
        let started = Instant::now();
        let result = self.call.remote.run(sandbox.grants(), &host, &cmd);
        // Waiting for another host does not count against the deadline.
        self.call.clock.host_time += started.elapsed();
        let output = result?;
        Ok(CommandOutput { status: output.status, stdout: output.stdout, stderr: output.stderr })
    }
}

impl From<Command> for Program {
    fn from(cmd: Command) -> Self {
        Program {
            program: cmd.program,
            args: cmd.args,
            env: cmd.env,
            cwd: cmd.cwd,
            stdin: cmd.stdin,
            timeout_ms: cmd.timeout_ms,
        }
    }
}

impl From<RemoteError> for CapError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Denied(m) => CapError::denied(m),
            RemoteError::NotFound(m) => CapError::not_found(m),
            RemoteError::Failed(m) => CapError::io(m),
        }
    }
}
