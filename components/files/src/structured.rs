//! `json-content` and `toml-content`: a file written from structured
//! data, keys in the environment's order (batou's JSONContent). Each
//! renders its text in configure and adds one `content` for it, so the
//! write, the diff and `-P` are `content`'s.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::attributes;

/// A JSON file from a table.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct JsonContent(stdlib::JsonContent);

attributes!(JsonContent => stdlib::JsonContent, 0);

impl Component for JsonContent {
    fn kind() -> Kind {
        stdlib::JsonContent::spec()
    }

    fn configure(&mut self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.data)
            .map_err(|e| Error::Invalid(format!("data cannot be written as JSON: {e}")))?;
        text.push('\n');
        add_content(&self.path, text, self.mode)
    }
}

/// A TOML file from a table.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct TomlContent(stdlib::TomlContent);

attributes!(TomlContent => stdlib::TomlContent, 0);

impl Component for TomlContent {
    fn kind() -> Kind {
        stdlib::TomlContent::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if let Some(key) = null_key(&self.data, "") {
            return Err(bad_attribute("data", format!("`{key}` is null, which TOML cannot hold; leave the key out")));
        }
        let text = toml::to_string(&self.data)
            .map_err(|e| Error::Invalid(format!("data cannot be written as TOML: {e}")))?;
        add_content(&self.path, text, self.mode)
    }
}

/// The dotted key of the first null value in `table`, if any.
fn null_key(table: &Map<String, Value>, prefix: &str) -> Option<String> {
    fn inner(value: &Value, key: String) -> Option<String> {
        match value {
            Value::Null => Some(key),
            Value::Object(map) => map.iter().find_map(|(k, v)| inner(v, format!("{key}.{k}"))),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| inner(v, format!("{key}[{i}]"))),
            _ => None,
        }
    }
    table.iter().find_map(|(k, v)| inner(v, if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }))
}

/// The `content` that writes `text` to `path`.
fn add_content(path: &str, text: String, mode: Option<u32>) -> Result<()> {
    model::add_kind(
        path,
        &stdlib::Content {
            path: path.to_owned(),
            content: Some(text),
            is_template: false,
            mode,
            ..Default::default()
        },
    )?;
    Ok(())
}
