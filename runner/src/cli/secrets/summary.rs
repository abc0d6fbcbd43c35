//! `batou-run secrets summary`: who can read which environment's secrets.

use serde_json::json;

use super::{CliError, DeploymentArg, environments, identities};
use crate::diagnostic::Diagnostics;
use crate::output::Output;
use crate::secrets::{Recipient, describe, encrypted_to, read_cleartext};

/// Show, per environment, its secrets files, the recipients who can read
/// them and its secret files; exit 2 if a file cannot be decrypted with
/// the identities at hand.
#[derive(clap::Args)]
pub struct SummaryArgs {
    /// Only these environments (comma-separated); all by default.
    #[arg(long, short = 'e', value_delimiter = ',')]
    environments: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArg,
}

pub fn run(args: SummaryArgs, out: &Output) -> Result<(), CliError> {
    let envs = environments(&args.deployment.deployment, &args.environments)?;
    let identities = identities()?;
    let mut text = Vec::new();
    let mut listed = Vec::new();
    let mut errors = Diagnostics::default();
    for files in &envs {
        let existing = files.existing();
        if existing.is_empty() {
            text.push(format!("{}: no secrets", files.env));
            listed.push(json!({"environment": files.env, "secrets": null}));
            continue;
        }
        let shown = files.shown(&files.secrets);
        let mut recipients: Option<Vec<Recipient>> = None;
        if files.secrets.is_file() {
            match read_cleartext(files, &identities) {
                Ok(c) => {
                    let list = c.recipient_list();
                    text.push(format!("{}: {shown}", files.env));
                    text.push(format!("  readable by {} recipient(s):", list.len()));
                    for r in &list {
                        text.push(format!("    {}", r.text));
                    }
                    recipients = Some(list);
                }
                Err(d) => {
                    text.push(format!("{}: {shown}: CANNOT BE READ with the identities at hand", files.env));
                    if let Some(to) = describe(&files.secrets) {
                        text.push(format!("  encrypted to {to}"));
                    }
                    errors.extend(d);
                }
            }
        } else {
            text.push(format!("{}: {shown} is missing", files.env));
        }
        let mut secret_files = Vec::new();
        for (name, path) in files.secret_files() {
            let file = files.shown(&path);
            let readable = match identities.decrypt(&path, &file) {
                Ok(_) => true,
                Err(e) => {
                    errors.push(e.diagnostic());
                    false
                }
            };
            let current = recipients.as_ref().and_then(|r| encrypted_to(&path, r));
            let mut notes = Vec::new();
            if !readable {
                notes.push("CANNOT BE READ with the identities at hand".to_string());
            }
            if current == Some(false) {
                notes.push(format!("encrypted to other recipients: batou-run secrets reencrypt -e {}", files.env));
            }
            let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
            if secret_files.is_empty() {
                text.push("  secret files:".to_string());
            }
            text.push(format!("    {file}{notes}"));
            secret_files.push(json!({"name": name, "file": file, "readable": readable, "current": current}));
        }
        listed.push(json!({
            "environment": files.env,
            "secrets": files.secrets.is_file().then_some(shown),
            "readable": recipients.is_some(),
            "recipients": recipients.as_ref().map(|r| r.iter().map(|r| r.text.clone()).collect::<Vec<_>>()),
            "secret_files": secret_files,
        }));
    }
    out.summary(&text.join("\n"), json!({"environments": listed}));
    if errors.is_empty() { Ok(()) } else { Err(CliError::Config(errors)) }
}
