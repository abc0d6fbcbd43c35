//! `batou-run secrets edit ENV [FILE]`: decrypt, edit with `$EDITOR`,
//! check, encrypt again.

use serde_json::json;

use super::{CliError, DeploymentArg, check_deployment, identities, recipient_arg, report_rewritten, secrets_error};
use crate::config::is_plain_name;
use crate::output::Output;
use crate::secrets::edit::{EditError, MAX_ATTEMPTS, Outcome, Target};
use crate::secrets::{Files, SECRET_FILE_PREFIX};

/// Edit an environment's secrets.toml (or a secret file) with $EDITOR,
/// its cleartext only in a private folder outside the deployment.
///
/// The editor runs as `sh -c "$EDITOR \"$1\""` (default vi) on a copy in a
/// 0700 folder under $BATOU_RUN_SECRETS_TMPDIR, else $XDG_RUNTIME_DIR or
/// /dev/shm, else the system's temporary folder; the folder is removed
/// however the edit ends. A secrets.toml that does not check out opens
/// again (up to 5 times); an unchanged file is not written.
#[derive(clap::Args)]
pub struct EditArgs {
    /// The environment.
    env: String,
    /// `secrets.toml` (the default) or a secret file: `secret-NAME` or
    /// `NAME`, with or without `.age`.
    file: Option<String>,
    /// For a new secrets.toml: a public key to encrypt it to (age1… or an
    /// ssh-ed25519 / ssh-rsa key line); repeat it for more.
    #[arg(long = "recipient", short = 'r')]
    recipients: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArg,
}

pub fn run(args: EditArgs, out: &Output) -> Result<(), CliError> {
    let deployment = &args.deployment.deployment;
    check_deployment(deployment)?;
    let files = Files::of(deployment, &args.env).map_err(|d| CliError::Usage(d.into()))?;
    let target = target(args.file.as_deref())?;
    let recipients = args.recipients.iter().map(|r| recipient_arg(r)).collect::<Result<Vec<_>, _>>()?;
    let identities = identities()?;
    let mut report = |problems: &crate::diagnostic::Diagnostics, attempt: usize| {
        out.diagnostics(problems);
        eprintln!("The editor opens again on your text (attempt {} of {MAX_ATTEMPTS}).", attempt + 1);
    };
    match crate::secrets::edit::edit(&files, &target, &recipients, &identities, &mut report) {
        Ok(Outcome::Unchanged(file)) => {
            out.summary(&format!("{file} is unchanged: not written."), json!({"file": file, "changed": false}));
            Ok(())
        }
        Ok(Outcome::Written(done, problems)) => {
            report_rewritten(out, &done);
            if !problems.is_empty() {
                return Err(CliError::Config(problems));
            }
            Ok(())
        }
        Err(EditError::Refused(d)) => Err(CliError::Usage(d)),
        Err(EditError::Invalid(d)) => Err(CliError::Config(d)),
        Err(EditError::Secrets(e)) => Err(secrets_error(e)),
        Err(e @ (EditError::Editor(_) | EditError::Interrupted(_))) => Err(CliError::usage(e.to_string())),
        Err(EditError::Io(why)) => Err(anyhow::anyhow!("{why}").into()),
    }
}

/// Which file FILE names.
fn target(file: Option<&str>) -> Result<Target, CliError> {
    let Some(file) = file else { return Ok(Target::Secrets) };
    let file = file.strip_suffix(".age").unwrap_or(file);
    if file == "secrets.toml" {
        return Ok(Target::Secrets);
    }
    let name = file.strip_prefix(SECRET_FILE_PREFIX).unwrap_or(file);
    if !is_plain_name(name) || name.is_empty() {
        return Err(CliError::Usage(
            crate::diagnostic::Diagnostic::new(format!("`{file}` does not name a secret file"))
                .hint("name secrets.toml, or a secret file as secret-NAME (no `/`, not starting with `.`)")
                .into(),
        ));
    }
    Ok(Target::File(name.to_string()))
}
