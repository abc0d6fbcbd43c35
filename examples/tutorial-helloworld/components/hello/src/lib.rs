//! `hello`: the component of the hello-world tutorial.
//!
//! It writes a greeting into `hello.txt` (rendered from the template asset
//! `hello.txt` beside `Cargo.toml`) and makes a directory. It touches no
//! file itself: it composes `file` components from batou-run's standard
//! library, which know how to check and change files.

use batou_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The attributes of a `hello` component. The runner fills them from the
/// environment (`[components.hello]`), defaults included, so every field
/// is always set.
#[derive(Serialize, Deserialize)]
struct Hello {
    greeting: String,
    name: String,
}

impl Component for Hello {
    /// The kind's name and attributes, as environments write them.
    fn kind() -> Kind {
        Kind::new("hello", "Greets someone in hello.txt")
            .attr(
                Attr::string("greeting")
                    .default("Hello")
                    .doc("How to greet"),
            )
            .attr(Attr::string("name").default("World").doc("Whom to greet"))
    }

    /// Describes the target: no files are touched here. The runner then
    /// deploys the sub-components, in this order.
    fn configure(&mut self) -> Result<()> {
        // A file rendered from our template asset; the template sees our
        // attributes as `component`, and `host` and `environment` too.
        model::add(
            "file",
            "hello.txt",
            &json!({ "path": "hello.txt", "source": "hello.txt", "context": self }),
        )?;

        // A directory with mode rwxr-xr-x.
        model::add(
            "file",
            "greeting-dir/",
            &json!({ "path": "greeting-dir/", "ensure": "directory", "mode": 0o755 }),
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
