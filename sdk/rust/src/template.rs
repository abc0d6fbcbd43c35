//! Jinja2 templates, rendered by the runner (one engine for every guest
//! language; a missing variable is an error).

use serde::Serialize;

use crate::__bindings::batou::deploy::template as wit;
use crate::{Error, Result};

/// Renders `source` with the variables of `context`, which must serialise
/// to a JSON object (a struct, a map or `serde_json::json!({...})`).
///
/// `host` (`name`, `fqdn`, `data`) and `environment` (`name`) are always
/// defined unless `context` sets them. Allowed in every step, including
/// `configure`.
///
/// ```no_run
/// # fn f() -> batou_sdk::Result<()> {
/// let text = batou_sdk::template::render(
///     "Hello {{ name }} on {{ host.name }}",
///     &serde_json::json!({ "name": "World" }),
/// )?;
/// # Ok(()) }
/// ```
pub fn render(source: &str, context: &impl Serialize) -> Result<String> {
    let context = serde_json::to_string(context)?;
    if !context.starts_with('{') {
        return Err(Error::Invalid(format!(
            "a template context must be a JSON object, not {context}"
        )));
    }
    Ok(wit::render(source, &context)?)
}
