//! batou-run: deploys software with sandboxed WebAssembly components.

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
mod plan;
mod redact;
mod scaffold;
mod secrets;
mod sources;
mod system;
mod target;
mod wasm;

fn main() -> std::process::ExitCode {
    cli::main()
}
