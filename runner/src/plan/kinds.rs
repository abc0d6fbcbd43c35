//! The kinds every loaded module exports, and the checking of attributes
//! against their specs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{choices_hint, did_you_mean};

/// A kind a module exports, as the runner keeps it (the contract's
/// `kind-spec`, free of the bindings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindSpec {
    pub name: String,
    pub doc: String,
    pub attributes: Vec<AttributeSpec>,
}

/// One attribute of a kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: AttributeType,
    /// JSON text; none if the attribute is required.
    pub default: Option<String>,
    pub doc: String,
}

/// The type of a typed list's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScalarType {
    String,
    Integer,
    Float,
    Boolean,
    Mode,
}

/// The type an attribute's value must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttributeType {
    String,
    Integer,
    Float,
    Boolean,
    List,
    ListOf(ScalarType),
    Table,
    Mode,
    Choice(Vec<String>),
    Any,
}

impl AttributeType {
    fn of_scalar(ty: ScalarType) -> AttributeType {
        match ty {
            ScalarType::String => AttributeType::String,
            ScalarType::Integer => AttributeType::Integer,
            ScalarType::Float => AttributeType::Float,
            ScalarType::Boolean => AttributeType::Boolean,
            ScalarType::Mode => AttributeType::Mode,
        }
    }

    /// How `batou-run` help and errors name the type.
    pub fn describe(&self) -> String {
        match self {
            AttributeType::ListOf(ty) => format!("a list of {}", plural(*ty)),
            AttributeType::Choice(choices) => {
                let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            other => type_expected(other).to_string(),
        }
    }
}

fn plural(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::String => "strings",
        ScalarType::Integer => "integers",
        ScalarType::Float => "numbers",
        ScalarType::Boolean => "booleans",
        ScalarType::Mode => "file modes",
    }
}

/// A kind and the module that exports it.
pub struct KindEntry {
    pub module: usize,
    pub spec: KindSpec,
    /// Each attribute's parsed default, in the spec's order (`None`:
    /// required): `check` takes them by position, not by a name lookup,
    /// for every component. Private: only `register` makes it, beside
    /// the spec it must match one for one.
    defaults: Vec<Option<Value>>,
}

/// Every kind the deployment can use, by name.
#[derive(Default)]
pub struct Kinds {
    pub by_name: BTreeMap<String, KindEntry>,
}

/// A problem with one attribute (or the attribute set as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeError {
    pub attribute: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for AttributeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl Kinds {
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.by_name.keys().map(String::as_str)
    }

    pub fn get(&self, kind: &str) -> Option<&KindEntry> {
        self.by_name.get(kind)
    }

    /// Registers a module's kinds; a name exported twice is an error.
    pub fn register(
        &mut self,
        module: usize,
        module_name: &str,
        specs: Vec<KindSpec>,
        owner_of: impl Fn(usize) -> String,
    ) -> Result<(), String> {
        for spec in specs {
            if let Some(existing) = self.by_name.get(&spec.name) {
                return Err(format!(
                    "kind `{}` is exported by both {} and {module_name}; rename one of them",
                    spec.name,
                    owner_of(existing.module)
                ));
            }
            let mut defaults = Vec::with_capacity(spec.attributes.len());
            for attr in &spec.attributes {
                let default = match &attr.default {
                    Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                        format!(
                            "{module_name}: kind `{}` attribute `{}` has a default that is not JSON: {e}",
                            spec.name, attr.name
                        )
                    })?),
                    None => None,
                };
                defaults.push(default);
            }
            self.by_name.insert(spec.name.clone(), KindEntry { module, spec, defaults });
        }
        Ok(())
    }

    /// Checks `attributes` against the spec of `kind`: unknown names,
    /// missing required ones and ill-typed values are errors (all of them
    /// are reported). Returns the object with defaults filled in and modes
    /// as integers.
    pub fn check(&self, kind: &str, mut attributes: Map<String, Value>) -> Result<Value, Vec<AttributeError>> {
        let Some(entry) = self.get(kind) else {
            return Err(vec![AttributeError {
                attribute: None,
                message: format!("unknown component kind `{kind}`"),
                hint: Some(choices_hint(kind, self.names())),
            }]);
        };
        let spec = &entry.spec;
        let mut errors = Vec::new();
        let known = || spec.attributes.iter().map(|a| a.name.as_str());
        for name in attributes.keys() {
            if !spec.attributes.iter().any(|a| &a.name == name) {
                errors.push(AttributeError {
                    attribute: Some(name.clone()),
                    message: format!("unknown attribute `{name}` for kind `{kind}`"),
                    hint: Some(choices_hint(name, known())),
                });
            }
        }
        // Sized once: growing it attribute by attribute was a tenth of a
        // no-change deploy's time (`check` runs for every component).
        let mut out = Map::with_capacity(spec.attributes.len());
        for (attr, default) in spec.attributes.iter().zip(&entry.defaults) {
            // Moved, not cloned: a file's content may be large.
            let value = match attributes.swap_remove(&attr.name) {
                Some(v) => v,
                None => match default {
                    Some(default) => default.clone(),
                    None => {
                        errors.push(AttributeError {
                            attribute: Some(attr.name.clone()),
                            message: format!("missing required attribute `{}` for kind `{kind}`", attr.name),
                            hint: (!attr.doc.is_empty()).then(|| format!("{}: {}", attr.name, attr.doc)),
                        });
                        continue;
                    }
                },
            };
            let optional = default.as_ref().is_some_and(Value::is_null);
            match check_type(&attr.type_, value, optional) {
                Ok(v) => {
                    out.insert(attr.name.clone(), v);
                }
                Err(expected) => errors.push(AttributeError {
                    attribute: Some(attr.name.clone()),
                    message: format!("attribute `{}` of kind `{kind}` must be {expected}", attr.name,),
                    hint: (!attr.doc.is_empty()).then(|| format!("{}: {}", attr.name, attr.doc)),
                }),
            }
        }
        if errors.is_empty() { Ok(Value::Object(out)) } else { Err(errors) }
    }
}

/// The value as the component receives it, or what it should have been
/// and what it is.
fn check_type(ty: &AttributeType, value: Value, optional: bool) -> Result<Value, String> {
    if value.is_null() && optional {
        return Ok(value);
    }
    let not = |value: &Value| format!("{}, not {}", ty.describe(), json_type(value));
    let ok = match ty {
        AttributeType::ListOf(element) => {
            let Value::Array(items) = value else { return Err(not(&value)) };
            let element = AttributeType::of_scalar(*element);
            let checked: Result<Vec<Value>, String> = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let found = json_type(&item);
                    check_type(&element, item, false)
                        .map_err(|_| format!("{} (item {} is {found})", ty.describe(), i + 1))
                })
                .collect();
            return checked.map(Value::Array);
        }
        AttributeType::Choice(choices) => {
            if value.as_str().is_some_and(|v| choices.iter().any(|c| c == v)) {
                return Ok(value);
            }
            let hint = match value.as_str() {
                // The choices are in the message already: only the near one.
                Some(v) => match did_you_mean(v, choices.iter().map(String::as_str)) {
                    Some(near) => format!(", not \"{v}\" (did you mean '{near}'?)"),
                    None => format!(", not \"{v}\""),
                },
                None => format!(", not {}", json_type(&value)),
            };
            return Err(format!("{}{hint}", ty.describe()));
        }
        AttributeType::String => value.is_string(),
        AttributeType::Integer => value.is_i64() || value.is_u64(),
        AttributeType::Float => value.is_number(),
        AttributeType::Boolean => value.is_boolean(),
        AttributeType::List => value.is_array(),
        AttributeType::Table => value.is_object(),
        AttributeType::Any => true,
        AttributeType::Mode => return parse_mode(&value).map(Value::from).ok_or_else(|| not(&value)),
    };
    if ok { Ok(value) } else { Err(not(&value)) }
}

const MODE_EXPECTED: &str =
    "a file mode: an integer such as 0o640, an octal string such as \"0640\" or a string such as \"rw-r-----\"";

fn type_expected(ty: &AttributeType) -> &'static str {
    match ty {
        AttributeType::String => "a string",
        AttributeType::Integer => "an integer",
        AttributeType::Float => "a number",
        AttributeType::Boolean => "a boolean (true or false)",
        AttributeType::List => "a list",
        AttributeType::Table => "a table",
        AttributeType::Mode => MODE_EXPECTED,
        AttributeType::Any => "any value",
        AttributeType::ListOf(_) => "a list",
        AttributeType::Choice(_) => "one of its choices",
    }
}

pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// Permission bits from `0o640`, `"0640"`, `"640"`, `"0o640"` or `"rw-r-----"`.
pub fn parse_mode(value: &Value) -> Option<u32> {
    let mode = match value {
        Value::Number(n) => n.as_u64().and_then(|m| u32::try_from(m).ok())?,
        Value::String(s) => {
            let s = s.trim();
            if s.len() == 9 && s.chars().all(|c| "rwxsStT-".contains(c)) {
                symbolic_mode(s)?
            } else {
                let digits = s.strip_prefix("0o").unwrap_or(s);
                if digits.is_empty() || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
                    return None;
                }
                u32::from_str_radix(digits, 8).ok()?
            }
        }
        _ => return None,
    };
    (mode <= 0o7777).then_some(mode)
}

fn symbolic_mode(s: &str) -> Option<u32> {
    let c: Vec<char> = s.chars().collect();
    let mut mode = 0;
    for (i, (want, bit)) in [
        ('r', 0o400),
        ('w', 0o200),
        ('x', 0o100),
        ('r', 0o040),
        ('w', 0o020),
        ('x', 0o010),
        ('r', 0o004),
        ('w', 0o002),
        ('x', 0o001),
    ]
    .into_iter()
    .enumerate()
    {
        let special = [0o4000, 0o2000, 0o1000][i / 3];
        match c[i] {
            '-' => {}
            ch if ch == want => mode |= bit,
            's' | 't' if want == 'x' => mode |= bit | special,
            'S' | 'T' if want == 'x' => mode |= special,
            _ => return None,
        }
    }
    Some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds() -> Kinds {
        let mut k = Kinds::default();
        let attr = |name: &str, ty, default: Option<&str>| AttributeSpec {
            name: name.into(),
            type_: ty,
            default: default.map(str::to_string),
            doc: format!("the {name}"),
        };
        k.register(
            0,
            "std",
            vec![KindSpec {
                name: "file".into(),
                doc: String::new(),
                attributes: vec![
                    attr("path", AttributeType::String, None),
                    attr("mode", AttributeType::Mode, Some("null")),
                    attr("leading", AttributeType::Boolean, Some("false")),
                    attr("ensure", AttributeType::Choice(vec!["file".into(), "directory".into()]), Some("\"file\"")),
                    attr("modes", AttributeType::ListOf(ScalarType::Mode), Some("[]")),
                ],
            }],
            |_| "std".into(),
        )
        .unwrap();
        k
    }

    #[test]
    fn modes_in_all_three_spellings() {
        for v in [json!(0o640), json!("0640"), json!("640"), json!("0o640"), json!("rw-r-----")] {
            assert_eq!(parse_mode(&v), Some(0o640), "{v}");
        }
        assert_eq!(parse_mode(&json!("rwsr-xr-t")), Some(0o5755));
        assert_eq!(parse_mode(&json!("0999")), None);
        assert_eq!(parse_mode(&json!(0o10000)), None);
        assert_eq!(parse_mode(&json!(true)), None);
    }

    #[test]
    fn fills_defaults_and_normalises_modes() {
        let out =
            kinds().check("file", json!({"path": "a", "mode": "rw-r--r--"}).as_object().unwrap().clone()).unwrap();
        assert_eq!(out, json!({"path": "a", "mode": 0o644, "leading": false, "ensure": "file", "modes": []}));
    }

    #[test]
    fn reports_every_bad_attribute_with_choices() {
        let errs =
            kinds().check("file", json!({"paht": "a", "leading": "yes"}).as_object().unwrap().clone()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{text:?}");
        assert!(text[0].contains("unknown attribute `paht`") && text[0].contains("did you mean 'path'?"), "{text:?}");
        assert!(text[1].contains("missing required attribute `path`"), "{text:?}");
        assert!(text[2].contains("`leading` of kind `file` must be a boolean"), "{text:?}");
    }

    #[test]
    fn choices_and_typed_lists_are_checked_element_by_element() {
        let ok = kinds().check(
            "file",
            json!({"path": "a", "ensure": "directory", "modes": ["0640", 0o755]}).as_object().unwrap().clone(),
        );
        assert_eq!(ok.unwrap()["modes"], json!([0o640, 0o755]), "typed list elements are converted like the type");
        let errs = kinds()
            .check(
                "file",
                json!({"path": "a", "ensure": "dirctory", "modes": [0o640, "rwx"]}).as_object().unwrap().clone(),
            )
            .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{text:?}");
        assert!(
            text[0].contains(r#"must be one of "file", "directory", not "dirctory" (did you mean 'directory'?)"#),
            "{text:?}"
        );
        assert!(text[1].contains("must be a list of file modes (item 2 is a string)"), "{text:?}");
        let errs =
            kinds().check("file", json!({"path": "a", "modes": "0640"}).as_object().unwrap().clone()).unwrap_err();
        assert!(errs[0].to_string().contains("must be a list of file modes, not a string"), "{errs:?}");
    }

    #[test]
    fn unknown_kind_lists_known_ones() {
        let errs = kinds().check("fiel", Map::new()).unwrap_err();
        assert!(errs[0].to_string().contains("did you mean 'file'?"), "{:?}", errs);
    }
}
