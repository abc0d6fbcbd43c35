//! `connect = "ssh"`: one SSH connection per host (russh, on one tokio
//! runtime for the deploy), one exec channel that starts the agent from
//! the remote cache (uploading the static agent for the host's machine
//! first if it is not there, see `target::agents`),
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

pub use self::bootstrap::AgentBinary;
use self::bridge::Exit;
use self::config::{HostEntry, SshConfig, SshConfigError};
use self::connect::{CONNECT_TIMEOUT, Connection, Endpoint, Hops, Trust, connect, default_identity_files, expand_home};
use super::session::Session;
use super::{Target, TargetError};
use crate::agent::{Event, HostOutcome};
use crate::config::Environment;
use crate::plan::HostPlan;
use crate::sources::Modules;
use crate::system::remote::RemoteCommands;
use crate::target::agents::Agents;

/// How to reach one host.
#[derive(Debug, Clone)]
struct Route {
    hops: Hops,
    /// The user the agent runs as through `sudo -n -u`, if not the login.
    service_user: Option<String>,
}

impl Route {
    fn target(&self) -> &Endpoint {
        self.hops.target()
    }
}

/// How deep a first jump host's own ProxyJump is followed.
const MAX_HOPS: usize = 8;

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
    /// `BATOU_RUN_AGENT_BINARY` names something that is no agent.
    #[error("{0}")]
    Agents(String),
}

/// The hosts of an SSH environment: how to reach each, and the
/// connections made so far (one per host, kept for the whole deploy and
/// shared by the host's agent and the `ssh` capability).
pub struct SshHosts {
    runtime: tokio::runtime::Runtime,
    /// Each host's route.
    routes: BTreeMap<String, Route>,
    connections: Mutex<BTreeMap<String, Arc<Connection>>>,
    /// The agents shipped, per machine, for every host.
    agents: Agents,
}

impl SshHosts {
    /// Reads the SSH settings of `env` (and ssh_config: see [`config`]).
    /// `accept_new_host_keys` is the command line's; the agents come from
    /// `cache` (`target::agents`).
    pub fn new(
        env: &Environment,
        deployment: &Path,
        accept_new_host_keys: bool,
        cache: &Path,
    ) -> Result<Self, SshSetupError> {
        let home = crate::home::home()?;
        let agents = Agents::new(cache).map_err(SshSetupError::Agents)?;
        let config = SshConfig::find(deployment, &home).map_err(|e| SshSetupError::Config(vec![(None, e)]))?;
        let settings = Settings {
            home: home.clone(),
            local_user: local_user(),
            identity: env.identity_file.as_deref().map(|f| expand_home(f, &home)),
            known_hosts: env.known_hosts.as_deref().map(|f| expand_home(f, &home)),
            accept_new: accept_new_host_keys || env.accept_new_host_keys,
        };
        let aliases: Vec<(String, Option<String>, Option<u16>)> = env
            .hosts
            .iter()
            .map(|host| {
                let alias = match &env.host_domain {
                    Some(domain) => format!("{}.{domain}", host.name),
                    None => host.name.clone(),
                };
                (alias, host.user.clone(), host.port)
            })
            .collect();
        let entries = config.lookup_all(&aliases);
        let mut routes = BTreeMap::new();
        let mut refused = Vec::new();
        for ((host, (alias, ..)), entry) in env.hosts.iter().zip(&aliases).zip(entries) {
            let route = entry.and_then(|mut entry| {
                if let Some(address) = &host.address {
                    entry.host_name = address.clone();
                }
                let hops = settings.hops(&config, alias, entry, 0)?;
                let service_user =
                    host.service_user.clone().or(env.service_user.clone()).filter(|u| *u != hops.target().user);
                Ok(Route { hops, service_user })
            });
            match route {
                Ok(route) => {
                    routes.insert(host.name.clone(), route);
                }
                // A line OpenSSH refuses is the file's mistake, whichever
                // host it was read for: said once, without a host.
                Err(e @ SshConfigError::Line { .. }) => {
                    if !refused.iter().any(|(_, r): &(Option<String>, SshConfigError)| r.to_string() == e.to_string()) {
                        refused.push((None, e));
                    }
                }
                Err(e) => refused.push((Some(host.name.clone()), e)),
            }
        }
        if !refused.is_empty() {
            return Err(SshSetupError::Config(refused));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("batou-run-ssh")
            .enable_all()
            .build()
            .map_err(SshSetupError::Runtime)?;
        Ok(SshHosts { runtime, routes, connections: Mutex::default(), agents })
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
        let connection = Arc::new(self.runtime.block_on(connect(&route.hops))?);
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
                        self.route(host).map(|r| r.target().to_string()).unwrap_or_default()
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
    modules: &'a Modules,
}

impl<'a> Ssh<'a> {
    /// Deploys through `hosts`' connections and with their agents.
    pub fn new(hosts: Arc<SshHosts>, modules: &'a Modules) -> Self {
        Ssh { hosts, modules }
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
        let command = bootstrap::command(&hosts.agents.known(), route.service_user.as_deref()).map_err(&fail)?;
        let channel = hosts.channel(&host).map_err(&fail)?;
        hosts
            .runtime
            .block_on(channel.exec(true, command))
            .map_err(|e| fail(format!("cannot start the agent over SSH ({}): {e}", route.target())))?;
        let (read, write) = channel.split();
        let (mut reader, mut writer, pump) = bridge::bridge(hosts.runtime.handle(), &host, read, write);
        let starting = crate::progress::task(format!("{host}: starting the agent (sending it if the host lacks it)"));
        let bootstrapped = bootstrap::bootstrap(&hosts.agents, &mut reader, &mut writer, &route.target().user);
        drop(starting);
        let agent_bytes = match bootstrapped {
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
                    _ => format!("the SSH connection to {} was lost", route.target()),
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

/// What the environment and the command line say about every host, which
/// wins over ssh_config.
struct Settings {
    home: std::path::PathBuf,
    local_user: String,
    identity: Option<std::path::PathBuf>,
    known_hosts: Option<std::path::PathBuf>,
    accept_new: bool,
}

impl Settings {
    /// The legs to the host `alias` whose settings are `entry`: through
    /// its ProxyJump hosts (the first one's own ProxyJump or ProxyCommand
    /// followed too, as `ssh` does; a later one reached as the hop says),
    /// or its ProxyCommand.
    fn hops(&self, config: &SshConfig, alias: &str, entry: HostEntry, depth: usize) -> Result<Hops, SshConfigError> {
        let loops = || {
            SshConfigError::Unsupported(config::Unsupported {
                file: config.main_file().to_string(),
                host: alias.to_string(),
                problem: format!("its ProxyJump hosts lead through more than {MAX_HOPS} hops (a loop?)"),
                hint: "make the first jump host's own ProxyJump end, or remove it",
            })
        };
        if depth > MAX_HOPS {
            return Err(loops());
        }
        let Some((first, rest)) = entry.proxy_jump.split_first() else {
            let endpoint = self.endpoint(config, alias, &entry)?;
            let proxy_command = match &entry.proxy_command {
                Some(command) => {
                    Some(self.expand(config, alias, &endpoint, command, &format!("ProxyCommand {command}"))?)
                }
                None => None,
            };
            return Ok(Hops { legs: vec![endpoint], proxy_command });
        };
        let first_entry = config.lookup_hop(&first.host, first.user.as_deref(), first.port)?;
        let mut hops = self.hops(config, &first.host, first_entry, depth + 1)?;
        for hop in rest {
            let mut hop_entry = config.lookup_hop(&hop.host, hop.user.as_deref(), hop.port)?;
            hop_entry.proxy_jump.clear();
            hop_entry.proxy_command = None;
            hops.legs.push(self.endpoint(config, &hop.host, &hop_entry)?);
        }
        if hops.legs.len() > MAX_HOPS {
            return Err(loops());
        }
        hops.legs.push(self.endpoint(config, alias, &entry)?);
        Ok(hops)
    }

    /// `text` with its `%` tokens for the host `alias` reached at
    /// `endpoint`; an unknown token is refused, naming `what`.
    fn expand(
        &self,
        config: &SshConfig,
        alias: &str,
        endpoint: &Endpoint,
        text: &str,
        what: &str,
    ) -> Result<String, SshConfigError> {
        config::expand_tokens(text, what, &endpoint.address, endpoint.port, &endpoint.user, alias).map_err(|problem| {
            SshConfigError::Unsupported(config::Unsupported {
                file: config.main_file().to_string(),
                host: alias.to_string(),
                problem,
                hint: "use the tokens %h, %p, %r, %n, %k, %u, %d or %%",
            })
        })
    }

    fn endpoint(&self, config: &SshConfig, alias: &str, entry: &HostEntry) -> Result<Endpoint, SshConfigError> {
        let agent = match entry.identity_agent.as_deref() {
            None | Some("SSH_AUTH_SOCK") => std::env::var_os("SSH_AUTH_SOCK").map(std::path::PathBuf::from),
            Some("none") => None,
            Some(variable) if variable.starts_with('$') => {
                std::env::var_os(&variable[1..]).map(std::path::PathBuf::from)
            }
            Some(socket) => Some(expand_home(socket, &self.home)),
        };
        let known_hosts = match (&self.known_hosts, &entry.known_hosts) {
            (Some(file), _) => file.clone(),
            (None, Some(file)) => expand_home(file, &self.home),
            (None, None) => self.home.join(".ssh").join("known_hosts"),
        };
        let mut endpoint = Endpoint {
            address: entry.host_name.clone(),
            port: entry.port,
            user: entry.user.clone().unwrap_or_else(|| self.local_user.clone()),
            identity_files: Vec::new(),
            identities_only: entry.identities_only,
            agent,
            host_key_alias: entry.host_key_alias.clone(),
            trust: Trust { known_hosts, accept_new: self.accept_new || entry.accept_new },
            connect_timeout: entry.connect_timeout.map(Duration::from_secs).unwrap_or(CONNECT_TIMEOUT),
        };
        endpoint.identity_files = match &self.identity {
            Some(file) => vec![file.clone()],
            None => {
                let mut files = Vec::new();
                for file in &entry.identity_files {
                    files.push(self.expand(config, alias, &endpoint, file, &format!("IdentityFile {file}"))?);
                }
                default_identity_files(&self.home, &files)
            }
        };
        Ok(endpoint)
    }
}

/// The name of the user running batou-run, the default login.
pub(crate) fn local_user() -> String {
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
