//! Where a deployment's modules come from: the standard library inside the
//! runner, the deployment's own `components/<name>/` folders, and the
//! modules `batou.toml` names, pinned by `batou.lock` (`external.rs`).

mod build;
pub mod bundle;
pub mod external;
pub mod lockfile;
pub mod sdk;
pub mod store;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::plan::kinds::KindSpec;
use crate::plan::kinds::Kinds;
use crate::wasm::{LoadError, LoadedModule, Runtime};

mod stdlib {
    include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));
}

/// Every module a deployment uses, and the kinds they export.
pub struct Modules {
    pub loaded: Arc<Vec<LoadedModule>>,
    /// The bytes of each module of `loaded`, for shipping to an agent.
    pub wasm: Vec<Cow<'static, [u8]>>,
    pub kinds: Arc<Kinds>,
    /// Where each module of `loaded` came from, for `-P`: the standard
    /// library, a component folder, or the resolved source of batou.toml.
    pub origins: Vec<String>,
    /// The deployment's own component folders whose module could not be
    /// built or loaded (already reported): roots of a kind of that name
    /// are not checked again, since what it exports is unknown.
    pub unbuilt: std::collections::BTreeSet<String>,
    /// The modules of batou.toml that could not be fetched or loaded
    /// (already reported): the kinds they export are unknown.
    pub unloaded_external: std::collections::BTreeSet<String>,
}

impl Modules {
    pub fn module_of(&self, kind: &str) -> Option<&LoadedModule> {
        self.kinds.get(kind).map(|k| &self.loaded[k.module])
    }
}

/// A deployment's own component folder that holds a module.
struct OwnModule {
    name: String,
    dir: PathBuf,
    source: OwnSource,
}

enum OwnSource {
    Crate,
    /// `app.py`, built with componentize-py.
    Python,
    /// `index.js`, built with componentize-js.
    JavaScript,
    Prebuilt(PathBuf),
}

/// Loads the standard library and the deployment's own components
/// (building those made from source when their sources changed). Every
/// component that fails to build or load is reported, and the others are
/// loaded all the same, so that later stages can report their problems
/// in the same run.
///
/// `external` are the modules of batou.toml, already resolved against
/// the lock; `unresolved` those that could not be (already reported).
///
/// `stdlib` is what [`preload_stdlib`] gave, with the same `runtime`.
pub fn load(
    runtime: &Runtime,
    stdlib: Preloaded,
    deployment: &Path,
    cache_dir: &Path,
    external: Vec<external::Fetched>,
    unresolved: Vec<String>,
) -> (Modules, Diagnostics) {
    let mut errors = Diagnostics::default();
    let Preloaded { mut inputs, mut results } = stdlib;
    let mut origins: std::collections::HashMap<String, String> =
        inputs.iter().map(|input| (input.name.clone(), input.name.replace(" module", ""))).collect();
    let mut unloaded_external: std::collections::BTreeSet<String> = unresolved.into_iter().collect();
    let mut unbuilt = std::collections::BTreeSet::new();
    let own = own_modules(deployment);
    for module in external {
        let shown = external_name(&module.name);
        if let Some(folder) = own.iter().find(|o| o.name == module.name) {
            errors.push(
                Diagnostic::new(format!(
                    "`{}` is both a module of batou.toml and the deployment's own component in components/{}/",
                    module.name, folder.name
                ))
                .at("batou.toml")
                .hint("rename one of them: a module's name must say which one is meant"),
            );
            unloaded_external.insert(module.name);
            continue;
        }
        // Its assets travel inside it; a module without them may read
        // the deployment's components/<name>/ folder of assets.
        let assets = match bundle::unpack(&module.wasm, cache_dir) {
            Ok(Some(unpacked)) => Some(unpacked),
            Ok(None) => root_assets(deployment, &module.name),
            Err(e) => {
                errors.push(Diagnostic::new(e.of(&shown).to_string()).at("batou.toml"));
                unloaded_external.insert(module.name);
                continue;
            }
        };
        origins.insert(shown.clone(), module.origin);
        inputs.push(ModuleInput::new(shown, module.wasm, assets));
    }
    for own in own {
        origins.insert(format!("components/{}", own.name), format!("components/{}", own.name));
        let shown = format!("components/{}", own.name);
        let wasm = match &own.source {
            OwnSource::Prebuilt(path) => std::fs::read(path)
                .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", path.display())).at(shown.clone())),
            OwnSource::Crate | OwnSource::Python | OwnSource::JavaScript => {
                let built = match own.source {
                    OwnSource::Crate => build::build_crate(&own.name, &own.dir, cache_dir),
                    OwnSource::Python => build::build_python(&own.name, &own.dir, cache_dir),
                    _ => build::build_js(&own.name, &own.dir, cache_dir),
                };
                built.map_err(|e| e.at(shown.clone())).and_then(|path| {
                    std::fs::read(&path)
                        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", path.display())).at(shown.clone()))
                })
            }
        };
        // A prebuilt module carrying its assets reads them from the
        // unpacked bundle, not from its folder.
        let wasm = match (wasm, &own.source) {
            (Ok(bytes), OwnSource::Prebuilt(_)) => match bundle::unpack(&bytes, cache_dir) {
                Ok(unpacked) => Ok((bytes, unpacked.unwrap_or(own.dir))),
                Err(e) => Err(Diagnostic::new(e.of(&shown).to_string())),
            },
            (wasm, _) => wasm.map(|bytes| (bytes, own.dir)),
        };
        match wasm {
            Ok((bytes, assets)) => inputs.push(ModuleInput::new(shown, bytes, Some(assets))),
            Err(d) => {
                errors.push(d);
                unbuilt.insert(own.name);
            }
        }
    }
    let preloaded = results.len();
    results.extend(load_each(runtime, &inputs[preloaded..]));
    let (mut modules, load_errors) = register(inputs, results);
    errors.extend(load_errors);
    modules.unbuilt.extend(unbuilt);
    // A module of batou.toml that did not load is in `unbuilt` by its
    // name; its kinds are what is unknown.
    let failed: Vec<String> =
        modules.unbuilt.iter().filter(|n| origins.contains_key(&external_name(n))).cloned().collect();
    for name in failed {
        modules.unbuilt.remove(&name);
        unloaded_external.insert(name);
    }
    modules.unloaded_external = unloaded_external;
    modules.origins = modules.loaded.iter().map(|m| origins.get(&m.name).cloned().unwrap_or_default()).collect();
    (modules, errors)
}

/// How messages name a module of batou.toml.
fn external_name(name: &str) -> String {
    format!("module `{name}` of batou.toml")
}

/// A module to load: its name for messages, its bytes, and where its
/// assets are.
pub struct ModuleInput {
    pub name: String,
    /// The standard library's are borrowed from the binary, not copied.
    pub bytes: Cow<'static, [u8]>,
    /// The bytes' sha256 (hex) when known without hashing them: the
    /// standard library's, computed when the runner was built.
    pub sha256: Option<&'static str>,
    pub assets: Option<PathBuf>,
}

impl ModuleInput {
    pub fn new(name: String, bytes: impl Into<Cow<'static, [u8]>>, assets: Option<PathBuf>) -> ModuleInput {
        ModuleInput { name, bytes: bytes.into(), sha256: None, assets }
    }
}

/// The standard library, loaded (or compiled) before the rest: it does
/// not depend on the environment, so a deploy loads it on another core
/// while the environment is read.
pub struct Preloaded {
    inputs: Vec<ModuleInput>,
    results: Vec<Result<(LoadedModule, Vec<KindSpec>), LoadError>>,
}

pub fn preload_stdlib(runtime: &Runtime) -> Preloaded {
    let inputs = stdlib_inputs();
    let results = load_each(runtime, &inputs);
    // The module of `file`, which nearly every deployment uses, is
    // prepared here, while the environment is read on the other core,
    // not by the first root's configure while the other core waits for
    // it. What goes wrong is said at its first use.
    let file = results.iter().flatten().find(|(_, kinds)| kinds.iter().any(|k| k.name == "file"));
    if let Some((module, _)) = file {
        let _ = module.pre();
    }
    Preloaded { inputs, results }
}

/// The standard library modules as inputs of [`from_inputs`].
pub fn stdlib_inputs() -> Vec<ModuleInput> {
    stdlib::STDLIB
        .iter()
        .map(|&(name, bytes, sha256)| ModuleInput {
            name: stdlib_name(name),
            bytes: Cow::Borrowed(bytes),
            sha256: Some(sha256),
            assets: None,
        })
        .collect()
}

fn stdlib_name(name: &str) -> String {
    format!("standard library module `{name}`")
}

/// The embedded standard library module whose sha256 is `hash`, with its name.
pub fn embedded(hash: &str) -> Option<(String, &'static [u8])> {
    let &(name, bytes, _) = stdlib::STDLIB.iter().find(|(_, _, sha256)| *sha256 == hash)?;
    Some((stdlib_name(name), bytes))
}

/// Loads modules and registers the kinds they export. The controller and
/// the agent share it.
pub fn from_inputs(runtime: &Runtime, inputs: Vec<ModuleInput>) -> Result<Modules, Diagnostics> {
    let results = load_each(runtime, &inputs);
    let (modules, errors) = register(inputs, results);
    errors.into_result(modules)
}

/// Loads each module: independent per module (the compiled code mapped
/// from the cache, or compiled, and `describe` called), so every core
/// takes some. A standard library module whose kinds are cached needs no
/// work now: its code is mapped when a component of it is first created.
fn load_each(runtime: &Runtime, inputs: &[ModuleInput]) -> Vec<Result<(LoadedModule, Vec<KindSpec>), LoadError>> {
    let mut results: Vec<_> = inputs
        .iter()
        .map(|input| match (&input.bytes, input.sha256, &input.assets) {
            (Cow::Borrowed(bytes), Some(sha256), None) => runtime.defer_embedded(&input.name, bytes, sha256),
            _ => None,
        })
        .collect();
    let now: Vec<usize> = (0..inputs.len()).filter(|&i| results[i].is_none()).collect();
    let loaded = crate::parallel::map(&now, |&i| {
        let input = &inputs[i];
        runtime.load_hashed(&input.name, &input.bytes, input.sha256, input.assets.clone())
    });
    for (i, result) in now.into_iter().zip(loaded) {
        results[i] = Some(result);
    }
    results.into_iter().map(|r| r.expect("every module loaded or deferred")).collect()
}

/// The modules that loaded, with the kinds they export registered in the
/// order of `inputs`, beside the problems of those that did not.
fn register(
    inputs: Vec<ModuleInput>,
    results: Vec<Result<(LoadedModule, Vec<KindSpec>), LoadError>>,
) -> (Modules, Diagnostics) {
    let mut errors = Diagnostics::default();
    let mut unbuilt = std::collections::BTreeSet::new();
    let mut loaded = Vec::new();
    let mut wasm = Vec::new();
    let mut kinds = Kinds::default();
    for (ModuleInput { name, bytes, .. }, result) in inputs.into_iter().zip(results) {
        match result {
            Ok((mut module, specs)) => {
                module.shares_stores = embedded(&module.hash).is_some();
                let index = loaded.len();
                let names: Vec<String> = loaded.iter().map(|m: &LoadedModule| m.name.clone()).collect();
                if let Err(msg) = kinds.register(index, &name, specs, |i| names[i].clone()) {
                    errors.push(Diagnostic::new(msg));
                }
                loaded.push(module);
                wasm.push(bytes);
            }
            Err(e) => {
                let external = name.strip_prefix("module `").and_then(|n| n.strip_suffix("` of batou.toml"));
                if let Some(own) = name.strip_prefix("components/").or(external) {
                    unbuilt.insert(own.to_string());
                }
                errors.push(Diagnostic::new(e.to_string()).hint(format!(
                    "rebuild it against the batou:deploy@{} contract (wit/) for wasm32-wasip2",
                    crate::wasm::CONTRACT
                )))
            }
        }
    }
    (
        Modules {
            loaded: Arc::new(loaded),
            wasm,
            kinds: Arc::new(kinds),
            origins: Vec::new(),
            unbuilt,
            unloaded_external: Default::default(),
        },
        errors,
    )
}

fn own_modules(deployment: &Path) -> Vec<OwnModule> {
    let mut found: Vec<OwnModule> = std::fs::read_dir(deployment.join("components"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            let prebuilt = dir.join(format!("{name}.wasm"));
            let source = if dir.join("Cargo.toml").is_file() {
                OwnSource::Crate
            } else if dir.join("app.py").is_file() {
                OwnSource::Python
            } else if dir.join("index.js").is_file() {
                OwnSource::JavaScript
            } else if prebuilt.is_file() {
                OwnSource::Prebuilt(prebuilt)
            } else {
                // A folder of assets only, for a root of a standard kind.
                return None;
            };
            Some(OwnModule { name, dir, source })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The folder holding a root's assets when its kind is not its own module.
pub fn root_assets(deployment: &Path, root: &str) -> Option<PathBuf> {
    let dir = deployment.join("components").join(root);
    dir.is_dir().then_some(dir)
}

/// The folders in the deployment's `components/` (symlinks to folders
/// too), read once for all roots rather than looked up for each:
/// [`root_assets`] of a root is there if its name is among them.
pub fn component_folders(deployment: &Path) -> std::collections::HashSet<String> {
    let Ok(entries) = std::fs::read_dir(deployment.join("components")) else { return Default::default() };
    entries.flatten().filter(|e| e.path().is_dir()).filter_map(|e| e.file_name().into_string().ok()).collect()
}

/// The names of the deployment's own components that hold a module (from
/// source or prebuilt), sorted.
pub fn own_module_names(deployment: &Path) -> Vec<String> {
    own_modules(deployment).into_iter().map(|own| own.name).collect()
}

/// The module of the deployment's own component `name`, built as a
/// deploy builds it (the same cache, keyed by content), and the folder of
/// its assets (the component's folder). A prebuilt module is read as it
/// is.
pub fn own_module_bytes(deployment: &Path, name: &str, cache_dir: &Path) -> Result<(Vec<u8>, PathBuf), Diagnostic> {
    let Some(own) = own_modules(deployment).into_iter().find(|own| own.name == name) else {
        let names = own_module_names(deployment);
        let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(Diagnostic::new(format!(
            "{} has no component `{name}` with a module (its components: {known})",
            deployment.display()
        ))
        .hint("a component is a folder components/NAME/ holding Cargo.toml, app.py, index.js or NAME.wasm"));
    };
    let shown = format!("components/{}", own.name);
    let path = match &own.source {
        OwnSource::Prebuilt(path) => path.clone(),
        OwnSource::Crate => build::build_crate(&own.name, &own.dir, cache_dir).map_err(|e| e.at(shown.clone()))?,
        OwnSource::Python => build::build_python(&own.name, &own.dir, cache_dir).map_err(|e| e.at(shown.clone()))?,
        OwnSource::JavaScript => build::build_js(&own.name, &own.dir, cache_dir).map_err(|e| e.at(shown.clone()))?,
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", path.display())).at(shown.clone()))?;
    Ok((bytes, own.dir))
}

#[cfg(test)]
mod tests {
    /// The hashes `runner/build.rs` writes beside the embedded modules key
    /// their compiled code in the cache and tell an agent which modules it
    /// has: a wrong one would load or ship the wrong module.
    #[test]
    fn each_embedded_module_is_known_by_the_sha256_of_its_bytes() {
        assert!(!super::stdlib::STDLIB.is_empty());
        for &(name, bytes, sha256) in super::stdlib::STDLIB {
            assert_eq!(crate::wasm::sha256_hex(bytes), sha256, "{name}");
            let (found, found_bytes) = super::embedded(sha256).expect("found by its hash");
            assert_eq!(found, super::stdlib_name(name));
            assert_eq!(found_bytes, bytes);
        }
        assert!(super::embedded(&"0".repeat(64)).is_none());
    }
}
