//! What names a component's templates in error messages, carried in the
//! plan so that an agent reports them as the controller would.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

/// What names a component's templates in messages.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// How the deployment names the component's asset folder
    /// (`components/hello`).
    pub assets: Option<String>,
    /// The root's attributes as the environment writes them.
    pub attributes: Arc<Vec<EnvAttribute>>,
}

/// An attribute of a root, written in the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvAttribute {
    pub name: String,
    /// `environments/dev.toml:12`
    pub location: String,
    pub value: Value,
}

impl Origins {
    /// The root's attributes from `(name, location)` pairs and the root's
    /// attribute values; those without a location are not in the
    /// environment (defaults).
    pub fn root_attributes(locations: &[(String, String)], values: &Value) -> Arc<Vec<EnvAttribute>> {
        Arc::new(
            locations
                .iter()
                .filter_map(|(name, location)| {
                    let value = values.get(name)?.clone();
                    Some(EnvAttribute { name: name.clone(), location: location.clone(), value })
                })
                .collect(),
        )
    }
}

/// How the deployment names an asset folder: `components/<name>`, where
/// modules and roots of a deployment keep their assets.
pub fn asset_folder_name(dir: &Path) -> String {
    match dir.file_name() {
        Some(name) => format!("components/{}", name.to_string_lossy()),
        None => dir.display().to_string(),
    }
}
