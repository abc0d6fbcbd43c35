//! The provide/require exchange as it travels in a plan: what each
//! `require` asked and received, and what a configure added.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Answers `model.require` during configure.
pub trait RequireAnswers: Send + Sync {
    /// The values provided under `key` (only on this host when `host_only`),
    /// or `None` if a replayed configure asks something it did not ask
    /// before.
    fn answer(&self, key: &str, host_only: bool) -> Option<Vec<Value>>;
}

/// A `require` call and the values it received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequireRecord {
    pub key: String,
    pub host_only: bool,
    pub strict: bool,
    pub reverse: bool,
    pub values: Vec<Value>,
}

/// A sub-component declared by `model.add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Added {
    pub kind: String,
    pub name: String,
    /// Checked against the kind's spec, defaults filled in.
    pub attributes: Value,
}
