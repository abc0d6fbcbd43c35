//! Commands on other hosts of the environment (the `ssh` capability): what
//! travels from a component to whoever holds the connection to that host,
//! and the checks both ends make against the root's grants.

use super::error::SysError;
use crate::plan::grants::Grants;
use crate::plan::program::{Program, ProgramOutput, RemoteError};

impl From<SysError> for RemoteError {
    fn from(e: SysError) -> Self {
        match e {
            SysError::Denied(m) => RemoteError::Denied(m),
            SysError::NotFound(m) => RemoteError::NotFound(m),
            other => RemoteError::Failed(other.to_string()),
        }
    }
}

/// Output beyond this many bytes per stream of a command on another host
/// is dropped (it travels as JSON through the agent's channel).
pub const REMOTE_OUTPUT_LIMIT: usize = 4 << 20;

/// Runs commands on other hosts for the `ssh` capability.
pub trait RemoteCommands: Send + Sync {
    /// Runs `cmd` on `host` for a component of `root`, whose grants are
    /// `grants`.
    fn run(&self, grants: &Grants, host: &str, cmd: &Program) -> Result<ProgramOutput, RemoteError>;
}

/// For stores that never run a lifecycle step that may use `ssh`.
pub struct NoRemote;

impl RemoteCommands for NoRemote {
    fn run(&self, _: &Grants, host: &str, _: &Program) -> Result<ProgramOutput, RemoteError> {
        Err(RemoteError::Failed(format!("no connection to `{host}` is available here")))
    }
}

/// `ssh.run` where every host is this machine (`connect = "local"`, or an
/// agent process on it): the program runs here, as the runner's user, in
/// the home directory (or `cwd` beneath it).
pub struct ThisMachine;

impl RemoteCommands for ThisMachine {
    fn run(&self, grants: &Grants, host: &str, cmd: &Program) -> Result<ProgramOutput, RemoteError> {
        use super::process::{environment, run_command, which};
        check(grants, host, cmd)?;
        let program = if cmd.program.starts_with('/') {
            std::path::PathBuf::from(&cmd.program)
        } else {
            which(&cmd.program).ok_or_else(|| {
                RemoteError::NotFound(format!("cannot run `{}` on host `{host}`: no such program in PATH", cmd.program))
            })?
        };
        // As over SSH, a relative `cwd` is below the login's home.
        let home = crate::home::home().map_err(|e| {
            RemoteError::Failed(format!("cannot run `{}` on host `{host}` in its home folder: {e}", cmd.program))
        })?;
        let on_this_machine = |p: &std::path::Path| match p.strip_prefix("/~") {
            Ok(rest) => home.join(rest),
            Err(_) => p.to_path_buf(),
        };
        let cwd = match &cmd.cwd {
            None => home.clone(),
            Some(text) => {
                // As on a host over SSH: symlinks resolved, still beneath a grant.
                let real = on_this_machine(&home_relative(text)).canonicalize().map_err(|e| {
                    RemoteError::NotFound(format!("cannot run `{}` in {text} on host `{host}`: {e}", cmd.program))
                })?;
                let inside = cwd_grants(grants)
                    .iter()
                    .filter_map(|g| on_this_machine(g).canonicalize().ok())
                    .any(|g| real.starts_with(g));
                if !inside {
                    return Err(RemoteError::Denied(format!(
                        "run `{}` in {text} on host `{host}`: the working directory leads outside the granted paths (through a symlink)",
                        cmd.program
                    )));
                }
                real
            }
        };
        let env = environment(grants, &cmd.env);
        Ok(run_command(&program, cmd, &env, &super::process::Cwd::Path(cwd), REMOTE_OUTPUT_LIMIT)?)
    }
}

/// What the grants of a root say about running `cmd` on `host`: the
/// `ssh` grant must name the host, `commands` the program, and `env` every
/// variable the component sets. Checked by the agent and again by the
/// controller that holds the connection.
pub fn check(grants: &Grants, host: &str, cmd: &Program) -> Result<(), RemoteError> {
    if !grants.ssh.iter().any(|h| h == host) {
        return Err(RemoteError::Denied(format!(
            "run `{}` on host `{host}`: {}",
            cmd.program,
            grants.advice("ssh", host)
        )));
    }
    if !command_granted(grants, &cmd.program) {
        return Err(RemoteError::Denied(format!(
            "run `{}` on host `{host}`: {}",
            cmd.program,
            grants.advice("commands", &cmd.program)
        )));
    }
    if let Some((name, _)) = cmd.env.iter().find(|(name, _)| !grants.env.contains(name)) {
        return Err(RemoteError::Denied(format!(
            "pass `{name}` to `{}` on host `{host}`: {}",
            cmd.program,
            grants.advice("env", name)
        )));
    }
    if let Some(cwd) = &cmd.cwd {
        let wanted = home_relative(cwd);
        if !cwd_grants(grants).iter().any(|g| wanted.starts_with(g)) {
            return Err(RemoteError::Denied(format!(
                "run `{}` in {cwd} on host `{host}`: the working directory is outside the granted paths; {}",
                cmd.program,
                grants.advice("paths.read", cwd)
            )));
        }
    }
    Ok(())
}

/// A path on another host as the login there reaches it: absolute, or
/// below its home (`~`), `..` worked out from the text.
fn home_relative(path: &str) -> std::path::PathBuf {
    let rest = path.strip_prefix("~").filter(|r| r.is_empty() || r.starts_with('/'));
    let (base, rest) = match rest {
        Some(rest) => ("/~", rest.trim_start_matches('/')),
        None if path.starts_with('/') => ("/", path),
        None => ("/~", path),
    };
    super::sandbox::normalize(&std::path::Path::new(base).join(rest))
}

/// The directories a command on another host may run in: the root's
/// absolute and `~/` path grants (relative ones name its own workdir,
/// which is on its own host), as [`home_relative`] writes them.
fn cwd_grants(grants: &Grants) -> Vec<std::path::PathBuf> {
    grants
        .write
        .iter()
        .chain(&grants.read)
        .filter(|g| g.starts_with('/') || g.as_str() == "~" || g.starts_with("~/"))
        .map(|g| home_relative(g))
        .collect()
}

/// A shell test run on the host before the command: the working directory
/// with its symlinks resolved (`cd -P`, `pwd -P`) must still lie beneath a
/// granted path, resolved the same way, or the command does not run.
pub fn cwd_check(grants: &Grants, cmd: &Program) -> String {
    let Some(cwd) = &cmd.cwd else { return String::new() };
    let shell = |p: &std::path::Path| -> String {
        match p.strip_prefix("/~") {
            Ok(rest) if rest.as_os_str().is_empty() => "\"$HOME\"".to_string(),
            Ok(rest) => format!("\"$HOME\"/{}", quote(&rest.to_string_lossy())),
            Err(_) => quote(&p.to_string_lossy()),
        }
    };
    let granted: Vec<String> = cwd_grants(grants).iter().map(|g| shell(g)).collect();
    format!(
        "d=\"$(cd -P -- {cwd} 2>/dev/null && pwd -P)\" || {{ echo 'batou-run: no such working directory' >&2; exit 126; }}; \
         ok=; for g in {granted}; do r=\"$(cd -P -- \"$g\" 2>/dev/null && pwd -P)\" && case \"$d/\" in \"$r\"/*) ok=1;; esac; done; \
         [ -n \"$ok\" ] || {{ echo 'batou-run: the working directory leads outside the granted paths (through a symlink)' >&2; exit 126; }}; \
         cd \"$d\" && ",
        cwd = shell(&home_relative(cwd)),
        granted = granted.join(" "),
    )
}

/// Whether `program` (a name or an absolute path, as the component gave
/// it) is among the granted commands, by the same text. (Local commands
/// also match a granted name to the program it finds in PATH.)
pub fn command_granted(grants: &Grants, program: &str) -> bool {
    grants.commands.iter().any(|c| c == program)
}

/// `cmd` as one line for a POSIX shell: every word single-quoted, so the
/// remote login shell runs exactly the program with exactly these
/// arguments.
#[cfg(test)]
pub fn shell_line(cmd: &Program, sudo_user: Option<&str>) -> String {
    shell_line_with(cmd, sudo_user, None)
}

/// [`shell_line`] with `wrapper` (shell words, unquoted) before the
/// program, such as a `timeout` that ends it on the host.
pub fn shell_line_with(cmd: &Program, sudo_user: Option<&str>, wrapper: Option<&str>) -> String {
    let mut words = Vec::new();
    if let Some(cwd) = &cmd.cwd {
        words.push(format!("cd {} &&", quote(cwd)));
    }
    words.push("exec".into());
    words.extend(wrapper.map(str::to_string));
    if let Some(user) = sudo_user {
        words.push(format!("sudo -n -u {} --", quote(user)));
    }
    if !cmd.env.is_empty() {
        words.push("env".into());
        words.extend(cmd.env.iter().map(|(k, v)| quote(&format!("{k}={v}"))));
    }
    words.push(quote(&cmd.program));
    words.extend(cmd.args.iter().map(|a| quote(a)));
    words.join(" ")
}

/// A word in single quotes for a POSIX shell.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(program: &str, args: &[&str]) -> Program {
        Program {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout_ms: None,
        }
    }

    #[test]
    fn quotes_every_word() {
        let line = shell_line(&cmd("echo", &["it's", "$(id)", "a b"]), None);
        assert_eq!(line, r"exec 'echo' 'it'\''s' '$(id)' 'a b'");
        let mut c = cmd("id", &[]);
        c.cwd = Some("srv".into());
        c.env = vec![("A".into(), "1".into())];
        assert_eq!(shell_line(&c, Some("svc")), "cd 'srv' && exec sudo -n -u 'svc' -- env 'A=1' 'id'");
    }

    #[test]
    fn checks_host_program_and_env() {
        let mut grants = Grants::none("app", "environments/dev.toml");
        let err = check(&grants, "db", &cmd("id", &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "run `id` on host `db`: add \"db\" to `ssh` in [grants.app] of environments/dev.toml"
        );
        grants.ssh.push("db".into());
        let err = check(&grants, "db", &cmd("id", &[])).unwrap_err();
        assert!(err.to_string().contains("add \"id\" to `commands`"), "{err}");
        grants.commands.push("id".into());
        assert!(check(&grants, "db", &cmd("id", &[])).is_ok());
        let mut with_env = cmd("id", &[]);
        with_env.env.push(("LD_PRELOAD".into(), "x".into()));
        assert!(matches!(check(&grants, "db", &with_env), Err(RemoteError::Denied(_))));
    }
}
