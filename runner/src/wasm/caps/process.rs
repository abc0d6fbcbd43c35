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
        let (handle, _empty) = match sandbox.open_cwd(&who, &cwd) {
            Ok(handle) => (Cwd::Handle(handle, cwd), None),
            // Predicting a first deploy, the workdir is not made yet: a
            // command run there (such as one asking systemctl) runs in an
            // empty folder of its own instead, where a relative path finds
            // nothing, as it would in the workdir still to be made.
            Err(SysError::NotFound(_)) if cmd.cwd.is_none() => {
                let empty = EmptyDir::new().map_err(|e| CapError::bug(format!("an empty folder to run in: {e}")))?;
                (Cwd::Path(empty.0.clone()), Some(empty))
            }
            Err(SysError::NotFound(_)) => {
                return Err(CapError::not_found(format!(
                    "cannot run `{}`: its working directory {} does not exist",
                    cmd.program,
                    cwd.display()
                )));
            }
            Err(other) => return Err(other.into()),
        };
        let env = environment(sandbox.grants(), &cmd.env);
        let started = Instant::now();
        let result = run_command(&program, &cmd, &env, &handle, OUTPUT_LIMIT);
        self.call.clock.host_time += started.elapsed();
        let out = result?;
        Ok(CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr })
    }
}

/// A new empty folder (mode 0700) in the system's temporary folder,
/// removed when dropped.
struct EmptyDir(std::path::PathBuf);

impl EmptyDir {
    fn new() -> std::io::Result<EmptyDir> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // A name someone made already (the temporary folder is everyone's)
        // is passed over, never entered.
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("batou-run-cwd-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(EmptyDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        // What the command left there goes too.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
