//! The capabilities a component imports, one module each.

pub mod assets;
mod files;
mod http;

pub use files::Writer;
mod log;
mod model;
pub mod process;
mod ssh;
pub mod template;
mod types;
