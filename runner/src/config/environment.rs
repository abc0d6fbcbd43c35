//! Reading `environments/<env>.toml` (or `environments/<env>/environment.toml`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use toml::de::DeValue;

use super::grants::GrantsConfig;
use super::source::{Source, TableReader, shown_path, to_json, type_name};
use crate::diagnostic::{Diagnostic, Diagnostics, choices_hint};
use crate::plan::grants::Grants;

/// How the runner reaches the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    /// Deploy on this machine, in-process.
    Local,
    /// Deploy over SSH, through the agent.
    Ssh,
}

/// One environment, checked for unknown keys and ill-typed values.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// The environment file, as shown in messages (relative to the deployment).
    pub file: String,
    pub connect: Connect,
    pub target_directory: Option<String>,
    pub host_domain: Option<String>,
    /// SSH: the key file to log in with (else ssh-agent and ~/.ssh/id_*).
    pub identity_file: Option<String>,
    /// SSH: the known_hosts file (else ~/.ssh/known_hosts).
    pub known_hosts: Option<String>,
    /// SSH: add the key of a host not yet in known_hosts (a changed key is
    /// always refused).
    pub accept_new_host_keys: bool,
    /// SSH: the user the agent runs as (`sudo -n -u`), when not the login.
    pub service_user: Option<String>,
    pub jobs: Option<usize>,
    /// Wasm execution time allowed for one lifecycle call of one component.
    pub timeout: Duration,
    /// Linear memory allowed to one component instance.
    pub memory_limit: usize,
    pub hosts: Vec<HostConfig>,
    pub components: Vec<RootConfig>,
    /// `[grants.<root>]` by root name.
    pub grants: BTreeMap<String, GrantsConfig>,
    /// `[limits.<root>]` by root name.
    pub limits: BTreeMap<String, RootLimits>,
    /// Index into `components` by name.
    root_index: std::collections::HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct HostConfig {
    pub name: String,
    /// Root component names, each with its `file:line`.
    pub components: Vec<(String, String)>,
    pub data: Value,
    /// `file:line` of each key of `data`.
    pub data_locations: Vec<(String, String)>,
    /// SSH: where to connect (default: the name plus `host_domain`).
    pub address: Option<String>,
    /// SSH: the login user (default: ssh_config's, else the local user).
    pub user: Option<String>,
    /// SSH: the port (default: ssh_config's, else 22).
    pub port: Option<u16>,
    /// SSH: the user the agent runs as (default: the environment's, else
    /// the login user).
    pub service_user: Option<String>,
}

/// `[limits.NAME]`: a root's own limits, over the environment's.
#[derive(Debug, Clone, Default)]
pub struct RootLimits {
    pub timeout: Option<Duration>,
    pub memory: Option<usize>,
    /// `file:line` of the table.
    pub location: String,
}

/// `[components.NAME]`: a root's kind and attributes.
#[derive(Debug, Clone)]
pub struct RootConfig {
    pub name: String,
    pub location: String,
    /// The kind, when it differs from the name.
    pub kind: Option<(String, String)>,
    /// Attributes with the `file:line` of each value.
    pub attributes: Vec<(String, Value, String)>,
}

impl Environment {
    pub fn root(&self, name: &str) -> Option<&RootConfig> {
        self.root_index.get(name).map(|&i| &self.components[i])
    }

    /// The names of the roots some host deploys.
    pub fn deployed_roots(&self) -> std::collections::BTreeSet<&str> {
        self.hosts.iter().flat_map(|h| h.components.iter().map(|(c, _)| c.as_str())).collect()
    }

    /// Sets attribute `key` of root `name` from somewhere other than the
    /// environment file (the secrets, at `location`), making the root's
    /// table if the file has none. A key the environment sets already is
    /// refused with where it is set.
    pub fn set_attribute(&mut self, name: &str, key: &str, value: Value, location: &str) -> Result<(), String> {
        let index = match self.root_index.get(name) {
            Some(&i) => i,
            None => {
                self.components.push(RootConfig {
                    name: name.to_string(),
                    location: location.to_string(),
                    kind: None,
                    attributes: Vec::new(),
                });
                self.root_index.insert(name.to_string(), self.components.len() - 1);
                self.components.len() - 1
            }
        };
        let root = &mut self.components[index];
        if let Some((_, _, at)) = root.attributes.iter().find(|(k, _, _)| k == key) {
            return Err(at.clone());
        }
        root.attributes.push((key.to_string(), value, location.to_string()));
        Ok(())
    }

    /// Sets key `key` of host `host`'s data from the secrets; a key the
    /// environment sets already is refused with where it is set.
    pub fn set_host_data(&mut self, host: &str, key: &str, value: Value, location: &str) -> Result<(), Option<String>> {
        let Some(h) = self.hosts.iter_mut().find(|h| h.name == host) else { return Err(None) };
        if let Some((_, at)) = h.data_locations.iter().find(|(k, _)| k == key) {
            return Err(Some(at.clone()));
        }
        if let Value::Object(map) = &mut h.data {
            map.insert(key.to_string(), value);
        }
        h.data_locations.push((key.to_string(), location.to_string()));
        Ok(())
    }

    /// What the environment grants `root` (nothing beyond its workdir when
    /// it has no `[grants.<root>]`).
    pub fn grants_of(&self, root: &str) -> Grants {
        match self.grants.get(root) {
            Some(config) => config.grants.clone(),
            None => Grants::none(root, &self.file),
        }
    }
}

pub const DEFAULT_TIMEOUT_SECS: i64 = 60;
pub const DEFAULT_MEMORY_MIB: i64 = 512;
/// Where an SSH deploy works on the target, below the login user's home.
pub const DEFAULT_TARGET_DIRECTORY: &str = "~/deployment";

/// The environments a deployment has, sorted.
pub fn list_environments(deployment: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(deployment.join("environments"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && path.join("environment.toml").is_file() {
                Some(name)
            } else {
                name.strip_suffix(".toml").map(str::to_string)
            }
        })
        .collect();
    names.sort();
    names
}

fn environment_file(deployment: &Path, name: &str) -> Option<PathBuf> {
    let dir = deployment.join("environments");
    [dir.join(format!("{name}.toml")), dir.join(name).join("environment.toml")].into_iter().find(|p| p.is_file())
}

/// An environment read as far as it could be: what is wrong in it is
/// reported together with what later stages find.
#[derive(Debug)]
pub struct Loaded {
    pub env: Environment,
    /// Problems that make the environment unusable for a deploy.
    pub errors: Diagnostics,
    /// Problems that do not (batou accepts them).
    pub warnings: Diagnostics,
}

/// Reads an environment; fails only when there is nothing to read (no such
/// environment, or malformed TOML).
pub fn load_environment(deployment: &Path, name: &str) -> Result<Loaded, Diagnostics> {
    if !is_plain_name(name) {
        let known = list_environments(deployment);
        return Err(Diagnostic::new(format!(
            "`{name}` is not an environment name: it names a file in {} (no `/`, not starting with `.`)",
            deployment.join("environments").display()
        ))
        .hint(choices_hint(name, known.iter().map(String::as_str)))
        .into());
    }
    let Some(path) = environment_file(deployment, name) else {
        let known = list_environments(deployment);
        return Err(Diagnostic::new(format!(
            "no environment `{name}` in {}",
            deployment.join("environments").display()
        ))
        .hint(choices_hint(name, known.iter().map(String::as_str)))
        .into());
    };
    let source = Source::read(&path, shown_path(deployment, &path))?;
    parse(&source, name)
}

fn parse(source: &Source, name: &str) -> Result<Loaded, Diagnostics> {
    let doc = source.parse()?;
    let mut errors = Diagnostics::default();
    let mut warnings = Diagnostics::default();
    let mut top = TableReader::new(source, doc.get_ref(), "the environment file");

    let mut env = Environment {
        name: name.to_string(),
        file: source.shown_as.clone(),
        connect: Connect::Local,
        target_directory: None,
        host_domain: None,
        identity_file: None,
        known_hosts: None,
        accept_new_host_keys: false,
        service_user: None,
        jobs: None,
        timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS as u64),
        memory_limit: (DEFAULT_MEMORY_MIB as usize) << 20,
        hosts: Vec::new(),
        components: Vec::new(),
        grants: BTreeMap::new(),
        limits: BTreeMap::new(),
        root_index: Default::default(),
    };

    if let Some(section) = top.table("environment", &mut errors) {
        let DeValue::Table(table) = section.get_ref() else { unreachable!() };
        let mut r = TableReader::new(source, table, "[environment]");
        if let Some(connect) = r.string("connect", &mut errors) {
            env.connect = match connect.get_ref().as_str() {
                "local" => Connect::Local,
                "ssh" => Connect::Ssh,
                other => {
                    errors.push(
                        Diagnostic::new(format!("unknown connect method `{other}`"))
                            .at(source.location(connect.span().start))
                            .hint(choices_hint(other, ["local", "ssh"])),
                    );
                    Connect::Local
                }
            };
        }
        env.target_directory = r.string("target_directory", &mut errors).map(|s| s.into_inner());
        env.host_domain = r.string("host_domain", &mut errors).map(|s| s.into_inner());
        env.identity_file = r.string("identity_file", &mut errors).map(|s| s.into_inner());
        env.known_hosts = r.string("known_hosts", &mut errors).map(|s| s.into_inner());
        env.accept_new_host_keys = boolean(&mut r, "accept_new_host_keys", "[environment]", source, &mut errors);
        env.service_user = r.string("service_user", &mut errors).map(|s| s.into_inner());
        env.jobs = positive(&mut r, "jobs", source, &mut errors).map(|n| n as usize);
        if let Some(secs) = positive(&mut r, "timeout", source, &mut errors) {
            env.timeout = Duration::from_secs(secs as u64);
        }
        if let Some(mib) = positive(&mut r, "memory_limit", source, &mut errors) {
            env.memory_limit = (mib as usize) << 20;
        }
        r.finish(&mut errors);
    }
    if env.connect == Connect::Ssh && env.target_directory.is_none() {
        // Relative to the login user's home on the target.
        env.target_directory = Some(DEFAULT_TARGET_DIRECTORY.to_string());
    }

    if let Some(hosts) = top.table("hosts", &mut errors) {
        let DeValue::Table(hosts) = hosts.get_ref() else { unreachable!() };
        for (host_name, host) in hosts.iter() {
            let host_name = host_name.get_ref().to_string();
            let location = source.location(host.span().start);
            let DeValue::Table(table) = host.get_ref() else {
                errors.push(
                    Diagnostic::new(format!("[hosts.{host_name}] must be a table, not {}", type_name(host.get_ref())))
                        .at(location),
                );
                continue;
            };
            let mut r = TableReader::new(source, table, format!("[hosts.{host_name}]"));
            let mut components = Vec::new();
            if let Some(list) = r.get("components") {
                match list.get_ref() {
                    DeValue::Array(items) => {
                        for item in items.iter() {
                            match item.get_ref() {
                                DeValue::String(s) if is_plain_name(s) => {
                                    components.push((s.to_string(), source.location(item.span().start)))
                                }
                                DeValue::String(s) => errors.push(bad_root_name(s, source.location(item.span().start))),
                                other => errors.push(
                                    Diagnostic::new(format!(
                                        "[hosts.{host_name}] components must be names (strings), not {}",
                                        type_name(other)
                                    ))
                                    .at(source.location(item.span().start)),
                                ),
                            }
                        }
                    }
                    other => errors.push(
                        Diagnostic::new(format!(
                            "[hosts.{host_name}] `components` must be a list of names, not {}",
                            type_name(other)
                        ))
                        .at(source.location(list.span().start)),
                    ),
                }
            }
            let data_table = r.table("data", &mut errors);
            let data_locations = match data_table.map(|d| d.get_ref()) {
                Some(DeValue::Table(t)) => {
                    t.iter().map(|(k, _)| (k.get_ref().to_string(), source.location(k.span().start))).collect()
                }
                _ => Vec::new(),
            };
            let data = data_table.map(|d| to_json(d.get_ref())).unwrap_or(Value::Object(Map::new()));
            let address = r.string("address", &mut errors).map(|s| s.into_inner());
            let user = r.string("user", &mut errors).map(|s| s.into_inner());
            let service_user = r.string("service_user", &mut errors).map(|s| s.into_inner());
            let port_at = r.get("port").map(|v| v.span().start);
            let port = r.integer("port", &mut errors).and_then(|p| match u16::try_from(p) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    errors.push(
                        Diagnostic::new(format!("[hosts.{host_name}] `port` must be between 1 and 65535, not {p}"))
                            .at(source.location(port_at.unwrap_or(0))),
                    );
                    None
                }
            });
            r.finish(&mut errors);
            env.hosts.push(HostConfig {
                name: host_name,
                components,
                data,
                data_locations,
                address,
                user,
                port,
                service_user,
            });
        }
    }

    if let Some(components) = top.table("components", &mut errors) {
        let DeValue::Table(components) = components.get_ref() else { unreachable!() };
        for (root_name, root) in components.iter() {
            let root_name = root_name.get_ref().to_string();
            let location = source.location(root.span().start);
            let DeValue::Table(table) = root.get_ref() else {
                errors.push(
                    Diagnostic::new(format!(
                        "[components.{root_name}] must be a table of attributes, not {}",
                        type_name(root.get_ref())
                    ))
                    .at(location),
                );
                continue;
            };
            if !is_plain_name(&root_name) {
                errors.push(bad_root_name(&root_name, location));
                continue;
            }
            let mut config = RootConfig { name: root_name.clone(), location, kind: None, attributes: Vec::new() };
            for (key, value) in table.iter() {
                let at = source.location(key.span().start);
                if key.get_ref().as_ref() == "kind" {
                    match value.get_ref() {
                        DeValue::String(kind) => config.kind = Some((kind.to_string(), at)),
                        other => errors.push(
                            Diagnostic::new(format!(
                                "[components.{root_name}] `kind` must be a string, not {}",
                                type_name(other)
                            ))
                            .at(at),
                        ),
                    }
                } else {
                    config.attributes.push((key.get_ref().to_string(), to_json(value.get_ref()), at));
                }
            }
            env.components.push(config);
        }
    }
    if let Some(grants) = top.table("grants", &mut errors) {
        env.grants = super::grants::parse(source, grants, &mut errors);
    }
    if let Some(limits) = top.table("limits", &mut errors) {
        let DeValue::Table(limits) = limits.get_ref() else { unreachable!() };
        for (root, table) in limits.iter() {
            let root = root.get_ref().to_string();
            let location = source.location(table.span().start);
            let DeValue::Table(table) = table.get_ref() else {
                errors.push(
                    Diagnostic::new(format!("[limits.{root}] must be a table, not {}", type_name(table.get_ref())))
                        .at(location),
                );
                continue;
            };
            let mut r = TableReader::new(source, table, format!("[limits.{root}]"));
            let timeout = positive(&mut r, "timeout", source, &mut errors).map(|s| Duration::from_secs(s as u64));
            let memory = positive(&mut r, "memory_limit", source, &mut errors).map(|m| (m as usize) << 20);
            r.finish(&mut errors);
            env.limits.insert(root, RootLimits { timeout, memory, location });
        }
    }
    top.finish(&mut errors);

    if env.hosts.is_empty() && errors.is_empty() {
        errors.push(
            Diagnostic::new("the environment has no hosts")
                .at(source.shown_as.clone())
                .hint("add a table such as [hosts.localhost] with components = [\"...\"]"),
        );
    }
    env.root_index = env.components.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
    let deployed: std::collections::HashSet<&str> =
        env.hosts.iter().flat_map(|h| h.components.iter().map(|(c, _)| c.as_str())).collect();
    // As in batou, attributes of a component no host deploys are allowed
    // (an environment may configure a component it deploys only at times),
    // but said, since it is as likely a misspelt name.
    for root in &env.components {
        if !deployed.contains(root.name.as_str()) {
            warnings.push(
                Diagnostic::new(format!("[components.{}] is configured but no host deploys it", root.name))
                    .at(root.location.clone())
                    .hint(format!("add \"{}\" to the `components` of a host, or remove the table", root.name)),
            );
        }
    }
    check_grants(&env, &deployed, &mut errors);
    Ok(Loaded { env, errors, warnings })
}

/// A root's name is its workdir's (`work/<root>/`), so it must be a plain
/// name: `..`, `/abs` or `a/b` would move the root's default grant.
fn bad_root_name(name: &str, location: String) -> Diagnostic {
    Diagnostic::new(format!("`{name}` is not a component name: it names the root's workdir, work/{name}/"))
        .at(location)
        .hint("use a plain name: no `/`, not empty, not starting with `.`")
}

/// Grants must be for deployed roots, and `ssh` must name hosts.
fn check_grants(env: &Environment, deployed: &std::collections::HashSet<&str>, errors: &mut Diagnostics) {
    let host_names: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut roots: Vec<&str> = deployed.iter().copied().collect();
    roots.sort();
    for (root, limits) in &env.limits {
        if !deployed.contains(root.as_str()) {
            errors.push(
                Diagnostic::new(format!("[limits.{root}] limits a root no host deploys"))
                    .at(limits.location.clone())
                    .hint(choices_hint(root, roots.iter().copied())),
            );
        }
    }
    for (root, config) in &env.grants {
        if !deployed.contains(root.as_str()) {
            errors.push(
                Diagnostic::new(format!("[grants.{root}] grants to a root no host deploys"))
                    .at(config.location.clone())
                    .hint(choices_hint(root, roots.iter().copied())),
            );
        }
        for (host, at) in config.grants.ssh.iter().zip(&config.ssh_locations) {
            if !host_names.contains(&host.as_str()) {
                errors.push(
                    Diagnostic::new(format!("[grants.{root}] ssh: no host `{host}` in this environment"))
                        .at(at.clone())
                        .hint(choices_hint(host, host_names.iter().copied())),
                );
            }
        }
    }
}

fn boolean(
    r: &mut TableReader<'_, '_>,
    key: &'static str,
    what: &str,
    source: &Source,
    errors: &mut Diagnostics,
) -> bool {
    let Some(value) = r.get(key) else {
        return false;
    };
    match value.get_ref() {
        DeValue::Boolean(b) => *b,
        other => {
            errors.push(
                Diagnostic::new(format!("{what} `{key}` must be true or false, not {}", type_name(other)))
                    .at(source.location(value.span().start)),
            );
            false
        }
    }
}

/// The largest value each numeric setting takes: beyond it a number means
/// a mistake (and `memory_limit` in bytes would overflow).
fn maximum(key: &str) -> (i64, &'static str) {
    match key {
        "jobs" => (1024, "hosts at once"),
        "timeout" => (7 * 24 * 3600, "seconds (a week)"),
        "memory_limit" => (1 << 20, "MiB (1 TiB)"),
        _ => (i64::MAX, ""),
    }
}

fn positive(r: &mut TableReader<'_, '_>, key: &'static str, source: &Source, errors: &mut Diagnostics) -> Option<i64> {
    let at = r.get(key).map(|v| v.span().start);
    let n = r.integer(key, errors)?;
    let (max, unit) = maximum(key);
    if n <= 0 || n > max {
        errors.push(
            Diagnostic::new(format!("`{key}` must be between 1 and {max} {unit}, not {n}"))
                .at(source.location(at.unwrap_or(0))),
        );
        return None;
    }
    Some(n)
}

/// A name that becomes part of a path (a root's workdir, an environment's
/// file) must name one file in its folder: not empty, no `/`, not `.` or
/// `..`, no leading dot (a hidden file), no control characters.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Lines environment files are made of, right and wrong.
    fn line() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "[environment]",
            "connect = \"ssh\"",
            "connect = \"smoke\"",
            "jobs = -1",
            "jobs = 2",
            "timeout = 0",
            "memory_limit = \"lots\"",
            "[hosts.a]",
            "[hosts.b]",
            "components = [\"x\", \"y\"]",
            "components = 3",
            "port = 99999",
            "address = \"10.0.0.1\"",
            "data = { role = \"web\" }",
            "[components.x]",
            "kind = \"file\"",
            "kind = 1",
            "path = \"a\"",
            "[grants.x]",
            "[grants.z]",
            "paths.read = [\"/etc\"]",
            "paths.write = 1",
            "paths.exec = []",
            "commands = [\"sh\", 1]",
            "commands = [\"bin/sh\"]",
            "ssh = [\"b\", \"nowhere\"]",
            "env = [\"A=B\"]",
            "[limits.x]",
            "[limits.y]",
            "timeout = 5",
            "memory_limit = 0",
            "[[hosts]]",
            "x =",
            "\"",
            "[",
            "= 1",
            "\u{0}",
            "\u{feff}",
            "",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any file built from those lines is read or refused, never a
        /// panic, and every problem says where it is.
        #[test]
        fn every_problem_has_a_location(lines in prop::collection::vec(line(), 0..24)) {
            if let Err(errors) = parse_str(&lines.join("\n")) {
                prop_assert!(!errors.0.is_empty());
                for d in &errors.0 {
                    prop_assert!(
                        d.location.as_deref().is_some_and(|l| l.starts_with("environments/dev.toml")),
                        "no location: {d}"
                    );
                }
            }
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn arbitrary_text_is_read_or_refused(text in "\\PC{0,200}") {
            let _ = parse_str(&text);
        }
    }

    fn parse_str(text: &str) -> Result<Environment, Diagnostics> {
        let loaded = parse(&Source::new("environments/dev.toml".into(), text.into()), "dev")?;
        loaded.errors.into_result(loaded.env)
    }

    #[test]
    fn reads_hosts_roots_and_typed_attributes() {
        let env = parse_str(
            r#"
[environment]
connect = "local"
timeout = 5

[hosts.localhost]
components = ["hello", "motd"]
data = { role = "web" }

[components.motd]
kind = "file"
path = "motd.txt"
mode = 0o640
leading = true
"#,
        )
        .unwrap();
        assert_eq!(env.connect, Connect::Local);
        assert_eq!(env.timeout, Duration::from_secs(5));
        assert_eq!(env.hosts[0].components.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["hello", "motd"]);
        assert_eq!(env.hosts[0].data["role"], "web");
        let motd = env.root("motd").unwrap();
        assert_eq!(motd.kind.as_ref().unwrap().0, "file");
        assert_eq!(motd.attributes[1], ("mode".into(), Value::from(0o640), "environments/dev.toml:13".into()));
        assert_eq!(motd.attributes[2].1, Value::Bool(true));
    }

    #[test]
    fn unknown_keys_name_line_and_choices() {
        let err = parse_str("[environment]\nconect = \"local\"\n\n[hosts.a]\ncomponents = []\nrole = 1\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("environments/dev.toml:2: unknown key `conect` in [environment]"), "{text}");
        assert!(text.contains("did you mean 'connect'?"), "{text}");
        assert!(text.contains("environments/dev.toml:6: unknown key `role` in [hosts.a]"), "{text}");
    }

    #[test]
    fn malformed_toml_names_line() {
        let err = parse_str("[hosts.a]\ncomponents = [\"x\"\n").unwrap_err();
        assert!(err.to_string().starts_with("environments/dev.toml:"), "{err}");
        assert!(err.to_string().contains("malformed TOML"), "{err}");
    }

    #[test]
    fn ill_typed_values_are_errors() {
        let err = parse_str("[environment]\njobs = \"4\"\n[hosts.a]\ncomponents = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("dev.toml:2: [environment] `jobs` must be an integer, not a string"), "{text}");
        assert!(text.contains("dev.toml:4: [hosts.a] `components` must be a list of names"), "{text}");
    }

    #[test]
    fn reads_ssh_keys() {
        let env = parse_str(
            "[environment]\nconnect = \"ssh\"\nidentity_file = \"k\"\naccept_new_host_keys = true\n\
             [hosts.a]\ncomponents = []\naddress = \"127.0.0.1\"\nuser = \"u\"\nport = 2222\n",
        )
        .unwrap();
        assert_eq!(env.target_directory.as_deref(), Some("~/deployment"));
        assert_eq!(env.identity_file.as_deref(), Some("k"));
        assert!(env.accept_new_host_keys);
        let a = &env.hosts[0];
        assert_eq!((a.address.as_deref(), a.user.as_deref(), a.port), (Some("127.0.0.1"), Some("u"), Some(2222)));
        let err = parse_str("[environment]\naccept_new_host_keys = 1\n[hosts.a]\ncomponents = []\nport = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dev.toml:2: [environment] `accept_new_host_keys` must be true or false"), "{err}");
        assert!(err.contains("dev.toml:5: [hosts.a] `port` must be between 1 and 65535, not 0"), "{err}");
    }

    #[test]
    fn unused_component_table_is_a_warning() {
        let text = "[hosts.a]\ncomponents = []\n[components.x]\nkind = \"file\"\n";
        let loaded = parse(&Source::new("environments/dev.toml".into(), text.into()), "dev").unwrap();
        assert!(loaded.errors.is_empty(), "{}", loaded.errors);
        let warning = loaded.warnings.to_string();
        assert!(warning.contains("dev.toml:3: [components.x] is configured but no host deploys it"), "{warning}");
    }
}
