//! Building a deployment's own Rust components for wasm32-wasip2, only
//! when their sources changed.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use crate::diagnostic::Diagnostic;

/// Builds `components/<name>` (a Rust crate) and returns the `.wasm` path.
/// Skips cargo entirely when no file of the crate or of its path
/// dependencies changed since the last build.
pub fn build_crate(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let manifest = dir.join("Cargo.toml");
    let lib_name = lib_name(&manifest)?;
    let target_dir = cache_dir.join("guest-target");
    let wasm = target_dir.join("wasm32-wasip2").join("release").join(format!("{lib_name}.wasm"));
    let stamp = cache_dir.join("build-stamps").join(format!("{:016x}", path_hash(dir)));
    let fingerprint = fingerprint(dir, &manifest);
    if wasm.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
        return Ok(wasm);
    }
    tracing::info!(component = name, "building");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| {
            Diagnostic::new(format!("cannot run cargo to build component `{name}`: {e}"))
                .hint("install Rust (https://rustup.rs) and run `rustup target add wasm32-wasip2`")
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "run `rustup target add wasm32-wasip2`".to_string()
        } else {
            format!(
                "fix the component's source; rerun with `cargo build --release --target wasm32-wasip2 --manifest-path {}` to see the build alone",
                manifest.display()
            )
        };
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = tail.len().saturating_sub(30);
        return Err(
            Diagnostic::new(format!("building component `{name}` failed:\n{}", tail[start..].join("\n"))).hint(hint)
        );
    }
    if !wasm.is_file() {
        return Err(Diagnostic::new(format!("building component `{name}` produced no {}", wasm.display()))
            .hint("make the crate a library with crate-type = [\"cdylib\"]"));
    }
    if let Some(parent) = stamp.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(&stamp, fingerprint);
    Ok(wasm)
}

fn lib_name(manifest: &Path) -> Result<String, Diagnostic> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", manifest.display())))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| Diagnostic::new(format!("{} is not valid TOML: {}", manifest.display(), e.message())))?;
    let lib = doc.get("lib").and_then(|l| l.get("name")).and_then(|n| n.as_str());
    let package = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    lib.or(package)
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| Diagnostic::new(format!("{} names no package", manifest.display())))
}

/// Sizes and modification times of every file of the crate and of its
/// path dependencies (so an SDK change rebuilds too).
fn fingerprint(dir: &Path, manifest: &Path) -> String {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(text) = std::fs::read_to_string(manifest) {
        if let Ok(doc) = toml::from_str::<toml::Table>(&text) {
            for section in ["dependencies", "build-dependencies"] {
                if let Some(deps) = doc.get(section).and_then(|d| d.as_table()) {
                    for dep in deps.values() {
                        if let Some(path) = dep.get("path").and_then(|p| p.as_str()) {
                            dirs.push(dir.join(path));
                        }
                    }
                }
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for d in dirs {
        let mut files = Vec::new();
        walk(&d, &mut files);
        files.sort();
        for (path, len, mtime) in files {
            (path, len, mtime).hash(&mut h);
        }
    }
    format!("{:016x}\n", h.finish())
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, u128)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') || name.ends_with(".wasm") {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(&path, out);
        } else {
            let mtime =
                meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
            out.push((path, meta.len(), mtime));
        }
    }
}

fn path_hash(dir: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).hash(&mut h);
    h.finish()
}
