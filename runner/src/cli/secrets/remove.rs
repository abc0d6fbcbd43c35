//! `batou-run secrets remove KEY [--environments a,b]`: one recipient less.

use serde_json::json;

use super::{CliError, DeploymentArg, change_recipients, environments, identities, recipient_arg};
use crate::diagnostic::Diagnostic;
use crate::output::Output;

/// Remove a recipient from every environment's secrets (or those named),
/// re-encrypting their files without it.
///
/// What it could read before stays in version control's history: change
/// the secrets themselves too if the key's owner should no longer know them.
#[derive(clap::Args)]
pub struct RemoveArgs {
    /// The public key, as added (an ssh key's comment does not count).
    key: String,
    /// Only these environments (comma-separated); all by default.
    #[arg(long, short = 'e', value_delimiter = ',')]
    environments: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArg,
}

pub fn run(args: RemoveArgs, out: &Output) -> Result<(), CliError> {
    let key = recipient_arg(&args.key)?;
    let envs = environments(&args.deployment.deployment, &args.environments)?;
    let identities = identities()?;
    let changed = change_recipients(&envs, &identities, out, &mut |_, listed| {
        let keep: Vec<String> = listed
            .iter()
            .filter(|l| !crate::secrets::Recipient::parse(l).is_ok_and(|r| r.key == key.key))
            .cloned()
            .collect();
        if keep.len() == listed.len() {
            return Ok(None);
        }
        if keep.is_empty() {
            return Err(Diagnostic::new("it is the only recipient: nobody could read the secrets without it")
                .hint("add another recipient first: batou-run secrets add KEY --environments ENV"));
        }
        Ok(Some(keep))
    })?;
    if changed == 0 {
        return Err(CliError::Usage(
            Diagnostic::new(format!(
                "{} is not a recipient of {}",
                crate::secrets::file::short(&key.text),
                if args.environments.is_empty() {
                    "any environment's secrets".to_string()
                } else {
                    args.environments.join(", ")
                }
            ))
            .hint("batou-run secrets summary lists the recipients")
            .into(),
        ));
    }
    out.summary(
        &format!("{} is no longer a recipient of {} environment(s).", crate::secrets::file::short(&key.text), changed),
        json!({"recipient": key.text, "changed": changed}),
    );
    Ok(())
}
