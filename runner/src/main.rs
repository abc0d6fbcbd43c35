//! batou-run: deploys software with sandboxed WebAssembly components.

mod agent;
mod cli;
mod config;
mod controller;
mod diagnostic;
mod fetch;
mod home;
mod lock;
mod model;
mod orchestrate;
mod output;
mod plan;
mod scaffold;
mod sources;
mod system;
mod target;
mod wasm;

fn main() -> std::process::ExitCode {
    cli::main()
}
