//! `batou-run component push NAME REF`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::CliError;
use crate::diagnostic::Diagnostic;
use crate::fetch::{self, FetchError, PushMeta, Reference};
use crate::output::{Output, shown};

/// Push a module to an OCI registry, as a Wasm OCI artifact (the layout
/// wkg and wash use: one `application/wasm` layer, a
/// `application/vnd.wasm.config.v0+json` config).
///
/// Credentials: BATOU_RUN_REGISTRY_USERNAME and BATOU_RUN_REGISTRY_PASSWORD,
/// else the Docker config (`docker login`; $DOCKER_CONFIG/config.json or
/// ~/.docker/config.json), else none. Loopback registries (127.0.0.1,
/// localhost, ::1) are spoken to over plain HTTP, all others over HTTPS
/// unless named with --insecure.
#[derive(clap::Args)]
pub struct PushArgs {
    /// The module: a path to a `.wasm` component.
    name: String,
    /// Where to push it: oci://HOST[:PORT]/NAMESPACE/NAME:TAG.
    reference: String,
    /// The deployment directory (a relative NAME is found from there).
    #[arg(long, short = 'd', default_value = ".")]
    deployment: PathBuf,
    /// A registry (HOST or HOST:PORT) to speak to over plain HTTP; may be
    /// repeated (also BATOU_RUN_INSECURE_REGISTRIES, comma-separated).
    #[arg(long, value_name = "REGISTRY")]
    insecure: Vec<String>,
    /// The module's version (annotation org.opencontainers.image.version).
    #[arg(long)]
    version: Option<String>,
    /// What the module does (annotation org.opencontainers.image.description).
    #[arg(long)]
    description: Option<String>,
}

pub fn run(args: PushArgs, out: &Output) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference).map_err(fetch_error)?;
    if reference.tag.is_none() || reference.digest.is_some() {
        return Err(CliError::Usage(
            Diagnostic::new(format!("{reference}: a push names a tag (oci://HOST/NAMESPACE/NAME:TAG), not a digest"))
                .hint("the digest is printed once the module is pushed")
                .into(),
        ));
    }
    let module = module_bytes(&args.deployment, &args.name)?;
    let interfaces = crate::wasm::interfaces::interfaces(&module.wasm)
        .map_err(|e| CliError::Usage(Diagnostic::new(format!("{}: {e}", module.origin)).into()))?;
    let meta = PushMeta {
        imports: interfaces.imports,
        exports: interfaces.exports,
        title: Some(module.title.clone()),
        version: args.version,
        source: None,
        description: args.description,
    };
    let pushed =
        fetch::push(&reference, &module.wasm, &meta, &fetch::Options::new(args.insecure)).map_err(fetch_error)?;
    let sha256 = fetch::sha256_digest(&module.wasm);
    let hex = sha256.trim_start_matches("sha256:");
    let size = module.wasm.len();
    if out.json {
        out.json_line(&json!({
            "event": "pushed",
            "reference": pushed.reference.to_string(),
            "digest": pushed.manifest_digest,
            "sha256": hex,
            "size": size,
        }));
    } else {
        println!("{}", shown(&format!("pushed {} ({size} bytes, sha256 {hex})", pushed.reference)));
    }
    Ok(())
}

/// A module to push: its bytes, a title for the artifact, and where it
/// came from (for messages).
pub struct Module {
    pub wasm: Vec<u8>,
    pub title: String,
    pub origin: String,
}

/// The module NAME names: a `.wasm` file as it is, or the deployment's
/// component NAME built as a deploy builds it, its assets inside.
pub fn module_bytes(deployment: &Path, name: &str) -> Result<Module, CliError> {
    let cache = super::super::cache_dir()?;
    let wasm = super::build::module_bytes(deployment, name, &cache)?;
    let path = Path::new(name);
    let is_file = name.ends_with(".wasm") || name.contains('/');
    let title = if is_file {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| name.to_string())
    } else {
        name.to_string()
    };
    let origin = if is_file { path.display().to_string() } else { format!("components/{name}") };
    Ok(Module { wasm, title, origin })
}

/// A fetch error as the command line reports it: a wrong reference or
/// module is a usage error; a registry, network or credential failure is
/// reported as a configuration error (exit 2: nothing was changed, and
/// what to fix is the setup, not batou-run).
pub fn fetch_error(e: FetchError) -> CliError {
    let d = Diagnostic::new(e.to_string());
    if e.is_input() { CliError::Usage(d.into()) } else { CliError::Config(d.into()) }
}
