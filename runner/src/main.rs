//! batou-run: deploys software with sandboxed WebAssembly components.

// The agent shipped to hosts (feature `agent-only`) calls only the agent's
// part of the crate; the rest is left out by the linker, not by hand.
#![cfg_attr(feature = "agent-only", allow(dead_code, unused_imports, unused_variables))]

mod agent;
mod atomic_file;
mod cli;
mod config;
mod controller;
mod deploy_lock;
mod diagnostic;
mod fetch;
mod home;
mod model;
mod orchestrate;
mod output;
mod parallel;
mod plan;
mod progress;
mod redact;
mod scaffold;
mod secrets;
mod sources;
mod system;
mod target;
mod wasm;

/// The allocator of the controller and of the static x86_64 agent (see
/// runner/Cargo.toml).
#[cfg(any(target_env = "gnu", all(target_env = "musl", target_arch = "x86_64")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // First, while this is the only thread (see the module).
    system::fd_table::reserve();
    cli::main()
}
