//! `web` (Rust): a web server's configuration. It writes `web.conf`
//! through a standard `file`, adds a `banner` (a kind written in Python,
//! in `components/app`), and provides the URL it serves for the others.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A web server's configuration
#[derive(Serialize, Deserialize, Kind)]
#[kind(name = "web")]
struct Web {
    /// Where it listens
    #[attr(default = 8080)]
    port: i64,
}

impl Component for Web {
    fn kind() -> Kind {
        Self::spec()
    }

    fn configure(&mut self) -> Result<()> {
        let url = format!("http://{}:{}/", model::host().fqdn, self.port);
        model::add_kind(
            "web.conf",
            &stdlib::File {
                path: "web.conf".into(),
                content: Some(format!("listen {}\nurl {url}\n", self.port)),
                is_template: false,
                ..Default::default()
            },
        )?;
        // A sub-component of a kind written in Python: untyped, its
        // attributes are declared in app.py.
        model::add("banner", "web", &json!({ "path": "banner.txt", "text": "served by web (Rust)" }))?;
        model::provide("web-url", &url)?;
        Ok(())
    }
}

batou_sdk::export!(Web);
