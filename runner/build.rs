//! Builds the guest workspace (`components/Cargo.toml`: the standard library,
//! the SDK and the test fixtures) for `wasm32-wasip2`, then tells the runner
//! where the modules are:
//!
//! - `$OUT_DIR/stdlib.rs`: `STDLIB`, the standard library modules embedded
//!   in the runner, as `(name, bytes)`.
//! - `$OUT_DIR/fixtures.rs`: one `FIXTURE_<NAME>` constant per directory in
//!   `tests/fixtures/`, the path of its `.wasm`. The integration tests
//!   include it and deny dead code, so a fixture without a test is an error.
//!
//! The guests build with the release profile into `target/guests`, one
//! target directory for all of them, so wit-bindgen and serde compile once.

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guests' target triple.
const TARGET: &str = "wasm32-wasip2";

/// The standard library modules: (name in the runner, crate's lib name).
const STDLIB: &[(&str, &str)] = &[
    ("files", "batou_std_files"),
    ("command", "batou_std_command"),
    ("system", "batou_std_system"),
    ("git", "batou_std_git"),
    ("archive", "batou_std_archive"),
    ("download", "batou_std_download"),
];

/// Environment variables that cargo sets for this build script, or that
/// configure the outer build, and would mislead the nested cargo.
const REMOVE: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "DEBUG",
    "OPT_LEVEL",
    "PROFILE",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "NUM_JOBS",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_LINKER",
    "RUSTC_WORKSPACE_WRAPPER",
];

/// Prefixes of such variables.
const REMOVE_PREFIXES: &[&str] =
    &["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PROFILE_", "CARGO_PKG_", "CARGO_DEP_", "__CARGO"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.parent().expect("the runner crate lives in the repository").to_owned();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target_dir = repo.join("target").join("guests");

    rerun_if_changed(&repo).expect("listing the guest sources");
    check_target_installed();
    build_guests(&repo, &target_dir);

    let wasm_dir = target_dir.join(TARGET).join("release");
    write_stdlib(&wasm_dir, &out_dir);
    write_fixtures(&repo.join("tests").join("fixtures"), &wasm_dir, &out_dir);
    let id = source_id(&repo, &wasm_dir).expect("hashing the runner's sources");
    println!("cargo:rustc-env=BATOU_RUN_SOURCE_ID={id}");
}

/// The sha256 of what goes into the runner's binary: its sources, the
/// workspace manifest and lock, the standard library modules it embeds
/// (which stand for `components/`, `sdk/` and `wit/`), and the compiler.
/// A static agent built from the same sources carries the same id, so the
/// controller keeps built agents in its cache under it (`target::agents`)
/// and never ships one built from other sources.
fn source_id(repo: &Path, wasm_dir: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    for name in ["Cargo.toml", "Cargo.lock", "runner/Cargo.toml", "runner/build.rs"] {
        files.push(repo.join(name));
    }
    list_files(&repo.join("runner/src"), &mut files)?;
    for (_, lib) in STDLIB {
        files.push(wasm_dir.join(format!("{lib}.wasm")));
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let bytes = fs::read(file)?;
        let name = file.strip_prefix(repo).unwrap_or(file).to_string_lossy().into_owned();
        hasher.update(format!("{name}\0{}\0", bytes.len()));
        hasher.update(&bytes);
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc).arg("-vV").output()?;
    hasher.update(&version.stdout);
    for watched in ["Cargo.toml", "Cargo.lock", "runner/Cargo.toml", "runner/src"] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every file below `dir`.
fn list_files(dir: &Path, into: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            list_files(&entry.path(), into)?;
        } else {
            into.push(entry.path());
        }
    }
    Ok(())
}

/// Reruns this script when the contract or any guest source changes.
fn rerun_if_changed(repo: &Path) -> io::Result<()> {
    let watch = |path: &Path| println!("cargo:rerun-if-changed={}", path.display());
    watch(&repo.join("wit"));
    watch(&repo.join("sdk/rust/src"));
    watch(&repo.join("sdk/rust/Cargo.toml"));
    // The SDK's derive (not its target folder, if someone built there).
    watch(&repo.join("sdk/rust/macros/src"));
    watch(&repo.join("sdk/rust/macros/Cargo.toml"));
    // Everything in components/ but a target directory someone built there
    // (a watched directory is scanned whole, so not components/ itself: a
    // new member shows in its Cargo.toml anyway).
    let components = repo.join("components");
    for entry in fs::read_dir(&components)? {
        let path = entry?.path();
        if path.file_name() != Some(OsStr::new("target")) {
            watch(&path);
        }
    }
    watch(&repo.join("tests/fixtures"));
    Ok(())
}

/// The cargo of the outer build, with the variables of the outer build
/// removed.
fn nested_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if REMOVE.contains(&key) || REMOVE_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Fails with instructions if the `wasm32-wasip2` standard library is
/// missing from the toolchain the nested cargo will use.
fn check_target_installed() {
    let output = nested_command("rustc")
        .args(["--print", "sysroot"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running `rustc --print sysroot`: {e}"));
    assert!(output.status.success(), "`rustc --print sysroot` failed: {}", output.status);
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let libdir = Path::new(&sysroot).join("lib").join("rustlib").join(TARGET);
    if !libdir.is_dir() {
        panic!(
            "\n\nThe Rust target {TARGET} is not installed (no {}).\n\
             batou-run builds its standard library components for it. Run:\n\n    \
             rustup target add {TARGET}\n\n",
            libdir.display()
        );
    }
}

/// `cargo build --release --target wasm32-wasip2 --workspace` for the guest
/// workspace.
fn build_guests(repo: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = nested_command(cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--workspace", "--manifest-path"])
        .arg(repo.join("components").join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        // Our stdout is read by cargo as instructions: keep it clean.
        .stdout(io::stderr())
        .stderr(Stdio::inherit());
    let status = cmd.status().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(status.success(), "building the guest components failed ({status}); see above");
}

/// A module's path, which must exist.
fn wasm_path(wasm_dir: &Path, lib_name: &str, what: &str) -> String {
    let path = wasm_dir.join(format!("{lib_name}.wasm"));
    assert!(path.is_file(), "{what}: {} was not built", path.display());
    path.to_str().expect("the repository's path is UTF-8").to_owned()
}

fn write_stdlib(wasm_dir: &Path, out_dir: &Path) {
    use sha2::{Digest, Sha256};
    // The sha256 is computed here, not at every start: it is the key of
    // the compiled code and of the kinds in the cache.
    let mut code = String::from(
        "/// The standard library modules, embedded: (name, component bytes,\n\
         /// their sha256 in hex).\n\
         pub static STDLIB: &[(&str, &[u8], &str)] = &[\n",
    );
    for (name, lib) in STDLIB {
        let path = wasm_path(wasm_dir, lib, &format!("standard library module `{name}`"));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        writeln!(code, "    ({name:?}, include_bytes!({path:?}), {sha256:?}),").unwrap();
    }
    code.push_str("];\n");
    write_if_changed(&out_dir.join("stdlib.rs"), &code);
}

fn write_fixtures(fixtures: &Path, wasm_dir: &Path, out_dir: &Path) {
    let mut names: Vec<String> = fs::read_dir(fixtures)
        .unwrap_or_else(|e| panic!("listing {}: {e}", fixtures.display()))
        .map(|entry| entry.expect("listing tests/fixtures"))
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().into_string().expect("fixture names are UTF-8"))
        .collect();
    names.sort();
    let mut code = String::from("// The guest fixtures' modules, built by runner/build.rs.\n");
    for name in names {
        let lib = format!("fixture_{}", name.replace('-', "_"));
        let what = format!("tests/fixtures/{name} (its crate must be named `fixture-{name}`)");
        let path = wasm_path(wasm_dir, &lib, &what);
        let constant = name.replace('-', "_").to_uppercase();
        writeln!(code, "/// The module of `tests/fixtures/{name}`.").unwrap();
        writeln!(code, "pub(crate) const FIXTURE_{constant}: &str = {path:?};").unwrap();
    }
    write_if_changed(&out_dir.join("fixtures.rs"), &code);
}

/// Writes `text` unless the file holds it already, so that its mtime (and
/// what depends on it) stays put.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
