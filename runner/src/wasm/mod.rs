//! The Wasm side of the runner: one engine, compiled modules cached on
//! disk, and one store per component instance with its own limits.

pub mod bindings;
pub mod cache;
pub mod caps;
pub mod error;
mod instance;
pub mod interfaces;
mod module;
pub mod state;

pub use error::CapError;
pub use instance::{ComponentError, LiveComponent, StorePool, room_to_keep};
pub use module::{CONTRACT, LoadError, LoadedModule, Runtime, compatible, sha256_hex};
