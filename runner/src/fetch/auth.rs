//! Registry credentials: `BATOU_RUN_REGISTRY_USERNAME` and
//! `BATOU_RUN_REGISTRY_PASSWORD` (both or neither), else the Docker config
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: `auths`,
//! `credsStore`, `credHelpers`), else anonymous. Nothing here prints,
//! logs or formats a secret: [`Credentials`]' `Debug` says where they
//! came from, and oci-client's `RegistryAuth` redacts its own.

use std::path::PathBuf;

use oci_client::secrets::RegistryAuth;

use super::FetchError;

const USERNAME: &str = "BATOU_RUN_REGISTRY_USERNAME";
const PASSWORD: &str = "BATOU_RUN_REGISTRY_PASSWORD";

/// Credentials for one registry and where they came from.
pub(crate) struct Credentials {
    pub auth: RegistryAuth,
    pub origin: Origin,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(from {})", self.origin.describe())
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// None found; the Docker config that was looked at.
    Anonymous(PathBuf),
    Env,
    DockerConfig(PathBuf),
}

impl Origin {
    /// Where the credentials came from, as messages say it.
    pub fn describe(&self) -> String {
        match self {
            Origin::Anonymous(_) => "no credentials (anonymous)".to_string(),
            Origin::Env => format!("{USERNAME}/{PASSWORD}"),
            Origin::DockerConfig(path) => format!("{} (or {USERNAME}/…)", shown_path(path)),
        }
    }
}

/// `~/.docker/config.json` when under HOME, else the path.
fn shown_path(path: &std::path::Path) -> String {
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from)
        && let Ok(rest) = path.strip_prefix(&home)
        && !home.as_os_str().is_empty()
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub(crate) fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".docker").join("config.json")
}

/// The credentials for `registry` (`host` or `host:port`).
pub(crate) fn credentials(registry: &str) -> Result<Credentials, FetchError> {
    let user = std::env::var(USERNAME).ok().filter(|v| !v.is_empty());
    let pass = std::env::var(PASSWORD).ok().filter(|v| !v.is_empty());
    match (user, pass) {
        (Some(user), Some(pass)) => {
            return Ok(Credentials { auth: RegistryAuth::Basic(user, pass), origin: Origin::Env });
        }
        (Some(_), None) => {
            return Err(FetchError::Credentials(format!(
                "{USERNAME} is set but {PASSWORD} is not: set both, or neither"
            )));
        }
        (None, Some(_)) => {
            return Err(FetchError::Credentials(format!(
                "{PASSWORD} is set but {USERNAME} is not: set both, or neither"
            )));
        }
        (None, None) => {}
    }
    let path = docker_config_path();
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Credentials { auth: RegistryAuth::Anonymous, origin: Origin::Anonymous(path) });
        }
        Err(e) => {
            return Err(FetchError::Credentials(format!(
                "cannot read the Docker config {}: {e}; fix its permissions, or point DOCKER_CONFIG to another folder",
                path.display()
            )));
        }
    };
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let found = docker_credential::get_credential_from_reader(&text[..], registry).or_else(|e| match e {
        // Keys may be written as the bare host (port-less) too.
        E::NoCredentialConfigured if registry.contains(':') => {
            docker_credential::get_credential_from_reader(&text[..], super::reference::host_of(registry))
        }
        e => Err(e),
    });
    let auth = match found {
        Ok(DockerCredential::UsernamePassword(user, pass)) => RegistryAuth::Basic(user, pass),
        Ok(DockerCredential::IdentityToken(token)) => RegistryAuth::Bearer(token),
        Err(E::NoCredentialConfigured) => {
            return Ok(Credentials { auth: RegistryAuth::Anonymous, origin: Origin::Anonymous(path) });
        }
        Err(e) => {
            let what = match e {
                E::ConfigReadError => {
                    "it is not a valid Docker config (JSON with `auths`, `credsStore`, `credHelpers`)".to_string()
                }
                E::CredentialDecodingError => format!("its `auth` for {registry} is not base64 of user:password"),
                E::CredentialMismatchError => {
                    format!("its `auth` for {registry} disagrees with its `username`/`password`")
                }
                // A helper's output is not shown: it may hold the secret.
                E::HelperFailure { helper, .. } => {
                    format!("its credential helper docker-credential-{helper} failed for {registry}")
                }
                E::HelperCommunicationError => {
                    format!("its credential helper for {registry} could not be run (is it on PATH?)")
                }
                E::MalformedHelperResponse => {
                    format!("its credential helper for {registry} answered something unreadable")
                }
                other => other.to_string(),
            };
            return Err(FetchError::Credentials(format!(
                "the Docker config {}: {what}; fix it (e.g. `docker login {registry}`), or set {USERNAME} and {PASSWORD}",
                path.display()
            )));
        }
    };
    Ok(Credentials { auth, origin: Origin::DockerConfig(path) })
}
