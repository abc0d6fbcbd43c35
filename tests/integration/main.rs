//! batou-run's integration tests: real `.wasm` components built from
//! source, deployed by the real binary into temporary directories.

#![deny(dead_code)]

mod harness;
mod registry_server;
mod sshd;

mod agent;
mod builds;
mod bundle;
mod cli;
mod contract;
mod deploy;
mod edge_cases;
mod errors;
mod faults;
mod hardening;
mod hostile;
mod hosts;
mod inspect;
mod languages;
mod layers;
mod pins;
mod polyglot;
mod registry;
mod resolver;
mod scaffold;
mod secrets;
mod secrets_deploy;
mod sharing;
mod shipping;
mod speculate;
mod ssh;
mod ssh_capability;
mod ssh_config;
mod ssh_faults;
mod ssh_hosts;
mod static_agent;
mod stdlib;
mod stdlib_download;
mod stdlib_extract;
mod stdlib_git;
mod stdlib_system;
mod templates;
mod terminal;
mod tutorial_service;

/// One constant per guest fixture in tests/fixtures; a fixture no test
/// uses is a compile error (dead code).
mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}
