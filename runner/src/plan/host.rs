//! The host a component is deployed to, as the plan describes it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The host and environment a component is deployed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub fqdn: String,
    pub data: Value,
    pub environment: String,
}
