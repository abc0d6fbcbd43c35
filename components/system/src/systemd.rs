//! `systemd-unit`: a unit file (a `file` sub-component), then what
//! `systemctl` must do about it. Verify asks `systemctl is-enabled` and
//! `is-active`; whether the unit file changed is whether its sub-component
//! changed (so `-P` predicts the reload and the restart too); whether a
//! file of `restart_on` changed is its digest against the one recorded at
//! the last start or restart, kept in the workdir, so a change made by any
//! component (or by hand) restarts the unit once.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::Deserialize;

use crate::{attributes, plain_name};

/// Where system units go.
const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// The unit types systemd knows, as unit name suffixes.
const UNIT_TYPES: &[&str] = &[
    "service", "socket", "timer", "target", "path", "mount", "automount", "swap", "slice", "scope", "device",
];

/// A systemd unit.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SystemdUnit(stdlib::SystemdUnit);

attributes!(SystemdUnit => stdlib::SystemdUnit);

/// What `systemctl` says of the unit.
struct UnitState {
    enabled: bool,
    active: bool,
}

impl Component for SystemdUnit {
    fn kind() -> Kind {
        stdlib::SystemdUnit::spec()
    }

    fn configure(&mut self) -> Result<()> {
        plain_name("name", &self.name, "unit")?;
        let Some((_, suffix)) = self.name.rsplit_once('.') else {
            return Err(bad_attribute("name", format!("`{}` has no unit type: name it such as `{}.service`", self.name, self.name)));
        };
        if !UNIT_TYPES.contains(&suffix) {
            return Err(bad_attribute(
                "name",
                format!("`{}` ends in `.{suffix}`, which is no unit type; one of: {}", self.name, UNIT_TYPES.join(", ")),
            ));
        }
        let dir = match (&self.unit_dir, self.user) {
            (Some(dir), _) => dir.trim_end_matches('/').to_owned(),
            (None, false) => SYSTEM_UNIT_DIR.to_owned(),
            (None, true) => {
                return Err(bad_attribute(
                    "unit_dir",
                    "is needed for a user unit (user = true): set it to the user's unit folder, such as \
                     /home/app/.config/systemd/user",
                ));
            }
        };
        for path in &self.restart_on {
            if path.is_empty() {
                return Err(bad_attribute("restart_on", "holds an empty path"));
            }
        }
        model::add_kind(
            &self.unit_file_name(),
            &stdlib::File {
                path: format!("{dir}/{}", self.name),
                content: self.content.clone(),
                source: self.source.clone(),
                is_template: self.is_template,
                context: self.context.clone(),
                mode: Some(0o644),
                ..Default::default()
            },
        )?;
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let reasons = self.reasons(&self.state()?)?;
        if reasons.is_empty() { Ok(()) } else { Err(update_needed(reasons.join("; "))) }
    }

    fn update(&mut self) -> Result<()> {
        let state = self.state()?;
        if model::changed() {
            self.systemctl(&["daemon-reload"]).check()?;
        }
        if self.enable && !state.enabled {
            self.systemctl(&["enable", &self.name]).check()?;
        }
        if self.start {
            if !state.active {
                self.systemctl(&["start", &self.name]).check()?;
            } else if self.restart_reason()?.is_some() {
                self.systemctl(&["restart", &self.name]).check()?;
            }
            self.record_restart_on()?;
        }
        Ok(())
    }
}

impl SystemdUnit {
    /// The name of the unit file's sub-component.
    fn unit_file_name(&self) -> String {
        format!("unit file {}", self.name)
    }

    /// `systemctl` (with `--user` for a user unit) and `args`.
    fn systemctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("systemctl");
        if self.user {
            cmd = cmd.arg("--user");
        }
        cmd.args(args.iter().copied())
    }

    /// Asks systemctl whether the unit is enabled and running. Both exit
    /// non-zero for "no"; what they print says which state.
    fn state(&self) -> Result<UnitState> {
        let enabled = self.systemctl(&["is-enabled", &self.name]).run()?;
        let enabled = enabled.stdout_text();
        let active = self.systemctl(&["is-active", &self.name]).run()?;
        let active = active.stdout_text();
        Ok(UnitState {
            // A static or generated unit has no [Install] section to enable.
            enabled: matches!(
                enabled.trim(),
                "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
            ),
            active: matches!(active.trim(), "active" | "activating" | "reloading"),
        })
    }

    /// Why an update is needed, if it is: each thing it would do.
    fn reasons(&self, state: &UnitState) -> Result<Vec<String>> {
        let mut reasons = Vec::new();
        if model::changed() {
            reasons.push("unit file changed: daemon-reload".to_owned());
        }
        if self.enable && !state.enabled {
            reasons.push("not enabled".to_owned());
        }
        if self.start {
            if !state.active {
                reasons.push("not running".to_owned());
            } else if let Some(why) = self.restart_reason()? {
                reasons.push(format!("restart: {why}"));
            }
        }
        Ok(reasons)
    }

    /// Why the running unit needs a restart, if it does.
    fn restart_reason(&self) -> Result<Option<String>> {
        if model::changed() {
            return Ok(Some("its unit file changed".to_owned()));
        }
        if self.restart_on.is_empty() {
            return Ok(None);
        }
        let recorded = match files::stat(&self.record_path())? {
            Some(_) => files::read_to_string(&self.record_path())?,
            None => return Ok(Some("no record of the restart_on files at its last start".to_owned())),
        };
        let now = self.restart_on_digests()?;
        let changed: Vec<&str> = self
            .restart_on
            .iter()
            .zip(now.lines())
            .filter(|(_, line)| !recorded.lines().any(|r| r == *line))
            .map(|(path, _)| path.as_str())
            .collect();
        Ok((!changed.is_empty()).then(|| format!("{} changed", changed.join(", "))))
    }

    /// One line per `restart_on` file: its digest (or `missing`) and path.
    fn restart_on_digests(&self) -> Result<String> {
        let mut out = String::new();
        for path in &self.restart_on {
            let digest = files::digest(path)?.unwrap_or_else(|| "missing".to_owned());
            out.push_str(&format!("{digest} {path}\n"));
        }
        Ok(out)
    }

    /// Where the digests of the last start or restart are kept: the
    /// workdir, which is the root's own.
    fn record_path(&self) -> String {
        format!(".systemd-unit-{}.restart-on", self.name)
    }

    /// Records the `restart_on` digests the unit now runs with.
    fn record_restart_on(&self) -> Result<()> {
        if self.restart_on.is_empty() {
            return Ok(());
        }
        files::write(&self.record_path(), self.restart_on_digests()?)
    }
}
