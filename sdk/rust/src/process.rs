//! Running programs on the target: [`Command`].
//!
//! No shell is involved: the program gets its arguments as a list. Not
//! allowed during `configure`.

use std::fmt;
use std::time::Duration;

use crate::__bindings::batou::deploy::process as wit;
use crate::__bindings::batou::deploy::types::{Command as WitCommand, CommandOutput};
use crate::{Error, Result};

/// A program to run on the target, built like `std::process::Command`.
///
/// ```no_run
/// use batou_sdk::process::Command;
/// # fn f() -> batou_sdk::Result<()> {
/// let out = Command::new("systemctl").args(["is-active", "nginx"]).run()?;
/// if !out.success() {
///     Command::new("systemctl").args(["start", "nginx"]).check()?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Command {
    /// Runs `program`: a name looked up in `PATH`, or an absolute path.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an extra environment variable for the program.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the program in `dir` (relative to the workdir) rather than in
    /// the workdir itself.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Writes `data` to the program's standard input.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Kills the program after `timeout` (the runner has a default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[String] {
        &self.args
    }

    /// Runs the program to completion. A non-zero exit status is not an
    /// error here: look at [`Output::status`], or use [`Command::check`].
    pub fn run(&self) -> Result<Output> {
        Ok(wit::run(&self.to_wit())?.into())
    }

    /// Runs the program and fails with [`Error::Failed`] (naming the
    /// command, its status and the end of its stderr) unless it exits 0.
    pub fn check(&self) -> Result<Output> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            Err(out.failure(self))
        }
    }

    pub(crate) fn to_wit(&self) -> WitCommand {
        WitCommand {
            program: self.program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            stdin: self.stdin.clone(),
            timeout_ms: self
                .timeout
                .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
        }
    }
}

/// The command line, quoted where needed, for messages.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |s: &str| {
            let plain = !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
            if plain {
                s.to_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        };
        f.write_str(&quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

/// What a finished program produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status, or -1 when a signal ended the program.
    pub status: i32,
    /// Everything the program wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything the program wrote to standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// How the program ended, for messages: "exited with status 2".
    pub fn describe_status(&self) -> String {
        if self.status == -1 {
            "was ended by a signal".to_owned()
        } else {
            format!("exited with status {}", self.status)
        }
    }

    /// The last lines of stderr (at most 20 lines and about 2 KiB).
    pub fn stderr_tail(&self) -> String {
        tail(&self.stderr_text(), 20, 2048)
    }

    /// Standard output for a log message: all of it up to 64 KiB, else its
    /// end, saying how much of the beginning was cut (a log message is
    /// bounded, a program's output is not).
    pub fn stdout_for_log(&self) -> String {
        const SHOWN: usize = 64 << 10;
        let text = self.stdout_text();
        if text.len() <= SHOWN {
            return text;
        }
        let mut from = text.len() - SHOWN;
        while !text.is_char_boundary(from) {
            from += 1;
        }
        format!("[the first {from} of {} bytes of output are cut]\n{}", text.len(), &text[from..])
    }

    /// The `Failed` error for this output of `cmd`.
    pub fn failure(&self, cmd: &Command) -> Error {
        let mut msg = format!("`{cmd}` {}", self.describe_status());
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            msg.push_str(":\n");
            msg.push_str(&tail);
        }
        Error::Failed(msg)
    }
}

impl From<CommandOutput> for Output {
    fn from(o: CommandOutput) -> Self {
        Output {
            status: o.status,
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }
}

/// The end of `text`: its last `lines` lines, cut to about `bytes` bytes
/// (at a character boundary), without trailing whitespace.
fn tail(text: &str, lines: usize, bytes: usize) -> String {
    let text = text.trim_end();
    let from_lines = match lines {
        0 => text.len(),
        _ => text
            .rmatch_indices('\n')
            .nth(lines - 1)
            .map_or(0, |(i, _)| i + 1),
    };
    let mut from = from_lines.max(text.len().saturating_sub(bytes));
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let cut = &text[from..];
    if from > 0 {
        format!("...{cut}")
    } else {
        cut.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "...b\nc");
        assert_eq!(tail("a\nb\nc\n", 5, 100), "a\nb\nc");
        assert_eq!(tail("abcdef", 5, 3), "...def");
        assert_eq!(tail("", 5, 3), "");
    }

    #[test]
    fn display_quotes() {
        let cmd = Command::new("echo").args(["a b", "it's", "x=1"]);
        assert_eq!(cmd.to_string(), r"echo 'a b' 'it'\''s' x=1");
    }
}
