//! The deployment as the user wrote it: `environments/<env>.toml`.

pub mod deployment;
mod environment;
pub mod grants;
pub mod source;

pub use environment::{Connect, Environment, Loaded, RootConfig, is_plain_name, list_environments, load_environment};
