//! A TOML file parsed with the position of every key and value, so that
//! every error can name `file:line`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Diagnostics, choices_hint};

/// A TOML file's text and the name it is shown under.
pub struct Source {
    pub shown_as: String,
    pub text: String,
    /// Byte offsets where lines start, to turn offsets into line numbers
    /// without rescanning the text (environments can have thousands of
    /// roots).
    line_starts: Vec<usize>,
}

impl Source {
    pub fn read(path: &Path, shown_as: String) -> Result<Source, Diagnostics> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", path.display())).at(shown_as.clone()))?;
        Ok(Source::new(shown_as, text))
    }

    pub fn new(shown_as: String, text: String) -> Source {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { shown_as, text, line_starts }
    }

    /// `file:line` of a byte offset.
    pub fn location(&self, offset: usize) -> String {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        // Put together directly: every key and value of an environment
        // gets its location, and `format!` is a call per piece.
        let mut digits = itoa::Buffer::new();
        let line = digits.format(line);
        let mut at = String::with_capacity(self.shown_as.len() + 1 + line.len());
        at.push_str(&self.shown_as);
        at.push(':');
        at.push_str(line);
        at
    }

    pub fn parse(&self) -> Result<Spanned<DeTable<'_>>, Diagnostics> {
        DeTable::parse(&self.text).map_err(|e| {
            let at = e.span().map(|s| self.location(s.start)).unwrap_or_else(|| self.shown_as.clone());
            Diagnostic::new(format!("malformed TOML: {}", e.message().trim()))
                .at(at)
                .hint("fix the syntax; see https://toml.io")
                .into()
        })
    }
}

/// One TOML table being read, which reports keys nobody asked for.
pub struct TableReader<'s, 'i> {
    source: &'s Source,
    table: &'s DeTable<'i>,
    what: String,
    known: Vec<&'static str>,
}

impl<'s, 'i> TableReader<'s, 'i> {
    pub fn new(source: &'s Source, table: &'s DeTable<'i>, what: impl Into<String>) -> Self {
        TableReader { source, table, what: what.into(), known: Vec::new() }
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'s Spanned<DeValue<'i>>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.table.get(key)
    }

    pub fn string(&mut self, key: &'static str, errors: &mut Diagnostics) -> Option<Spanned<String>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
            other => {
                errors.push(self.type_error(key, value.span().start, "a string", other));
                None
            }
        }
    }

    pub fn integer(&mut self, key: &'static str, errors: &mut Diagnostics) -> Option<i64> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Integer(i) => i.to_i64().or_else(|| {
                errors.push(
                    Diagnostic::new(format!("{key} is out of range")).at(self.source.location(value.span().start)),
                );
                None
            }),
            other => {
                errors.push(self.type_error(key, value.span().start, "an integer", other));
                None
            }
        }
    }

    pub fn table(&mut self, key: &'static str, errors: &mut Diagnostics) -> Option<&'s Spanned<DeValue<'i>>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Table(_) => Some(value),
            other => {
                errors.push(self.type_error(key, value.span().start, "a table", other));
                None
            }
        }
    }

    fn type_error(&self, key: &str, offset: usize, expected: &str, found: &DeValue<'_>) -> Diagnostic {
        Diagnostic::new(format!("{} `{key}` must be {expected}, not {}", self.what, type_name(found)))
            .at(self.source.location(offset))
    }

    /// Reports every key of the table that was never asked for.
    pub fn finish(self, errors: &mut Diagnostics) {
        for (key, _) in self.table.iter() {
            if !self.known.contains(&key.get_ref().as_ref()) {
                errors.push(
                    Diagnostic::new(format!("unknown key `{}` in {}", key.get_ref(), self.what))
                        .at(self.source.location(key.span().start))
                        .hint(choices_hint(key.get_ref(), self.known.iter().copied())),
                );
            }
        }
    }
}

pub fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The JSON form of a TOML value: integers, booleans, lists stay typed.
pub fn to_json(value: &DeValue<'_>) -> Value {
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => i.to_i64().map(Value::from).unwrap_or(Value::Null),
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|v| to_json(v.get_ref())).collect()),
        DeValue::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref()))).collect())
        }
    }
}

trait ToI64 {
    fn to_i64(&self) -> Option<i64>;
}

impl ToI64 for toml::de::DeInteger<'_> {
    fn to_i64(&self) -> Option<i64> {
        i64::from_str_radix(&self.as_str().replace('_', ""), self.radix()).ok()
    }
}

/// The path a file is shown under: relative to the deployment.
pub fn shown_path(deployment: &Path, path: &Path) -> String {
    path.strip_prefix(deployment).map(PathBuf::from).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}
