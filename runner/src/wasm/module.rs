//! The engine, the compiled-module cache and `InstancePre` per module.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{DeploymentComponent, DeploymentComponentPre};
use super::state::StoreData;
use crate::plan::kinds::KindSpec;

/// The contract this runner implements (`wit/`). A module targets the
/// version in its import and export names (`batou:deploy/files@0.2.0`);
/// those of the same minor version (before 1.0; the same major after) run,
/// since a minor release only adds.
pub const CONTRACT: &str = "0.2.2";

/// Refuses a module built against a contract version this runner does
/// not run, naming both versions, before linking would fail on a name.
fn check_contract(name: &str, component: &Component, engine: &Engine) -> Result<(), LoadError> {
    let ty = component.component_type();
    let names: Vec<String> =
        ty.imports(engine).map(|(n, _)| n.to_string()).chain(ty.exports(engine).map(|(n, _)| n.to_string())).collect();
    for n in names {
        let Some(rest) = n.strip_prefix("batou:deploy/") else { continue };
        let found = rest.split_once('@').map(|(_, v)| v).unwrap_or("(no version)");
        if !compatible(found, CONTRACT) {
            let supported = CONTRACT.rsplit_once('.').map(|(mm, _)| format!("{mm}.x")).unwrap_or_default();
            return Err(LoadError::Contract { name: name.to_string(), found: found.to_string(), supported });
        }
    }
    Ok(())
}

/// Whether a module targeting `found` runs on a runner of `ours`: the same
/// major version, and before 1.0 the same minor one, and not newer.
pub fn compatible(found: &str, ours: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, parts.next()??))
    };
    let (Some(f), Some(o)) = (parse(found), parse(ours)) else { return false };
    if f.0 != o.0 {
        return false;
    }
    if o.0 == 0 { f.1 == o.1 && f.2 <= o.2 } else { (f.1, f.2) <= (o.1, o.2) }
}

/// How often the epoch advances; deadlines are checked at this grain.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once: a deploy keeps one store per level of the
/// component tree being deployed, so this is far more than needed.
const POOL_SLOTS: u32 = 128;
/// How much of a memory slot is zeroed in place when its store goes,
/// rather than given back to the kernel. A Rust component's memory (stack,
/// data, heap) fits: its slot is then reused without a `madvise`, whose
/// TLB flush stalls every other thread, and without page faults. With
/// 256 KiB, configuring 500 roots took as long on two cores as on one
/// (bench/versus_batou.py).
const KEEP_RESIDENT: usize = 4 << 20;
/// The largest linear memory any component may have; `memory_limit` in
/// the environment sets the limit actually enforced.
pub const MAX_MEMORY: usize = 4 << 30;

/// The engine, the linker with every capability, and the cache directory.
pub struct Runtime {
    pub engine: Engine,
    loader: Arc<Loader>,
    /// Whether the compiled-module cache folder is private, as found when
    /// the first module was deferred ([`Runtime::defer_embedded`]).
    deferral_folder: OnceLock<Result<(), String>>,
    ticker_stop: Arc<AtomicBool>,
}

/// What compiling (or mapping from the cache) and linking a module takes:
/// shared with the modules that are prepared at their first use.
struct Loader {
    engine: Engine,
    linker: Linker<StoreData>,
    cache_dir: PathBuf,
    /// What makes compiled code compatible (see [`engine_key`]).
    engine_key: String,
}

/// A module ready to instantiate in microseconds.
pub struct LoadedModule {
    pub name: String,
    /// sha256 of the module's bytes, hex.
    pub hash: String,
    pre: Prepared,
    /// Where the module's own assets are, for deployment-own modules.
    pub assets: Option<PathBuf>,
    /// Its stores may serve one root after another: the embedded standard
    /// library (by sha256), whose code keeps nothing between components.
    pub shares_stores: bool,
}

/// A module's instantiation, prepared when it loaded or at its first use.
///
/// A standard library module whose kinds are in the cache is prepared
/// when a component of it is first created: a deploy of `file` roots
/// then maps and links one module of six, and the other five cost it
/// nothing (about 1 ms of CPU while the environment is read).
struct Prepared {
    ready: OnceLock<Result<DeploymentComponentPre<StoreData>, String>>,
    /// What preparing it takes, when that waits for the first use.
    later: Option<(Arc<Loader>, &'static [u8])>,
}

impl LoadedModule {
    /// The module's instantiation, prepared now if it was not yet. The
    /// error says why it could not be (its compiled code neither in the
    /// cache nor compilable, or not linking), naming the module.
    pub fn pre(&self) -> Result<&DeploymentComponentPre<StoreData>, String> {
        let ready = self.pre.ready.get_or_init(|| match &self.pre.later {
            Some((loader, bytes)) => loader.prepare(&self.name, &self.hash, bytes).map_err(|e| e.to_string()),
            None => {
                Err(format!("batou-run bug: {} was neither prepared nor left to prepare; please report it", self.name))
            }
        });
        ready.as_ref().map_err(String::clone)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{name} is not a batou-run component module: {message}")]
    Invalid { name: String, message: String },
    #[error(
        "{name} is built against batou:deploy@{found}; this batou-run runs modules of batou:deploy@{supported}: \
         rebuild it from its sources against this runner's contract (a deploy builds a component's sources in \
         components/ with the SDK of this runner), or use a batou-run that supports {found} (see docs/contract.md)"
    )]
    Contract { name: String, found: String, supported: String },
    #[error("will not load compiled modules from the cache: {message}")]
    NotPrivate { message: String },
    #[error("cannot use the compiled-module cache at {path}: {source}")]
    Cache { path: PathBuf, source: std::io::Error },
}

impl Runtime {
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // For `perf`: names the guests' functions in a profile (README,
        // "Where the time goes"). A developer's switch, not for deploys.
        if std::env::var_os("BATOU_RUN_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Thousands of short-lived instances per deploy: reusing memory
        // slots saves an mmap/munmap pair and the page faults of a fresh
        // mapping for each.
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS)
            .total_tables(POOL_SLOTS * 8)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(MAX_MEMORY)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            // Stacks are for async calls, which batou-run does not make:
            // reserving (and guarding) the default thousand costs
            // milliseconds at every start.
            .total_stacks(1);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("cannot start the Wasm engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        DeploymentComponent::add_to_linker::<StoreData, HasSelf<StoreData>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking capabilities: {e}"))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new().name("epoch".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        }
        let engine_key = engine_key(&engine);
        let loader = Arc::new(Loader { engine: engine.clone(), linker, cache_dir, engine_key });
        Ok(Runtime { engine, loader, deferral_folder: OnceLock::new(), ticker_stop })
    }

    /// Compiles `bytes` (or loads the compiled code from the cache) and
    /// prepares instantiation. Also returns the kinds the module exports.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        assets: Option<PathBuf>,
    ) -> Result<(LoadedModule, Vec<KindSpec>), LoadError> {
        self.load_hashed(name, bytes, None, assets)
    }

    /// [`Runtime::load`] of bytes whose sha256 may be known (`sha256`,
    /// hex) without hashing them again.
    pub fn load_hashed(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: Option<&str>,
        assets: Option<PathBuf>,
    ) -> Result<(LoadedModule, Vec<KindSpec>), LoadError> {
        let started = std::time::Instant::now();
        let hash = sha256.map_or_else(|| sha256_hex(bytes), str::to_string);
        let pre = self.loader.prepare(name, &hash, bytes)?;
        let kinds_path = self.loader.kinds_path(&hash);
        let prepared = Prepared { ready: OnceLock::from(Ok(pre)), later: None };
        let module = LoadedModule { name: name.to_string(), hash, pre: prepared, assets, shares_stores: false };
        let kinds = match cached_kinds(&kinds_path) {
            Some(kinds) => kinds,
            None => {
                let kinds = super::instance::describe(self, &module).map_err(|e| LoadError::Invalid {
                    name: name.to_string(),
                    message: format!("describe() failed: {e}"),
                })?;
                // A cache: a module not described again is only slower.
                if let Ok(json) = serde_json::to_vec(&kinds) {
                    let _ = write_atomically(&kinds_path, &json);
                }
                kinds
            }
        };
        tracing::info!(module = name, us = started.elapsed().as_micros() as u64, "loaded");
        Ok((module, kinds))
    }

    /// A module built into the runner (the standard library) whose kinds
    /// are in the cache, with its code left to be mapped and linked when
    /// a component of it is first created ([`LoadedModule::pre`]); none
    /// when its kinds are not cached, and it must be loaded
    /// ([`Runtime::load_hashed`]) to learn them.
    pub fn defer_embedded(
        &self,
        name: &str,
        bytes: &'static [u8],
        sha256: &str,
    ) -> Option<Result<(LoadedModule, Vec<KindSpec>), LoadError>> {
        // The folder is checked as loading the module now would check it,
        // once for all the modules deferred (a `mkdir` and two `lstat`s).
        let checked = self.deferral_folder.get_or_init(|| super::cache::private_dir(&self.loader.compiled_dir()));
        if let Err(message) = checked {
            return Some(Err(LoadError::NotPrivate { message: message.clone() }));
        }
        let kinds = cached_kinds(&self.loader.kinds_path(sha256))?;
        let pre = Prepared { ready: OnceLock::new(), later: Some((self.loader.clone(), bytes)) };
        let module =
            LoadedModule { name: name.to_string(), hash: sha256.to_string(), pre, assets: None, shares_stores: false };
        Some(Ok((module, kinds)))
    }
}

impl Loader {
    fn compiled_dir(&self) -> PathBuf {
        self.cache_dir.join("compiled")
    }

    /// Where the kinds of the module whose sha256 is `hash` are cached.
    fn kinds_path(&self, hash: &str) -> PathBuf {
        self.compiled_dir().join(format!(
            "{hash}-{}-{}.kinds.json",
            self.engine_key,
            &env!("BATOU_RUN_SOURCE_ID")[..16]
        ))
    }

    /// The module's code, compiled or mapped from the cache, checked
    /// against the contract and linked with every capability.
    fn prepare(&self, name: &str, hash: &str, bytes: &[u8]) -> Result<DeploymentComponentPre<StoreData>, LoadError> {
        let started = std::time::Instant::now();
        let component = self.compiled(name, hash, bytes)?;
        check_contract(name, &component, &self.engine)?;
        let invalid = |e: wasmtime::Error| LoadError::Invalid { name: name.to_string(), message: format!("{e:#}") };
        let pre = self.linker.instantiate_pre(&component).map_err(invalid)?;
        let pre = DeploymentComponentPre::new(pre).map_err(invalid)?;
        tracing::info!(module = name, us = started.elapsed().as_micros() as u64, "prepared");
        Ok(pre)
    }

    fn compiled(&self, name: &str, hash: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        let dir = self.compiled_dir();
        super::cache::private_dir(&dir).map_err(|message| LoadError::NotPrivate { message })?;
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        if let Some(file) = super::cache::open_private(&path) {
            // The file just checked, by its descriptor (mapped, not read):
            // swapping the name meanwhile changes nothing.
            let checked = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)));
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash (it is in the name),
            // into a folder of this user's that no one else may write, and
            // the file itself is this user's and no one else's to write.
            let loaded = if checked.exists() {
                unsafe { Component::deserialize_file(&self.engine, &checked) }
            } else {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut &file, &mut bytes)
                    .map_err(wasmtime::Error::from)
                    .and_then(|_| unsafe { Component::deserialize(&self.engine, &bytes) })
            };
            if let Ok(component) = loaded {
                super::cache::touch(&path);
                return Ok(component);
            }
            tracing::warn!(path = %path.display(), "ignoring an unreadable compiled-module cache entry");
        }
        let shown = crate::progress::task(format!("compiling module {name} to native code"));
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| LoadError::Invalid { name: name.to_string(), message: format!("{e:#}") })?;
        let cache_err = |source| LoadError::Cache { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(cache_err)?;
        write_atomically(&path, &compiled).map_err(cache_err)?;
        super::cache::evict(&dir, super::cache::limit_bytes(), &path);
        drop(shown);
        // SAFETY: produced just now by this engine.
        unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(|e| LoadError::Invalid { name: name.to_string(), message: format!("{e:#}") })
    }
}

/// What makes compiled code compatible: the wasmtime version and the
/// engine settings.
fn engine_key(engine: &Engine) -> String {
    /// The bytes a `Hash` writes, fed to sha256: a key on disk must not
    /// depend on `DefaultHasher`, whose algorithm may change.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the digest is used")
        }
    }
    let mut h = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The kinds a module exports, as its `describe` said when it was loaded
/// before: by the module's sha256, the engine and this runner's sources
/// (which turn what it says into kinds), in the private compiled-module
/// cache. Describing means instantiating the module: a deploy loads every
/// standard library module, and describing them all took milliseconds.
fn cached_kinds(path: &Path) -> Option<Vec<KindSpec>> {
    let file = super::cache::open_private(path)?;
    serde_json::from_reader(std::io::BufReader::new(file)).ok()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    // Private whatever the umask: an entry others may write is not loaded.
    crate::atomic_file::write(path, data, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::kinds::{AttributeSpec, AttributeType};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kinds_cached_come_back_as_written_and_a_broken_or_shared_entry_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("abc-engine-source.kinds.json");
        let kinds = vec![KindSpec {
            name: "file".into(),
            doc: "A file.".into(),
            attributes: vec![AttributeSpec {
                name: "path".into(),
                type_: AttributeType::String,
                default: None,
                doc: "Where.".into(),
            }],
        }];
        assert_eq!(cached_kinds(&path), None, "nothing cached yet");
        write_atomically(&path, &serde_json::to_vec(&kinds).unwrap()).unwrap();
        assert_eq!(cached_kinds(&path), Some(kinds.clone()));
        // Half a file (a crash mid-write cannot leave one, a full disk or
        // a hand can): described again, not trusted.
        std::fs::write(&path, b"[{\"name\": \"fi").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cached_kinds(&path), None);
        // An entry others may write is not read.
        write_atomically(&path, &serde_json::to_vec(&kinds).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(cached_kinds(&path), None);
    }
}
