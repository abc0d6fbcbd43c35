//! Building a deployment's own components, only when their sources
//! changed: Rust crates with cargo for wasm32-wasip2, Python (`app.py`)
//! with componentize-py and JavaScript (`index.js`) with componentize-js,
//! against the contract and SDKs embedded in the runner.

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
    let fingerprint = fingerprint(dir, Some(&manifest));
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

/// Builds `components/<name>/app.py` with componentize-py and the Python
/// SDK, and returns the `.wasm` path.
pub fn build_python(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let sdk = super::sdk::materialise(cache_dir)?;
    let tool = super::sdk::componentize_py();
    let Some(build) = guest_build("python", dir, cache_dir, &sdk, &tool)? else {
        return Ok(guest_wasm("python", dir, cache_dir));
    };
    tracing::info!(component = name, "building with componentize-py");
    let output = Command::new(&tool)
        .arg("-d")
        .arg(sdk.dir.join("wit"))
        .args(["-w", "deployment-component", "componentize", "-p"])
        .arg(sdk.dir.join("sdk/python"))
        .arg("-p")
        .arg(dir)
        .arg("app")
        .arg("-o")
        .arg(&build.tmp)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            Diagnostic::new(format!("cannot run {} to build the Python component `{name}`: {e}", tool.display()))
                .hint(super::sdk::COMPONENTIZE_PY_HINT)
        })?;
    build.finish(name, output, "python", &format!("cd {} && {} ... componentize app", dir.display(), tool.display()))
}

/// Builds `components/<name>/index.js` with componentize-js and the
/// JavaScript SDK (`./batou.js`), and returns the `.wasm` path.
///
/// componentize-js resolves relative imports only beneath the folder it
/// runs in, so the component's JavaScript files are staged in a folder of
/// their own with the runner's `batou.js` (which must match the runner's
/// contract, so it replaces one the component may carry).
pub fn build_js(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let sdk = super::sdk::materialise(cache_dir)?;
    let tool = super::sdk::componentize_js();
    let Some(build) = guest_build("js", dir, cache_dir, &sdk, &tool)? else {
        return Ok(guest_wasm("js", dir, cache_dir));
    };
    tracing::info!(component = name, "building with componentize-js");
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    let out_dir = build.wasm.parent().expect("in a folder");
    let work = tempfile_dir(out_dir).map_err(|e| io(out_dir, e))?;
    let stage = work.join("src");
    let mut sources = Vec::new();
    walk(dir, &mut sources);
    for (path, _, _) in sources {
        let is_js = path.extension().is_some_and(|e| e == "js" || e == "mjs" || e == "json");
        if !is_js {
            continue;
        }
        let target = stage.join(path.strip_prefix(dir).expect("beneath"));
        std::fs::create_dir_all(target.parent().expect("a folder")).map_err(|e| io(&target, e))?;
        std::fs::copy(&path, &target).map_err(|e| io(&target, e))?;
    }
    std::fs::copy(sdk.dir.join("sdk/js/batou.js"), stage.join("batou.js")).map_err(|e| io(&stage, e))?;
    let output = Command::new(&tool)
        .arg("index.js")
        .arg("--wit")
        .arg(sdk.dir.join("wit"))
        .args(["--world-name", "deployment-component"])
        // fetch-event would import wasi:http, which the runner does not link.
        .args(["--disable", "http", "fetch-event", "--out"])
        .arg(&build.tmp)
        .current_dir(&stage)
        // It works in $TMPDIR and leaves a folder behind when the source
        // does not parse.
        .env("TMPDIR", &work)
        .output();
    let _ = std::fs::remove_dir_all(&work);
    let output = output.map_err(|e| {
        Diagnostic::new(format!("cannot run {} to build the JavaScript component `{name}`: {e}", tool.display()))
            .hint(super::sdk::COMPONENTIZE_JS_HINT)
    })?;
    build.finish(name, output, "javascript", &format!("cd {} && {} index.js ...", dir.display(), tool.display()))
}

/// Where a Python or JavaScript build goes.
struct GuestBuild {
    wasm: PathBuf,
    stamp: PathBuf,
    /// The sources, the SDK and the toolchain, as the stamp records them.
    fingerprint: String,
    /// Where the toolchain writes, renamed to `wasm` when it succeeded.
    tmp: PathBuf,
}

/// The module built from `dir` by the `language` toolchain
/// (`<cache>/<language>-builds/<folder hash>.wasm`).
fn guest_wasm(language: &str, dir: &Path, cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!("{language}-builds")).join(format!("{:016x}.wasm", path_hash(dir)))
}

/// What a build of `dir` needs, or `None` when the module built last
/// time is still current (same sources, SDK and toolchain).
fn guest_build(
    language: &str,
    dir: &Path,
    cache_dir: &Path,
    sdk: &super::sdk::Sdk,
    tool: &Path,
) -> Result<Option<GuestBuild>, Diagnostic> {
    let wasm = guest_wasm(language, dir, cache_dir);
    let stamp = cache_dir.join("build-stamps").join(format!("{:016x}-{language}", path_hash(dir)));
    let fingerprint = format!("{}{}\n{}", fingerprint(dir, None), sdk.hash, tool.display());
    if wasm.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
        return Ok(None);
    }
    let out_dir = wasm.parent().expect("in a folder");
    std::fs::create_dir_all(out_dir).map_err(|e| Diagnostic::new(format!("{}: {e}", out_dir.display())))?;
    let tmp = out_dir.join(format!(".{:016x}.{}.wasm", path_hash(dir), std::process::id()));
    Ok(Some(GuestBuild { wasm, stamp, fingerprint, tmp }))
}

/// A new empty folder below `parent`.
fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = parent.join(format!(".stage.{}.{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl GuestBuild {
    /// Checks the toolchain's run, moves its output into place and records
    /// the fingerprint; returns the module's path.
    fn finish(
        self,
        name: &str,
        output: std::process::Output,
        language: &str,
        rerun: &str,
    ) -> Result<PathBuf, Diagnostic> {
        if !output.status.success() || !self.tmp.is_file() {
            let _ = std::fs::remove_file(&self.tmp);
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            // The toolchains print long native backtraces; the Python or
            // JavaScript error comes before them.
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take_while(|l| !l.starts_with("Stack backtrace") && !l.trim_start().starts_with("0: "))
                .collect();
            let start = lines.len().saturating_sub(30);
            return Err(Diagnostic::new(format!(
                "building the {language} component `{name}` failed:\n{}",
                lines[start..].join("\n")
            ))
            .hint(format!("fix the component's source; `{rerun}` shows the build alone")));
        }
        std::fs::rename(&self.tmp, &self.wasm).map_err(|e| Diagnostic::new(format!("{}: {e}", self.wasm.display())))?;
        write_stamp(&self.stamp, &self.fingerprint);
        Ok(self.wasm)
    }
}

fn write_stamp(stamp: &Path, fingerprint: &str) {
    if let Some(parent) = stamp.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(stamp, fingerprint);
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

/// Sizes and modification times of every file of the component's folder
/// and, for a crate, of its path dependencies (so an SDK change rebuilds
/// too).
fn fingerprint(dir: &Path, manifest: Option<&Path>) -> String {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(text) = manifest.and_then(|m| std::fs::read_to_string(m).ok()) {
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
        if name == "target"
            || name == "node_modules"
            || name == "__pycache__"
            || name.starts_with('.')
            || name.ends_with(".wasm")
        {
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
