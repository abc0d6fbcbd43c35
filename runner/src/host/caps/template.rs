//! `template`: Jinja2 templates rendered on the host, strict undefined, in
//! batou's dialect (`@@` line statements, a colon allowed at the end of a
//! block statement, `batou_generated_header`).
//!
//! Errors read the same in every build and on every agent: the engine's
//! debug mode is always on, and what names a template (the asset's path in
//! the deployment, the environment file and line of an attribute) travels
//! in the plan ([`Origins`]).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::host::CapError;
use crate::host::bindings::batou::deploy::template;
use crate::host::bindings::batou::deploy::template::Origin;
use crate::host::state::StoreData;

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

impl template::Host for StoreData {
    fn render(&mut self, source: String, context: String) -> Result<String, CapError> {
        self.timed_render(&source, &context, None)
    }

    fn render_from(&mut self, source: String, context: String, origin: Origin) -> Result<String, CapError> {
        self.timed_render(&source, &context, Some(&origin))
    }
}

impl StoreData {
    /// Rendering is bounded by its own fuel, so its time is the runner's,
    /// not the component's Wasm time (as for a command).
    fn timed_render(&mut self, source: &str, context: &str, origin: Option<&Origin>) -> Result<String, CapError> {
        let started = std::time::Instant::now();
        let result = self.render_template(source, context, origin);
        self.call.host_time += started.elapsed();
        result
    }

    fn render_template(&self, source: &str, context: &str, origin: Option<&Origin>) -> Result<String, CapError> {
        let context: Value = serde_json::from_str(context)
            .map_err(|e| CapError::invalid(format!("template context is not JSON: {e}")))?;
        let Value::Object(mut vars) = context else {
            return Err(CapError::invalid("template context must be a JSON object"));
        };
        let host = &self.call.host;
        vars.entry("host").or_insert_with(|| json!({"name": host.name, "fqdn": host.fqdn, "data": host.data}));
        vars.entry("environment").or_insert_with(|| json!({"name": host.environment}));
        vars.entry("batou_generated_header").or_insert_with(|| json!(generated_header(&self.call.path)));
        let name = template_name(&self.call.templates, source, origin);
        let bounds = Bounds::of(self.call.timeout, self.memory_limit);
        render_named(&name, source, vars, &bounds)
    }
}

/// What one template may cost, from its component's limits: the engine's
/// fuel (a host call is not interrupted by the component's epoch
/// deadline, so a loop of a billion steps would run for hours) and the
/// size of its output (held in the runner's memory, not the guest's).
pub struct Bounds {
    fuel: u64,
    timeout: std::time::Duration,
    output: usize,
}

/// Engine steps per second of a component's `timeout`: about what the
/// engine does in a tenth of a second, so a template ends well within it.
const FUEL_PER_SECOND: u64 = 2_000_000;

impl Bounds {
    pub fn of(timeout: std::time::Duration, memory_limit: usize) -> Bounds {
        let fuel = (timeout.as_secs_f64() * FUEL_PER_SECOND as f64).max(FUEL_PER_SECOND as f64) as u64;
        Bounds { fuel, timeout, output: memory_limit }
    }
}

/// A `Vec` that refuses to grow past a limit.
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
    over: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            self.over = true;
            return Err(std::io::Error::other("over the limit"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The line a template sees as `batou_generated_header`.
pub fn generated_header(component: &str) -> String {
    format!("This file is generated by batou-run for {component}. Do not edit it: changes are overwritten.")
}

/// How a template is named in errors, before its line: the asset's path
/// (`components/hello/hello.txt`, to which `:line` is added), or the
/// environment's `file:line` of the root's attribute with this text.
enum Name {
    File(String),
    Attribute { location: String, name: String },
    Unknown(Option<String>),
}

fn template_name(origins: &Origins, source: &str, origin: Option<&Origin>) -> Name {
    let written = |name: Option<&str>| {
        origins
            .attributes
            .iter()
            .find(|a| name.is_none_or(|n| n == a.name) && a.value.as_str() == Some(source))
            .map(|a| Name::Attribute { location: a.location.clone(), name: a.name.clone() })
    };
    match origin {
        Some(Origin::Asset(asset)) => match &origins.assets {
            Some(dir) => Name::File(format!("{dir}/{asset}")),
            None => Name::Unknown(Some(format!("asset `{asset}`"))),
        },
        Some(Origin::Attribute(name)) => {
            written(Some(name)).unwrap_or_else(|| Name::Unknown(Some(format!("attribute `{name}`"))))
        }
        None => written(None).unwrap_or(Name::Unknown(None)),
    }
}

impl Name {
    fn at(&self, line: Option<usize>) -> String {
        match (self, line) {
            (Name::File(path), Some(line)) => format!("{path}:{line}"),
            (Name::File(path), None) => path.clone(),
            (Name::Attribute { location, name }, Some(line)) => format!("{location} (`{name}`), template line {line}"),
            (Name::Attribute { location, name }, None) => format!("{location} (`{name}`)"),
            (Name::Unknown(Some(what)), Some(line)) => format!("template from {what}, line {line}"),
            (Name::Unknown(Some(what)), None) => format!("template from {what}"),
            (Name::Unknown(None), Some(line)) => format!("template line {line}"),
            (Name::Unknown(None), None) => "template".to_owned(),
        }
    }
}

/// Renders without a name: errors say the template line only.
#[cfg(test)]
pub fn render(source: &str, vars: Map<String, Value>) -> Result<String, CapError> {
    render_named(&Name::Unknown(None), source, vars, &Bounds::of(std::time::Duration::from_secs(60), 512 << 20))
}

fn render_named(name: &Name, source: &str, vars: Map<String, Value>, bounds: &Bounds) -> Result<String, CapError> {
    let mut env = Environment::new();
    env.set_fuel(Some(bounds.fuel));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Without debug mode (the default of release builds) errors lack the
    // expression that failed.
    env.set_debug(true);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .line_statement_prefix("@@")
        .build()
        .expect("valid delimiters");
    env.set_syntax(syntax);
    let source = drop_block_colons(source);
    let vars = Value::Object(vars);
    let mut out = BoundedOutput { bytes: Vec::new(), limit: bounds.output, over: false };
    let rendered = env
        .template_from_str(&source)
        .and_then(|t| t.render_captured_to(minijinja::Value::from(minijinja::value::Serde(&vars)), &mut out));
    if out.over {
        return Err(CapError::invalid(format!(
            "{}: the template's output grew over {} MiB, the component's memory_limit; make it smaller or raise the limit",
            name.at(None),
            bounds.output >> 20
        )));
    }
    if let Err(e) = &rendered
        && e.kind() == ErrorKind::OutOfFuel
    {
        return Err(CapError::invalid(format!(
            "{}: the template did more work than its component's timeout of {:.0}s allows ({} engine steps; a loop \
             too long?); raise the timeout ([limits.<root>] timeout) if it is meant to",
            name.at(e.line()),
            bounds.timeout.as_secs_f64(),
            bounds.fuel
        )));
    }
    let rendered = rendered.map(|_| String::from_utf8(std::mem::take(&mut out.bytes)).expect("templates render text"));
    rendered.map_err(|e| {
        let what = match (e.kind(), e.detail()) {
            (ErrorKind::UndefinedError, Some(detail)) => detail.to_owned(),
            (kind, Some(detail)) => format!("{kind}: {detail}"),
            (kind, None) => kind.to_string(),
        };
        let mut msg = format!("{}: {what}", name.at(e.line()));
        if let Some(explained) = undefined_expression(&e).and_then(|expr| explain_undefined(&expr, &vars)) {
            msg.push_str(&format!(": {explained}"));
        }
        CapError::invalid(msg)
    })
}

/// The expression whose value was undefined, as the engine reports it in
/// debug mode ("`host.nmae` is undefined").
fn undefined_expression(e: &minijinja::Error) -> Option<String> {
    if !matches!(e.kind(), ErrorKind::UndefinedError | ErrorKind::InvalidOperation) {
        return None;
    }
    let detail = e.detail()?;
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')? + 1;
    Some(detail[start..end].to_owned())
}

/// One step of a variable path: `.name`, `["name"]` or `[0]`.
enum Step {
    Key(String),
    Index(usize),
}

/// `host.data["role"][0]` as steps; `None` for anything else (a call, an
/// operator, a filter).
fn parse_path(expr: &str) -> Option<Vec<Step>> {
    let is_ident = |c: char| c == '_' || c.is_ascii_alphanumeric();
    let mut steps = Vec::new();
    let mut rest = expr.trim();
    let first: String = rest.chars().take_while(|c| is_ident(*c)).collect();
    if first.is_empty() || first.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    rest = &rest[first.len()..];
    steps.push(Step::Key(first));
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let key: String = after.chars().take_while(|c| is_ident(*c)).collect();
            if key.is_empty() {
                return None;
            }
            rest = &after[key.len()..];
            steps.push(match key.parse() {
                Ok(index) => Step::Index(index),
                Err(_) => Step::Key(key),
            });
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inner = after[..close].trim();
            rest = &after[close + 1..];
            let quoted = inner
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            steps.push(match (quoted, inner.parse()) {
                (Some(key), _) => Step::Key(key.to_owned()),
                (None, Ok(index)) => Step::Index(index),
                (None, Err(_)) => return None,
            });
        } else {
            return None;
        }
    }
    Some(steps)
}

/// What is defined where `expr` found nothing: "`host` has no `nmae`: did
/// you mean 'name'? Valid choices: data, fqdn, name". `None` when the path
/// starts at a variable of the template itself (a loop variable, a `set`),
/// whose value the runner does not see, or is not a plain path.
fn explain_undefined(expr: &str, vars: &Value) -> Option<String> {
    let steps = parse_path(expr)?;
    let mut here = vars;
    let mut walked = String::new();
    for (i, step) in steps.iter().enumerate() {
        let next = match (step, here) {
            (Step::Key(key), Value::Object(map)) => map.get(key),
            (Step::Index(index), Value::Array(items)) => items.get(*index),
            (Step::Key(key), Value::Array(items)) => {
                return Some(format!("`{walked}` is a list of {} items, with no `{key}`", items.len()));
            }
            (_, Value::Object(_)) => return None,
            (_, scalar) if i > 0 => {
                let what = match scalar {
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "none",
                };
                return Some(format!("`{walked}` is {what}, which has no attributes"));
            }
            _ => return None,
        };
        let Some(next) = next else {
            if i == 0 && steps.len() > 1 {
                // `x.y` with `x` undefined is reported as `x` itself; so
                // `x` is the template's own variable.
                return None;
            }
            return Some(match (step, here) {
                (Step::Index(index), Value::Array(items)) => {
                    format!("`{walked}` has {} items, so there is no item {index}", items.len())
                }
                (Step::Key(key), Value::Object(map)) => {
                    let mut defined: Vec<&str> = map.keys().map(String::as_str).collect();
                    defined.sort_unstable();
                    let hint = crate::diagnostic::choices_hint(key, defined);
                    if i == 0 {
                        format!("no variable `{key}` is defined: {hint}")
                    } else {
                        format!("`{walked}` has no `{key}`: {hint}")
                    }
                }
                _ => return None,
            });
        };
        match step {
            Step::Key(key) if i == 0 => walked.push_str(key),
            Step::Key(key) if key.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) => {
                walked.push('.');
                walked.push_str(key);
            }
            Step::Key(key) => walked.push_str(&format!("[{key:?}]")),
            Step::Index(index) => walked.push_str(&format!("[{index}]")),
        }
        here = next;
    }
    None
}

/// batou's Jinja2 accepts a colon at the end of a block statement
/// (`{% for x in xs: %}`, `@@ if x:`), as Python's Jinja2 does; minijinja
/// does not. A colon there is never anything else (a slice ends with `]`,
/// a map with `}`), so it becomes a space: offsets and lines stay as they
/// were. Comments, expressions and `raw` blocks are left alone.
fn drop_block_colons(source: &str) -> Cow<'_, str> {
    let bytes = source.as_bytes();
    let mut colons = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < bytes.len() {
        if line_start {
            line_start = false;
            let indent = bytes[i..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            if bytes[i + indent..].starts_with(b"@@") {
                let body = i + indent + 2;
                let end = bytes[body..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| body + p);
                colons.extend(trailing_colon(&bytes[body..end]).map(|p| body + p));
                i = end;
                continue;
            }
        }
        let rest = &bytes[i..];
        if rest.starts_with(b"{#") {
            i = find(bytes, i + 2, b"#}").map_or(bytes.len(), |p| p + 2);
        } else if rest.starts_with(b"{{") {
            i = find_outside_strings(bytes, i + 2, b"}}").map_or(bytes.len(), |p| p + 2);
        } else if rest.starts_with(b"{%") {
            let body = i + 2;
            let Some(end) = find_outside_strings(bytes, body, b"%}") else { break };
            let inner = &bytes[body..end];
            let trimmed = std::str::from_utf8(inner)
                .unwrap_or_default()
                .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            if trimmed == "raw" {
                i = find(bytes, end, b"endraw").map_or(bytes.len(), |p| p + 6);
                continue;
            }
            colons.extend(trailing_colon(inner).map(|p| body + p));
            i = end + 2;
        } else {
            line_start = bytes[i] == b'\n';
            i += 1;
        }
    }
    if colons.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut out = bytes.to_vec();
    for p in colons {
        out[p] = b' ';
    }
    Cow::Owned(String::from_utf8(out).expect("a colon replaced by a space keeps UTF-8"))
}

/// The offset of a colon ending a statement's text (before whitespace
/// control such as `-%}`), if there is one.
fn trailing_colon(statement: &[u8]) -> Option<usize> {
    let mut end = statement.len();
    while end > 0 && statement[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if end > 0 && matches!(statement[end - 1], b'-' | b'+') {
        end -= 1;
    }
    while end > 0 && statement[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (end > 0 && statement[end - 1] == b':').then_some(end - 1)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

/// Like [`find`], skipping string literals (`"%}"` inside a tag).
fn find_outside_strings(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    let mut quote = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if bytes[i..].starts_with(needle) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(source: &str, vars: Map<String, Value>) -> String {
        let CapError::Guest(e) = render(source, vars).unwrap_err() else { panic!("a trap") };
        crate::host::error::describe(&e)
    }

    fn batou_like_vars() -> Map<String, Value> {
        let mut vars = Map::new();
        vars.insert("host".into(), json!({"name": "web", "fqdn": "web.example.com", "data": {"role": "db"}}));
        vars.insert("component".into(), json!({"servers": [{"name": "a"}, {"name": "b"}], "port": 80}));
        vars
    }

    #[test]
    fn strict_undefined_is_an_error_with_line() {
        let text = error_of("ok\n{{ nope }}", Map::new());
        assert!(text.contains("undefined") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn renders_and_keeps_trailing_newline() {
        let mut vars = Map::new();
        vars.insert("name".into(), json!("web"));
        assert_eq!(render("hi {{ name }}\n", vars).unwrap(), "hi web\n");
    }

    #[test]
    fn an_undefined_attribute_names_the_expression_and_what_is_defined() {
        let text = error_of("a\nHello {{ host.nmae }}", batou_like_vars());
        assert_eq!(
            text,
            "invalid: template line 2: `host.nmae` is undefined: `host` has no `nmae`: did you mean 'name'? Valid choices: data, fqdn, name"
        );
    }

    #[test]
    fn an_undefined_variable_lists_the_variables() {
        let text = error_of("{% if hots.name %}x{% endif %}", batou_like_vars());
        assert!(text.contains("`hots` is undefined"), "{text}");
        assert!(text.contains("did you mean 'host'? Valid choices: component, host"), "{text}");
    }

    #[test]
    fn deeper_paths_and_lists_are_explained() {
        let text = error_of("{{ host.data.rol }}", batou_like_vars());
        assert!(text.contains("`host.data` has no `rol`: did you mean 'role'?"), "{text}");
        let text = error_of("{{ component.servers[5].name }}", batou_like_vars());
        assert!(text.contains("`component.servers` has 2 items, so there is no item 5"), "{text}");
        let text = error_of("{{ host.data.role.x }}", batou_like_vars());
        assert!(
            text.ends_with("`host.data.role.x` is undefined: `host.data.role` is a string, which has no attributes"),
            "{text}"
        );
        let text = error_of("{{ host['nmae'] | upper }}", batou_like_vars());
        assert!(text.contains("`host` has no `nmae`: did you mean 'name'?"), "{text}");
    }

    #[test]
    fn a_loop_variable_is_named_without_guessing() {
        let text = error_of("@@ for s in component.servers\n{{ s.nmae }}\n@@ endfor\n", batou_like_vars());
        assert!(text.contains("`s.nmae` is undefined") && text.contains("line 2"), "{text}");
        assert!(!text.contains("Valid choices"), "{text}");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = error_of("a\n{% for x in %}\n{% endfor %}", Map::new());
        assert!(text.starts_with("invalid: template line 2: syntax error: "), "{text}");
    }

    #[test]
    fn batou_line_statements_and_colons_render() {
        let source = "servers:\n@@ for s in component.servers:\n  {{ s.name }}\n@@ endfor\n{% if component.port: %}port {{ component.port }}{% else: %}none{% endif %}\n{%- for k in [1]: -%}!{%- endfor %}\n";
        assert_eq!(render(source, batou_like_vars()).unwrap(), "servers:\n  a\n  b\nport 80!\n");
    }

    #[test]
    fn a_text_line_starting_with_the_prefix_is_written_as_an_expression() {
        assert_eq!(render("{{ '@@' }} -1 +1 @@\n", Map::new()).unwrap(), "@@ -1 +1 @@\n");
        let text = error_of("a\n@@ -1 +1 @@\n", Map::new());
        assert!(text.contains("line 2: syntax error"), "{text}");
    }

    #[test]
    fn colons_that_mean_something_are_kept() {
        let source = "{{ 'a:' }}{% set xs = [1, 2, 3][1:] %}{{ xs }}{# x: #}{% raw %}{% if x: %}{% endraw %}";
        assert_eq!(render(source, Map::new()).unwrap(), "a:[2, 3]{% if x: %}");
    }

    #[test]
    fn a_template_is_named_by_its_origin() {
        let origins = Origins {
            assets: Some("components/hello".into()),
            attributes: Arc::new(vec![EnvAttribute {
                name: "content".into(),
                location: "environments/dev.toml:9".into(),
                value: json!("x {{ y }}"),
            }]),
        };
        let asset = Origin::Asset("hello.txt".into());
        assert_eq!(template_name(&origins, "...", Some(&asset)).at(Some(3)), "components/hello/hello.txt:3");
        let attribute = Origin::Attribute("content".into());
        assert_eq!(
            template_name(&origins, "x {{ y }}", Some(&attribute)).at(Some(1)),
            "environments/dev.toml:9 (`content`), template line 1"
        );
        // Other text than the environment's is not named by its line.
        assert_eq!(
            template_name(&origins, "other", Some(&attribute)).at(Some(1)),
            "template from attribute `content`, line 1"
        );
        assert_eq!(template_name(&origins, "x {{ y }}", None).at(None), "environments/dev.toml:9 (`content`)");
    }
}
