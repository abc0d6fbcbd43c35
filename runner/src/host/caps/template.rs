//! `template`: Jinja2 templates rendered on the host, strict undefined.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::host::CapError;
use crate::host::bindings::batou::deploy::template;
use crate::host::state::StoreData;

impl template::Host for StoreData {
    fn render(&mut self, source: String, context: String) -> Result<String, CapError> {
        let context: Value = serde_json::from_str(&context)
            .map_err(|e| CapError::invalid(format!("template context is not JSON: {e}")))?;
        let Value::Object(mut vars) = context else {
            return Err(CapError::invalid("template context must be a JSON object"));
        };
        let host = &self.call.host;
        vars.entry("host").or_insert_with(|| json!({"name": host.name, "fqdn": host.fqdn, "data": host.data}));
        vars.entry("environment").or_insert_with(|| json!({"name": host.environment}));
        render(&source, vars)
    }
}

pub fn render(source: &str, vars: Map<String, Value>) -> Result<String, CapError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax =
        minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).build().expect("default delimiters");
    env.set_syntax(syntax);
    env.render_str(source, minijinja::Value::from(minijinja::value::Serde(Value::Object(vars)))).map_err(|e| {
        let mut msg = format!("template: {}", e.kind());
        if let Some(detail) = e.detail() {
            msg.push_str(&format!(": {detail}"));
        }
        if let Some(line) = e.line() {
            msg.push_str(&format!(" (template line {line})"));
        }
        CapError::invalid(msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_undefined_is_an_error_with_line() {
        let err = render("ok\n{{ nope }}", Map::new()).unwrap_err();
        let CapError::Guest(e) = err;
        let text = crate::host::error::describe(&e);
        assert!(text.contains("undefined") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn renders_and_keeps_trailing_newline() {
        let mut vars = Map::new();
        vars.insert("name".into(), json!("web"));
        assert_eq!(render("hi {{ name }}\n", vars).unwrap(), "hi web\n");
    }
}
