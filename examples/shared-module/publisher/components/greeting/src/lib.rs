//! `greeting`: the module examples/shared-module shares through a
//! registry. It writes `greeting.txt`, rendered from the template asset
//! of that name, which travels inside the module when it is built with
//! `batou-run component build` or pushed.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Writes a greeting into greeting.txt
#[derive(Serialize, Deserialize, Kind)]
#[kind(name = "greeting")]
struct Greeting {
    /// Whom to greet
    #[attr(default = "World")]
    to: String,
    /// Who greets
    #[attr(default = "the publisher")]
    from: String,
}

impl Component for Greeting {
    fn kind() -> Kind {
        Self::spec()
    }

    fn configure(&mut self) -> Result<()> {
        model::add_kind(
            "greeting.txt",
            &stdlib::File {
                path: "greeting.txt".into(),
                source: Some("greeting.txt".into()),
                context: serde_json::from_value(json!(self))?,
                ..Default::default()
            },
        )?;
        Ok(())
    }
}

batou_sdk::export!(Greeting);
