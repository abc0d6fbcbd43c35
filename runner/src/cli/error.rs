//! The one error path of the command line: every command ends in
//! `Result<(), CliError>`; [`CliError::exit_code`] is the only place exit
//! codes are chosen, and [`CliError::report`] the only place an error is
//! shown (as text on stderr, or as JSON `error` events on stdout with
//! `--json`).

use std::process::ExitCode;

use serde_json::json;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::output::{Output, shown};

/// Every exit code of `batou-run`, in one place (README.md lists them).
pub mod code {
    /// Done, nothing failed.
    pub const OK: u8 = 0;
    /// A deploy ran and a component (or a host) failed.
    pub const DEPLOY: u8 = 1;
    /// The command line or the deployment's configuration is wrong:
    /// nothing was touched.
    pub const CONFIG: u8 = 2;
    /// `batou-run agent` only: the process that started it is gone.
    pub const CONTROLLER_GONE: u8 = 3;
    /// batou-run itself could not work (a bug, or the machine refused).
    pub const INTERNAL: u8 = 4;
}

/// What kind of error ended a command; the kind decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command line asks for something that cannot be.
    Usage,
    /// The deployment's configuration is wrong.
    Config,
    /// Components failed while deploying.
    Deploy,
    /// batou-run itself could not work.
    Internal,
    /// `batou-run agent`: the process that started it is gone.
    ControllerGone,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Config => "config",
            Kind::Deploy => "deploy",
            Kind::Internal => "internal",
            Kind::ControllerGone => "controller-gone",
        }
    }
}

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// A bad argument (clap's, or one the command refuses), exit 2.
    Usage(Diagnostics),
    /// The deployment's configuration is wrong (exit 2), every problem
    /// found before a host is touched.
    Config(Diagnostics),
    /// A component failed while deploying (exit 1); the failure was
    /// reported as it happened, and in the summary.
    Deploy,
    /// The runner itself could not work.
    Internal(anyhow::Error),
    /// `batou-run agent` found the process that started it gone: nobody
    /// listens, so it must not change the host.
    ControllerGone,
}

impl CliError {
    /// A usage error with one message.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(Diagnostic::new(message).into())
    }

    pub fn kind(&self) -> Kind {
        match self {
            CliError::Usage(_) => Kind::Usage,
            CliError::Config(_) => Kind::Config,
            CliError::Deploy => Kind::Deploy,
            CliError::Internal(_) => Kind::Internal,
            CliError::ControllerGone => Kind::ControllerGone,
        }
    }

    /// The exit code of this error: the one mapping from kinds to codes.
    pub fn exit_code(&self) -> u8 {
        match self.kind() {
            Kind::Usage | Kind::Config => code::CONFIG,
            Kind::Deploy => code::DEPLOY,
            Kind::Internal => code::INTERNAL,
            Kind::ControllerGone => code::CONTROLLER_GONE,
        }
    }

    /// Shows the error: each problem as an `ERROR:` line on stderr, or
    /// with `--json` as one `error` event per problem on stdout, in the
    /// shape of deploy's events (`message`, and `location`, `host`,
    /// `component`, `hint`, `stage` when known), with the `kind` and the
    /// `exit_code`.
    pub fn report(&self, out: &Output) {
        let kind = self.kind();
        let extra = json!({"kind": kind.name(), "exit_code": self.exit_code()});
        match self {
            CliError::Usage(d) | CliError::Config(d) => out.errors(d, &extra),
            // Reported as it happened (failed events, the summary).
            CliError::Deploy => {}
            CliError::Internal(_) | CliError::ControllerGone => {
                let message = match self {
                    CliError::Internal(e) => format!("{e:#}"),
                    _ => "batou-run agent: the process that started it is gone; stopping".to_string(),
                };
                if out.json {
                    let mut v = extra;
                    v["event"] = json!("error");
                    v["message"] = json!(message);
                    out.json_line(&v);
                } else {
                    eprintln!("{} {}", crate::output::tag(crate::output::Tag::Error), shown(&message));
                }
            }
        }
    }

    /// Reports the error (see [`CliError::report`]) and gives its exit code.
    pub fn exit(&self, out: &Output) -> ExitCode {
        crate::progress::stop();
        self.report(out);
        ExitCode::from(self.exit_code())
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Config(d)
    }
}

impl From<Diagnostic> for CliError {
    fn from(d: Diagnostic) -> Self {
        CliError::Config(d.into())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Internal(e)
    }
}

impl From<clap::Error> for CliError {
    /// Clap's own errors are usage errors, its message without clap's
    /// `error: ` (the handler says `ERROR:`).
    fn from(e: clap::Error) -> Self {
        let text = e.render().to_string();
        let text = text.trim_end();
        if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            return CliError::usage(format!("a command is needed\n\n{text}"));
        }
        CliError::usage(text.strip_prefix("error: ").unwrap_or(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_documented_codes() {
        assert_eq!(CliError::usage("x").exit_code(), 2);
        assert_eq!(CliError::Config(Diagnostics::default()).exit_code(), 2);
        assert_eq!(CliError::Deploy.exit_code(), 1);
        assert_eq!(CliError::Internal(anyhow::anyhow!("x")).exit_code(), 4);
        assert_eq!(CliError::ControllerGone.exit_code(), 3);
        let codes = [code::OK, code::DEPLOY, code::CONFIG, code::CONTROLLER_GONE, code::INTERNAL];
        let distinct: std::collections::BTreeSet<u8> = codes.into_iter().collect();
        assert_eq!(distinct.len(), codes.len());
    }
}
