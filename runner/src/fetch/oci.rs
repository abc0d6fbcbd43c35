//! Talking to an OCI registry with oci-client, on a current-thread tokio
//! runtime per call.

use std::future::Future;
use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE};
use oci_client::{Client, client::ClientConfig};

use super::auth::{self, Credentials, Origin};
use super::layout::{self, MANIFEST_MEDIA_TYPE};
use super::{FetchError, Options, Pulled, PushMeta, Pushed, Reference, SIZE_LIMIT, https, sha256_digest};

const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `future` to its end on a fresh current-thread runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, FetchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Runtime(e.to_string()))?;
    Ok(runtime.block_on(future))
}

fn client(registry: &str, options: &Options) -> Client {
    https::install_crypto();
    Client::new(ClientConfig {
        protocol: https::protocol(registry, options),
        connect_timeout: Some(https::CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        ..ClientConfig::default()
    })
}

/// What a failure of one registry call is about.
struct Context<'a> {
    reference: &'a Reference,
    options: &'a Options,
    origin: &'a Origin,
    action: &'static str,
}

impl Context<'_> {
    /// oci-client's error as the operator should read it.
    fn error(&self, e: OciDistributionError) -> FetchError {
        let registry = self.reference.registry.clone();
        let denied = |codes: &[&OciErrorCode]| {
            codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
        };
        let missing = |codes: &[&OciErrorCode]| {
            codes.iter().any(|c| {
                matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound)
            })
        };
        let refused = || match self.origin {
            Origin::Anonymous(config) => {
                FetchError::CredentialsNeeded { registry: registry.clone(), config: config.display().to_string() }
            }
            origin => FetchError::CredentialsRefused { registry: registry.clone(), origin: origin.describe() },
        };
        let not_found = |what: &str| FetchError::NotFound {
            reference: self.reference.to_string(),
            registry: registry.clone(),
            what: what.to_string(),
        };
        match e {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                refused()
            }
            OciDistributionError::ServerError { code: 401 | 403, .. } => refused(),
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if denied(&codes) {
                    refused()
                } else if missing(&codes) {
                    not_found(&envelope.errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))
                } else {
                    self.other(e.to_string())
                }
            }
            OciDistributionError::ImageManifestNotFoundError(_) => not_found("no such manifest"),
            OciDistributionError::ServerError { code: 404, .. } => not_found("no such manifest"),
            OciDistributionError::RequestError(ref r) => {
                let plain = https::plain_http(&registry, self.options);
                let scheme = if plain { "plain HTTP" } else { "HTTPS" };
                let detail =
                    if r.is_timeout() { format!("no answer in time ({})", https::chain(r)) } else { https::chain(r) };
                let hint = https::connect_hint(&detail, &registry, plain);
                FetchError::Unreachable { registry, scheme, detail, hint }
            }
            e => self.other(e.to_string()),
        }
    }

    fn other(&self, detail: String) -> FetchError {
        FetchError::Registry {
            registry: self.reference.registry.clone(),
            action: format!("{} {}", self.action, self.reference),
            detail,
        }
    }
}

/// The manifest types asked for: the Wasm artifact's, and image ones so
/// that a non-Wasm artifact is named as such instead of "not found".
const ACCEPTED: &[&str] =
    &[MANIFEST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE];

pub(crate) async fn pull(reference: &Reference, options: &Options) -> Result<Pulled, FetchError> {
    let Credentials { auth, origin } = auth::credentials(&reference.registry)?;
    tracing::debug!(reference = %reference, credentials = origin.describe(), "pulling");
    let client = client(&reference.registry, options);
    let oref = reference.to_oci();
    let cx = Context { reference, options, origin: &origin, action: "to give" };
    let (manifest_json, _) = client.pull_manifest_raw(&oref, &auth, ACCEPTED).await.map_err(|e| cx.error(e))?;
    let manifest_digest = sha256_digest(&manifest_json);
    if let Some(expected) = &reference.digest
        && *expected != manifest_digest
    {
        return Err(FetchError::DigestMismatch {
            what: "the manifest".to_string(),
            from: reference.to_string(),
            expected: expected.clone(),
            actual: manifest_digest,
        });
    }
    let layer = layout::wasm_layer(&manifest_json, &reference.to_string())?;
    if layer.size > SIZE_LIMIT {
        return Err(FetchError::TooLarge {
            what: "the module".to_string(),
            from: reference.to_string(),
            size: layer.size,
            limit: SIZE_LIMIT,
        });
    }
    // A registry may send more than its manifest says: never keep more.
    let mut capped = Capped { wasm: Vec::with_capacity(layer.size as usize), limit: layer.size as usize };
    let pulled = client.pull_blob(&oref, layer.digest.as_str(), &mut capped).await;
    if capped.wasm.len() > capped.limit || matches!(&pulled, Err(OciDistributionError::IoError(_))) {
        return Err(FetchError::DigestMismatch {
            what: "the module".to_string(),
            from: reference.to_string(),
            expected: format!("{} ({} bytes)", layer.digest, layer.size),
            actual: format!("more than {} bytes", layer.size),
        });
    }
    pulled.map_err(|e| cx.error(e))?;
    let wasm = capped.wasm;
    let actual = sha256_digest(&wasm);
    if actual != layer.digest || wasm.len() as u64 != layer.size {
        return Err(FetchError::DigestMismatch {
            what: "the module".to_string(),
            from: reference.to_string(),
            expected: format!("{} ({} bytes)", layer.digest, layer.size),
            actual: format!("{actual} ({} bytes)", wasm.len()),
        });
    }
    tracing::debug!(reference = %reference, digest = %manifest_digest, size = wasm.len(), "pulled");
    Ok(Pulled { manifest_digest, wasm })
}

pub(crate) async fn manifest_digest(reference: &Reference, options: &Options) -> Result<String, FetchError> {
    let Credentials { auth, origin } = auth::credentials(&reference.registry)?;
    let client = client(&reference.registry, options);
    let cx = Context { reference, options, origin: &origin, action: "to resolve" };
    client.fetch_manifest_digest(&reference.to_oci(), &auth).await.map_err(|e| cx.error(e))
}

pub(crate) async fn push(
    reference: &Reference,
    wasm: &[u8],
    meta: &PushMeta,
    options: &Options,
) -> Result<Pushed, FetchError> {
    let bad = |problem: &str| FetchError::Reference { input: reference.to_string(), problem: problem.to_string() };
    if reference.tag.is_none() {
        return Err(bad("a push needs a tag (:TAG); the digest is known once it is pushed"));
    }
    if reference.digest.is_some() {
        return Err(bad("a push names a tag, not a digest (the digest is known once it is pushed)"));
    }
    if wasm.len() as u64 > SIZE_LIMIT {
        return Err(FetchError::TooLarge {
            what: "the module".to_string(),
            from: "the file".to_string(),
            size: wasm.len() as u64,
            limit: SIZE_LIMIT,
        });
    }
    let Credentials { auth, origin } = auth::credentials(&reference.registry)?;
    tracing::debug!(reference = %reference, credentials = origin.describe(), "pushing");
    let client = client(&reference.registry, options);
    let oref = reference.to_oci();
    let cx = Context { reference, options, origin: &origin, action: "to take" };
    client.store_auth_if_needed(oref.resolve_registry(), &auth).await;
    let (config_json, manifest) = layout::artifact(wasm, meta, &layout::created_now());
    let layer_digest = manifest.layers[0].digest.clone();
    client.push_blob(&oref, wasm.to_vec(), &layer_digest).await.map_err(|e| cx.error(e))?;
    let config_digest = manifest.config.digest.clone();
    client.push_blob(&oref, config_json, &config_digest).await.map_err(|e| cx.error(e))?;
    let manifest_json = serde_json::to_vec(&manifest).expect("a manifest serialises");
    let manifest_digest = sha256_digest(&manifest_json);
    client.push_manifest_raw(&oref, manifest_json, http_header(MANIFEST_MEDIA_TYPE)).await.map_err(|e| cx.error(e))?;
    tracing::debug!(reference = %reference, digest = %manifest_digest, "pushed");
    Ok(Pushed { reference: reference.with_digest(&manifest_digest), manifest_digest })
}

/// A buffer that refuses to grow past `limit` (the layer's size as its
/// manifest states it), plus one byte to tell that it was passed.
struct Capped {
    wasm: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let room = (self.limit + 1).saturating_sub(self.wasm.len());
        if room == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("the layer is larger than its manifest says")));
        }
        let n = buf.len().min(room);
        self.wasm.extend_from_slice(&buf[..n]);
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn http_header(value: &'static str) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_static(value)
}
