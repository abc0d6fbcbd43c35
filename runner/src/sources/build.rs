//! Building a deployment's own components: Rust crates with cargo for
//! wasm32-wasip2, Python (`app.py`) with componentize-py and JavaScript
//! (`index.js`) with componentize-js, against the contract and SDKs
//! embedded in the runner.
//!
//! A crate depends on the SDK by version (`batou-sdk = "0.2"`), never by a
//! path into batou-run's repository: cargo is told to take the runner's
//! own copy (`--config patch.crates-io.batou-sdk.path=...`), so that a
//! deployment builds wherever it is, and a requirement that does not
//! match the runner's SDK is refused before cargo runs, naming both.
//!
//! A built module is kept in `<cache>/builds/<key>.wasm`, where the key is
//! the sha256 of everything that went into it: the language, the
//! toolchain's identity, the SDK, and the path and content of every source
//! file (a crate's path dependencies included). The source files are the
//! component's files as `modules::walk` finds them, the very files that
//! ship to hosts as its assets: what the rule ignores (`.env`,
//! `node_modules/`, `__pycache__/`, `target/`, what `.gitignore` says)
//! neither ships nor rebuilds; anything else may be read by the build
//! (`include_str!`, an import, a data file) and counts. Two deployments
//! whose components share a name never share a build unless their sources
//! are the same bytes, and a build is reused whatever folder it came from.
//!
//! A build leaves nothing in the component's folder but what the user
//! commits (a crate's `Cargo.lock`): cargo writes to the shared target
//! folder, and Python and JavaScript build from a staged copy.

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
    let mut uses_sdk = false;
    for d in &dirs {
        uses_sdk |= check_sdk_requirement(&d.join("Cargo.toml"))?;
    }
    let sdk = super::sdk::materialise(cache_dir)?;
    let toolchain = format!("sdk {}\n{}", sdk.hash, rust_toolchain(dir));
    let before = Inputs::read(&dirs)?;
    let key = before.key("rust", &toolchain);
    let built = cache_dir.join("builds").join(format!("{key}.wasm"));
    if built.is_file() {
        return Ok(built);
    }
    tracing::info!(component = name, "building");
    let _shown = crate::progress::task(format!("building component {name} (Rust)"));
    // One shared target folder, so that dependencies compile once for
    // every deployment; held locked from the build until its output is
    // copied away, so that no other build of a crate with the same name
    // overwrites it in between.
    let target_dir = cache_dir.join("guest-target");
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(&target_dir).map_err(|e| io(&target_dir, e))?;
    let _lock = lock(&target_dir.join(".batou-run-lock")).map_err(|e| io(&target_dir, e))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["rustc", "--lib", "--release", "--target", "wasm32-wasip2"]);
    if uses_sdk {
        // The runner's SDK, whatever the crate's surroundings say (a value
        // given with --config overrides cargo's config files).
        let sdk_path = toml::Value::String(sdk.dir.join(super::sdk::RUST_CRATE).display().to_string());
        command.arg("--config").arg(format!("patch.crates-io.batou-sdk.path={sdk_path}"));
    }
    let output = command
        .arg("--manifest-path")
        .arg(&manifest)
        // Cargo knows a crate in the shared target folder by its name and
        // its path within its workspace ("src/lib.rs"), so a crate of the
        // same name elsewhere, whose files are older than the last build,
        // would pass for built and get the other's module. The key, passed
        // to the crate's compiler only (not to its dependencies, which
        // stay shared), makes every new set of sources a build of its own;
        // it changes no byte of the module.
        .arg("--")
        .arg("--cfg")
        .arg(format!("batou_build=\"{key}\""))
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
            // The SDK's folder by the command that prints it: the same
            // text whatever the cache and the SDK's hash.
            let patch =
                if uses_sdk { " --config \"patch.crates-io.batou-sdk.path='$(batou-run component sdk)'\"" } else { "" };
            format!(
                "fix the component's source; rerun with `cargo build --release --target wasm32-wasip2{patch} --manifest-path {}` to see the build alone",
                manifest.display()
            )
        };
        // Cargo's waits for another cargo's lock say nothing about the
        // component: leave them out of what the operator reads.
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("Blocking waiting for file lock"))
            .collect();
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
    let after = Inputs::read(&dirs)?;
    let key = if after.same_sources(&before) { after.key("rust", &toolchain) } else { output_key(&wasm)? };
    store(&wasm, &cache_dir.join("builds"), &key)
}

/// Builds `components/<name>/app.py` with componentize-py and the Python
/// SDK, and returns the `.wasm` path.
///
/// The component's files are staged in a folder of their own: the build
/// imports the module, and Python writes `__pycache__/` beside what it
/// imports, which must not appear in the user's folder; and only the
/// component's files (not a `.env`) are on the path the toolchain bundles.
pub fn build_python(name: &str, dir: &Path, cache_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let sdk = super::sdk::materialise(cache_dir)?;
    let tool = super::sdk::componentize_py();
    let build = match guest_build("python", dir, cache_dir, &sdk, &tool)? {
        Ok(built) => return Ok(built),
        Err(build) => build,
    };
    tracing::info!(component = name, "building with componentize-py");
    let _shown = crate::progress::task(format!("building component {name} (Python)"));
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    let out_dir = build.wasm.parent().expect("in a folder");
    let work = tempfile_dir(out_dir).map_err(|e| io(out_dir, e))?;
    let stage = work.join("src");
    let output = stage_files(source_files(dir)?.iter(), &stage).and_then(|()| {
        Command::new(&tool)
            .arg("-d")
            .arg(sdk.dir.join("wit"))
            .args(["-w", "deployment-component", "componentize", "-p"])
            .arg(sdk.dir.join("sdk/python"))
            .arg("-p")
            .arg(&stage)
            .arg("app")
            .arg("-o")
            .arg(&build.tmp)
            .current_dir(&stage)
            // Nor beside the SDK in the cache.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .map_err(|e| {
                Diagnostic::new(format!("cannot run {} to build the Python component `{name}`: {e}", tool.display()))
                    .hint(super::sdk::COMPONENTIZE_PY_HINT)
            })
    });
    let _ = std::fs::remove_dir_all(&work);
    // Errors name the user's files, not the staged copies.
    let output = unstaged(output?, &stage, dir);
    build.finish(name, output, "python", &format!("cd {} && {} ... componentize app", dir.display(), tool.display()))
}

/// Copies the files (relative path, local path) into `stage`.
fn stage_files<'a>(files: impl Iterator<Item = &'a (String, PathBuf)>, stage: &Path) -> Result<(), Diagnostic> {
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(stage).map_err(|e| io(stage, e))?;
    for (rel, path) in files {
        let target = stage.join(rel);
        std::fs::create_dir_all(target.parent().expect("a folder")).map_err(|e| io(&target, e))?;
        std::fs::copy(path, &target).map_err(|e| io(&target, e))?;
    }
    Ok(())
}

/// A toolchain's output with the staging folder's path replaced by the
/// component's folder.
fn unstaged(mut output: std::process::Output, stage: &Path, dir: &Path) -> std::process::Output {
    let (from, to) = (stage.display().to_string(), dir.display().to_string());
    for text in [&mut output.stdout, &mut output.stderr] {
        *text = String::from_utf8_lossy(text).replace(&from, &to).into_bytes();
    }
    output
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
    let _shown = crate::progress::task(format!("building component {name} (JavaScript)"));
    let io = |p: &Path, e: std::io::Error| Diagnostic::new(format!("{}: {e}", p.display()));
    let out_dir = build.wasm.parent().expect("in a folder");
    let sources = source_files(dir)?;
    let work = tempfile_dir(out_dir).map_err(|e| io(out_dir, e))?;
    let stage = work.join("src");
    let js = sources.iter().filter(|(rel, _)| [".js", ".mjs", ".json"].iter().any(|e| rel.ends_with(e)));
    if let Err(e) = stage_files(js, &stage).and_then(|()| {
        std::fs::copy(sdk.dir.join("sdk/js/batou.js"), stage.join("batou.js")).map(drop).map_err(|e| io(&stage, e))
    }) {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
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
    let output = unstaged(output, &stage, dir);
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
    let key = Inputs::read(&[dir.to_path_buf()])?.key(language, &toolchain);
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

/// Refuses a manifest whose `batou-sdk` dependency the runner's SDK does
/// not satisfy: one by path or git (it would build against another
/// contract than the runner links, or not build elsewhere), or one asking
/// for another version. Cargo would otherwise look for `batou-sdk` on
/// crates.io and fail with a message that does not say what to change.
/// Says whether the manifest depends on the SDK.
fn check_sdk_requirement(manifest: &Path) -> Result<bool, Diagnostic> {
    let Ok(doc) = read_manifest(manifest) else {
        // Cargo says what is wrong with it.
        return Ok(false);
    };
    let mut uses = false;
    let have = super::sdk::rust_version();
    let line = format!("batou-sdk = \"{}\"", super::sdk::rust_requirement());
    let targets = doc.get("target").and_then(|t| t.as_table());
    let tables = ["dependencies", "build-dependencies"]
        .into_iter()
        .filter_map(|s| doc.get(s))
        .chain(
            targets
                .into_iter()
                .flat_map(|t| t.values())
                .flat_map(|t| ["dependencies", "build-dependencies"].into_iter().filter_map(|s| t.get(s))),
        )
        .filter_map(|t| t.as_table());
    for table in tables {
        for (key, dep) in table {
            let package = dep.get("package").and_then(|p| p.as_str()).unwrap_or(key);
            if package != "batou-sdk" {
                continue;
            }
            uses = true;
            if dep.get("workspace").is_some() {
                continue;
            }
            let wrong = |what: String| {
                Diagnostic::new(format!(
                    "{} {what}, but batou-run provides its SDK itself (batou-sdk {have}, the version of the contract it runs)",
                    manifest.display()
                ))
                .hint(format!("write `{line}` in [dependencies]: batou-run builds against its own copy of it"))
            };
            if let Some(how) = ["path", "git"].into_iter().find(|k| dep.get(*k).is_some()) {
                let refused = wrong(format!("depends on batou-sdk by {how}"));
                if dep.get("path").and_then(|p| p.as_str()).is_some_and(|p| p.contains(".batou-run/vendor")) {
                    // Written by `batou-run new` before the SDK came from the runner.
                    return Err(refused.hint(format!(
                        "write `{line}` in [dependencies] and remove .batou-run/vendor/: batou-run builds against its own copy"
                    )));
                }
                return Err(refused);
            }
            let wanted = dep.as_str().or_else(|| dep.get("version").and_then(|v| v.as_str()));
            let Some(wanted) = wanted else {
                return Err(wrong("names no version of batou-sdk".to_string()));
            };
            let req = semver::VersionReq::parse(wanted).map_err(|e| {
                wrong(format!("asks for batou-sdk \"{wanted}\", which is no version requirement ({e})"))
            })?;
            if !req.matches(have) {
                return Err(Diagnostic::new(format!(
                    "{} asks for batou-sdk \"{wanted}\", but this batou-run carries batou-sdk {have} (the SDK's version follows the contract's)",
                    manifest.display()
                ))
                .hint(format!(
                    "write `{line}` and build the component against that SDK, or deploy with a batou-run whose SDK matches \"{wanted}\""
                )));
            }
        }
    }
    Ok(uses)
}

/// The crate's folder and those of its path dependencies, transitively
/// (the SDK is none: it counts by its hash).
fn crate_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let d = d.canonicalize().unwrap_or(d);
        if dirs.contains(&d) {
            continue;
        }
        if let Ok(doc) = read_manifest(&d.join("Cargo.toml")) {
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
    fn read(dirs: &[PathBuf]) -> Result<Inputs, Diagnostic> {
        let mut entries = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            for (rel, path) in source_files(dir)? {
                // A file that cannot be read is part of the key as such,
                // and cargo or the toolchain will say what is wrong with it.
                let digest = std::fs::read(&path).map(|b| Sha256::digest(&b).into()).unwrap_or([0; 32]);
                entries.push((format!("{i}/{rel}"), digest));
            }
        }
        entries.sort();
        Ok(Inputs(entries))
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
/// it and sorted: its files as they ship (`modules::walk`), and symlinks
/// to files outside it, which the toolchain reads through.
fn source_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Diagnostic> {
    crate::system::walk::sources(dir).map_err(|e| Diagnostic::new(e.to_string()))
}
