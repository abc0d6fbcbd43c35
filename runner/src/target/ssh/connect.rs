//! Opening an authenticated SSH connection to one host: TCP or a
//! `ProxyCommand`'s standard input and output to the first hop, then a
//! forwarded channel through each `ProxyJump` host in turn to the target;
//! on each leg the host key checked against known_hosts, then ssh-agent
//! keys and key files in turn.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::known_hosts::learn_known_hosts_path;

use super::known_hosts::Verdict;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

/// Where and as whom to connect, and how to trust the host.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Key files to try (after ssh-agent's keys).
    pub identity_files: Vec<PathBuf>,
    /// Only keys of `identity_files`, from ssh-agent too (`IdentitiesOnly`).
    pub identities_only: bool,
    /// ssh-agent's socket; none: no agent.
    pub agent: Option<PathBuf>,
    /// The name the host key is listed under (`HostKeyAlias`).
    pub host_key_alias: Option<String>,
    pub trust: Trust,
    pub connect_timeout: Duration,
}

/// How to reach a host: the legs from the first hop to the host itself,
/// and the command whose standard input and output reach the first.
#[derive(Debug, Clone)]
pub struct Hops {
    pub legs: Vec<Endpoint>,
    pub proxy_command: Option<String>,
}

impl Hops {
    /// The host itself.
    pub fn target(&self) -> &Endpoint {
        self.legs.last().expect("a path has its target")
    }
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
    /// The name and port the key is listed under.
    address: String,
    port: u16,
    trust: Trust,
    refusal: Arc<Mutex<Option<String>>>,
}

/// How long to wait for a TCP connection and an SSH handshake, unless
/// `ConnectTimeout` says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

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

/// A logged-in connection, and what carries it: the jump hosts'
/// connections, a ProxyCommand.
pub struct Connection {
    pub handle: Handle<Client>,
    pub _jumps: Vec<Handle<Client>>,
    pub _proxy: Option<tokio::process::Child>,
}

/// Connects along `path` and logs in on each leg.
pub async fn connect(path: &Hops) -> Result<Connection, String> {
    let first = &path.legs[0];
    let through = |leg: &Endpoint, e: String| {
        if std::ptr::eq(leg, path.target()) { e } else { format!("through the jump host {leg}: {e}") }
    };
    let mut proxy = None;
    let mut handle = match &path.proxy_command {
        None => {
            let tcp = tokio::time::timeout(
                first.connect_timeout,
                tokio::net::TcpStream::connect((first.address.as_str(), first.port)),
            )
            .await
            .map_err(|_| {
                through(
                    first,
                    format!(
                        "cannot connect to {}:{}: no answer in {}s",
                        first.address,
                        first.port,
                        first.connect_timeout.as_secs()
                    ),
                )
            })?
            .map_err(|e| through(first, format!("cannot connect to {}:{}: {e}", first.address, first.port)))?;
            let _ = tcp.set_nodelay(true);
            handshake(first, tcp).await.map_err(|e| through(first, e))?
        }
        Some(command) => {
            let mut child = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("exec {command}"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| through(first, format!("cannot start the ProxyCommand `{command}`: {e}")))?;
            let stream = tokio::io::join(child.stdout.take().expect("piped"), child.stdin.take().expect("piped"));
            let handle = handshake(first, stream)
                .await
                .map_err(|e| through(first, format!("through the ProxyCommand `{command}`: {e}")))?;
            proxy = Some(child);
            handle
        }
    };
    let mut jumps = Vec::new();
    for (from, leg) in path.legs.iter().zip(&path.legs[1..]) {
        let channel =
            handle.channel_open_direct_tcpip(leg.address.clone(), leg.port as u32, "127.0.0.1", 0).await.map_err(
                |e| format!("the jump host {from} cannot open a connection to {}:{}: {e}", leg.address, leg.port),
            )?;
        let next = handshake(leg, decoupled(channel.into_stream())).await.map_err(|e| through(leg, e))?;
        jumps.push(std::mem::replace(&mut handle, next));
    }
    Ok(Connection { handle, _jumps: jumps, _proxy: proxy })
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

async fn handshake<S>(target: &Endpoint, stream: S) -> Result<Handle<Client>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let refusal = Arc::new(Mutex::new(None));
    // With HostKeyAlias the key is listed under the alias, as in OpenSSH
    // (without a port).
    let (address, port) = match &target.host_key_alias {
        Some(alias) => (alias.clone(), 22),
        None => (target.address.clone(), target.port),
    };
    let client = Client { address, port, trust: target.trust.clone(), refusal: refusal.clone() };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        ..Default::default()
    });
    let mut handle =
        match tokio::time::timeout(target.connect_timeout, client::connect_stream(config, stream, client)).await {
            Err(_) => {
                return Err(format!(
                    "{}:{} did not complete the SSH handshake in {}s",
                    target.address,
                    target.port,
                    target.connect_timeout.as_secs()
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
    // With IdentitiesOnly, ssh-agent's keys count only if an identity file
    // is theirs (its `.pub` beside it says so).
    let listed: Vec<PublicKey> = target
        .identity_files
        .iter()
        .filter_map(|f| {
            // `key` has `key.pub` beside it, as OpenSSH writes it (not
            // `with_extension`, which would turn `key.pem` into `key.pub`).
            let mut public = f.clone().into_os_string();
            public.push(".pub");
            std::fs::read_to_string(public).ok()
        })
        .filter_map(|text| PublicKey::from_openssh(text.trim()).ok())
        .collect();
    if let Some(socket) = &target.agent {
        match russh::keys::agent::client::AgentClient::connect_uds(socket).await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(identities) => {
                    for identity in identities {
                        let key: PublicKey = identity.public_key().into_owned();
                        if target.identities_only && !listed.iter().any(|l| l.key_data() == key.key_data()) {
                            continue;
                        }
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
            Err(e) => problems.push(format!("ssh-agent ({}): {e}", socket.display())),
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
