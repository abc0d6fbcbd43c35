//! Jinja2 templates, rendered by the runner (one engine for every guest
//! language; a missing variable is an error). batou's dialect works too:
//! `@@` starts a line statement, a colon may end a block statement, and
//! `batou_generated_header` is defined.

use serde::Serialize;

use crate::__bindings::batou::deploy::template as wit;
use crate::{Error, Result};

/// Where a template's text comes from, so that its errors can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// An asset of the component, by the name [`crate::assets::read`]
    /// takes: errors name its path in the deployment and the line.
    Asset(&'a str),
    /// An attribute of the component, by name: when the root component
    /// sets that attribute to this very text in the environment, errors
    /// name that file and line.
    Attribute(&'a str),
}

/// Renders `source` with the variables of `context`, which must serialise
/// to a JSON object (a struct, a map or `serde_json::json!({...})`).
///
/// `host` (`name`, `fqdn`, `data`), `environment` (`name`) and
/// `batou_generated_header` are always defined unless `context` sets them.
/// Allowed in every step, including `configure`. Errors say what is
/// undefined or wrong and where; [`render_from`] lets them name the file.
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
    let context = context_json(context)?;
    if is_plain_text(source) {
        return Ok(source.to_owned());
    }
    Ok(wit::render(source, &context)?)
}

/// [`render`] a template that comes from `origin`, whose errors then name
/// it: `components/hello/hello.txt:3: ...`.
///
/// ```no_run
/// # fn f() -> batou_sdk::Result<()> {
/// use batou_sdk::template::{Origin, render_from};
/// let source = String::from_utf8(batou_sdk::assets::read("motd.txt")?).unwrap();
/// let text = render_from(&source, &serde_json::json!({}), Origin::Asset("motd.txt"))?;
/// # Ok(()) }
/// ```
pub fn render_from(source: &str, context: &impl Serialize, origin: Origin<'_>) -> Result<String> {
    let context = context_json(context)?;
    if is_plain_text(source) {
        return Ok(source.to_owned());
    }
    let origin = match origin {
        Origin::Asset(name) => wit::Origin::Asset(name.to_owned()),
        Origin::Attribute(name) => wit::Origin::Attribute(name.to_owned()),
    };
    Ok(wit::render_from(source, &context, &origin)?)
}

/// Whether `source` holds no template syntax: no `{{`, `{%` or `{#`, and no
/// line starting (after blanks) with the line-statement prefix `@@`. Such
/// text is its own rendering, so it is not sent to the runner (most
/// `content` is plain: a call less for every file). The runner keeps the
/// same rule for modules built before this one.
fn is_plain_text(source: &str) -> bool {
    !source.contains("{{")
        && !source.contains("{%")
        && !source.contains("{#")
        && !source.lines().any(|line| line.trim_start().starts_with("@@"))
}

fn context_json(context: &impl Serialize) -> Result<String> {
    let context = serde_json::to_string(context)?;
    if !context.starts_with('{') {
        return Err(Error::Invalid(format!("a template context must be a JSON object, not {context}")));
    }
    Ok(context)
}
