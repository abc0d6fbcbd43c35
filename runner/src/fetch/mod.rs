//! Modules from elsewhere: OCI registries (push and pull of Wasm OCI
//! artifacts, the layout wkg and wash use) and plain HTTPS downloads.
//!
//! Every function blocks: each builds a tokio current-thread runtime and
//! runs oci-client (or reqwest) on it. Loopback registries (127.0.0.0/8,
//! ::1, localhost) speak plain HTTP, as do the ones in
//! [`Options::insecure`]; all others HTTPS only. Credentials come from
//! `BATOU_RUN_REGISTRY_USERNAME`/`_PASSWORD`, else the Docker config
//! (`auth.rs`), and never appear in a message, a `Debug` or a log.
//!
//! This module depends on nothing of the runner but `diagnostic`.

mod auth;
mod https;
mod layout;
mod oci;
mod reference;

pub use self::https::is_loopback;
pub use self::reference::Reference;

/// The largest module (or download) accepted.
pub const SIZE_LIMIT: u64 = 256 * 1024 * 1024;

/// How registries and URLs may be reached.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Registries (`host` or `host:port`) allowed over plain HTTP besides
    /// loopback ones (which always use plain HTTP); all others are HTTPS
    /// only.
    pub insecure: Vec<String>,
}

impl Options {
    /// `insecure` (a command's `--insecure`, batou.toml's `[registries]
    /// insecure`) and those `BATOU_RUN_INSECURE_REGISTRIES` names
    /// (comma-separated), for every command alike.
    pub fn new(mut insecure: Vec<String>) -> Options {
        if let Ok(list) = std::env::var("BATOU_RUN_INSECURE_REGISTRIES") {
            insecure.extend(list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string));
        }
        Options { insecure }
    }
}

/// A module pulled from a registry.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// `sha256:…` of the manifest the reference resolved to.
    pub manifest_digest: String,
    /// The component's bytes, checked against the layer's digest.
    pub wasm: Vec<u8>,
}

/// A module pushed to a registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `sha256:…` of the manifest pushed.
    pub manifest_digest: String,
    /// The pushed reference, pinned by digest.
    pub reference: Reference,
}

/// What a pushed artifact says about its module (config and annotations).
#[derive(Debug, Clone, Default)]
pub struct PushMeta {
    /// The component's top-level imports (`wasi:cli/environment@0.2.6`, …).
    pub imports: Vec<String>,
    /// The component's top-level exports.
    pub exports: Vec<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub source: Option<String>,
    pub description: Option<String>,
}

/// Why fetching (or pushing) failed; each message names the registry,
/// reference or URL, what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{input}` is not an OCI reference: {problem}")]
    Reference { input: String, problem: String },

    #[error(
        "the registry {registry} refused the credentials of {origin}; check them with `docker login {registry}` \
         (or set BATOU_RUN_REGISTRY_USERNAME and BATOU_RUN_REGISTRY_PASSWORD)"
    )]
    CredentialsRefused { registry: String, origin: String },

    #[error(
        "the registry {registry} asks for credentials and none were found (neither BATOU_RUN_REGISTRY_USERNAME/\
         BATOU_RUN_REGISTRY_PASSWORD nor an entry in {config}); log in with `docker login {registry}`"
    )]
    CredentialsNeeded { registry: String, config: String },

    /// The credentials could not be read (half-set variables, a broken
    /// Docker config, a failing helper).
    #[error("{0}")]
    Credentials(String),

    #[error("{reference} does not exist in the registry {registry}: {what}; check the name and the tag")]
    NotFound { reference: String, registry: String, what: String },

    #[error("{reference} is not a Wasm component artifact: {problem}")]
    NotWasm { reference: String, problem: String },

    #[error("{what} from {from} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { what: String, from: String, expected: String, actual: String },

    #[error("{what} from {from} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { what: String, from: String, size: u64, limit: u64 },

    #[error("cannot reach the registry {registry} over {scheme}: {detail}{hint}")]
    Unreachable { registry: String, scheme: &'static str, detail: String, hint: String },

    #[error("the registry {registry} failed {action}: {detail}")]
    Registry { registry: String, action: String, detail: String },

    #[error("cannot download {url}: {problem}")]
    Download { url: String, problem: String },

    #[error("cannot start the network runtime: {0}")]
    Runtime(String),
}

impl FetchError {
    /// Whether the input itself is wrong (a reference), rather
    /// than the registry, the network or the credentials.
    pub fn is_input(&self) -> bool {
        matches!(self, FetchError::Reference { .. })
    }
}

/// Pulls the Wasm component `reference` names: its manifest, then its one
/// layer, whose sha256 is checked against the layer's digest.
pub fn pull(reference: &Reference, options: &Options) -> Result<Pulled, FetchError> {
    oci::block_on(oci::pull(reference, options))?
}

/// The digest of the manifest `reference` points to now (a tag's current
/// target), without pulling the layer.
pub fn manifest_digest(reference: &Reference, options: &Options) -> Result<String, FetchError> {
    oci::block_on(oci::manifest_digest(reference, options))?
}

/// Pushes `wasm` as a Wasm OCI artifact (config `application/vnd.wasm.config.v0+json`,
/// one `application/wasm` layer) to `reference` (which needs a tag).
pub fn push(reference: &Reference, wasm: &[u8], meta: &PushMeta, options: &Options) -> Result<Pushed, FetchError> {
    oci::block_on(oci::push(reference, wasm, meta, options))?
}

/// Downloads `url` (https://, or http:// to a loopback host or one in
/// `options.insecure`), following redirects under the same rule, within a
/// timeout and [`SIZE_LIMIT`].
/// Whether a URL (the first, or one a redirect leads to) may be fetched;
/// else why not.
pub type Allow = std::sync::Arc<dyn Fn(&reqwest::Url) -> Result<(), String> + Send + Sync>;

/// How long and how large a streamed download may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: std::time::Duration,
    pub max_size: u64,
}

/// What a streamed download fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub size: u64,
    /// Hex, of every byte given to the sink.
    pub sha256: String,
    /// After redirects.
    pub url: String,
}

/// Fetches `url` into `sink` piece by piece (never whole in memory),
/// every URL (redirects too, at most 10) checked by `allow` first; with
/// its size and sha256. Fails past `limits` (a stalled server at the
/// timeout), on a status other than 2xx, or when `sink` does.
pub fn download_to(
    url: &str,
    allow: Allow,
    limits: &Limits,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<Fetched, FetchError> {
    oci::block_on(https::stream(url, allow, limits, sink))?
}

pub fn download(url: &str, options: &Options) -> Result<Vec<u8>, FetchError> {
    oci::block_on(https::download(url, options)).map_err(|e| match e {
        FetchError::Unreachable { detail, .. } => FetchError::Download { url: url.to_string(), problem: detail },
        e => e,
    })?
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
