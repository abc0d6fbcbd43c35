//! webstatus, installed the batou way: its release unpacked from an
//! archive, its configuration from a template, and, where the environment
//! grants them, a systemd unit that restarts when the configuration
//! changes, a cron job that cleans its logs, and the package it runs on.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The release this deployment installs (an asset of this component).
const RELEASE: &str = "webstatus-1.0.tar.gz";

/// webstatus, a small HTTP status page
#[derive(Debug, Serialize, Deserialize, Kind)]
#[kind(name = "webstatus")]
struct Webstatus {
    /// The address it listens on
    #[attr(default = "127.0.0.1")]
    listen: String,
    /// The port it listens on
    #[attr(default = 8080)]
    port: u16,
    /// What its page says
    #[attr(default = "Hello")]
    greeting: String,
    /// Install a systemd unit (needs `systemctl` granted and the unit folder writable)
    #[attr(default = false)]
    systemd: bool,
    /// Where the unit goes (/etc/systemd/system by default)
    unit_dir: Option<String>,
    /// The user the service runs as (systemd only)
    user: Option<String>,
    /// Add a cron job that removes logs older than two weeks (the host needs a `crontab` root)
    #[attr(default = false)]
    cron: bool,
    /// Install python3 with apt-get (needs `dpkg-query` and `apt-get` granted, and root)
    #[attr(default = false)]
    packages: bool,
}

impl Component for Webstatus {
    fn kind() -> Kind {
        Self::spec()
    }

    fn configure(&mut self) -> Result<()> {
        let workdir = model::workdir();
        let app = format!("{workdir}/app");
        let config = format!("{workdir}/webstatus.conf");
        if self.packages {
            model::add_kind("python3", &stdlib::Package { name: "python3".into(), ..Default::default() })?;
        }
        // The release, copied as it is, then unpacked without its top folder.
        model::add_kind(
            RELEASE,
            &stdlib::File { path: RELEASE.into(), source: Some(RELEASE.into()), is_template: false, ..Default::default() },
        )?;
        model::add_kind(
            "app",
            &stdlib::Extract { archive: RELEASE.into(), target: "app".into(), strip: 1, ..Default::default() },
        )?;
        model::add_kind("logs", &stdlib::File { path: "logs".into(), ensure: stdlib::Ensure::Directory, ..Default::default() })?;
        model::add_kind(
            "webstatus.conf",
            &stdlib::File {
                path: "webstatus.conf".into(),
                source: Some("webstatus.conf.j2".into()),
                context: json!({"listen": self.listen, "port": self.port, "greeting": self.greeting})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                ..Default::default()
            },
        )?;
        if self.systemd {
            model::add_kind(
                "webstatus.service",
                &stdlib::SystemdUnit {
                    name: "webstatus.service".into(),
                    source: Some("webstatus.service.j2".into()),
                    context: json!({"app": app, "config": config, "user": self.user})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    unit_dir: self.unit_dir.clone(),
                    restart_on: vec![config.clone()],
                    ..Default::default()
                },
            )?;
        }
        if self.cron {
            model::add_kind(
                "clean logs",
                &stdlib::CronJob {
                    timing: "17 3 * * *".into(),
                    command: format!("find {workdir}/logs -name '*.log' -mtime +14 -delete"),
                },
            )?;
        }
        model::expose("url", &format!("http://{}:{}/", self.listen, self.port))?;
        Ok(())
    }
}

batou_sdk::export!(Webstatus);
