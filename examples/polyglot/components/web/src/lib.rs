//! `web` (Rust): a web server's configuration. It writes `web.conf`
//! through a standard `file`, adds a `banner` (a kind written in Python,
//! in `components/app`), and provides the URL it serves for the others.

use batou_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize)]
struct Web {
    port: i64,
}

impl Component for Web {
    fn kind() -> Kind {
        Kind::new("web", "A web server's configuration")
            .attr(Attr::integer("port").default(8080).doc("Where it listens"))
    }

    fn configure(&mut self) -> Result<()> {
        let url = format!("http://{}:{}/", model::host().fqdn, self.port);
        model::add(
            "file",
            "web.conf",
            &json!({ "path": "web.conf", "content": format!("listen {}\nurl {url}\n", self.port), "is_template": false }),
        )?;
        // A sub-component of a kind written in Python.
        model::add("banner", "web", &json!({ "path": "banner.txt", "text": "served by web (Rust)" }))?;
        model::provide("web-url", &url)?;
        Ok(())
    }
}

batou_sdk::export!(Web);
