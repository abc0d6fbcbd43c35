//! Write batou-run deployment components in Rust.
//!
//! A component describes one part of a deployment — a file, a service, a
//! database — and knows how to bring a target host to that state. As in
//! [batou], it goes through three steps:
//!
//! 1. [`Component::configure`]: a pure function of the attributes and the
//!    values other components provide. It adds sub-components
//!    ([`model::add`]), provides values ([`model::provide`]) and requires
//!    them ([`model::require`]). No files, no commands.
//! 2. [`Component::verify`]: checks the target, read-only. Return
//!    `Err(update_needed("why"))` — or use the `ensure_*` helpers — when
//!    [`Component::update`] must run.
//! 3. [`Component::update`]: changes the target.
//!
//! A module (one `.wasm` file) exports one or more kinds with [`export!`]:
//!
//! ```ignore
//! use batou_sdk::prelude::*;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Motd { text: String }
//!
//! impl Component for Motd {
//!     fn kind() -> Kind {
//!         Kind::new("motd", "The message of the day")
//!             .attr(Attr::string("text").default("Welcome").doc("What to show"))
//!     }
//!     fn verify(&mut self) -> Result<()> {
//!         ensure_content("motd.txt", self.text.as_bytes())
//!     }
//!     fn update(&mut self) -> Result<()> {
//!         files::write("motd.txt", &self.text)
//!     }
//! }
//!
//! batou_sdk::export!(Motd);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`.
//!
//! See `README.md` beside this crate for a complete component.
//!
//! [batou]: https://batou.readthedocs.io

#![warn(missing_docs)]

// The generated export macro names this crate by its path, also from inside.
extern crate self as batou_sdk;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "deployment-component",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "batou_sdk::__bindings",
    });
}

mod component;
mod error;
mod kind;

pub mod assets;
pub mod files;
pub mod log;
pub mod model;
pub mod process;
pub mod ssh;
pub mod template;

#[doc(hidden)]
pub mod __private;

pub use component::{
    Component, ensure, ensure_command, ensure_content, ensure_directory, ensure_file, ensure_mode,
    ensure_symlink,
};
pub use error::{Error, Result, bad_attribute, fail, update_needed};
pub use kind::{Attr, AttrType, Kind, Scalar};

/// The names most components need: `use batou_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::process::{Command, Output};
    pub use crate::{
        Attr, AttrType, Component, Error, Kind, Result, Scalar, assets, bad_attribute, ensure,
        ensure_command,
        ensure_content, ensure_directory, ensure_file, ensure_mode, ensure_symlink, fail, files,
        log, model, process, ssh, template, update_needed,
    };
}
