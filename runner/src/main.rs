//! batou-run: deploys software with sandboxed WebAssembly components.

mod agent;
mod cli;
mod config;
mod controller;
mod diagnostic;
mod home;
mod host;
mod lock;
mod model;
mod modules;
mod orchestrate;
mod output;
mod scaffold;
mod target;

fn main() -> std::process::ExitCode {
    cli::main()
}
