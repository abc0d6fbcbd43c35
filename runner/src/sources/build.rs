//! Building a deployment's own components: Rust crates with cargo for
//! wasm32-wasip2, Python (`app.py`) with componentize-py and JavaScript
//! (`index.js`) with componentize-js, against the contract and SDKs
//! embedded in the runner.
//!
//! A built module is kept in `<cache>/builds/<key>.wasm`, where the key is
//! the sha256 of everything that went into it: the language, the
//! toolchain's identity, the SDK, and the path and content of every source
//! file (a crate's path dependencies included). Two deployments whose
//! components share a name never share a build unless their sources are
//! the same bytes, and a build is reused whatever folder it came from.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;

/// Builds `components/<name>` (a Rust crate) and returns the `.wasm` path.
/// Runs cargo only when no build of the same sources and toolchain is
/// cached.
pub fn build_crate(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let manifest = dir.join("Cargo.toml");
    let lib_name = lib_name(&manifest)?;
    let dirs = crate_dirs(dir);
    let toolchain = rust_toolchain(dir);
    let before = Inputs::read(&dirs);
    let built = cache_dir.join("builds").join(format!("{}.wasm", before.key("rust", &toolchain)));
    if built.is_file() {
        return Ok(built);
    }
    tracing::info!(component = name, "building");
    // One shared target folder, so that dependencies compile once for
    // every deployment; held locked from the build until its output is
    // copied away, so that no other build of a crate with the same name
    // overwrites it in between.
    let target_dir = cache_dir.join("guest-target");
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(&target_dir).map_err(|e| io(&target_dir, e))?;
    let _lock = lock(&target_dir.join(".batou-run-lock")).map_err(|e| io(&target_dir, e))?;
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
    let wasm = target_dir.join("wasm32-wasip2").join("release").join(format!("{lib_name}.wasm"));
    if !wasm.is_file() {
        return Err(Diagnostic::new(format!("building component `{name}` produced no {}", wasm.display()))
            .hint("make the crate a library with crate-type = [\"cdylib\"]"));
    }
    // The first build writes Cargo.lock: the module is what those sources
    // and that lock file make, so it is kept under the key of the sources
    // as they are now, which the next deploy computes.
    let after = Inputs::read(&dirs);
    let key = if after.same_sources(&before) { after.key("rust", &toolchain) } else { output_key(&wasm)? };
    store(&wasm, &cache_dir.join("builds"), &key)
}

/// Builds `components/<name>/app.py` with componentize-py and the Python
/// SDK, and returns the `.wasm` path.
pub fn build_python(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let sdk = super::sdk::materialise(cache_dir)?;
    let tool = super::sdk::componentize_py();
    let build = match guest_build("python", dir, cache_dir, &sdk, &tool)? {
        Ok(built) => return Ok(built),
        Err(build) => build,
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
    let build = match guest_build("js", dir, cache_dir, &sdk, &tool)? {
        Ok(built) => return Ok(built),
        Err(build) => build,
    };
    tracing::info!(component = name, "building with componentize-js");
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    let out_dir = build.wasm.parent().expect("in a folder");
    let work = tempfile_dir(out_dir).map_err(|e| io(out_dir, e))?;
    let stage = work.join("src");
    for rel in source_files(dir) {
        let is_js = rel.extension().is_some_and(|e| e == "js" || e == "mjs" || e == "json");
        if !is_js {
            continue;
        }
        let target = stage.join(&rel);
        std::fs::create_dir_all(target.parent().expect("a folder")).map_err(|e| io(&target, e))?;
        std::fs::copy(dir.join(&rel), &target).map_err(|e| io(&target, e))?;
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
    /// `<cache>/builds/<key>.wasm`.
    wasm: PathBuf,
    /// Where the toolchain writes, renamed to `wasm` when it succeeded.
    tmp: PathBuf,
}

/// The module built from `dir` by the `language` toolchain if it is
/// cached (same sources, SDK and toolchain), else where to build it.
fn guest_build(
    language: &str,
    dir: &Path,
    cache_dir: &Path,
    sdk: &super::sdk::Sdk,
    tool: &Path,
) -> Result<Result<PathBuf, GuestBuild>, Diagnostic> {
    let toolchain = format!("sdk {}\n{}", sdk.hash, tool_identity(tool));
    let key = Inputs::read(&[dir.to_path_buf()]).key(language, &toolchain);
    let out_dir = cache_dir.join("builds");
    let wasm = out_dir.join(format!("{key}.wasm"));
    if wasm.is_file() {
        return Ok(Ok(wasm));
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| Diagnostic::new(format!("{}: {e}", out_dir.display())))?;
    let tmp = out_dir.join(format!(".{key}.{}.wasm", std::process::id()));
    Ok(Err(GuestBuild { wasm, tmp }))
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
    /// Checks the toolchain's run and moves its output into place; returns
    /// the module's path.
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
        Ok(self.wasm)
    }
}

/// Copies a built module to `<dir>/<key>.wasm` (through a temporary file,
/// so that a reader never sees half a module) and returns that path.
fn store(wasm: &Path, dir: &Path, key: &str) -> Result<PathBuf, Diagnostic> {
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let stored = dir.join(format!("{key}.wasm"));
    let tmp = dir.join(format!(".{key}.{}.wasm", std::process::id()));
    std::fs::copy(wasm, &tmp).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &stored).map_err(|e| io(&stored, e))?;
    Ok(stored)
}

/// The key of a module by its own bytes, for a build whose sources changed
/// while it ran (no deploy will look it up by its sources).
fn output_key(wasm: &Path) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(wasm).map_err(|e| Diagnostic::new(format!("{}: {e}", wasm.display())))?;
    Ok(format!("output-{}", hex(&Sha256::digest(&bytes))))
}

/// An exclusive `flock` on `path`, held while the file lives.
fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

fn lib_name(manifest: &Path) -> Result<String, Diagnostic> {
    let doc = read_manifest(manifest)?;
    let lib = doc.get("lib").and_then(|l| l.get("name")).and_then(|n| n.as_str());
    let package = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    lib.or(package)
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| Diagnostic::new(format!("{} names no package", manifest.display())))
}

fn read_manifest(manifest: &Path) -> Result<toml::Table, Diagnostic> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", manifest.display())))?;
    toml::from_str(&text)
        .map_err(|e| Diagnostic::new(format!("{} is not valid TOML: {}", manifest.display(), e.message())))
}

/// The crate's folder and those of its path dependencies, transitively;
/// for the SDK (`batou-sdk`), also the contract it is generated from
/// (`wit/`, two folders up, as the SDK's bindings name it).
fn crate_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let d = d.canonicalize().unwrap_or(d);
        if dirs.contains(&d) {
            continue;
        }
        if let Ok(doc) = read_manifest(&d.join("Cargo.toml")) {
            let is_sdk = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) == Some("batou-sdk");
            if is_sdk {
                todo.push(d.join("../../wit"));
            }
            for section in ["dependencies", "build-dependencies"] {
                for dep in doc.get(section).and_then(|s| s.as_table()).into_iter().flat_map(|t| t.values()) {
                    if let Some(path) = dep.get("path").and_then(|p| p.as_str()) {
                        todo.push(d.join(path));
                    }
                }
            }
        }
        dirs.push(d);
    }
    // The component's own folder first, the others in a stable order.
    dirs[1..].sort();
    dirs
}

/// The Rust toolchain that builds in `dir` (`rustc -vV`, run there so
/// that a rust-toolchain file applies), or its absence.
fn rust_toolchain(dir: &Path) -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    match Command::new(rustc).arg("-vV").current_dir(dir).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => "no rustc".to_string(),
    }
}

/// A toolchain program by its path, size and modification time (running
/// it to ask for its version costs a second of interpreter start-up).
fn tool_identity(tool: &Path) -> String {
    let resolved = if tool.components().count() > 1 {
        Some(tool.to_path_buf())
    } else {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    };
    let Some(path) = resolved else {
        return format!("{} (not found)", tool.display());
    };
    let meta = std::fs::metadata(&path).ok();
    let len = meta.as_ref().map_or(0, |m| m.len());
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {len} {mtime}", path.display())
}

/// What went into a build: each source file by its path (below the index
/// of its folder) and the sha256 of its bytes, sorted.
#[derive(PartialEq, Eq)]
struct Inputs(Vec<(String, [u8; 32])>);

impl Inputs {
    fn read(dirs: &[PathBuf]) -> Inputs {
        let mut entries = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            for rel in source_files(dir) {
                // A file that cannot be read is part of the key as such,
                // and cargo or the toolchain will say what is wrong with it.
                let digest = std::fs::read(dir.join(&rel)).map(|b| Sha256::digest(&b).into()).unwrap_or([0; 32]);
                entries.push((format!("{i}/{}", rel.display()), digest));
            }
        }
        entries.sort();
        Inputs(entries)
    }

    /// The same sources, whatever became of a Cargo.lock the build wrote.
    fn same_sources(&self, other: &Inputs) -> bool {
        let sources = |i: &Inputs| -> Vec<(String, [u8; 32])> {
            i.0.iter().filter(|(p, _)| !p.ends_with("/Cargo.lock")).cloned().collect()
        };
        sources(self) == sources(other)
    }

    fn key(&self, language: &str, toolchain: &str) -> String {
        let mut h = Sha256::new();
        h.update(format!("batou-run build 1\n{language}\n{toolchain}\n"));
        for (path, digest) in &self.0 {
            h.update(path.as_bytes());
            h.update([0]);
            h.update(digest);
        }
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The files of a component's folder that make its module, relative to
/// it and sorted: not build output (`target/`, `node_modules/`,
/// `__pycache__/`, `.wasm` files) and not hidden files.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text == "target"
            || text == "node_modules"
            || text == "__pycache__"
            || text.starts_with('.')
            || text.ends_with(".wasm")
        {
            continue;
        }
        // Not followed: a symlink to a folder could loop.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(dir, &rel.join(&name), out);
        } else {
            out.push(rel.join(&name));
        }
    }
}
