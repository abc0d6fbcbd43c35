//! `batou-run secrets edit|summary|add|remove|reencrypt|decrypt-to-stdout`:
//! an environment's age-encrypted secrets (runner/src/secrets/,
//! docs/secrets.md).

mod add;
mod decrypt;
mod edit;
mod reencrypt;
mod remove;
mod summary;

use std::path::{Path, PathBuf};

use super::{CliError, check_deployment};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::output::Output;
use crate::secrets::{Files, Identities, Recipient, Rewritten, SecretsError};

/// Edit, list and re-encrypt the environments' age-encrypted secrets.
#[derive(clap::Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    Edit(edit::EditArgs),
    Summary(summary::SummaryArgs),
    Add(add::AddArgs),
    Remove(remove::RemoveArgs),
    Reencrypt(reencrypt::ReencryptArgs),
    DecryptToStdout(decrypt::DecryptArgs),
}

pub fn run(args: SecretsArgs, out: &Output) -> Result<(), CliError> {
    match args.action {
        Action::Edit(args) => edit::run(args, out),
        Action::Summary(args) => summary::run(args, out),
        Action::Add(args) => add::run(args, out),
        Action::Remove(args) => remove::run(args, out),
        Action::Reencrypt(args) => reencrypt::run(args, out),
        Action::DecryptToStdout(args) => decrypt::run(args),
    }
}

/// The deployment directory, as every secrets command takes it.
#[derive(clap::Args)]
struct DeploymentArg {
    /// The deployment directory (holding environments/).
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
}

/// A secrets error as the command line reports it: the deployment's or
/// the user's keys' fault is a configuration error, the machine's an
/// internal one.
fn secrets_error(e: SecretsError) -> CliError {
    if e.is_config() { CliError::Config(e.into()) } else { CliError::Internal(anyhow::anyhow!("{e}")) }
}

fn identities() -> Result<Identities, CliError> {
    Identities::discover().map_err(secrets_error)
}

/// The environments named by `--environments a,b` (each must exist), or
/// every environment of the deployment when none is named.
fn environments(deployment: &Path, names: &[String]) -> Result<Vec<Files>, CliError> {
    check_deployment(deployment)?;
    if names.is_empty() {
        return Ok(Files::all(deployment));
    }
    let mut errors = Diagnostics::default();
    let mut out = Vec::new();
    for name in names {
        match Files::of(deployment, name) {
            Ok(files) => out.push(files),
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(CliError::Usage(errors)) }
}

/// A recipient from the command line, checked.
fn recipient_arg(text: &str) -> Result<Recipient, CliError> {
    Recipient::parse(text).map_err(|why| {
        CliError::Usage(
            crate::secrets::bad_recipient(text, &why)
                .hint("give an age public key (age1…) or an ssh-ed25519 / ssh-rsa public key line, quoted")
                .into(),
        )
    })
}

/// `encrypted FILE` / `up to date FILE` lines, or one event each.
fn report_rewritten(out: &Output, done: &[Rewritten]) {
    for r in done {
        let (event, file) = match r {
            Rewritten::Encrypted(f) => ("encrypted", f),
            Rewritten::UpToDate(f) => ("up-to-date", f),
        };
        if out.json {
            out.json_line(&serde_json::json!({"event": event, "file": file}));
        } else {
            println!("{} {}", event.replace('-', " "), crate::output::shown(file));
        }
    }
}

/// Given an environment and the recipients it lists, the new list (None:
/// leave the environment alone), or why not.
type Change<'a> = dyn FnMut(&Files, &[String]) -> Result<Option<Vec<String>>, Diagnostic> + 'a;

/// Changes the recipients of each environment in `envs` with `change`
/// (given the keys listed, it returns the new list, or None to leave the
/// environment alone), re-encrypting its files; `add` and `remove`.
fn change_recipients(
    envs: &[Files],
    identities: &Identities,
    out: &Output,
    change: &mut Change<'_>,
) -> Result<usize, CliError> {
    let mut errors = Diagnostics::default();
    let mut changed = 0;
    for files in envs {
        if !files.secrets.is_file() {
            continue;
        }
        let shown = files.shown(&files.secrets);
        let cleartext = match crate::secrets::read_cleartext(files, identities) {
            Ok(c) => c,
            Err(d) => {
                errors.extend(d);
                continue;
            }
        };
        let listed: Vec<String> = cleartext.recipients.iter().map(|(r, _)| r.text.clone()).collect();
        let new = match change(files, &listed) {
            Ok(Some(new)) => new,
            Ok(None) => continue,
            Err(d) => {
                errors.push(d.at(shown));
                continue;
            }
        };
        let plain = identities.decrypt(&files.secrets, &shown).map_err(secrets_error)?;
        let text = String::from_utf8_lossy(&plain).into_owned();
        let text = crate::secrets::with_recipients(&text, &cleartext, &new);
        let new_cleartext = crate::secrets::Cleartext::parse(&shown, &text)?;
        let (done, problems) = crate::secrets::rewrite(files, identities, Some(&text), &new_cleartext, false);
        report_rewritten(out, &done);
        errors.extend(problems);
        changed += 1;
    }
    if errors.is_empty() { Ok(changed) } else { Err(CliError::Config(errors)) }
}
