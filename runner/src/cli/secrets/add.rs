//! `batou-run secrets add KEY --environments a,b`: one more recipient.

use serde_json::json;

use super::{CliError, DeploymentArg, change_recipients, environments, identities, recipient_arg};
use crate::output::Output;

/// Add a recipient (an age or ssh public key) to environments' secrets,
/// re-encrypting their secrets.toml and secret files to it.
#[derive(clap::Args)]
pub struct AddArgs {
    /// The public key: age1…, or an ssh-ed25519 / ssh-rsa key line (quoted).
    key: String,
    /// The environments (comma-separated) whose secrets it may read.
    #[arg(long, short = 'e', value_delimiter = ',', required = true)]
    environments: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArg,
}

pub fn run(args: AddArgs, out: &Output) -> Result<(), CliError> {
    let key = recipient_arg(&args.key)?;
    let envs = environments(&args.deployment.deployment, &args.environments)?;
    if let Some(files) = envs.iter().find(|f| !f.secrets.is_file()) {
        return Err(CliError::Usage(
            crate::diagnostic::Diagnostic::new(format!(
                "environment `{}` has no secrets ({} does not exist)",
                files.env,
                files.shown(&files.secrets)
            ))
            .hint(format!("create it with: batou-run secrets edit {} --recipient KEY", files.env))
            .into(),
        ));
    }
    let identities = identities()?;
    let changed = change_recipients(&envs, &identities, out, &mut |_, listed| {
        if listed.iter().any(|l| crate::secrets::Recipient::parse(l).is_ok_and(|r| r.key == key.key)) {
            return Ok(None);
        }
        let mut new = listed.to_vec();
        new.push(key.text.clone());
        Ok(Some(new))
    })?;
    out.summary(
        &format!("{} is a recipient of {} environment(s) more.", crate::secrets::file::short(&key.text), changed),
        json!({"recipient": key.text, "changed": changed}),
    );
    Ok(())
}
