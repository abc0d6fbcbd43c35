//! `connect = "ssh"`: one SSH connection per host (russh, on one tokio
//! runtime for the deploy), one exec channel that starts the agent from
//! the remote cache (uploading this very binary first if it is not there),
//! then the agent protocol of [`super::session`] over that channel. The
//! same connections carry the `ssh` capability's commands ([`exec`]).

mod bootstrap;
mod bridge;
pub mod config;
mod connect;
mod exec;
mod known_hosts;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::bootstrap::AgentBinary;
use self::bridge::Exit;
use self::config::{SshConfig, SshConfigError};
use self::connect::{Connection, Endpoint, Trust, connect, default_identity_files, expand_home};
use super::session::Session;
use super::{Target, TargetError};
use crate::agent::{Event, HostOutcome};
use crate::config::Environment;
use crate::plan::HostPlan;
use crate::sources::Modules;
use crate::system::remote::RemoteCommands;

/// How to reach one host.
#[derive(Debug, Clone)]
struct Route {
    target: Endpoint,
    jump: Option<Endpoint>,
    /// The user the agent runs as through `sudo -n -u`, if not the login.
    service_user: Option<String>,
}

/// Why the SSH hosts of an environment cannot be set up, before any
/// connection is made.
#[derive(Debug, thiserror::Error)]
pub enum SshSetupError {
    /// The ssh_config file cannot be read, or lines of it are refused
    /// (with the host each concerns).
    #[error("{}", .0.iter().map(|(host, e)| match host {
        Some(host) => format!("host {host}: {e}"),
        None => e.to_string(),
    }).collect::<Vec<_>>().join("; "))]
    Config(Vec<(Option<String>, SshConfigError)>),
    #[error("{0}; batou-run needs it to find ~/.ssh (known_hosts, keys, config)")]
    NoHome(#[from] crate::home::NoHome),
    #[error("cannot start the SSH runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The hosts of an SSH environment: how to reach each, and the
/// connections made so far (one per host, kept for the whole deploy and
/// shared by the host's agent and the `ssh` capability).
pub struct SshHosts {
    runtime: tokio::runtime::Runtime,
    /// Each host's route.
    routes: BTreeMap<String, Route>,
    trust: Trust,
    connections: Mutex<BTreeMap<String, Arc<Connection>>>,
}

impl SshHosts {
    /// Reads the SSH settings of `env` (and `ssh_config` in the deployment,
    /// else ~/.ssh/config). `accept_new_host_keys` is the command line's.
    pub fn new(env: &Environment, deployment: &Path, accept_new_host_keys: bool) -> Result<Self, SshSetupError> {
        let home = crate::home::home()?;
        // The deployment's own file is shown as the environment files are,
        // by its name in the deployment.
        let config = [(deployment.join("ssh_config"), "ssh_config".to_string()), {
            let path = home.join(".ssh").join("config");
            let shown = path.display().to_string();
            (path, shown)
        }]
        .into_iter()
        .find(|(p, _)| p.is_file());
        let config = match config {
            Some((path, shown)) => SshConfig::read(&path, shown).map_err(|e| SshSetupError::Config(vec![(None, e)]))?,
            None => SshConfig::default(),
        };
        let local_user = local_user();
        let identity = env.identity_file.as_deref().map(|f| expand_home(f, &home));
        let endpoint = |entry: config::HostEntry,
                        alias: &str,
                        address: Option<&str>,
                        user: Option<&str>,
                        port: Option<u16>| {
            let identity_files = match &identity {
                Some(file) => vec![file.clone()],
                None => default_identity_files(&home, &entry.identity_files),
            };
            let endpoint = Endpoint {
                address: address.map(str::to_string).or(entry.host_name.clone()).unwrap_or_else(|| alias.to_string()),
                port: port.or(entry.port).unwrap_or(22),
                user: user.map(str::to_string).or(entry.user.clone()).unwrap_or_else(|| local_user.clone()),
                identity_files,
            };
            (endpoint, entry.proxy_jump)
        };
        let route = |alias: &str, host: &crate::config::HostConfig| -> Result<Route, SshConfigError> {
            let (target, proxy_jump) =
                endpoint(config.lookup(alias)?, alias, host.address.as_deref(), host.user.as_deref(), host.port);
            // The jump host's own settings come from its entry (a ProxyJump
            // there is not followed).
            let jump = proxy_jump.map(|j| {
                let (user, jump_host, port) = config::parse_jump(&j).expect("checked by lookup");
                endpoint(config.lookup_jump_host(&jump_host), &jump_host, None, user.as_deref(), port).0
            });
            let service_user = host.service_user.clone().or(env.service_user.clone()).filter(|u| *u != target.user);
            Ok(Route { target, jump, service_user })
        };
        let mut routes = BTreeMap::new();
        let mut refused = Vec::new();
        for host in &env.hosts {
            let alias = match &env.host_domain {
                Some(domain) => format!("{}.{domain}", host.name),
                None => host.name.clone(),
            };
            match route(&alias, host) {
                Ok(route) => {
                    routes.insert(host.name.clone(), route);
                }
                Err(e) => refused.push((Some(host.name.clone()), e)),
            }
        }
        if !refused.is_empty() {
            return Err(SshSetupError::Config(refused));
        }
        let known_hosts = match &env.known_hosts {
            Some(file) => expand_home(file, &home),
            None => home.join(".ssh").join("known_hosts"),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("batou-run-ssh")
            .enable_all()
            .build()
            .map_err(SshSetupError::Runtime)?;
        Ok(SshHosts {
            runtime,
            routes,
            trust: Trust { known_hosts, accept_new: accept_new_host_keys || env.accept_new_host_keys },
            connections: Mutex::default(),
        })
    }

    fn route(&self, host: &str) -> Result<&Route, String> {
        self.routes.get(host).ok_or_else(|| "no SSH settings for this host".into())
    }

    /// The connection to `host`, made (and logged in) on first use.
    fn connection(&self, host: &str) -> Result<Arc<Connection>, String> {
        if let Some(c) = self.connections.lock().expect("not poisoned").get(host) {
            return Ok(c.clone());
        }
        let route = self.route(host)?;
        let started = Instant::now();
        // Not under the lock: other hosts connect at the same time.
        let connection = Arc::new(self.runtime.block_on(connect(&route.target, route.jump.as_ref(), &self.trust))?);
        tracing::info!(host = %host, ms = started.elapsed().as_millis() as u64, "connected and logged in");
        let mut connections = self.connections.lock().expect("not poisoned");
        Ok(connections.entry(host.to_string()).or_insert(connection).clone())
    }

    /// Opens a session channel to `host`; a connection that has gone stale
    /// since it was made is replaced once.
    fn channel(&self, host: &str) -> Result<russh::Channel<russh::client::Msg>, String> {
        let connection = self.connection(host)?;
        match self.runtime.block_on(connection.handle.channel_open_session()) {
            Ok(channel) => Ok(channel),
            Err(first) => {
                tracing::info!(host = %host, error = %first, "the connection went stale; connecting again");
                self.connections.lock().expect("not poisoned").remove(host);
                let connection = self.connection(host)?;
                self.runtime.block_on(connection.handle.channel_open_session()).map_err(|e| {
                    format!(
                        "cannot open a channel to {}: {e}",
                        self.route(host).map(|r| r.target.to_string()).unwrap_or_default()
                    )
                })
            }
        }
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        let connections = std::mem::take(&mut *self.connections.lock().expect("not poisoned"));
        for (_, connection) in connections {
            let _ = self.runtime.block_on(connection.handle.disconnect(russh::Disconnect::ByApplication, "", "en"));
        }
    }
}

/// Deploys each host over SSH.
pub struct Ssh<'a> {
    hosts: Arc<SshHosts>,
    agent: AgentBinary,
    modules: &'a Modules,
}

impl<'a> Ssh<'a> {
    /// Deploys through `hosts`' connections; the agent binary comes from
    /// `cache` (or this very binary).
    pub fn new(hosts: Arc<SshHosts>, cache: &Path, modules: &'a Modules) -> Result<Self, String> {
        Ok(Ssh { hosts, agent: AgentBinary::find(cache)?, modules })
    }
}

impl Target for Ssh<'_> {
    fn deploy(
        &mut self,
        plan: &HostPlan,
        predict: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<HostOutcome, TargetError> {
        let host = plan.host.name.clone();
        let fail = |message: String| TargetError::Connect { host: host.clone(), message };
        let hosts = self.hosts.clone();
        let route = hosts.route(&host).map_err(&fail)?;
        let started = Instant::now();
        let command = self.agent.command(route.service_user.as_deref()).map_err(&fail)?;
        let channel = hosts.channel(&host).map_err(&fail)?;
        hosts
            .runtime
            .block_on(channel.exec(true, command))
            .map_err(|e| fail(format!("cannot start the agent over SSH ({}): {e}", route.target)))?;
        let (read, write) = channel.split();
        let (mut reader, mut writer, pump) = bridge::bridge(hosts.runtime.handle(), &host, read, write);
        let agent_bytes = match self.agent.bootstrap(&mut reader, &mut writer, &route.target.user) {
            Ok(bytes) => bytes,
            Err(message) => {
                writer.close();
                let exit = hosts.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), pump).await });
                let status = match exit {
                    Ok(Ok(exit)) => exit.status.map(|s| format!(" (exit status {s})")).unwrap_or_default(),
                    _ => String::new(),
                };
                return Err(fail(format!("{message}{status}")));
            }
        };
        tracing::info!(host = %host, ms = started.elapsed().as_millis() as u64, agent_bytes, "agent started");
        let remote: Arc<dyn RemoteCommands> = hosts.clone();
        let mut session = Session::new(host.clone(), reader, writer, self.modules, remote);
        let result = session.deploy(plan, predict, sink);
        // Dropping the writer sends EOF: the agent's sign to exit.
        drop(session);
        let exit = hosts.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), pump).await });
        let mut outcome = match result {
            // Say how it ended, as far as the channel told.
            Err(TargetError::Died { host, detail, last }) => {
                let how = match &exit {
                    Ok(Ok(Exit { signal: Some(signal), .. })) => format!("the agent was killed by signal {signal}"),
                    Ok(Ok(Exit { status: Some(status), .. })) => format!("the agent exited with status {status}"),
                    _ => format!("the SSH connection to {} was lost", route.target),
                };
                return Err(TargetError::Died { host, detail: format!("{how}: {detail}"), last });
            }
            result => result?,
        };
        outcome.uploaded.agent_bytes = agent_bytes;
        match exit {
            Ok(Ok(exit)) if exit.status.is_none_or(|s| s == 0) => Ok(outcome),
            Ok(Ok(exit)) => Err(TargetError::Agent {
                host,
                message: format!("it exited with status {} after the deploy", exit.status.unwrap_or_default()),
            }),
            _ => Err(TargetError::Agent { host, message: "it did not exit after the deploy".into() }),
        }
    }
}

/// The name of the user running batou-run, the default login.
fn local_user() -> String {
    if let Some(user) = std::env::var_os("USER").and_then(|u| u.into_string().ok()) {
        return user;
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied before any other call.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
    }
    "root".into()
}
