//! `secrets edit`: the cleartext goes to a private folder (0700, on a
//! RAM-backed file system when the machine has one, never inside the
//! deployment), `$EDITOR` runs on it, a secrets.toml is checked on
//! return (the editor opens again on a mistake, the edit kept), and the
//! folder is removed on every way out: done, error, panic, or a signal
//! (SIGINT, SIGTERM, SIGHUP: caught while the cleartext exists, passed on
//! to the editor, and the folder removed before batou-run ends).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use super::{Cleartext, Files, Recipient, Rewritten, SecretsError, read_cleartext, rewrite, toml_string, write};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// The variable naming the folder the private folder is made in (before
/// `$XDG_RUNTIME_DIR`, `/dev/shm` and the system's temporary folder).
pub const TMPDIR_VAR: &str = "BATOU_RUN_SECRETS_TMPDIR";
/// How often the editor opens on a secrets file that does not check out
/// before batou-run gives up (an editor that never asks a human would
/// otherwise loop forever).
pub const MAX_ATTEMPTS: usize = 5;

/// Which file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The environment's secrets.toml.
    Secrets,
    /// Secret file `secret-<name>`.
    File(String),
}

/// How an edit ended, when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    /// The file was left as it was.
    Unchanged(String),
    /// Files were written (secrets.toml first); those that could not be
    /// re-encrypted to changed recipients are in the diagnostics.
    Written(Vec<Rewritten>, Diagnostics),
}

/// Why an edit ended without writing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The command asks for what cannot be.
    #[error("{0}")]
    Refused(Diagnostics),
    /// The edited secrets file still had mistakes after the last attempt.
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The editor failed or was left without saving.
    #[error("{0}")]
    Editor(String),
    /// A signal ended the edit.
    #[error("interrupted by {0}: nothing was written, and the cleartext was removed")]
    Interrupted(&'static str),
    /// The private folder could not be made or used.
    #[error("{0}")]
    Io(String),
}

impl From<Diagnostics> for EditError {
    fn from(d: Diagnostics) -> Self {
        EditError::Refused(d)
    }
}

/// Edits `target` of `files`. A new secrets.toml is encrypted to
/// `new_recipients` (which must not be empty then, and must be for an
/// existing file). `report` is shown the problems of each attempt that
/// the editor opens again on.
pub fn edit(
    files: &Files,
    target: &Target,
    new_recipients: &[Recipient],
    identities: &super::Identities,
    report: &mut dyn FnMut(&Diagnostics, usize),
) -> Result<Outcome, EditError> {
    let path = match target {
        Target::Secrets => files.secrets.clone(),
        Target::File(name) => files.secret_file(name),
    };
    let shown = files.shown(&path);
    let exists = path.is_file();
    if exists && !new_recipients.is_empty() {
        return Err(refused(
            format!("{shown} exists: --recipient is only for a new secrets file"),
            format!("add a recipient with: batou-run secrets add KEY --environments {}", files.env),
        ));
    }
    let (original, file_recipients) = match target {
        Target::Secrets if exists => ((*identities.decrypt(&path, &shown)?).clone(), None),
        Target::Secrets if new_recipients.is_empty() => {
            return Err(refused(
                format!("{shown} does not exist, and no recipient is given for a new one"),
                format!(
                    "create it with your public key: batou-run secrets edit {} --recipient age1… (docs/secrets.md)",
                    files.env
                ),
            ));
        }
        Target::Secrets => (template(&files.env, new_recipients).into_bytes(), None),
        Target::File(_) => {
            if !files.secrets.is_file() {
                return Err(refused(
                    format!(
                        "{shown} is encrypted to the recipients of {}, which does not exist",
                        files.shown(&files.secrets)
                    ),
                    format!("create it first: batou-run secrets edit {} --recipient KEY", files.env),
                ));
            }
            if !new_recipients.is_empty() {
                return Err(refused(
                    "a secret file is encrypted to the recipients of the environment's secrets.toml: --recipient \
                     does not apply"
                        .to_string(),
                    "list recipients in secrets.toml (batou-run secrets edit ENV)".to_string(),
                ));
            }
            let recipients = read_cleartext(files, identities)?.recipient_list();
            let original = if exists { (*identities.decrypt(&path, &shown)?).clone() } else { Vec::new() };
            (original, Some(recipients))
        }
    };

    // The handlers first, the folder second: the folder goes before the
    // handlers do, so a signal cannot end the run with it in place.
    let signals = Signals::catch();
    let dir = PrivateDir::create(&files.deployment)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let clear = dir.path.join(name.strip_suffix(".age").unwrap_or(&name));
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(super::PRIVATE_FILE)
        .open(&clear)
        .and_then(|mut f| f.write_all(&original))
        .map_err(|e| EditError::Io(format!("cannot write the cleartext to {}: {e}", clear.display())))?;
    let editor = std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty()).unwrap_or_else(|| "vi".to_string());

    for attempt in 1..=MAX_ATTEMPTS {
        let status = run_editor(&editor, &clear)?;
        signals.check()?;
        if !status.success() {
            return Err(EditError::Editor(format!(
                "the editor (`{editor}`) ended with {status}: nothing was written, {shown} is as it was"
            )));
        }
        let edited = std::fs::read(&clear)
            .map_err(|e| EditError::Io(format!("cannot read the edited cleartext {}: {e}", clear.display())))?;
        if exists && edited == original {
            return Ok(Outcome::Unchanged(shown));
        }
        let Some(recipients) = &file_recipients else {
            let checked = std::str::from_utf8(&edited)
                .map_err(|_| {
                    Diagnostics::from(Diagnostic::new("the secrets file must be UTF-8 text").at(shown.clone()))
                })
                .and_then(|text| Cleartext::parse(&shown, text).map(|c| (text, c)));
            match checked {
                Ok((text, cleartext)) => {
                    signals.check()?;
                    let (done, errors) = rewrite(files, identities, Some(text), &cleartext, false);
                    if done.is_empty() {
                        return Err(EditError::Invalid(errors));
                    }
                    return Ok(Outcome::Written(done, errors));
                }
                Err(problems) if attempt == MAX_ATTEMPTS => {
                    let mut problems = problems;
                    problems.push(Diagnostic::new(format!(
                        "still wrong after {MAX_ATTEMPTS} edits: nothing was written, {shown} is as it was"
                    )));
                    return Err(EditError::Invalid(problems));
                }
                Err(problems) => {
                    report(&problems, attempt);
                    wait_for_enter(&signals)?;
                    continue;
                }
            }
        };
        signals.check()?;
        write(files, &path, &edited, recipients)?;
        identities.remember(&path, edited);
        return Ok(Outcome::Written(vec![Rewritten::Encrypted(shown)], Diagnostics::default()));
    }
    unreachable!("the last attempt returns")
}

fn refused(message: String, hint: String) -> EditError {
    EditError::Refused(Diagnostic::new(message).hint(hint).into())
}

/// A new secrets.toml: its recipients, and the shape of the rest.
fn template(env: &str, recipients: &[Recipient]) -> String {
    let list: String = recipients.iter().map(|r| format!("    {},\n", toml_string(&r.text))).collect();
    format!(
        "# The secrets of environment `{env}`, encrypted to the recipients below:\n\
         # whoever holds one of their private keys can read them (docs/secrets.md).\n\
         recipients = [\n{list}]\n\n\
         # Attributes of a root, over the environment file's:\n\
         # [components.NAME]\n\
         # password = \"...\"\n\n\
         # Host data:\n\
         # [hosts.NAME.data]\n\
         # token = \"...\"\n"
    )
}

/// After a mistake, on a terminal: the problems stay on screen until the
/// user is ready for the editor again (a full-screen editor would hide
/// them at once). Without a terminal, nobody reads them: go on.
fn wait_for_enter(signals: &Signals) -> Result<(), EditError> {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } != 1 {
        return Ok(());
    }
    eprint!("Press Enter to edit it again, Ctrl-C to give up: ");
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reads one byte into a buffer of one byte.
        let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
        signals.check()?;
        if n <= 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 || byte[0] == b'\n' {
            return Ok(());
        }
    }
}

/// Runs `$EDITOR` on `path` through `sh -c` (an editor is often given
/// with arguments). A caught signal is passed on to it as SIGTERM (and
/// SIGKILL if it is still there 5 seconds later). A plain command (words
/// without shell syntax) replaces the shell (`exec`), so the signal
/// reaches the editor itself, not only a shell that would leave it behind.
fn run_editor(editor: &str, path: &Path) -> Result<ExitStatus, EditError> {
    let plain = !editor.split_whitespace().next().unwrap_or("").contains('=')
        && editor.chars().all(|c| c.is_ascii_alphanumeric() || " _./+=:,@%-~".contains(c));
    let script = if plain { format!("exec {editor} \"$1\"") } else { format!("{editor} \"$1\"") };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(path)
        .spawn()
        .map_err(|e| EditError::Editor(format!("cannot start the editor through sh: {e}")))?;
    let mut forwarded: Option<Instant> = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(EditError::Editor(format!("cannot wait for the editor: {e}"))),
        }
        if CAUGHT.load(Ordering::SeqCst) != 0 {
            match forwarded {
                None => {
                    // SAFETY: signals our own child, still unreaped.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                    forwarded = Some(Instant::now());
                }
                Some(at) if at.elapsed() > Duration::from_secs(5) => {
                    let _ = child.kill();
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The signal caught while the cleartext exists (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    CAUGHT.store(signal, Ordering::SeqCst);
}

const CAUGHT_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// SIGINT, SIGTERM and SIGHUP caught (noted, not obeyed) while this
/// lives; the handlers before are restored when it goes.
struct Signals {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Signals {
    fn catch() -> Signals {
        CAUGHT.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in CAUGHT_SIGNALS {
            // SAFETY: sigaction is plain data; the handler only stores
            // to an atomic, which is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        Signals { previous }
    }

    /// An error when a signal came.
    fn check(&self) -> Result<(), EditError> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => Ok(()),
            libc::SIGINT => Err(EditError::Interrupted("SIGINT")),
            libc::SIGTERM => Err(EditError::Interrupted("SIGTERM")),
            _ => Err(EditError::Interrupted("SIGHUP")),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: puts back the action sigaction gave.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    }
}

/// A folder only this user can enter, removed with everything in it when
/// this goes (an editor's swap and backup files included).
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// In `$BATOU_RUN_SECRETS_TMPDIR` if set (and then only there), else
    /// the first that works of `$XDG_RUNTIME_DIR` (when it is this user's
    /// and private), `/dev/shm` (both RAM-backed) and the system's
    /// temporary folder; never inside `deployment`.
    fn create(deployment: &Path) -> Result<PrivateDir, EditError> {
        let deployment = deployment.canonicalize().unwrap_or_else(|_| deployment.to_path_buf());
        let inside = |base: &Path| base.canonicalize().is_ok_and(|b| b.starts_with(&deployment));
        if let Some(base) = std::env::var_os(TMPDIR_VAR).filter(|v| !v.is_empty()).map(PathBuf::from) {
            if inside(&base) {
                return Err(EditError::Io(format!(
                    "{TMPDIR_VAR} is {}, inside the deployment: the cleartext must not land where it could be \
                     committed",
                    base.display()
                )));
            }
            return PrivateDir::make_in(&base).map_err(|e| {
                EditError::Io(format!("cannot make a private folder in {} ({TMPDIR_VAR}): {e}", base.display()))
            });
        }
        let mut bases = Vec::new();
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
            // SAFETY: geteuid cannot fail.
            let me = unsafe { libc::geteuid() };
            if std::fs::metadata(&runtime).is_ok_and(|m| m.is_dir() && m.uid() == me && m.mode() & 0o077 == 0) {
                bases.push(runtime);
            }
        }
        bases.push(PathBuf::from("/dev/shm"));
        bases.push(std::env::temp_dir());
        let mut tried = Vec::new();
        for base in bases {
            if !base.is_dir() || inside(&base) {
                continue;
            }
            match PrivateDir::make_in(&base) {
                Ok(dir) => return Ok(dir),
                Err(e) => tried.push(format!("{}: {e}", base.display())),
            }
        }
        Err(EditError::Io(format!(
            "no folder to put the cleartext in ({}); set {TMPDIR_VAR} to a private folder outside the deployment",
            tried.join("; ")
        )))
    }

    fn make_in(base: &Path) -> std::io::Result<PrivateDir> {
        remove_stale(base);
        let mut random = [0u8; 8];
        for _ in 0..16 {
            std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut random)?;
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let path = base.join(format!("batou-run-secrets.{}.{hex}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = PrivateDir { path };
                    // The umask may have taken bits; none may be added.
                    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no unused name"))
    }
}

/// Removes the private folders of edits that ended without cleaning up
/// (SIGKILL, a power cut on a disk-backed folder): this user's, named for
/// a process that no longer runs.
fn remove_stale(base: &Path) {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("batou-run-secrets.").and_then(|r| r.split('.').next()) else { continue };
        let Ok(pid) = pid.parse::<libc::pid_t>() else { continue };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if meta.is_dir() && meta.uid() == me && gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_folder_is_private_and_goes() {
        let base = tempfile::tempdir().unwrap();
        let dir = PrivateDir::make_in(base.path()).unwrap();
        let mode = std::fs::metadata(&dir.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(dir.path.join("x"), "secret").unwrap();
        let path = dir.path.clone();
        drop(dir);
        assert!(!path.exists());
        // A panic unwinds through the drop too.
        let caught = std::panic::catch_unwind(|| {
            let dir = PrivateDir::make_in(base.path()).unwrap();
            std::fs::write(dir.path.join("x"), "secret").unwrap();
            panic!("boom");
        });
        assert!(caught.is_err());
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
        // What a SIGKILLed edit left (a process that is gone) goes with the next edit.
        let stale = base.path().join(format!("batou-run-secrets.{}.00", i32::MAX - 1));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("secrets.toml"), "secret").unwrap();
        let dir = PrivateDir::make_in(base.path()).unwrap();
        assert!(!stale.exists());
        drop(dir);
    }
}
