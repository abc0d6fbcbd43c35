//! `batou-run component inspect FILE|NAME|REF`: what a module is (size,
//! sha256), the contract it targets, the interfaces it imports (what it
//! could ask the runner for), the assets it carries, and every kind it
//! exports with every attribute. Imports and exports are read from the
//! bytes (`wasm::interfaces`); the kinds come from the module's own
//! `describe`, run as a deploy runs it.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::{CliError, cache_dir};
use crate::diagnostic::Diagnostic;
use crate::output::{Output, shown};
use crate::plan::kinds::{AttributeType, KindSpec};
use crate::sources::bundle;
use crate::wasm::Runtime;
use crate::wasm::interfaces::{self, Interfaces, contract_interface};

/// Show what a module exports, the contract it targets and the capabilities it could ask for.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// A `.wasm` file, a standard library module (`files`, `command`, `system`, `git`, `archive`, `download`),
    /// a component of the deployment (built, with its assets, as
    /// `component build` builds it), or a registry reference
    /// (oci://HOST/NAMESPACE/NAME:TAG or …@sha256:DIGEST, pulled into the
    /// cache).
    module: String,
    /// The deployment directory, for a component of it.
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
    /// Also write the bytes inspected to FILE (a standard library module
    /// as embedded in this batou-run, a component as built).
    #[arg(long, value_name = "FILE")]
    write_module: Option<PathBuf>,
    /// A registry (HOST or HOST:PORT) to speak to over plain HTTP; may be
    /// repeated (also BATOU_RUN_INSECURE_REGISTRIES, comma-separated).
    #[arg(long, value_name = "REGISTRY")]
    insecure: Vec<String>,
}

/// What an imported interface lets a component do.
pub fn meaning(name: &str) -> &'static str {
    match contract_interface(name) {
        Some("files") => "read and write files beneath its grants (workdir, paths.read, paths.write)",
        Some("process") => "run granted programs (grants: commands, env)",
        Some("ssh") => "run granted programs on other hosts (grants: ssh, commands, env)",
        Some("http") => "download files on the target, checked by sha256 (grants: http, paths.write)",
        Some("model") => "add sub-components, expose and require values (no grant needed)",
        Some("log") => "log lines and diffs (no grant needed)",
        Some("template") => "render templates (no grant needed)",
        Some("assets") => "read its own assets (no grant needed)",
        Some("types") => "the contract's shared types (no grant needed)",
        Some(_) => "not an interface of this runner's contract",
        None if name.starts_with("wasi:") => "WASI",
        None => "not provided by batou-run: the module will not load",
    }
}

/// What the runner gives a component through WASI (`wasm/instance.rs`).
pub const WASI_NOTE: &str = "WASI gives it no files, network, environment or arguments: only clocks and \
random numbers; its stdout and stderr are kept to quote if it traps";

pub fn run(args: InspectArgs, out: &Output) -> Result<(), CliError> {
    let cache = cache_dir()?;
    let (name, bytes) = if args.module.starts_with("oci://") {
        pulled(&args.module, &cache, args.insecure)?
    } else {
        resolve(&args.module, &args.deployment, &cache)?
    };
    if let Some(file) = &args.write_module {
        super::build::write_atomically(file, &bytes)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", file.display())))?;
    }
    let sha256 = crate::wasm::sha256_hex(&bytes);
    let not_a_module = |message: String| {
        CliError::Usage(
            Diagnostic::new(format!("{name} is not a batou-run component module: {message}"))
                .hint("a module is a WebAssembly component built against batou:deploy (wit/), for wasm32-wasip2")
                .into(),
        )
    };
    let found = interfaces::interfaces(&bytes).map_err(|e| not_a_module(e.to_string()))?;
    let contract = found.contract().map_err(|e| not_a_module(e.to_string()))?;
    let assets = match bundle::section(&bytes).map_err(|e| not_a_module(e.to_string()))? {
        Some(tar) => Some(bundle::listing(tar).map_err(|e| not_a_module(e.to_string()))?),
        None => None,
    };
    let info = Info { name: &name, size: bytes.len(), sha256: &sha256, contract: contract.as_deref(), found: &found };
    let Some(version) = contract.as_deref() else {
        info.print(None, &[], out);
        return Err(not_a_module("it imports and exports nothing of batou:deploy".to_string()));
    };
    let runtime = Runtime::new(cache.clone())?;
    match runtime.load(&name, &bytes, None) {
        Ok((_, kinds)) => {
            info.print(assets.as_deref(), &kinds, out);
            Ok(())
        }
        Err(e) => {
            // What the bytes say is worth seeing; the kinds need a module
            // that runs.
            if !crate::wasm::compatible(version, crate::wasm::CONTRACT) {
                info.print(assets.as_deref(), &[], out);
            }
            Err(CliError::Usage(Diagnostic::new(e.to_string()).into()))
        }
    }
}

/// The module a registry reference names, pulled into the cache (as
/// `component pull` does), named by its digest.
fn pulled(what: &str, cache: &Path, insecure: Vec<String>) -> Result<(String, Vec<u8>), CliError> {
    let kept = super::pull::into_cache(what, insecure, cache)?;
    Ok((kept.reference.with_digest(&kept.pulled.manifest_digest).to_string(), kept.pulled.wasm))
}

/// The module `what` names: a file, a standard library module, or a
/// component of the deployment; with the name messages use.
fn resolve(what: &str, deployment: &Path, cache: &Path) -> Result<(String, Vec<u8>), CliError> {
    let path = Path::new(what);
    let read = || std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {what}: {e}")));
    // A path is a file; a plain name is a module's name first.
    if what.ends_with(".wasm") || what.contains('/') {
        return Ok((what.to_string(), read()?));
    }
    let stdlib = crate::sources::stdlib_inputs();
    let wanted = format!("standard library module `{what}`");
    if let Some(input) = stdlib.into_iter().find(|input| input.name == wanted) {
        return Ok((input.name, input.bytes.into_owned()));
    }
    if !crate::sources::own_module_names(deployment).iter().any(|n| n == what) {
        if path.is_file() {
            return Ok((what.to_string(), read()?));
        }
        let standard: Vec<String> = crate::sources::stdlib_inputs()
            .into_iter()
            .filter_map(|input| {
                input.name.strip_prefix("standard library module `")?.strip_suffix('`').map(String::from)
            })
            .collect();
        let own = crate::sources::own_module_names(deployment);
        let own = if own.is_empty() { "none".to_string() } else { own.join(", ") };
        return Err(CliError::Usage(
            Diagnostic::new(format!("no module `{what}`: not a file, a standard library module or a component of {}", deployment.display()))
                .hint(format!(
                    "name a .wasm file, a standard library module ({}) or one of the deployment's components ({own}); pass -d DIR for another deployment",
                    standard.join(", ")
                ))
                .into(),
        ));
    }
    let bytes = super::build::module_bytes(deployment, what, cache)?;
    Ok((format!("components/{what}"), bytes))
}

struct Info<'a> {
    name: &'a str,
    size: usize,
    sha256: &'a str,
    contract: Option<&'a str>,
    found: &'a Interfaces,
}

impl Info<'_> {
    fn print(&self, assets: Option<&[(String, u64)]>, kinds: &[KindSpec], out: &Output) {
        let assets = assets.unwrap_or_default();
        let asset_bytes: u64 = assets.iter().map(|(_, n)| n).sum();
        if out.json {
            let imports: Vec<_> = self.found.imports.iter().map(|n| json!({"name": n, "means": meaning(n)})).collect();
            out.json_line(&json!({
                "event": "module",
                "name": self.name,
                "size": self.size,
                "sha256": self.sha256,
                "contract": self.contract.map(|v| format!("{}@{v}", interfaces::CONTRACT_PACKAGE)),
                "imports": imports,
                "exports": self.found.exports,
                "wasi": WASI_NOTE,
                "assets": {
                    "count": assets.len(),
                    "bytes": asset_bytes,
                    "files": assets.iter().map(|(n, size)| json!({"name": n, "size": size})).collect::<Vec<_>>(),
                },
                "kinds": kinds,
            }));
            return;
        }
        let mut text = format!("Module {}\n", self.name);
        text.push_str(&format!("  size      {} bytes\n", self.size));
        text.push_str(&format!("  sha256    {}\n", self.sha256));
        let contract = match self.contract {
            Some(v) => format!(
                "{}@{v} (this batou-run runs {}.x)",
                interfaces::CONTRACT_PACKAGE,
                crate::wasm::CONTRACT.rsplit_once('.').map(|(mm, _)| mm).unwrap_or_default()
            ),
            None => "none".to_string(),
        };
        text.push_str(&format!("  contract  {contract}\n"));
        text.push_str("Imports (what it could ask for):\n");
        let width = self.found.imports.iter().map(|n| n.len()).max().unwrap_or(0);
        for name in &self.found.imports {
            text.push_str(&format!("  {name:width$}  {}\n", meaning(name)));
        }
        if self.found.imports.iter().any(|n| n.starts_with("wasi:")) {
            text.push_str(&format!("  ({WASI_NOTE})\n"));
        }
        text.push_str("Exports:\n");
        for name in &self.found.exports {
            text.push_str(&format!("  {name}\n"));
        }
        if assets.is_empty() {
            text.push_str("Assets: none bundled\n");
        } else {
            let files = if assets.len() == 1 { "file" } else { "files" };
            text.push_str(&format!("Assets: {} {files}, {asset_bytes} bytes, bundled\n", assets.len()));
            for (name, size) in assets {
                text.push_str(&format!("  {name} ({size} bytes)\n"));
            }
        }
        for kind in kinds {
            text.push_str(&format!("Kind {}: {}\n", kind.name, kind.doc));
            let defaults: Vec<String> = kind
                .attributes
                .iter()
                .map(|a| a.default.as_ref().map(|d| format!("default {d}")).unwrap_or_else(|| "required".to_string()))
                .collect();
            let default_width = defaults.iter().map(|d| d.len()).max().unwrap_or(0);
            let name_width = kind.attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
            let types: Vec<String> = kind.attributes.iter().map(|a| short_type(&a.type_)).collect();
            let type_width = types.iter().map(|t| t.len()).max().unwrap_or(0);
            for ((a, ty), default) in kind.attributes.iter().zip(&types).zip(&defaults) {
                let line = format!("  {:name_width$}  {ty:type_width$}  {default:default_width$}  {}", a.name, a.doc);
                text.push_str(line.trim_end());
                text.push('\n');
            }
        }
        print!("{}", shown(&text));
    }
}

/// An attribute type in a word or two (`describe` explains it at length
/// for errors).
pub fn short_type(ty: &AttributeType) -> String {
    match ty {
        AttributeType::String => "string".into(),
        AttributeType::Integer => "integer".into(),
        AttributeType::Float => "float".into(),
        AttributeType::Boolean => "boolean".into(),
        AttributeType::List => "list".into(),
        AttributeType::ListOf(scalar) => {
            let v = serde_json::to_value(scalar).ok();
            format!("list of {}", v.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
        }
        AttributeType::Table => "table".into(),
        AttributeType::Mode => "mode".into(),
        AttributeType::Choice(choices) => format!("one of {}", choices.join("|")),
        AttributeType::Any => "any".into(),
    }
}
