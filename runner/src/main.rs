//! batou-run: deploys software with sandboxed WebAssembly components.

mod agent;
mod cli;
mod config;
mod controller;
mod diagnostic;
mod home;
mod lock;
mod model;
mod plan;
mod sources;
mod system;
mod orchestrate;
mod output;
mod scaffold;
mod target;
mod wasm;

fn main() -> std::process::ExitCode {
    cli::main()
}
