//! `[grants.<root>]` of an environment: what a root component and its
//! sub-components may touch beyond their workdir.
//!
//! ```toml
//! [grants.web]
//! paths.read = ["/etc/ssl/certs"]
//! paths.write = ["/srv/web"]
//! commands = ["systemctl", "/usr/sbin/nginx"]
//! ssh = ["db"]
//! env = ["HTTP_PROXY"]
//! secret_files = ["tls-key"]
//! http = ["releases.example.org", "127.0.0.1:8000"]
//! ```

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::source::{Source, TableReader, type_name};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::plan::grants::Grants;

/// The grants of one root, with where they were written.
#[derive(Debug, Clone)]
pub struct GrantsConfig {
    pub grants: Grants,
    /// `file:line` of the `[grants.<root>]` table.
    pub location: String,
    /// `file:line` of each host named under `ssh`.
    pub ssh_locations: Vec<String>,
    /// `file:line` of each name under `secret_files`.
    pub secret_file_locations: Vec<String>,
}

/// Reads the `[grants]` table: one table per root.
pub fn parse(
    source: &Source,
    grants: &Spanned<DeValue<'_>>,
    errors: &mut Diagnostics,
) -> BTreeMap<String, GrantsConfig> {
    let mut out = BTreeMap::new();
    let DeValue::Table(grants) = grants.get_ref() else { return out };
    for (root, table) in grants.iter() {
        let root = root.get_ref().to_string();
        let location = source.location(table.span().start);
        let DeValue::Table(table) = table.get_ref() else {
            errors.push(
                Diagnostic::new(format!("[grants.{root}] must be a table, not {}", type_name(table.get_ref())))
                    .at(location),
            );
            continue;
        };
        let mut config = GrantsConfig {
            grants: Grants::none(&root, &source.shown_as),
            location,
            ssh_locations: Vec::new(),
            secret_file_locations: Vec::new(),
        };
        read_root(source, &root, table, &mut config, errors);
        out.insert(root, config);
    }
    out
}

fn read_root(source: &Source, root: &str, table: &DeTable<'_>, config: &mut GrantsConfig, errors: &mut Diagnostics) {
    let what = format!("[grants.{root}]");
    let mut r = TableReader::new(source, table, what.clone());
    if let Some(paths) = r.table("paths", errors) {
        let DeValue::Table(paths) = paths.get_ref() else { unreachable!() };
        let mut p = TableReader::new(source, paths, format!("{what} paths"));
        config.grants.read = strings(source, &mut p, "read", &what, errors).into_iter().map(|(s, _)| s).collect();
        config.grants.write = strings(source, &mut p, "write", &what, errors).into_iter().map(|(s, _)| s).collect();
        p.finish(errors);
        for (path, key) in
            config.grants.read.iter().map(|p| (p, "read")).chain(config.grants.write.iter().map(|p| (p, "write")))
        {
            if path.is_empty() {
                errors.push(
                    Diagnostic::new(format!("{what} paths.{key} has an empty path"))
                        .at(config.location.clone())
                        .hint("name a directory: absolute, `~/...`, or relative to the root's workdir"),
                );
            }
        }
    }
    config.grants.commands = strings(source, &mut r, "commands", &what, errors).into_iter().map(|(s, _)| s).collect();
    for command in &config.grants.commands {
        if command.contains('/') && !command.starts_with('/') {
            errors.push(
                Diagnostic::new(format!("{what} commands: `{command}` is a relative path"))
                    .at(config.location.clone())
                    .hint(
                        "name a program found in PATH (`systemctl`) or give its absolute path (`/usr/bin/systemctl`)",
                    ),
            );
        }
    }
    let ssh = strings(source, &mut r, "ssh", &what, errors);
    config.ssh_locations = ssh.iter().map(|(_, at)| at.clone()).collect();
    config.grants.ssh = ssh.into_iter().map(|(s, _)| s).collect();
    config.grants.env = strings(source, &mut r, "env", &what, errors).into_iter().map(|(s, _)| s).collect();
    for name in &config.grants.env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            errors.push(
                Diagnostic::new(format!("{what} env: `{name}` is not a variable name")).at(config.location.clone()),
            );
        }
    }
    let secret_files = strings(source, &mut r, "secret_files", &what, errors);
    for (name, at) in &secret_files {
        if !super::is_plain_name(name) {
            errors.push(
                Diagnostic::new(format!("{what} secret_files: `{name}` is not a secret file's name"))
                    .at(at.clone())
                    .hint(
                        "name it as its file is named without `secret-` and `.age`: \"tls-key\" for secret-tls-key.age",
                    ),
            );
        }
    }
    config.secret_file_locations = secret_files.iter().map(|(_, at)| at.clone()).collect();
    config.grants.secret_files = secret_files.into_iter().map(|(s, _)| s).collect();
    let http = strings(source, &mut r, "http", &what, errors);
    for (host, at) in &http {
        let bare =
            host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host.as_str(), |(h, _)| h);
        if bare.is_empty() || host.contains("://") || host.contains(['/', ' ', '@']) {
            errors.push(
                Diagnostic::new(format!("{what} http: `{host}` is not a host name"))
                    .at(at.clone())
                    .hint("name the host downloads come from, as `example.org` or `example.org:8443`, not a URL"),
            );
        }
    }
    config.grants.http = http.into_iter().map(|(s, _)| s.to_ascii_lowercase()).collect();
    r.finish(errors);
}

/// A list of strings under `key`, each with its `file:line`.
fn strings(
    source: &Source,
    r: &mut TableReader<'_, '_>,
    key: &'static str,
    what: &str,
    errors: &mut Diagnostics,
) -> Vec<(String, String)> {
    let Some(value) = r.get(key) else { return Vec::new() };
    let DeValue::Array(items) = value.get_ref() else {
        errors.push(
            Diagnostic::new(format!("{what} `{key}` must be a list of strings, not {}", type_name(value.get_ref())))
                .at(source.location(value.span().start)),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => out.push((s.to_string(), source.location(item.span().start))),
            other => errors.push(
                Diagnostic::new(format!("{what} `{key}` must hold strings, not {}", type_name(other)))
                    .at(source.location(item.span().start)),
            ),
        }
    }
    out
}
