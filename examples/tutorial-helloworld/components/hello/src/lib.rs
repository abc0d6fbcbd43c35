//! `hello`: the component of the hello-world tutorial.
//!
//! It writes a greeting into `hello.txt` (rendered from the template asset
//! `hello.txt` beside `Cargo.toml`) and makes a directory. It touches no
//! file itself: it composes `file` components from batou-run's standard
//! library, which know how to check and change files.

use batou_sdk::prelude::*;
use batou_sdk::stdlib::{self, Ensure};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Greets someone in hello.txt
///
/// The attributes of a `hello` component, declared once: `derive(Kind)`
/// makes the kind's spec from the fields, their doc comments and
/// `#[attr(...)]`. The runner fills them from the environment
/// (`[components.hello]`), defaults included, so every field is always
/// set.
#[derive(Serialize, Deserialize, Kind)]
#[kind(name = "hello")]
struct Hello {
    /// How to greet
    #[attr(default = "Hello")]
    greeting: String,
    /// Whom to greet
    #[attr(default = "World")]
    name: String,
}

impl Component for Hello {
    /// The kind's name and attributes, as environments write them: the
    /// ones `derive(Kind)` read from the struct.
    fn kind() -> Kind {
        Self::spec()
    }

    /// Describes the target: no files are touched here. The runner then
    /// deploys the sub-components, in this order.
    fn configure(&mut self) -> Result<()> {
        // A file rendered from our template asset; the template sees our
        // attributes as `component`, and `host` and `environment` too.
        // The standard kinds' attributes are structs too, so a typo is a
        // compile error, not a deploy error.
        model::add_kind(
            "hello.txt",
            &stdlib::File {
                path: "hello.txt".into(),
                source: Some("hello.txt".into()),
                context: serde_json::from_value(json!(self))?,
                ..Default::default()
            },
        )?;

        // A directory with mode rwxr-xr-x.
        model::add_kind(
            "greeting-dir/",
            &stdlib::File {
                path: "greeting-dir/".into(),
                ensure: Ensure::Directory,
                mode: Some(0o755),
                ..Default::default()
            },
        )?;

        // Here a component would also `model::provide` values to others
        // (which `model::require` them and are deployed after it). This
        // tutorial has no such pair: a value nobody requires is an error.
        Ok(())
    }

    // No `verify` or `update`: the `file` sub-components do the work, and
    // the defaults say this component itself is always up to date.
}

// Makes `hello` a kind of this module.
batou_sdk::export!(Hello);
