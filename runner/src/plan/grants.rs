//! What the environment grants a root component and its sub-components:
//! deny by default, one table `[grants.<root>]` per root.

use serde::{Deserialize, Serialize};

/// The grants of one root, as the environment states them. Paths are
/// absolute, `~/...` (the deploying user's home on the target) or relative
/// to the root's workdir; each names a directory and everything beneath it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// The root's name, for messages (`[grants.<root>]`).
    pub root: String,
    /// The environment file, for messages.
    pub file: String,
    /// `paths.read`: directories the root may read beneath.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// `paths.write`: directories the root may read and change beneath.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
    /// Programs the root may run: a name (looked up in PATH) or an
    /// absolute path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Hosts of the environment the root may run commands on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<String>,
    /// Environment variables the root may pass to its commands (set by the
    /// component, or else taken from the runner's environment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The environment's secret files the root may read
    /// (`model.secret-file`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_files: Vec<String>,
    /// Hosts (`host` or `host:port`) the root may download from
    /// (`http.download`), redirects included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
}

/// One grant, as the deploy output names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "grant", content = "value", rename_all = "kebab-case")]
pub enum Grant {
    /// The root's own workdir, granted to every root.
    Workdir(String),
    Read(String),
    Write(String),
    Command(String),
    Ssh(String),
    Env(String),
    SecretFile(String),
    Http(String),
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::Workdir(p) => write!(f, "workdir {p}"),
            Grant::Read(p) => write!(f, "paths.read {p}"),
            Grant::Write(p) => write!(f, "paths.write {p}"),
            Grant::Command(c) => write!(f, "commands {c}"),
            Grant::Ssh(h) => write!(f, "ssh {h}"),
            Grant::Env(v) => write!(f, "env {v}"),
            Grant::SecretFile(n) => write!(f, "secret_files {n}"),
            Grant::Http(h) => write!(f, "http {h}"),
        }
    }
}

impl Grants {
    /// No grants beyond the workdir.
    pub fn none(root: &str, file: &str) -> Grants {
        Grants { root: root.to_string(), file: file.to_string(), ..Default::default() }
    }

    /// Every grant the environment declared (the workdir is implied).
    pub fn declared(&self) -> Vec<Grant> {
        let mut out = Vec::new();
        out.extend(self.read.iter().cloned().map(Grant::Read));
        out.extend(self.write.iter().cloned().map(Grant::Write));
        out.extend(self.commands.iter().cloned().map(Grant::Command));
        out.extend(self.ssh.iter().cloned().map(Grant::Ssh));
        out.extend(self.env.iter().cloned().map(Grant::Env));
        out.extend(self.secret_files.iter().cloned().map(Grant::SecretFile));
        out.extend(self.http.iter().cloned().map(Grant::Http));
        out
    }

    /// How to add a grant, for an `access-denied` message.
    pub fn advice(&self, key: &str, value: &str) -> String {
        format!("add \"{value}\" to `{key}` in [grants.{}] of {}", self.root, self.file)
    }
}
