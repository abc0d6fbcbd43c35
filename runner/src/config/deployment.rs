//! Reading `batou.toml`: the deployment's modules that come from outside
//! its `components/` folders.
//!
//! They are the deployment's, not an environment's: a kind means the same
//! bytes in every environment, so what was tried in staging is what runs
//! in production, and one `batou.lock` beside it pins them all.

use std::path::{Path, PathBuf};

use toml::de::DeValue;

use super::source::{Source, TableReader, type_name};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// The file's name, in the deployment's root.
pub const FILE: &str = "batou.toml";

/// `batou.toml`, checked for unknown keys and ill-typed values.
#[derive(Debug, Clone, Default)]
pub struct DeploymentConfig {
    /// `[components.NAME]`, in the file's order.
    pub modules: Vec<ExternalModule>,
    /// `[registries] insecure = [...]`: registries reached over plain HTTP
    /// although they are not on this machine.
    pub insecure_registries: Vec<String>,
}

/// `[components.NAME]`: a module from a file, a URL or a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalModule {
    pub name: String,
    pub source: ModuleSource,
    /// `sha256 = "sha256:…"`, hex: a pin of the bytes written by the user
    /// (required for a URL, which has no digest of its own).
    pub sha256: Option<String>,
    /// `batou.toml:LINE` of the table.
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A `.wasm` file, relative to the deployment (or absolute).
    File(PathBuf),
    /// `https://…` (or `http://` on this machine).
    Url(String),
    /// `oci://HOST[:PORT]/NS/NAME:TAG` or `…@sha256:…`, as written.
    Oci(String),
}

impl ModuleSource {
    /// The source as `batou.toml` and `batou.lock` write it.
    pub fn as_written(&self) -> String {
        match self {
            ModuleSource::File(path) => path.display().to_string(),
            ModuleSource::Url(url) | ModuleSource::Oci(url) => url.clone(),
        }
    }
}

/// Reads `<deployment>/batou.toml`; a deployment without one has no
/// modules from outside.
pub fn load_deployment_config(deployment: &Path) -> Result<DeploymentConfig, Diagnostics> {
    let path = deployment.join(FILE);
    if !path.exists() {
        return Ok(DeploymentConfig::default());
    }
    let source = Source::read(&path, FILE.to_string())?;
    parse(&source)
}

pub fn parse(source: &Source) -> Result<DeploymentConfig, Diagnostics> {
    let doc = source.parse()?;
    let mut errors = Diagnostics::default();
    let mut config = DeploymentConfig::default();
    let mut top = TableReader::new(source, doc.get_ref(), "batou.toml");
    if let Some(components) = top.table("components", &mut errors) {
        let DeValue::Table(components) = components.get_ref() else { unreachable!("checked as a table") };
        for (name, value) in components.iter() {
            let name_at = source.location(name.span().start);
            let name = name.get_ref().to_string();
            if let Err(problem) = check_name(&name) {
                errors.push(
                    Diagnostic::new(format!("[components.{name}] in batou.toml: {problem}"))
                        .at(name_at.clone())
                        .hint("a component's name is its kinds' module name: letters, digits, `-` and `_`"),
                );
                continue;
            }
            let DeValue::Table(table) = value.get_ref() else {
                errors.push(
                    Diagnostic::new(format!(
                        "[components.{name}] in batou.toml must be a table, not {}",
                        type_name(value.get_ref())
                    ))
                    .at(name_at)
                    .hint(format!("write it as [components.{name}] with source = \"oci://…\", a URL or a .wasm path")),
                );
                continue;
            };
            if let Some(module) = read_module(source, &name, name_at, table, &mut errors) {
                config.modules.push(module);
            }
        }
    }
    if let Some(registries) = top.table("registries", &mut errors) {
        let DeValue::Table(table) = registries.get_ref() else { unreachable!("checked as a table") };
        let mut reader = TableReader::new(source, table, "[registries]");
        if let Some(insecure) = reader.get("insecure") {
            match insecure.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        match item.get_ref() {
                            DeValue::String(s) => config.insecure_registries.push(s.to_string()),
                            other => errors.push(
                                Diagnostic::new(format!(
                                    "[registries] insecure lists registries (`host:port`), not {}",
                                    type_name(other)
                                ))
                                .at(source.location(item.span().start)),
                            ),
                        }
                    }
                }
                other => errors.push(
                    Diagnostic::new(format!(
                        "[registries] insecure must be a list of registries, not {}",
                        type_name(other)
                    ))
                    .at(source.location(insecure.span().start))
                    .hint("insecure = [\"registry.lan:5000\"]"),
                ),
            }
        }
        reader.finish(&mut errors);
    }
    top.finish(&mut errors);
    errors.into_result(config)
}

fn read_module(
    source: &Source,
    name: &str,
    location: String,
    table: &toml::de::DeTable<'_>,
    errors: &mut Diagnostics,
) -> Option<ExternalModule> {
    let what = format!("[components.{name}] in batou.toml");
    let mut reader = TableReader::new(source, table, what.clone());
    let before = errors.0.len();
    let written = reader.string("source", errors);
    let sha256 = reader.string("sha256", errors).and_then(|pin| match parse_sha256(pin.get_ref()) {
        Ok(hex) => Some(hex),
        Err(problem) => {
            errors.push(
                Diagnostic::new(format!("{what}: sha256 {problem}"))
                    .at(source.location(pin.span().start))
                    .hint("write the digest as sha256:<64 hex digits> (`sha256sum FILE` prints them)"),
            );
            None
        }
    });
    reader.finish(errors);
    let Some(written) = written else {
        if table.get("source").is_none() {
            errors.push(
                Diagnostic::new(format!("{what} has no source"))
                    .at(location)
                    .hint("source = \"oci://HOST/NS/NAME:TAG\", \"https://…/NAME.wasm\" or a path to a .wasm file"),
            );
        }
        return None;
    };
    let at = source.location(written.span().start);
    let text = written.get_ref().trim();
    let module_source = if text.starts_with("oci://") {
        ModuleSource::Oci(text.to_string())
    } else if text.starts_with("https://") || text.starts_with("http://") {
        ModuleSource::Url(text.to_string())
    } else if let Some((scheme, _)) = text.split_once("://") {
        errors.push(
            Diagnostic::new(format!("{what}: a source of scheme `{scheme}://` is not supported"))
                .at(at)
                .hint("use oci://, https:// or a path to a .wasm file"),
        );
        return None;
    } else if text.is_empty() {
        errors.push(Diagnostic::new(format!("{what}: source is empty")).at(at));
        return None;
    } else {
        ModuleSource::File(PathBuf::from(text))
    };
    if matches!(module_source, ModuleSource::Url(_)) && sha256.is_none() && errors.0.len() == before {
        errors.push(
            Diagnostic::new(format!("{what}: a module from a URL needs its sha256"))
                .at(at)
                .hint("add sha256 = \"sha256:<hex>\": the runner refuses bytes that differ from it"),
        );
        return None;
    }
    (errors.0.len() == before).then(|| ExternalModule {
        name: name.to_string(),
        source: module_source,
        sha256,
        location,
    })
}

/// A digest as `sha256:<hex>` (or bare hex), to lower-case hex.
pub fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{text}` is not a sha256 digest"));
    }
    Ok(hex.to_ascii_lowercase())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{name}` is not a usable name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<DeploymentConfig, Diagnostics> {
        parse(&Source::new(FILE.into(), text.into()))
    }

    fn messages(text: &str) -> Vec<String> {
        let errors = parse_text(text).expect_err("refused");
        errors.0.iter().map(|d| format!("{} {}", d.location.clone().unwrap_or_default(), d.message)).collect()
    }

    #[test]
    fn every_kind_of_source_is_read_with_its_line() {
        let config = parse_text(
            "[components.a]\nsource = \"oci://127.0.0.1:5000/team/a:1.0\"\n\n\
             [components.b]\nsource = \"vendor/b.wasm\"\n\
             [components.c]\nsource = \"https://example.org/c.wasm\"\nsha256 = \"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"\n\
             [registries]\ninsecure = [\"registry.lan:5000\"]\n",
        )
        .unwrap();
        let names: Vec<_> = config.modules.iter().map(|m| (m.name.as_str(), m.location.as_str())).collect();
        assert_eq!(names, [("a", "batou.toml:1"), ("b", "batou.toml:4"), ("c", "batou.toml:6")]);
        assert_eq!(config.modules[0].source, ModuleSource::Oci("oci://127.0.0.1:5000/team/a:1.0".into()));
        assert_eq!(config.modules[1].source, ModuleSource::File("vendor/b.wasm".into()));
        assert_eq!(
            config.modules[2].sha256.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        assert_eq!(config.insecure_registries, ["registry.lan:5000"]);
    }

    #[test]
    fn mistakes_are_named_at_their_line() {
        let found = messages(
            "[components.a]\nsourse = \"x.wasm\"\n[components.b]\nsource = \"https://example.org/b.wasm\"\n\
             [components.c]\nsource = \"ftp://example.org/c.wasm\"\n[components.d]\nsource = \"d.wasm\"\nsha256 = \"abc\"\n\
             [registry]\n",
        );
        let joined = found.join("\n");
        assert!(joined.contains("batou.toml:2 unknown key `sourse` in [components.a] in batou.toml"), "{joined}");
        assert!(joined.contains("batou.toml:1 [components.a] in batou.toml has no source"), "{joined}");
        assert!(
            joined.contains("batou.toml:4 [components.b] in batou.toml: a module from a URL needs its sha256"),
            "{joined}"
        );
        assert!(joined.contains("batou.toml:6 [components.c] in batou.toml: a source of scheme `ftp://`"), "{joined}");
        assert!(
            joined.contains("batou.toml:9 [components.d] in batou.toml: sha256 `abc` is not a sha256 digest"),
            "{joined}"
        );
        assert!(joined.contains("batou.toml:10 unknown key `registry` in batou.toml"), "{joined}");
        assert_eq!(found.len(), 6, "{joined}");
    }

    #[test]
    fn a_module_that_is_not_a_table_or_badly_named_is_refused() {
        let joined = messages("components.a = \"x.wasm\"\n[components.\"b c\"]\nsource = \"b.wasm\"\n").join("\n");
        assert!(joined.contains("batou.toml:1 [components.a] in batou.toml must be a table, not a string"), "{joined}");
        assert!(joined.contains("`b c` is not a usable name"), "{joined}");
    }
}
