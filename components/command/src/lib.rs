//! The standard `command` component of batou-run, embedded in the runner:
//! runs a program on the target (or, with `host`, on another host of the
//! environment through the runner's SSH connection), guarded by `unless`
//! and `creates` so that it runs only when needed.

use std::time::Duration;

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::Deserialize;
use serde_json::Value;

/// A program run on the target during `update`. Its attributes are
/// declared once, in `batou_sdk::stdlib`, where other components find them
/// to add a `command` typed.
#[derive(Deserialize)]
#[serde(transparent)]
struct RunCommand(stdlib::Command);

impl std::ops::Deref for RunCommand {
    type Target = stdlib::Command;

    fn deref(&self) -> &stdlib::Command {
        &self.0
    }
}

impl Component for RunCommand {
    fn kind() -> Kind {
        stdlib::Command::spec()
    }

    fn configure(&mut self) -> Result<()> {
        // Check the attributes now, so that `batou-run -c` finds mistakes.
        self.command()?;
        self.unless()?;
        if self.host.is_some() && self.creates.is_some() {
            return Err(Error::Invalid(
                "creates checks a path on this host, but the command runs on `host`: use \
                 unless = [\"test\", \"-e\", PATH] instead"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        if let Some(creates) = &self.creates
            && files::exists(creates)?
        {
            return Ok(());
        }
        let unless = match self.unless()? {
            Some(unless) => {
                let out = self.run(&unless)?;
                if out.success() {
                    return Ok(());
                }
                Some(format!("`{unless}` {}", out.describe_status()))
            }
            None => None,
        };
        Err(update_needed(match (&self.creates, unless) {
            (None, None) => "runs on every deploy (no unless/creates guard)".to_owned(),
            (Some(creates), None) => format!("{creates} does not exist"),
            (None, Some(unless)) => unless,
            (Some(creates), Some(unless)) => format!("{creates} does not exist and {unless}"),
        }))
    }

    fn update(&mut self) -> Result<()> {
        let cmd = self.command()?;
        let out = self.run(&cmd)?;
        if !out.success() {
            let failure = out.failure(&cmd);
            return Err(match &self.host {
                Some(host) => failure.context(format!("on {host}")),
                None => failure,
            });
        }
        if !out.stdout.is_empty() {
            log::debug(out.stdout_for_log());
        }
        Ok(())
    }
}

impl RunCommand {
    /// Runs `cmd` here, or on `host`.
    fn run(&self, cmd: &Command) -> Result<Output> {
        match &self.host {
            Some(host) => ssh::run(host, cmd),
            None => cmd.run(),
        }
    }

    /// The command to run.
    fn command(&self) -> Result<Command> {
        let args = self.args.iter().map(|a| scalar(a, "args")).collect::<Result<Vec<_>>>()?;
        self.prepare(Command::new(&self.command).args(args))
    }

    /// The `unless` guard, if any.
    fn unless(&self) -> Result<Option<Command>> {
        let cmd = match &self.unless {
            Value::Null => return Ok(None),
            Value::String(program) => Command::new(program),
            Value::Array(list) => {
                let mut words = list.iter().map(|w| scalar(w, "unless"));
                let Some(program) = words.next() else {
                    return Err(Error::Invalid("unless: an empty list; give a program and its arguments".to_owned()));
                };
                Command::new(program?).args(words.collect::<Result<Vec<_>>>()?)
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unless: {other} is neither a program (a string) nor a list of \
                     a program and its arguments"
                )));
            }
        };
        self.prepare(cmd).map(Some)
    }

    /// Adds cwd, env and timeout.
    fn prepare(&self, mut cmd: Command) -> Result<Command> {
        if let Some(cwd) = &self.cwd {
            cmd = cmd.cwd(cwd);
        }
        for (key, value) in &self.env {
            cmd = cmd.env(key, scalar(value, &format!("env.{key}"))?);
        }
        match self.timeout {
            Some(0) => Err(Error::Invalid("timeout: must be at least 1 second".to_owned())),
            Some(secs) => Ok(cmd.timeout(Duration::from_secs(secs))),
            None => Ok(cmd),
        }
    }
}

/// A string, number or boolean as a command-line word.
fn scalar(value: &Value, attr: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error::Invalid(format!("{attr}: {other} is not a string, number or boolean"))),
    }
}

batou_sdk::export!(RunCommand);
