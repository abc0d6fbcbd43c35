//! `process`: programs run on the target, only those granted (see
//! `system::process` for how they are started).

use std::time::Instant;

use crate::plan::program::Program;
use crate::system::SysError;
use crate::system::process::{Cwd, OUTPUT_LIMIT, authorize, environment, run_command};
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::{process, types::Command, types::CommandOutput};
use crate::wasm::state::{Phase, StoreData};

impl process::Host for StoreData {
    fn run(&mut self, cmd: Command) -> Result<CommandOutput, CapError> {
        self.call.allow("process.run", &[Phase::Verify, Phase::Update])?;
        let who = self.call.path.clone();
        let sandbox = self.call.sandbox.clone();
        let cmd = Program::from(cmd);
        let program = authorize(&sandbox, &who, &cmd)?;
        let cwd = self.call.resolve(cmd.cwd.as_deref().unwrap_or("."));
        if !sandbox.covers(&cwd) {
            return Err(CapError::from(sandbox.refuse(
                &who,
                format!("run `{}` in {}", cmd.program, cwd.display()),
                format!(
                    "the working directory is outside the granted paths; {}",
                    sandbox.grants().advice("paths.read", &cwd.display().to_string())
                ),
            )));
        }
        // Reached through the sandbox, and entered by that handle: a
        // symlinked working directory cannot lead the command out.
        let handle = sandbox.open_cwd(&who, &cwd).map_err(|e| match e {
            SysError::NotFound(_) => CapError::not_found(format!(
                "cannot run `{}`: its working directory {} does not exist",
                cmd.program,
                cwd.display()
            )),
            other => other.into(),
        })?;
        let env = environment(sandbox.grants(), &cmd.env);
        let started = Instant::now();
        let result = run_command(&program, &cmd, &env, &Cwd::Handle(handle, cwd), OUTPUT_LIMIT);
        self.call.clock.host_time += started.elapsed();
        let out = result?;
        Ok(CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr })
    }
}
