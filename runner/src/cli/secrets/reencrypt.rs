//! `batou-run secrets reencrypt [--environments a,b] [--force]`.

use serde_json::json;

use super::{CliError, DeploymentArg, environments, identities, report_rewritten};
use crate::diagnostic::Diagnostics;
use crate::output::Output;
use crate::secrets::{Rewritten, read_cleartext, rewrite};

/// Encrypt each environment's files again to the recipients its
/// secrets.toml lists, where they were encrypted to others.
///
/// batou-run records, in each file's age header, a salted digest of the
/// recipients it encrypted the file to; a file without that record (one
/// another program wrote) or with another set is encrypted again.
/// --force encrypts every file again (a new file key for each).
#[derive(clap::Args)]
pub struct ReencryptArgs {
    /// Only these environments (comma-separated); all by default.
    #[arg(long, short = 'e', value_delimiter = ',')]
    environments: Vec<String>,
    /// Encrypt every file again, even those already encrypted to the
    /// recipients listed.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    deployment: DeploymentArg,
}

pub fn run(args: ReencryptArgs, out: &Output) -> Result<(), CliError> {
    let envs = environments(&args.deployment.deployment, &args.environments)?;
    let identities = identities()?;
    let mut errors = Diagnostics::default();
    let mut encrypted = 0;
    for files in envs.iter().filter(|f| f.secrets.is_file()) {
        let cleartext = match read_cleartext(files, &identities) {
            Ok(c) => c,
            Err(d) => {
                errors.extend(d);
                continue;
            }
        };
        // secrets.toml itself is written only when its record differs.
        let up_to_date =
            !args.force && crate::secrets::encrypted_to(&files.secrets, &cleartext.recipient_list()) == Some(true);
        let text = if up_to_date {
            None
        } else {
            let plain =
                identities.decrypt(&files.secrets, &files.shown(&files.secrets)).map_err(super::secrets_error)?;
            Some(String::from_utf8_lossy(&plain).into_owned())
        };
        let (done, problems) = rewrite(files, &identities, text.as_deref(), &cleartext, args.force);
        encrypted += done.iter().filter(|r| matches!(r, Rewritten::Encrypted(_))).count();
        report_rewritten(out, &done);
        errors.extend(problems);
    }
    if !errors.is_empty() {
        return Err(CliError::Config(errors));
    }
    out.summary(&format!("Encrypted {encrypted} file(s) again."), json!({"encrypted": encrypted}));
    Ok(())
}
