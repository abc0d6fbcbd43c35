//! `batou-run component build [NAME] [-o FILE]`: the deployment's own
//! component NAME (every one without NAME) built as a deploy builds it,
//! its assets embedded (`sources::bundle`), written to
//! `<deployment>/build/<NAME>.wasm` (or FILE): one file to share.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::{CliError, cache_dir, check_deployment};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::output::{Output, shown};
use crate::sources::{self, bundle};
use crate::wasm::Runtime;

/// Build a component of the deployment into one module file (its assets inside).
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The component to build (components/NAME/); every component of the
    /// deployment when absent.
    name: Option<String>,
    /// Where to write the module (default: build/NAME.wasm in the
    /// deployment); only with one NAME.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// The deployment directory (holding environments/ and components/).
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
}

pub fn run(args: BuildArgs, out: &Output) -> Result<(), CliError> {
    let BuildArgs { name, output, deployment } = args;
    check_deployment(&deployment)?;
    if output.is_some() && name.is_none() {
        return Err(CliError::usage("batou-run component build -o FILE: name the one component to build"));
    }
    let known = sources::own_module_names(&deployment);
    let names = match name {
        Some(name) => {
            if !known.contains(&name) {
                return Err(unknown(&deployment, &name, &known));
            }
            vec![name]
        }
        None if known.is_empty() => {
            return Err(CliError::usage(format!(
                "{} has no components with a module to build (components/NAME/ with Cargo.toml, app.py, index.js or NAME.wasm)",
                deployment.display()
            )));
        }
        None => known,
    };
    let cache = cache_dir()?;
    let runtime = Runtime::new(cache.clone())?;
    let mut errors = Diagnostics::default();
    for name in &names {
        let shown_name = format!("components/{name}");
        let bytes = match module_bytes(&deployment, name, &cache) {
            Ok(bytes) => bytes,
            Err(CliError::Config(d) | CliError::Usage(d)) => {
                errors.extend(d);
                continue;
            }
            Err(e) => return Err(e),
        };
        // The module as shared must load and describe itself: a bundle
        // changes nothing of what it runs.
        let kinds = match runtime.load(&shown_name, &bytes, None) {
            Ok((_, kinds)) => kinds,
            Err(e) => {
                errors.push(Diagnostic::new(e.to_string()));
                continue;
            }
        };
        let path = output.clone().unwrap_or_else(|| deployment.join("build").join(format!("{name}.wasm")));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        write_atomically(&path, &bytes)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
        let sha256 = crate::wasm::sha256_hex(&bytes);
        let kind_names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
        let assets = bundle::section(&bytes)
            .ok()
            .flatten()
            .and_then(|tar| bundle::listing(tar).ok())
            .map(|files| files.len())
            .unwrap_or(0);
        if out.json {
            out.json_line(&json!({
                "event": "built",
                "component": name,
                "path": path,
                "size": bytes.len(),
                "sha256": sha256,
                "kinds": kind_names,
                "assets": assets,
            }));
        } else {
            println!(
                "built {}: {} bytes, sha256 {sha256}, {assets} assets, kinds: {}",
                shown(&path.display().to_string()),
                bytes.len(),
                shown(&kind_names.join(", "))
            );
        }
    }
    if !errors.0.is_empty() {
        return Err(CliError::Config(errors));
    }
    Ok(())
}

fn unknown(deployment: &Path, name: &str, known: &[String]) -> CliError {
    let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    CliError::Usage(
        Diagnostic::new(format!("{} has no component `{name}` with a module", deployment.display()))
            .hint(format!(
                "its components: {list}; a component is components/NAME/ with Cargo.toml, app.py, index.js or NAME.wasm"
            ))
            .into(),
    )
}

/// The bytes of the module `name_or_path` names: an existing `.wasm`
/// file's, as they are; else the deployment's component of that name,
/// built as a deploy builds it, with its assets embedded (a prebuilt
/// module that already carries them is used as it is).
pub fn module_bytes(deployment: &Path, name_or_path: &str, cache: &Path) -> Result<Vec<u8>, CliError> {
    let path = Path::new(name_or_path);
    // A path is a file; a plain name a component.
    if name_or_path.ends_with(".wasm") || name_or_path.contains('/') {
        return std::fs::read(path).map_err(|e| {
            CliError::Usage(
                Diagnostic::new(format!("cannot read the module {name_or_path}: {e}"))
                    .hint("name a .wasm file, or a component of the deployment (components/NAME/)")
                    .into(),
            )
        });
    }
    let known = sources::own_module_names(deployment);
    if !known.iter().any(|n| n == name_or_path) {
        return Err(unknown(deployment, name_or_path, &known));
    }
    let (wasm, assets) = sources::own_module_bytes(deployment, name_or_path, cache)?;
    let shown_name = format!("components/{name_or_path}");
    let bundled = match bundle::section(&wasm) {
        Ok(Some(_)) => return Ok(wasm),
        Ok(None) => bundle::embed(&wasm, &assets),
        Err(e) => Err(e),
    };
    bundled.map_err(|e| CliError::Config(Diagnostic::new(e.of(&shown_name).to_string()).into()))
}

/// Writes `data` whole or not at all (a module file others may read).
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::atomic_file::write(path, data, 0o644)
}
