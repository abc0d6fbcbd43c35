//! The agent binaries shipped to hosts: one static (musl) Linux executable
//! per machine (`uname -m`), without debug information, so that a host needs
//! nothing but sshd and a POSIX `sh`. Each is found or built once per run
//! and shared by every host of its machine: hashed once, compressed once.
//!
//! Where an agent for a machine comes from, first match wins:
//! 1. `BATOU_RUN_AGENT_BINARY`: paths separated by `:`, each taken for the
//!    machine its ELF header names;
//! 2. this very binary, when it is itself a static build for that machine;
//! 3. the cache: `<cache>/agents/<source id>/<triple>/batou-run`, the
//!    source id being the sha256 of what this batou-run was built from
//!    (`runner/build.rs`), so an agent from other sources is never used;
//! 4. built on first use from the sources this batou-run was built from
//!    (`cargo build --profile agent --features agent-only --target
//!    <triple>`, into
//!    `target/agent-build/`), checked to carry the same source id, then
//!    copied into the cache. A newcomer's first command, a local deploy,
//!    never pays for it; the first SSH deploy does, once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::ssh::AgentBinary;

/// What this batou-run was built from (`runner/build.rs`).
pub const SOURCE_ID: &str = env!("BATOU_RUN_SOURCE_ID");

/// A machine batou-run has an agent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// As `uname -m` says it.
    pub name: &'static str,
    /// Rust's target for its static agent.
    pub triple: &'static str,
    /// `e_machine` in an ELF header.
    elf: u16,
    /// The Debian packages (beyond `rustup target add`) that build it.
    packages: &'static str,
}

/// The machines there are agents for.
pub const MACHINES: &[Machine] = &[
    Machine { name: "x86_64", triple: "x86_64-unknown-linux-musl", elf: 0x3e, packages: "musl-tools" },
    Machine { name: "aarch64", triple: "aarch64-unknown-linux-musl", elf: 0xb7, packages: "gcc-aarch64-linux-gnu" },
];

impl Machine {
    /// The machine `uname -m` names; `arm64` is how some systems say
    /// `aarch64`.
    pub fn named(name: &str) -> Option<&'static Machine> {
        let name = if name == "arm64" { "aarch64" } else { name };
        MACHINES.iter().find(|m| m.name == name)
    }

    fn of_elf(elf: u16) -> Option<&'static Machine> {
        MACHINES.iter().find(|m| m.elf == elf)
    }
}

/// The machines, as a list for a message: `x86_64 and aarch64`.
pub fn machine_list() -> String {
    let names: Vec<&str> = MACHINES.iter().map(|m| m.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The agents of one deploy, per machine, found or built when a host of
/// that machine first needs one.
pub struct Agents {
    cache: PathBuf,
    /// From `BATOU_RUN_AGENT_BINARY`, by machine name.
    overrides: BTreeMap<&'static str, PathBuf>,
    /// What each machine asked for so far gave (an error is kept too: a
    /// build that failed is not run again for the next host).
    resolved: Mutex<BTreeMap<&'static str, Result<Arc<AgentBinary>, String>>>,
}

impl Agents {
    /// The agents of a deploy whose cache is `cache`; an unusable
    /// `BATOU_RUN_AGENT_BINARY` is refused here, before any host.
    pub fn new(cache: &Path) -> Result<Agents, String> {
        Agents::with_overrides(cache, std::env::var_os("BATOU_RUN_AGENT_BINARY"))
    }

    /// As [`Agents::new`], with `BATOU_RUN_AGENT_BINARY`'s value.
    fn with_overrides(cache: &Path, list: Option<std::ffi::OsString>) -> Result<Agents, String> {
        let mut overrides = BTreeMap::new();
        if let Some(list) = list.filter(|v| !v.is_empty()) {
            for path in std::env::split_paths(&list) {
                let problem = |what: String| format!("BATOU_RUN_AGENT_BINARY: {}: {what}", path.display());
                let elf = elf_machine(&path).map_err(problem)?;
                let machine = Machine::of_elf(elf).ok_or_else(|| {
                    problem(format!(
                        "an executable for ELF machine {elf:#x}; batou-run has agents for {}",
                        machine_list()
                    ))
                })?;
                overrides.insert(machine.name, path);
            }
        }
        Ok(Agents { cache: cache.to_path_buf(), overrides, resolved: Mutex::default() })
    }

    /// The agents found so far, for the bootstrap script to know without
    /// asking.
    pub fn known(&self) -> Vec<(&'static str, Arc<AgentBinary>)> {
        let resolved = self.resolved.lock().expect("not poisoned");
        resolved.iter().filter_map(|(name, r)| r.as_ref().ok().map(|a| (*name, a.clone()))).collect()
    }

    /// The agent for a host whose `uname -m` said `name`: found, or built
    /// (once: other hosts wait for it).
    pub fn for_machine(&self, name: &str) -> Result<Arc<AgentBinary>, String> {
        let Some(machine) = Machine::named(name) else {
            return Err(format!(
                "the host is a {name} machine (`uname -m`), and batou-run has agents for {} hosts only",
                machine_list()
            ));
        };
        let mut resolved = self.resolved.lock().expect("not poisoned");
        if let Some(found) = resolved.get(machine.name) {
            return found.clone();
        }
        let found =
            self.locate(machine).and_then(|path| AgentBinary::open(&path, machine.name, &self.cache)).map(Arc::new);
        resolved.insert(machine.name, found.clone());
        found
    }

    /// The agent for `machine`'s file, building it if need be.
    pub fn locate(&self, machine: &Machine) -> Result<PathBuf, String> {
        if let Some(path) = self.overrides.get(machine.name) {
            return Ok(path.clone());
        }
        if cfg!(target_env = "musl") && std::env::consts::ARCH == machine.name {
            // /proc/self/exe still names this binary after a rebuild
            // replaced the file.
            return Ok(PathBuf::from("/proc/self/exe"));
        }
        let cached = self.cache.join("agents").join(SOURCE_ID).join(machine.triple).join("batou-run");
        if cached.is_file() {
            mark_used(&cached);
            return Ok(cached);
        }
        build(machine, &cached)?;
        remove_unused(&self.cache.join("agents"));
        Ok(cached)
    }
}

/// How long an agent of other sources is kept unused: each change to
/// batou-run's sources makes a new one of 20-30 MB.
const KEEP_UNUSED: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Notes that the agent's folder was used now (its mtime), so that
/// [`remove_unused`] keeps it.
fn mark_used(agent: &Path) {
    if let Some(folder) = agent.parent().and_then(Path::parent) {
        let _ = std::fs::File::open(folder).and_then(|f| f.set_modified(std::time::SystemTime::now()));
    }
}

/// Removes the agents of other sources that no deploy used for
/// [`KEEP_UNUSED`].
fn remove_unused(agents: &Path) {
    for entry in std::fs::read_dir(agents).into_iter().flatten().flatten() {
        let unused = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if entry.file_name() != SOURCE_ID && unused.is_some_and(|u| u > KEEP_UNUSED) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The repository this batou-run was built from, if it is still there.
fn source_repository() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_path_buf();
    repo.join("Cargo.toml").is_file().then_some(repo)
}

/// Builds the static agent for `machine` from this batou-run's sources and
/// puts it at `into` (atomically), under a lock that other deploys wait on.
fn build(machine: &Machine, into: &Path) -> Result<(), String> {
    let Some(repo) = source_repository() else {
        return Err(format!(
            "no agent for {name} hosts: this batou-run has none built in its cache, and the sources it was built \
             from ({}) are gone. Build one with `cargo build --profile agent --features agent-only --target {triple}` in batou-run's \
             repository and name it in BATOU_RUN_AGENT_BINARY",
            env!("CARGO_MANIFEST_DIR"),
            name = machine.name,
            triple = machine.triple,
        ));
    };
    let folder = into.parent().expect("has a parent");
    let fail =
        |e: std::io::Error| format!("cannot make the agent for {} hosts in {}: {e}", machine.name, folder.display());
    std::fs::create_dir_all(folder).map_err(fail)?;
    let lock = std::fs::File::create(folder.join(".lock")).map_err(fail)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|e| fail(e.into()))?;
    // Another deploy may have built it while this one waited.
    if into.is_file() {
        return Ok(());
    }
    let target_dir = repo.join("target").join("agent-build");
    let announce = || {
        eprintln!(
            "Building the agent for {} hosts (a static {} build of batou-run, once per version: a few minutes)...",
            machine.name, machine.triple
        )
    };
    let started = std::time::Instant::now();
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["build", "--locked", "--profile", "agent", "--features", "agent-only", "--bin", "batou-run"])
        .args(["--target", machine.triple])
        .arg("--manifest-path")
        .arg(repo.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        // Our stdout may be the agent protocol's or JSON lines.
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit());
    cross_toolchain(machine, &mut cargo);
    // cargo shows its own progress on stderr: the live view waits.
    let status = crate::progress::suspend(|| {
        announce();
        cargo.status()
    })
    .map_err(|e| format!("cannot run cargo to build the agent for {} hosts: {e}", machine.name))?;
    if !status.success() {
        return Err(format!(
            "building the agent for {name} hosts failed ({status}; cargo's messages are above). It needs the Rust \
             target (`rustup target add {triple}`) and Debian's {packages}",
            name = machine.name,
            triple = machine.triple,
            packages = machine.packages,
        ));
    }
    let built = target_dir.join(machine.triple).join("agent").join("batou-run");
    let bytes =
        std::fs::read(&built).map_err(|e| format!("cannot read the agent built at {}: {e}", built.display()))?;
    // The sources may have changed since this batou-run was built: such
    // an agent would speak for other code.
    if !contains(&bytes, SOURCE_ID.as_bytes()) {
        return Err(format!(
            "the sources in {} changed since this batou-run was built, so the agent built from them would not \
             match it: build batou-run again (cargo build), then deploy",
            repo.display()
        ));
    }
    crate::atomic_file::write(into, &bytes, 0o755).map_err(fail)?;
    tracing::info!(machine = machine.name, seconds = started.elapsed().as_secs(), bytes = bytes.len(), "agent built");
    Ok(())
}

/// Debian's cross compiler for crates that build C (ring), and as the
/// linker, for an agent of another machine than this one; what the
/// environment already sets wins.
fn cross_toolchain(machine: &Machine, cargo: &mut Command) {
    if machine.name == std::env::consts::ARCH {
        return;
    }
    if machine.name == "aarch64" {
        let underscored = machine.triple.replace('-', "_");
        for (key, value) in [
            (format!("CC_{underscored}"), "aarch64-linux-gnu-gcc"),
            (format!("AR_{underscored}"), "aarch64-linux-gnu-ar"),
            (format!("CARGO_TARGET_{}_LINKER", underscored.to_uppercase()), "aarch64-linux-gnu-gcc"),
        ] {
            if std::env::var_os(&key).is_none() {
                cargo.env(key, value);
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `e_machine` of an ELF executable.
fn elf_machine(path: &Path) -> Result<u16, String> {
    use std::io::Read;
    let mut header = Vec::with_capacity(20);
    std::fs::File::open(path).and_then(|f| f.take(20).read_to_end(&mut header)).map_err(|e| e.to_string())?;
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return Err("not an ELF executable".into());
    }
    Ok(if header[5] == 2 {
        u16::from_be_bytes([header[18], header[19]])
    } else {
        u16::from_le_bytes([header[18], header[19]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_are_named_as_uname_names_them() {
        assert_eq!(Machine::named("x86_64").unwrap().triple, "x86_64-unknown-linux-musl");
        assert_eq!(Machine::named("arm64").unwrap().name, "aarch64");
        assert!(Machine::named("riscv64").is_none());
        assert_eq!(machine_list(), "x86_64 and aarch64");
    }

    #[test]
    fn a_machine_without_an_agent_is_refused_with_those_that_have_one() {
        let cache = tempfile::tempdir().unwrap();
        let agents = Agents { cache: cache.path().into(), overrides: BTreeMap::new(), resolved: Mutex::default() };
        let error = agents.for_machine("riscv64").err().unwrap();
        assert_eq!(
            error,
            "the host is a riscv64 machine (`uname -m`), and batou-run has agents for x86_64 and aarch64 hosts only"
        );
    }

    #[test]
    fn agents_of_other_sources_go_after_a_week_unused() {
        let cache = tempfile::tempdir().unwrap();
        let agents = cache.path().join("agents");
        let old = std::time::SystemTime::now() - KEEP_UNUSED - std::time::Duration::from_secs(60);
        for (id, unused_since) in [("old", Some(old)), ("recent", None), (SOURCE_ID, Some(old))] {
            let folder = agents.join(id).join("x86_64-unknown-linux-musl");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("batou-run"), "agent").unwrap();
            if let Some(time) = unused_since {
                std::fs::File::open(agents.join(id)).unwrap().set_modified(time).unwrap();
            }
        }
        remove_unused(&agents);
        assert!(!agents.join("old").exists(), "unused for more than a week, of other sources");
        assert!(agents.join("recent").exists());
        assert!(agents.join(SOURCE_ID).exists(), "this batou-run's own");
        // Using one marks it: it stays.
        std::fs::File::open(agents.join("recent")).unwrap().set_modified(old).unwrap();
        mark_used(&agents.join("recent/x86_64-unknown-linux-musl/batou-run"));
        remove_unused(&agents);
        assert!(agents.join("recent").exists());
    }

    #[test]
    fn an_override_is_taken_for_the_machine_its_header_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[5] = 1;
        header[18] = 0xb7;
        let arm = dir.path().join("arm");
        std::fs::write(&arm, &header).unwrap();
        let text = dir.path().join("text");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let agents = Agents::with_overrides(dir.path(), Some(arm.clone().into())).unwrap();
        assert_eq!(agents.locate(Machine::named("aarch64").unwrap()).unwrap(), arm);
        let refused = Agents::with_overrides(dir.path(), Some(text.into())).err().unwrap();
        assert!(refused.ends_with("text: not an ELF executable"), "{refused}");
    }
}
