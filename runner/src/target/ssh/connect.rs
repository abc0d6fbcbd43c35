//! Opening an authenticated SSH connection to one host: TCP (directly or
//! through one `ProxyJump` host), the host key checked against
//! known_hosts, then ssh-agent keys and key files in turn.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::known_hosts::learn_known_hosts_path;

use super::known_hosts::Verdict;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Key files to try (after ssh-agent's keys).
    pub identity_files: Vec<PathBuf>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.address, self.port)
    }
}

/// How host keys are checked.
#[derive(Debug, Clone)]
pub struct Trust {
    pub known_hosts: PathBuf,
    pub accept_new: bool,
}

/// Checks the server's key in `check_server_key`, keeping why it refused.
pub struct Client {
    address: String,
    port: u16,
    trust: Trust,
    refusal: Arc<Mutex<Option<String>>>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                *self.refusal.lock().unwrap() = Some(format!(
                    "{}:{} offered a host certificate; batou-run checks plain host keys in known_hosts only",
                    self.address, self.port
                ));
                return Ok(false);
            }
        };
        let fingerprint = format!("{} key {}", key.algorithm().as_str(), key.fingerprint(HashAlg::Sha256));
        let file = self.trust.known_hosts.display().to_string();
        let host = if self.port == 22 { self.address.clone() } else { format!("[{}]:{}", self.address, self.port) };
        let refuse = |message: String| {
            *self.refusal.lock().unwrap() = Some(message);
            Ok(false)
        };
        match super::known_hosts::check(&self.trust.known_hosts, &self.address, self.port, key) {
            Ok(Verdict::Known) => Ok(true),
            Ok(Verdict::Revoked { line }) => refuse(format!(
                "the host key of {host} is REVOKED: {file}:{line} marks the {fingerprint} it offers as @revoked; \
                 it is refused whatever else lists it"
            )),
            Ok(Verdict::CertAuthorityOnly { line }) => refuse(format!(
                "{file}:{line} trusts a @cert-authority for {host}, but batou-run checks plain host keys only \
                 (no host certificates); add the host's own key ({fingerprint}) to {file}"
            )),
            Ok(Verdict::Unknown) if self.trust.accept_new => {
                match learn_known_hosts_path(&self.address, self.port, key, &self.trust.known_hosts) {
                    Ok(()) => {
                        eprintln!("Added the host key of {host} ({fingerprint}) to {file}.");
                        Ok(true)
                    }
                    Err(e) => {
                        *self.refusal.lock().unwrap() =
                            Some(format!("cannot add the host key of {host} to {file}: {e}"));
                        Ok(false)
                    }
                }
            }
            Ok(Verdict::Unknown) => {
                *self.refusal.lock().unwrap() = Some(format!(
                    "the host key of {host} is unknown: it offers the {fingerprint}, which {file} does not list. \
                     If that is the host's key, deploy again with --accept-new-host-keys (or set accept_new_host_keys = true \
                     in [environment]) to add it, or add it yourself (`ssh-keyscan -p {port} {address} >> {file}`)",
                    port = self.port,
                    address = self.address,
                ));
                Ok(false)
            }
            // A key of another type than the one listed is a changed key
            // too: a machine in the middle offers whatever type it has.
            Ok(Verdict::Changed { line }) => {
                *self.refusal.lock().unwrap() = Some(format!(
                    "the host key of {host} CHANGED: {file}:{line} lists another key, and the host now offers the \
                     {fingerprint}. Someone may be intercepting the connection; if the host was reinstalled, \
                     remove the old key (`ssh-keygen -R '{host}' -f {file}`) and deploy again"
                ));
                Ok(false)
            }
            Err(e) => {
                *self.refusal.lock().unwrap() = Some(format!("cannot check the host key of {host} in {file}: {e}"));
                Ok(false)
            }
        }
    }
}

/// A logged-in connection, and the jump host's that carries it.
pub struct Connection {
    pub handle: Handle<Client>,
    pub _jump: Option<Handle<Client>>,
}

/// Connects to `target`, through `jump` if given, and logs in.
pub async fn connect(target: &Endpoint, jump: Option<&Endpoint>, trust: &Trust) -> Result<Connection, String> {
    match jump {
        None => {
            let tcp = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect((target.address.as_str(), target.port)),
            )
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {}:{}: no answer in {}s",
                    target.address,
                    target.port,
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", target.address, target.port))?;
            let _ = tcp.set_nodelay(true);
            Ok(Connection { handle: handshake(target, tcp, trust).await?, _jump: None })
        }
        Some(jump) => {
            let first =
                Box::pin(connect(jump, None, trust)).await.map_err(|e| format!("through the jump host {jump}: {e}"))?;
            let channel = first
                .handle
                .channel_open_direct_tcpip(target.address.clone(), target.port as u32, "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    format!("the jump host {jump} cannot open a connection to {}:{}: {e}", target.address, target.port)
                })?;
            let handle = handshake(target, decoupled(channel.into_stream()), trust).await?;
            Ok(Connection { handle, _jump: Some(first.handle) })
        }
    }
}

/// The jump channel as a stream that is always read, whatever the session
/// over it is doing. russh's session loop does not read while it waits to
/// write; over a direct-tcpip channel that is a deadlock as soon as a large
/// upload fills the windows (the target's window adjustments cannot reach
/// it). Two pumps with a buffer between them keep both directions moving.
fn decoupled<S>(channel: S) -> tokio::io::DuplexStream
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (session_side, pump_side) = tokio::io::duplex(1 << 20);
    let (mut from_channel, mut to_channel) = tokio::io::split(channel);
    let (mut from_session, mut to_session) = tokio::io::split(pump_side);
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_channel, &mut to_session).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to_session).await;
    });
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_session, &mut to_channel).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to_channel).await;
    });
    session_side
}

async fn handshake<S>(target: &Endpoint, stream: S, trust: &Trust) -> Result<Handle<Client>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let refusal = Arc::new(Mutex::new(None));
    let client =
        Client { address: target.address.clone(), port: target.port, trust: trust.clone(), refusal: refusal.clone() };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        ..Default::default()
    });
    let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, client::connect_stream(config, stream, client)).await {
        Err(_) => {
            return Err(format!(
                "{}:{} did not complete the SSH handshake in {}s",
                target.address,
                target.port,
                CONNECT_TIMEOUT.as_secs()
            ));
        }
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => {
            return Err(match refusal.lock().unwrap().take() {
                Some(why) => why,
                None => format!("SSH handshake with {}:{} failed: {e}", target.address, target.port),
            });
        }
    };
    authenticate(&mut handle, target).await?;
    Ok(handle)
}

/// Tries ssh-agent's keys, then the key files; says which were tried.
async fn authenticate(handle: &mut Handle<Client>, target: &Endpoint) -> Result<(), String> {
    let mut tried = Vec::new();
    let mut problems = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match russh::keys::agent::client::AgentClient::connect_env().await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(identities) => {
                    for identity in identities {
                        let key: PublicKey = identity.public_key().into_owned();
                        tried.push(format!(
                            "ssh-agent's {} {}",
                            key.algorithm().as_str(),
                            key.fingerprint(HashAlg::Sha256)
                        ));
                        let hash = rsa_hash(handle, &key).await;
                        match handle.authenticate_publickey_with(target.user.clone(), key, hash, &mut agent).await {
                            Ok(r) if r.success() => return Ok(()),
                            Ok(_) => {}
                            Err(e) => problems.push(format!("ssh-agent: {e}")),
                        }
                    }
                }
                Err(e) => problems.push(format!("ssh-agent: {e}")),
            },
            Err(e) => problems.push(format!("ssh-agent (SSH_AUTH_SOCK): {e}")),
        }
    }
    for path in &target.identity_files {
        if !path.exists() {
            continue;
        }
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(key) => key,
            Err(e) => {
                problems.push(format!("{}: {e} (a key with a passphrase must be in ssh-agent)", path.display()));
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = rsa_hash(handle, key.public_key()).await;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match handle.authenticate_publickey(target.user.clone(), key).await {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    let tried = if tried.is_empty() { "no key (none found)".to_string() } else { tried.join(", ") };
    let problems = if problems.is_empty() { String::new() } else { format!(" ({})", problems.join("; ")) };
    Err(format!(
        "{target} refused the login: tried {tried}{problems}. Add one of these keys' public part to \
         ~{user}/.ssh/authorized_keys on the host, load the right key into ssh-agent, or name it with \
         identity_file in [environment]",
        user = target.user
    ))
}

async fn rsa_hash(handle: &Handle<Client>, key: &PublicKey) -> Option<HashAlg> {
    if key.algorithm().is_rsa() { handle.best_supported_rsa_hash().await.ok().flatten().flatten() } else { None }
}

/// The key files tried when the environment names none: ssh_config's, then
/// OpenSSH's defaults.
pub fn default_identity_files(home: &Path, from_config: &[String]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = from_config.iter().map(|f| expand_home(f, home)).collect();
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let p = home.join(".ssh").join(name);
        if !files.contains(&p) {
            files.push(p);
        }
    }
    files
}

/// `~/x` with `home`.
pub fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if path == "~" => home.to_path_buf(),
        None => PathBuf::from(path),
    }
}
