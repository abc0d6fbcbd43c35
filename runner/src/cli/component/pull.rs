//! `batou-run component pull REF`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::CliError;
use super::push::{fetch_error, options};
use crate::fetch::{self, Reference};
use crate::output::{Output, shown};

/// Pull a module from an OCI registry into the cache
/// (`<cache>/modules/sha256/<hex>.wasm`), checked against its digest.
///
/// REF is oci://HOST[:PORT]/NAMESPACE/NAME:TAG or …@sha256:DIGEST.
/// Credentials and plain HTTP as for `component push`.
#[derive(clap::Args)]
pub struct PullArgs {
    /// What to pull: oci://HOST[:PORT]/NAMESPACE/NAME:TAG or …@sha256:DIGEST.
    reference: String,
    /// Also write the module to FILE.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// A registry (HOST or HOST:PORT) to speak to over plain HTTP; may be
    /// repeated (also BATOU_RUN_INSECURE_REGISTRIES, comma-separated).
    #[arg(long, value_name = "REGISTRY")]
    insecure: Vec<String>,
}

pub fn run(args: PullArgs, out: &Output) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference).map_err(fetch_error)?;
    let pulled = fetch::pull(&reference, &options(args.insecure)).map_err(fetch_error)?;
    let sha256 = fetch::sha256_digest(&pulled.wasm);
    let hex = sha256.trim_start_matches("sha256:").to_string();
    let cache = super::super::cache_dir()?;
    let dir = cache.join("modules").join("sha256");
    let private = |e: String| anyhow::anyhow!("batou-run component pull: {e}");
    crate::wasm::cache::private_dir(&cache).map_err(private)?;
    crate::wasm::cache::private_dir(&dir).map_err(private)?;
    let path = dir.join(format!("{hex}.wasm"));
    write_atomically(&path, &pulled.wasm)?;
    if let Some(file) = &args.output {
        write_atomically(file, &pulled.wasm)?;
    }
    let pinned = reference.with_digest(&pulled.manifest_digest);
    let size = pulled.wasm.len();
    if out.json {
        let mut v = json!({
            "event": "pulled",
            "reference": pinned.to_string(),
            "digest": pulled.manifest_digest,
            "sha256": hex,
            "size": size,
            "path": path,
        });
        if let Some(file) = &args.output {
            v["file"] = json!(file);
        }
        out.json_line(&v);
    } else {
        let mut text = format!("pulled {pinned} ({size} bytes, sha256 {hex}) into {}", path.display());
        if let Some(file) = &args.output {
            text.push_str(&format!("\nwrote {}", file.display()));
        }
        println!("{}", shown(&text));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder
/// and a rename, so that no reader sees half a module.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let temp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let fail = |e: std::io::Error, what: &Path| {
        CliError::Usage(crate::diagnostic::Diagnostic::new(format!("cannot write {}: {e}", what.display())).into())
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(e, path));
    }
    Ok(())
}
