//! `batou-run cache info|clean`: what the cache holds, and emptying it.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CliError, cache_dir};
use crate::output::Output;
use crate::wasm::cache::{DEFAULT_LIMIT_MIB, entries, limit_bytes};

/// Show or empty the cache of compiled modules and built components.
#[derive(clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    action: Action,
    /// The cache folder (default: $BATOU_RUN_CACHE, or ~/.cache/batou-run).
    #[arg(long, global = true)]
    cache: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Show what the cache holds and how big it is.
    Info,
    /// Remove compiled modules and built components (everything is made
    /// again when needed). A deploy running meanwhile keeps what it loaded.
    Clean {
        /// Remove only the compiled modules.
        #[arg(long)]
        compiled: bool,
    },
}

/// The parts of the cache, as `info` names them.
const PARTS: &[(&str, &str)] = &[
    ("compiled", "compiled modules (native code, by module sha256 and engine)"),
    ("builds", "components built from source, by the sha256 of what went into them"),
    ("guest-target", "Rust components' cargo target folder"),
    ("sdk", "the contract and SDKs the builds use"),
    (
        "modules",
        "modules pulled from registries and URLs, by the sha256 of their bytes (deploys with a warm cache need no registry)",
    ),
    ("assets", "assets unpacked from modules that carry them, by the sha256 of their tar"),
    ("agent", "what controllers shipped to this machine's agent (modules, assets)"),
    ("agent-binary", "the agent binaries, gzipped for upload"),
    ("agents", "static agents built for hosts, by the sha256 of batou-run's sources and the machine"),
    // Kept by earlier versions, which keyed builds by folder.
    ("python-builds", "Python builds of an earlier batou-run"),
    ("js-builds", "JavaScript builds of an earlier batou-run"),
    ("build-stamps", "build fingerprints of an earlier batou-run"),
];

pub fn run(args: CacheArgs, out: &Output) -> Result<(), CliError> {
    let dir = match args.cache {
        Some(dir) => dir,
        None => cache_dir()?,
    };
    match args.action {
        Action::Info => info(&dir, out),
        Action::Clean { compiled } => clean(&dir, compiled, out),
    }
}

fn info(dir: &Path, out: &Output) -> Result<(), CliError> {
    let mut text = format!("Cache: {}\n", dir.display());
    let mut parts = serde_json::Map::new();
    let mut total = 0;
    for (name, what) in PARTS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let (files, bytes) = usage(&path);
        total += bytes;
        text.push_str(&format!("  {name:<14} {:>10}  {files:>6} files  {what}\n", human(bytes)));
        parts.insert(name.to_string(), json!({"files": files, "bytes": bytes}));
    }
    let compiled = entries(&dir.join("compiled"));
    let compiled_bytes: u64 = compiled.iter().map(|e| e.size).sum();
    let limit = limit_bytes();
    text.push_str(&format!(
        "Compiled modules: {} ({} of a limit of {}; BATOU_RUN_CACHE_LIMIT_MIB sets it, default {DEFAULT_LIMIT_MIB}); least recently used go first.\n",
        compiled.len(),
        human(compiled_bytes),
        human(limit)
    ));
    text.push_str(&format!("Total: {}", human(total)));
    out.summary(
        &text,
        json!({"cache": dir, "parts": parts, "compiled": {"modules": compiled.len(), "bytes": compiled_bytes,
               "limit_bytes": limit}, "bytes": total}),
    );
    Ok(())
}

fn clean(dir: &Path, compiled_only: bool, out: &Output) -> Result<(), CliError> {
    let mut freed = 0;
    for (name, _) in PARTS {
        if compiled_only && *name != "compiled" {
            continue;
        }
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        freed += usage(&path).1;
        std::fs::remove_dir_all(&path).map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
    }
    out.summary(&format!("Removed {} from {}.", human(freed), dir.display()), json!({"cache": dir, "bytes": freed}));
    Ok(())
}

/// Files and bytes below `path`.
fn usage(path: &Path) -> (u64, u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return (0, 0) };
    if !meta.is_dir() {
        return (1, meta.len());
    }
    let mut out = (0, 0);
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let (files, bytes) = usage(&entry.path());
        out.0 += files;
        out.1 += bytes;
    }
    out
}

fn human(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
