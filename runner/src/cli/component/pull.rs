//! `batou-run component pull REF`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::CliError;
use super::push::fetch_error;
use crate::fetch::{self, Reference};
use crate::output::{Output, shown};
use crate::sources::store;

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

/// A module pulled from the registry `reference` names, kept in the cache
/// by the sha256 of its bytes (where deploys find it).
pub struct InCache {
    pub reference: Reference,
    pub pulled: fetch::Pulled,
    pub hex: String,
    pub path: PathBuf,
}

/// Pulls `reference` into the cache: `component pull` and `inspect oci://`.
pub fn into_cache(reference: &str, insecure: Vec<String>, cache: &Path) -> Result<InCache, CliError> {
    let reference = Reference::parse(reference).map_err(fetch_error)?;
    let pulled = fetch::pull(&reference, &fetch::Options::new(insecure)).map_err(fetch_error)?;
    crate::wasm::cache::private_dir(cache).map_err(|e| anyhow::anyhow!("cannot keep the module: {e}"))?;
    let (hex, path) = store::put(cache, &pulled.wasm).map_err(|e| anyhow::anyhow!("cannot keep the module: {e}"))?;
    Ok(InCache { reference, pulled, hex, path })
}

pub fn run(args: PullArgs, out: &Output) -> Result<(), CliError> {
    let cache = super::super::cache_dir()?;
    let InCache { reference, pulled, hex, path } = into_cache(&args.reference, args.insecure, &cache)?;
    if let Some(file) = &args.output {
        super::build::write_atomically(file, &pulled.wasm)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", file.display())))?;
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
