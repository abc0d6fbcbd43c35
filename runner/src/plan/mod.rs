//! The plan: everything the agent needs to deploy a host, serialisable,
//! so that configure runs once on the controller for the whole model.

pub mod events;
pub mod grants;
pub mod host;
pub mod kinds;
pub mod origins;
pub mod program;
pub mod require;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::grants::Grants;
use crate::plan::host::HostInfo;
use crate::plan::require::RequireRecord;

/// One configured component and its sub-components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub kind: String,
    pub name: String,
    /// `root > kind('name') > ...`, for messages.
    pub path: String,
    /// sha256 of the module that exports the kind.
    pub module: String,
    /// Checked attributes, defaults filled in.
    pub attributes: Value,
    /// Where `assets.read` reads from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<PathBuf>,
    /// How the deployment names that folder (`components/hello`), for
    /// template errors; `assets` is another folder on an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets_name: Option<String>,
    /// The `require` calls of configure and their answers, in order.
    pub required: Vec<RequireRecord>,
    /// The `provide` calls of configure, in order.
    pub provided: Vec<(String, Value)>,
    pub children: Vec<Node>,
}

impl Node {
    /// Pre-order walk over the tree.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        for child in &self.children {
            child.walk(f);
        }
    }

    /// Every value provided anywhere in the tree.
    pub fn all_provided(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        self.walk(&mut |n| out.extend(n.provided.iter().cloned()));
        out
    }

    /// Every require of the tree.
    pub fn all_required(&self) -> Vec<&RequireRecord> {
        let mut out = Vec::new();
        self.walk(&mut |n| out.extend(n.required.iter()));
        out
    }

    pub fn count(&self) -> usize {
        let mut n = 0;
        self.walk(&mut |_| n += 1);
        n
    }
}

/// A root component on a host, in deploy order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootPlan {
    pub name: String,
    /// `work/<root>` on the target.
    pub workdir: PathBuf,
    /// What the environment grants the root and its sub-components.
    pub grants: Grants,
    /// The limits of each of its components' instances.
    pub limits: Limits,
    pub node: Node,
    /// Where the environment sets the root's attributes: (name,
    /// `file:line`), so that template errors name the line, on agents too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_locations: Vec<(String, String)>,
    /// The roots (on this host or another) that must have deployed before
    /// this one: their values are required here, or this root's values
    /// are required by them with `reverse`. Roots of one host deploy in
    /// the plan's order anyway; another host's roots are waited for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits_for: Vec<RootRef>,
    /// The modules its components run, in the order the tree first uses
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleUse>,
}

/// A module as `-P` names it beside the grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleUse {
    /// The standard library, `components/NAME`, or the resolved source
    /// of a module of batou.toml (`oci://…@sha256:…`).
    pub origin: String,
    /// sha256 of its bytes, hex.
    pub sha256: String,
}

/// A root on a host, as `host:root` in messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RootRef {
    pub host: String,
    pub root: String,
}

impl std::fmt::Display for RootRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.root)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostPlan {
    pub host: HostInfo,
    pub roots: Vec<RootPlan>,
    /// The environment's secret files that roots of this host are granted
    /// (`secret_files`), by name. They travel inside the plan, so only in
    /// the agent's channel, and an agent keeps them in memory.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_files: BTreeMap<String, Vec<u8>>,
    /// The secrets (key, value) some part of this plan holds, for the
    /// agent to mask in what it writes itself (its logs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<(String, String)>,
}

/// The whole environment, configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub environment: String,
    pub hosts: Vec<HostPlan>,
}

/// Limits of every component instance.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    /// Wasm execution time of one lifecycle call, in milliseconds.
    pub timeout_ms: u64,
    /// Linear memory of one instance, in bytes.
    pub memory: usize,
}

impl Limits {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }
}
