//! The contract (`wit/`) and the guest SDKs (Rust, Python, JavaScript),
//! embedded in the runner and written to `<cache>/sdk/<hash>/` for the
//! toolchains, so that a deployment needs nothing but the toolchain
//! itself, wherever it is: a Rust component depends on `batou-sdk =
//! "X.Y"` and its build patches that to the runner's copy; Python and
//! JavaScript get theirs on the toolchain's search path.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;

/// Files written below the materialised SDK folder, by relative path, laid
/// out as in batou-run's repository (the Rust SDK finds `../../wit`).
/// Nothing else of `sdk/rust` is needed: its own Cargo.lock is not read
/// when it is a dependency.
const FILES: &[(&str, &str)] = &[
    ("wit/types.wit", include_str!("../../../wit/types.wit")),
    ("wit/model.wit", include_str!("../../../wit/model.wit")),
    ("wit/files.wit", include_str!("../../../wit/files.wit")),
    ("wit/process.wit", include_str!("../../../wit/process.wit")),
    ("wit/ssh.wit", include_str!("../../../wit/ssh.wit")),
    ("wit/http.wit", include_str!("../../../wit/http.wit")),
    ("wit/assets.wit", include_str!("../../../wit/assets.wit")),
    ("wit/template.wit", include_str!("../../../wit/template.wit")),
    ("wit/log.wit", include_str!("../../../wit/log.wit")),
    ("wit/component.wit", include_str!("../../../wit/component.wit")),
    ("sdk/python/batou_sdk/__init__.py", include_str!("../../../sdk/python/batou_sdk/__init__.py")),
    ("sdk/python/component.py", include_str!("../../../sdk/python/component.py")),
    ("sdk/js/batou.js", include_str!("../../../sdk/js/batou.js")),
    // For editors: the types of batou.js (componentize-js does not read it).
    ("sdk/js/batou.d.ts", include_str!("../../../sdk/js/batou.d.ts")),
    ("sdk/rust/Cargo.toml", include_str!("../../../sdk/rust/Cargo.toml")),
    ("sdk/rust/src/__private.rs", include_str!("../../../sdk/rust/src/__private.rs")),
    ("sdk/rust/src/assets.rs", include_str!("../../../sdk/rust/src/assets.rs")),
    ("sdk/rust/src/component.rs", include_str!("../../../sdk/rust/src/component.rs")),
    ("sdk/rust/src/error.rs", include_str!("../../../sdk/rust/src/error.rs")),
    ("sdk/rust/src/files.rs", include_str!("../../../sdk/rust/src/files.rs")),
    ("sdk/rust/src/http.rs", include_str!("../../../sdk/rust/src/http.rs")),
    ("sdk/rust/src/kind.rs", include_str!("../../../sdk/rust/src/kind.rs")),
    ("sdk/rust/src/lib.rs", include_str!("../../../sdk/rust/src/lib.rs")),
    ("sdk/rust/src/log.rs", include_str!("../../../sdk/rust/src/log.rs")),
    ("sdk/rust/src/model.rs", include_str!("../../../sdk/rust/src/model.rs")),
    ("sdk/rust/src/process.rs", include_str!("../../../sdk/rust/src/process.rs")),
    ("sdk/rust/src/ssh.rs", include_str!("../../../sdk/rust/src/ssh.rs")),
    ("sdk/rust/src/stdlib.rs", include_str!("../../../sdk/rust/src/stdlib.rs")),
    ("sdk/rust/src/template.rs", include_str!("../../../sdk/rust/src/template.rs")),
    // The SDK's derive, a crate of its own that the SDK depends on by path.
    ("sdk/rust/macros/Cargo.toml", include_str!("../../../sdk/rust/macros/Cargo.toml")),
    ("sdk/rust/macros/src/lib.rs", include_str!("../../../sdk/rust/macros/src/lib.rs")),
    ("sdk/rust/macros/src/docs.rs", include_str!("../../../sdk/rust/macros/src/docs.rs")),
    ("sdk/rust/macros/src/expand.rs", include_str!("../../../sdk/rust/macros/src/expand.rs")),
    ("sdk/rust/macros/src/options.rs", include_str!("../../../sdk/rust/macros/src/options.rs")),
    ("sdk/rust/macros/src/types.rs", include_str!("../../../sdk/rust/macros/src/types.rs")),
];

/// How to get componentize-py, for the error when it is missing.
pub const COMPONENTIZE_PY_HINT: &str = "install componentize-py (PyPI) and put it on PATH, e.g. \
    `python3 -m venv ~/.local/batou-py && ~/.local/batou-py/bin/pip install componentize-py==0.25.1 && \
    export PATH=~/.local/batou-py/bin:$PATH`, or set BATOU_RUN_COMPONENTIZE_PY to its path";

/// The Rust SDK's crate, below the SDK folder.
pub const RUST_CRATE: &str = "sdk/rust";

/// The version of the embedded Rust SDK (its Cargo.toml's, which follows
/// the contract's): read from the one file, so that it is written once.
pub fn rust_version() -> &'static semver::Version {
    static VERSION: std::sync::OnceLock<semver::Version> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let manifest = FILES.iter().find(|(p, _)| *p == "sdk/rust/Cargo.toml").expect("embedded").1;
        let doc: toml::Table = toml::from_str(manifest).expect("sdk/rust/Cargo.toml is TOML");
        let version = doc["package"]["version"].as_str().expect("sdk/rust/Cargo.toml has a version");
        semver::Version::parse(version).expect("sdk/rust/Cargo.toml's version is semver")
    })
}

/// The requirement a component crate writes for the embedded SDK
/// (`batou-sdk = "0.2"`): its major and minor version.
pub fn rust_requirement() -> String {
    let v = rust_version();
    format!("{}.{}", v.major, v.minor)
}

/// The SDK folder on disk.
pub struct Sdk {
    pub dir: PathBuf,
    /// sha256 of every embedded file: a new SDK rebuilds components.
    pub hash: String,
}

/// Writes the embedded contract and SDKs below `cache/sdk/<hash>/` (once).
pub fn materialise(cache: &Path) -> Result<Sdk, Diagnostic> {
    let mut hasher = Sha256::new();
    for (path, text) in FILES {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let dir = cache.join("sdk").join(&hash);
    let complete = dir.join(".complete");
    if !complete.is_file() {
        let fail =
            |p: &Path, e: std::io::Error| Diagnostic::new(format!("cannot write the SDK to {}: {e}", p.display()));
        for (path, text) in FILES {
            let target = dir.join(path);
            std::fs::create_dir_all(target.parent().expect("a folder")).map_err(|e| fail(&target, e))?;
            // Written beside and renamed: deploys at once see whole files.
            let tmp = target.with_extension(format!("tmp.{}", std::process::id()));
            std::fs::write(&tmp, text).map_err(|e| fail(&tmp, e))?;
            std::fs::rename(&tmp, &target).map_err(|e| fail(&target, e))?;
        }
        std::fs::write(&complete, "").map_err(|e| fail(&complete, e))?;
    }
    Ok(Sdk { dir, hash })
}

/// How to get componentize-js, for the error when it is missing.
pub const COMPONENTIZE_JS_HINT: &str = "install componentize-js (npm) and put it on PATH, e.g. \
    `npm install -g @bytecodealliance/componentize-js@0.23.0`, or set BATOU_RUN_COMPONENTIZE_JS to its path";

/// componentize-js: `BATOU_RUN_COMPONENTIZE_JS`, else the one in PATH.
pub fn componentize_js() -> PathBuf {
    std::env::var_os("BATOU_RUN_COMPONENTIZE_JS").map(PathBuf::from).unwrap_or_else(|| "componentize-js".into())
}

/// componentize-py: `BATOU_RUN_COMPONENTIZE_PY`, else the one in PATH.
pub fn componentize_py() -> PathBuf {
    std::env::var_os("BATOU_RUN_COMPONENTIZE_PY").map(PathBuf::from).unwrap_or_else(|| "componentize-py".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rust_sdks_version_is_its_cargo_tomls() {
        let manifest: toml::Table = toml::from_str(include_str!("../../../sdk/rust/Cargo.toml")).unwrap();
        assert_eq!(super::rust_version().to_string(), manifest["package"]["version"].as_str().unwrap());
        let v = super::rust_version();
        assert_eq!(super::rust_requirement(), format!("{}.{}", v.major, v.minor));
    }

    /// Every WIT file and every source file of the Rust SDK and its macros
    /// is embedded: a new one left out breaks every build of a deployment's
    /// own component (the embedded WIT or SDK would lack it).
    #[test]
    fn every_wit_and_rust_sdk_file_is_embedded() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (dir, ext) in [("wit", "wit"), ("sdk/rust/src", "rs"), ("sdk/rust/macros/src", "rs")] {
            for entry in std::fs::read_dir(repo.join(dir)).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(&format!(".{ext}")) {
                    let rel = format!("{dir}/{name}");
                    assert!(super::FILES.iter().any(|(p, _)| *p == rel), "{rel} is not in sources/sdk.rs FILES");
                }
            }
        }
    }
}
