//! `json-content`, `toml-content` and `yaml-content`: a file written from structured
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
        if let Some(key) = null_key(&self.data) {
            return Err(bad_attribute("data", format!("`{key}` is null, which TOML cannot hold; leave the key out")));
        }
        let text = toml::to_string(&self.data)
            .map_err(|e| Error::Invalid(format!("data cannot be written as TOML: {e}")))?;
        add_content(&self.path, text, self.mode)
    }
}

/// A YAML file from a table.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct YamlContent(stdlib::YamlContent);

attributes!(YamlContent => stdlib::YamlContent, 0);

impl Component for YamlContent {
    fn kind() -> Kind {
        stdlib::YamlContent::spec()
    }

    fn configure(&mut self) -> Result<()> {
        let mut text = String::new();
        yaml_map(&self.data, 0, &mut text);
        add_content(&self.path, text, self.mode)
    }
}

/// Block-style YAML of a table at `indent` spaces, each line ending in a
/// line break.
fn yaml_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    if map.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str("{}\n");
    }
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_scalar_text(key));
        out.push(':');
        yaml_value_after(value, indent, out);
    }
}

/// What follows `key:` or `-`: a scalar on the same line, or a block on
/// the next ones.
fn yaml_value_after(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            yaml_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_list(items, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn yaml_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        yaml_value_after(item, indent, out);
    }
}

/// A scalar (or an empty table or list) as YAML writes it inline.
fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_scalar_text(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string plain where YAML reads it back as the same string, else
/// double-quoted (YAML's double quotes take JSON's escapes).
fn yaml_scalar_text(s: &str) -> String {
    const WORDS: [&str; 22] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "True", "False", "TRUE", "FALSE", "Yes",
        "No", "YES", "NO", "On", "Off", "Null", "NULL",
    ];
    let first = s.chars().next();
    let plain = !s.is_empty()
        && s.trim() == s
        && !WORDS.contains(&s)
        && !first.is_some_and(|c| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_ascii_digit() || c == '.' || c == '+')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(|c| c.is_control());
    if plain { s.to_owned() } else { serde_json::to_string(s).expect("a string serializes") }
}

/// The dotted key of the first null value in `table`, if any.
fn null_key(table: &Map<String, Value>) -> Option<String> {
    fn inner(value: &Value, key: String) -> Option<String> {
        match value {
            Value::Null => Some(key),
            Value::Object(map) => map.iter().find_map(|(k, v)| inner(v, format!("{key}.{k}"))),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| inner(v, format!("{key}[{i}]"))),
            _ => None,
        }
    }
    table.iter().find_map(|(k, v)| inner(v, k.clone()))
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
