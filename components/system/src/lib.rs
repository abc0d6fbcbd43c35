//! The standard system components of batou-run, embedded in the runner:
//! what a host's own programs manage. `systemd-unit` (a unit file and
//! `systemctl`), `cron-job` and `crontab` (one crontab per host and user,
//! `crontab -l`/`crontab -`), `package` (`dpkg-query`, `apt-get`), and
//! `user`/`group` (`getent`, `useradd`/`usermod`, `groupadd`/`groupmod`).
//!
//! Each verifies by asking the program what is there and updates through
//! it, so a second deploy changes nothing and `-P` predicts without
//! running anything that changes the host. The programs are the root's
//! `commands` grants; without one, the call is refused naming the grant.

use batou_sdk::prelude::*;

mod cron;
mod package;
mod systemd;
mod users;

use cron::{CronJob, Crontab};
use package::Package;
use systemd::SystemdUnit;
use users::{Group, User};

/// `impl Deref` from a component to its attributes, so that its steps
/// read `self.name` as if the fields were its own.
macro_rules! attributes {
    ($component:ty => $attributes:ty) => {
        impl std::ops::Deref for $component {
            type Target = $attributes;

            fn deref(&self) -> &$attributes {
                &self.0
            }
        }
    };
}
pub(crate) use attributes;

/// Refuses a word that a program would take for an option or that holds
/// what no name of its kind has: names reach `useradd`, `apt-get` and
/// `systemctl` as arguments.
pub(crate) fn plain_name(attr: &str, value: &str, what: &str) -> Result<()> {
    if value.is_empty() {
        return Err(bad_attribute(attr, format!("is empty: give the {what}'s name")));
    }
    if value.starts_with('-') || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ':') {
        return Err(bad_attribute(
            attr,
            format!("`{value}` is not a {what}'s name: no leading `-`, no spaces, `/` or `:`"),
        ));
    }
    Ok(())
}

batou_sdk::export!(SystemdUnit, CronJob, Crontab, Package, Group, User);
