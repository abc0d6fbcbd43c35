//! The modules of `batou.toml`, pinned by `batou.lock`: each one's bytes
//! from the cache when the cache has the pinned sha256 (no network), else
//! fetched and checked against the pin. A module not pinned yet is
//! fetched and pinned, unless the lock is read-only (`--locked`, `CI`,
//! predict), where that is an error.

use std::path::Path;

use crate::config::deployment::{DeploymentConfig, ExternalModule, ModuleSource};
use crate::diagnostic::{Diagnostic, Diagnostics, choices_hint};
use crate::fetch;
use crate::sources::lockfile::{self, LockFile, Pin};
use crate::sources::store;
use crate::wasm::sha256_hex;

/// A module of `batou.toml` with its pinned bytes.
pub struct Fetched {
    pub name: String,
    /// Where the bytes came from, resolved (a registry reference by
    /// digest, the URL, the file): shown by `-P` beside the grants.
    pub origin: String,
    pub wasm: Vec<u8>,
}

/// Whether this run may move pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Pin modules not pinned yet and write the lock.
    Write,
    /// As `Write`, but the lock is not written: what a deploy would pin
    /// is only told (predict, consistency).
    DryRun,
    /// Never write the lock; a module without a pin is an error. The
    /// reason is named in it (`--locked`, `CI is set`, ...).
    ReadOnly(&'static str),
}

/// Which pins `batou-run lock update` moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Nothing,
    All,
    Only(Vec<String>),
}

impl Update {
    fn covers(&self, name: &str) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// A pin that was made or moved.
#[derive(Debug, Clone)]
pub struct PinChange {
    pub name: String,
    pub old: Option<Pin>,
    pub new: Pin,
}

pub struct Resolution {
    pub modules: Vec<Fetched>,
    pub changes: Vec<PinChange>,
    /// Whether the lock was written (it changed, and could be).
    pub written: bool,
    pub errors: Diagnostics,
}

/// Resolves every module of `config` against the deployment's lock.
pub fn resolve(
    deployment: &Path,
    cache: &Path,
    config: &DeploymentConfig,
    mode: LockMode,
    update: &Update,
) -> Resolution {
    let mut out =
        Resolution { modules: Vec::new(), changes: Vec::new(), written: false, errors: Diagnostics::default() };
    if config.modules.is_empty() && !lockfile::path(deployment).exists() {
        return out;
    }
    let lock = match lockfile::read(deployment) {
        Ok(lock) => lock,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    if let Update::Only(names) = update {
        for name in names.iter().filter(|n| !config.modules.iter().any(|m| &m.name == *n)) {
            out.errors.push(
                Diagnostic::new(format!("batou.toml has no module `{name}`"))
                    .at("batou.toml")
                    .hint(choices_hint(name, config.modules.iter().map(|m| m.name.as_str()))),
            );
        }
    }
    let options = fetch::Options::new(config.insecure_registries.clone());
    let mut next = LockFile { version: lock.version, modules: Default::default() };
    for module in &config.modules {
        let pin = lock.modules.get(&module.name).filter(|p| p.source == module.source.as_written());
        let result = match pin {
            Some(pin) if !update.covers(&module.name) => {
                pinned(deployment, cache, module, pin, &options).map(|wasm| (pin.clone(), wasm))
            }
            _ => {
                if let (LockMode::ReadOnly(why), false) = (mode, update.covers(&module.name)) {
                    let old = lock.modules.get(&module.name);
                    let problem = match old {
                        Some(old) => format!("batou.lock pins `{}` from another source ({})", module.name, old.source),
                        None => format!("`{}` is not pinned in batou.lock", module.name),
                    };
                    out.errors.push(
                        Diagnostic::new(format!("{problem}, and {why} keeps the lock as it is"))
                            .at(module.location.clone())
                            .hint(format!("run `batou-run lock update {}` and commit batou.lock", module.name)),
                    );
                    continue;
                }
                fresh(deployment, cache, module, &options).inspect(|(pin, _)| {
                    if lock.modules.get(&module.name) != Some(pin) {
                        out.changes.push(PinChange {
                            name: module.name.clone(),
                            old: lock.modules.get(&module.name).cloned(),
                            new: pin.clone(),
                        });
                    }
                })
            }
        };
        match result {
            Ok((pin, wasm)) => {
                out.modules.push(Fetched { name: module.name.clone(), origin: pin.resolved.clone(), wasm });
                next.modules.insert(module.name.clone(), pin);
            }
            Err(e) => {
                // A module that failed keeps its pin.
                if let Some(old) = lock.modules.get(&module.name) {
                    next.modules.insert(module.name.clone(), old.clone());
                }
                out.errors.push(e);
            }
        }
    }
    if mode == LockMode::Write && next != lock {
        match lockfile::write(deployment, &next) {
            Ok(()) => out.written = true,
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// The pinned bytes: from the cache, else fetched again and checked.
fn pinned(
    deployment: &Path,
    cache: &Path,
    module: &ExternalModule,
    pin: &Pin,
    options: &fetch::Options,
) -> Result<Vec<u8>, Diagnostic> {
    let update =
        format!("if the new bytes are intended, run `batou-run lock update {}` and commit batou.lock", module.name);
    let differs = |what: String, hex: &str| {
        Diagnostic::new(format!(
            "{what} has sha256 {}, but batou.lock pins {} for `{}`; it is not run",
            short(hex),
            short(pin.hex()),
            module.name
        ))
        .at(module.location.clone())
        .hint(update.clone())
    };
    // A module from outside is in the cache once fetched: no network.
    if !matches!(module.source, ModuleSource::File(_))
        && let Some(wasm) = store::get(cache, pin.hex())
    {
        return Ok(wasm);
    }
    let wasm = match &module.source {
        ModuleSource::File(path) => {
            let wasm = read_file(deployment, module, path)?;
            let hex = sha256_hex(&wasm);
            if hex != pin.hex() {
                return Err(differs(format!("{}", path.display()), &hex));
            }
            return Ok(wasm);
        }
        ModuleSource::Url(url) => fetch::download(url, options).map_err(|e| fetch_error(module, e))?,
        ModuleSource::Oci(written) => {
            let reference = reference(module, written)?;
            let locked = fetch::Reference::parse(&pin.resolved).ok().and_then(|r| r.digest).ok_or_else(|| {
                Diagnostic::new(format!("batou.lock's `resolved` of `{}` is not a reference by digest", module.name))
                    .at("batou.lock")
                    .hint(format!("run `batou-run lock update {}`", module.name))
            })?;
            if reference.digest.is_none() {
                let now = fetch::manifest_digest(&reference, options).map_err(|e| fetch_error(module, e))?;
                // A manifest pushed again (another `created`) around the
                // same bytes has not moved the module.
                let moved = now != locked
                    && match fetch::pull(&reference.with_digest(&now), options) {
                        Ok(pulled) if sha256_hex(&pulled.wasm) == pin.hex() => {
                            keep(cache, module, &pulled.wasm)?;
                            return Ok(pulled.wasm);
                        }
                        Ok(_) => true,
                        Err(e) => return Err(fetch_error(module, e)),
                    };
                if moved {
                    return Err(Diagnostic::new(format!(
                        "{written} has moved to other bytes: it points to {}, but batou.lock pins {} for `{}`; \
                         neither is run",
                        short(&now),
                        short(&locked),
                        module.name
                    ))
                    .at(module.location.clone())
                    .hint(format!(
                        "to deploy what the tag points to now, run `batou-run lock update {}` and commit batou.lock; \
                         to stay on the pinned module, name it by digest: {}",
                        module.name, pin.resolved
                    )));
                }
            }
            fetch::pull(&reference.with_digest(&locked), options).map_err(|e| fetch_error(module, e))?.wasm
        }
    };
    let hex = sha256_hex(&wasm);
    if hex != pin.hex() {
        return Err(differs(module.source.as_written(), &hex));
    }
    keep(cache, module, &wasm)?;
    Ok(wasm)
}

/// Fetches a module that has no pin (or whose pin moves), and pins it.
fn fresh(
    deployment: &Path,
    cache: &Path,
    module: &ExternalModule,
    options: &fetch::Options,
) -> Result<(Pin, Vec<u8>), Diagnostic> {
    let (resolved, wasm) = match &module.source {
        ModuleSource::File(path) => (path.display().to_string(), read_file(deployment, module, path)?),
        ModuleSource::Url(url) => (url.clone(), fetch::download(url, options).map_err(|e| fetch_error(module, e))?),
        ModuleSource::Oci(written) => {
            let reference = reference(module, written)?;
            let pulled = fetch::pull(&reference, options).map_err(|e| fetch_error(module, e))?;
            (reference.with_digest(&pulled.manifest_digest).to_string(), pulled.wasm)
        }
    };
    // Only a component is pinned: a wrong file or an error page is not.
    if let Err(e) = crate::wasm::interfaces::interfaces(&wasm) {
        return Err(Diagnostic::new(format!(
            "{} (the module `{}`) is not a WebAssembly component: {e}; it is not pinned",
            module.source.as_written(),
            module.name
        ))
        .at(module.location.clone())
        .hint("point the source at a component module built for wasm32-wasip2 against batou:deploy"));
    }
    let hex = sha256_hex(&wasm);
    if let Some(want) = &module.sha256
        && &hex != want
    {
        return Err(Diagnostic::new(format!(
            "{} has sha256 {}, but batou.toml's sha256 for `{}` is {}; it is not run",
            module.source.as_written(),
            short(&hex),
            module.name,
            short(want)
        ))
        .at(module.location.clone())
        .hint("if the source is right, put the new sha256 in batou.toml after checking where the bytes come from"));
    }
    if !matches!(module.source, ModuleSource::File(_)) {
        keep(cache, module, &wasm)?;
    }
    let pin =
        Pin { source: module.source.as_written(), resolved, sha256: format!("sha256:{hex}"), size: wasm.len() as u64 };
    Ok((pin, wasm))
}

fn read_file(deployment: &Path, module: &ExternalModule, path: &Path) -> Result<Vec<u8>, Diagnostic> {
    std::fs::read(deployment.join(path)).map_err(|e| {
        Diagnostic::new(format!("cannot read {} (the module `{}`): {e}", path.display(), module.name))
            .at(module.location.clone())
            .hint("a relative path is read from the deployment's directory")
    })
}

fn reference(module: &ExternalModule, written: &str) -> Result<fetch::Reference, Diagnostic> {
    fetch::Reference::parse(written).map_err(|e| {
        Diagnostic::new(e.to_string())
            .at(module.location.clone())
            .hint("write it as oci://HOST[:PORT]/NAMESPACE/NAME:TAG or …@sha256:<digest>")
    })
}

fn keep(cache: &Path, module: &ExternalModule, wasm: &[u8]) -> Result<(), Diagnostic> {
    store::put(cache, wasm).map(|_| ()).map_err(|e| Diagnostic::new(e).at(module.location.clone()))
}

fn fetch_error(module: &ExternalModule, e: fetch::FetchError) -> Diagnostic {
    Diagnostic::new(format!("the module `{}`: {e}", module.name)).at(module.location.clone())
}

/// A digest's first hex digits, enough to tell two apart in a message.
fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(16)])
}
