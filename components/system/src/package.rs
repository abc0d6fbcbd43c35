//! `package`: a Debian package. `dpkg-query` says whether (and at which
//! version) it is installed; `apt-get` installs or removes it, without
//! questions (`-y`, and keeping configuration files an operator changed).

use batou_sdk::prelude::*;
use batou_sdk::stdlib::{self, Existence};
use serde::Deserialize;

use crate::attributes;

/// A Debian package.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Package(stdlib::Package);

attributes!(Package => stdlib::Package);

impl Component for Package {
    fn kind() -> Kind {
        stdlib::Package::spec()
    }

    fn configure(&mut self) -> Result<()> {
        // Debian policy: lower case letters, digits, + - . ; at least two
        // characters, starting with a letter or digit; apt also takes an
        // architecture after a colon (`libc6:i386`).
        let (package, arch) = self.name.split_once(':').unwrap_or((&self.name, "all"));
        let valid = package.len() >= 2
            && package.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && package.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
            && !arch.is_empty()
            && arch.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(bad_attribute(
                "name",
                format!("`{}` is not a Debian package name (lower case letters, digits, `+`, `-`, `.`)", self.name),
            ));
        }
        if let Some(version) = &self.version {
            if self.ensure == Existence::Absent {
                return Err(bad_attribute("version", "is for an installed package; leave it out with ensure = \"absent\""));
            }
            if version.is_empty() || version.contains(|c: char| c.is_whitespace() || c == '=') {
                return Err(bad_attribute("version", format!("`{version}` is not a Debian version such as 1.22.1-9")));
            }
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let installed = self.installed()?;
        match (self.ensure, installed, &self.version) {
            (Existence::Absent, None, _) => Ok(()),
            (Existence::Absent, Some(version), _) => Err(update_needed(format!("installed ({version}): remove it"))),
            (Existence::Present, None, _) => Err(update_needed("not installed")),
            (Existence::Present, Some(have), Some(want)) if &have != want => {
                Err(update_needed(format!("version {have} is installed, not {want}")))
            }
            (Existence::Present, Some(_), _) => Ok(()),
        }
    }

    fn update(&mut self) -> Result<()> {
        let apt = Command::new("apt-get").args(["-y", "-q", "-o", "Dpkg::Options::=--force-confold"]);
        let cmd = match (self.ensure, &self.version) {
            (Existence::Absent, _) => apt.args(["remove", self.name.as_str()]),
            // A pinned version may be older than the one installed.
            (Existence::Present, Some(version)) => {
                apt.args(["--allow-downgrades", "install"]).arg(format!("{}={version}", self.name))
            }
            (Existence::Present, None) => apt.args(["install", self.name.as_str()]),
        };
        let out = cmd.run()?;
        if !out.success() {
            let hint = if out.stderr_text().contains("Unable to locate package") {
                "\n(no such package in the host's apt sources: check the name, or run `apt-get update` on the host)"
            } else {
                ""
            };
            return Err(match out.failure(&cmd) {
                Error::Failed(message) => Error::Failed(format!("{}{hint}", message.trim_end())),
                other => other,
            });
        }
        log::debug(out.stdout_for_log());
        Ok(())
    }
}

impl Package {
    /// The installed version, if the package is installed.
    fn installed(&self) -> Result<Option<String>> {
        let cmd = Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Status} ${Version}", self.name.as_str()]);
        let out = cmd.run()?;
        if !out.success() {
            // Exit 1 with "no packages found matching": never installed.
            if out.status == 1 {
                return Ok(None);
            }
            return Err(out.failure(&cmd));
        }
        let text = out.stdout_text();
        Ok(match text.split_once(' ') {
            Some(("installed", version)) => Some(version.trim().to_owned()),
            // Removed with its configuration kept, half installed, ...
            _ => None,
        })
    }
}
