//! Write batou-run deployment components in Rust.
//!
//! A component describes one part of a deployment — a file, a service, a
//! database — and knows how to bring a target host to that state. As in
//! [batou], it goes through three steps:
//!
//! 1. [`Component::configure`]: a pure function of the attributes and the
//!    values other components provide. It adds sub-components
//!    ([`model::add_kind`], [`model::add`]), provides values ([`model::provide`]) and requires
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
//! /// The message of the day
//! #[derive(Deserialize, Kind)]
//! #[kind(name = "motd")]
//! struct Motd {
//!     /// What to show
//!     #[attr(default = "Welcome")]
//!     text: String,
//! }
//!
//! impl Component for Motd {
//!     fn kind() -> Kind {
//!         Self::spec()
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
//! # One struct per kind
//!
//! `#[derive(Kind)]` (with serde's `Deserialize`) makes the struct whose
//! fields receive the attributes also the kind's declaration: it implements
//! [`KindSpec`], and [`Component::kind`] returns `Self::spec()`. (The
//! derive does not implement [`Component`]: `kind` stays one explicit
//! line, so a kind may still be built by hand with [`Kind::new`], and the
//! standard library's components wrap the structs of [`stdlib`].)
//!
//! - The kind's name is `#[kind(name = "...")]`; its doc the first
//!   paragraph of the struct's doc comment (or `#[kind(doc = "...")]`).
//! - Each field is an attribute, named as serde reads it (the field's name,
//!   `#[serde(rename = "...")]` or `#[attr(name = "...")]`), documented by
//!   the first paragraph of its doc comment (or `#[attr(doc = "...")]`;
//!   none is an empty doc). `#[serde(skip)]` (or `skip_deserializing`,
//!   or `#[attr(skip)]`) fields are state, not attributes.
//! - The type says the attribute type: `String` (and `&str`, `PathBuf`) →
//!   [`AttrType::String`]; `i8`..`i128`, `u8`..`u128`, `isize`, `usize` →
//!   `Integer`; `f32`, `f64` → `Float`; `bool` → `Boolean`; `Vec<T>` (and
//!   sets, slices) of those → `ListOf(..)`, of `serde_json::Value` →
//!   `List`; `Map`, `BTreeMap`, `HashMap` → `Table`; `serde_json::Value`
//!   → `Any`. Any other type needs a type in `#[attr(...)]`, or the derive
//!   stops with an error saying so.
//! - `#[attr(...)]` overrides the type: `string`, `integer`, `float`,
//!   `boolean`, `list`, `list_of(string)` (or `integer`, `float`,
//!   `boolean`, `mode`), `table`, `mode`, `any`, `choice("a", "b")`.
//! - `Option<T>` is optional (its default is `null`); `#[attr(required)]`
//!   makes it required, `#[attr(optional)]` makes any field optional.
//!   `#[attr(default = EXPR)]` sets a default: any expression that
//!   serialises with serde (`true`, `"file"`, `serde_json::json!({})`);
//!   put one with a comma between `<..>` in parentheses. Anything else is
//!   required.
//!
//! ```
//! use batou_sdk::{Attr, Kind, KindSpec};
//! use serde::Deserialize;
//!
//! /// Greets someone in a file
//! #[derive(Deserialize, Kind)]
//! #[kind(name = "hello")]
//! struct Hello {
//!     /// How to greet
//!     #[attr(default = "Hello")]
//!     greeting: String,
//!     /// Whom to greet (required)
//!     name: String,
//!     /// The file's mode
//!     #[attr(mode)]
//!     mode: Option<u32>,
//!     /// Computed by configure: not an attribute.
//!     #[serde(skip)]
//!     text: String,
//! }
//!
//! let by_hand = Kind::new("hello", "Greets someone in a file")
//!     .attr(Attr::string("greeting").default("Hello").doc("How to greet"))
//!     .attr(Attr::string("name").doc("Whom to greet (required)"))
//!     .attr(Attr::mode("mode").optional().doc("The file's mode"));
//! assert_eq!(Hello::spec(), by_hand);
//! ```
//!
//! A type the derive cannot map is an error at compile time:
//!
//! ```compile_fail
//! # use serde::Deserialize;
//! #[derive(Deserialize)]
//! struct Port(u16);
//!
//! #[derive(Deserialize, batou_sdk::Kind)]
//! #[kind(name = "service")]
//! struct Service {
//!     port: Port, // add #[attr(integer)]
//! }
//! ```
//!
//! The standard kinds' structs are in [`stdlib`], for a typed
//! [`model::add_kind`] of a `file`, `directory`, `command` and the others.
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
pub mod http;
pub mod log;
pub mod model;
pub mod process;
pub mod ssh;
pub mod stdlib;
pub mod template;

#[doc(hidden)]
pub mod __private;

/// `#[derive(Kind)]`: declares a kind by its attribute struct (see
/// [one struct per kind](crate#one-struct-per-kind)). A derive macro lives
/// in the macro namespace, so it shares the name of the [`Kind`](struct@Kind) struct it
/// builds, as serde's derives share their traits' names.
pub use batou_sdk_macros::Kind;
pub use component::{
    Component, ensure, ensure_command, ensure_content, ensure_directory, ensure_file, ensure_mode, ensure_symlink,
    sha256_hex,
};
pub use error::{Error, Result, bad_attribute, fail, update_needed};
pub use kind::{Attr, AttrType, Kind, KindSpec, Scalar};

/// The names most components need: `use batou_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::process::{Command, Output};
    pub use crate::{
        Attr, AttrType, Component, Error, Kind, KindSpec, Result, Scalar, assets, bad_attribute, ensure,
        ensure_command, ensure_content, ensure_directory, ensure_file, ensure_mode, ensure_symlink, fail, files, log,
        model, process, ssh, template, update_needed,
    };
}
