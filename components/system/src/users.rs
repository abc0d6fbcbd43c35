//! `group` and `user`: entries of the target's user database. `getent`
//! reads them (so users from LDAP or the like count as there);
//! `groupadd`/`groupmod`/`groupdel` and `useradd`/`usermod`/`userdel`
//! change them, each given only what differs.

use batou_sdk::prelude::*;
use batou_sdk::stdlib::{self, Existence};
use serde::Deserialize;

use crate::{attributes, plain_name};

/// What matters of a group's entry (`name:password:gid:members`).
struct GroupEntry {
    gid: u32,
}

/// A user's entry: `name:password:uid:gid:comment:home:shell`.
struct UserEntry {
    uid: u32,
    gid: u32,
    comment: String,
    home: String,
    shell: String,
}

/// The lines `getent DATABASE [KEY]` prints; none when the key is not
/// there (exit 2).
fn getent(database: &str, key: Option<&str>) -> Result<Vec<String>> {
    let cmd = Command::new("getent").arg(database).args(key);
    let out = cmd.run()?;
    match out.status {
        0 => Ok(out.stdout_text().lines().map(str::to_owned).collect()),
        2 => Ok(Vec::new()),
        _ => Err(out.failure(&cmd)),
    }
}

/// A number field of a `getent` line.
fn number(field: Option<&str>, line: &str) -> Result<u32> {
    field
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| Error::Failed(format!("`getent` printed `{line}`, which is not an entry of the user database")))
}

fn group_entry(name: &str) -> Result<Option<GroupEntry>> {
    let Some(line) = getent("group", Some(name))?.into_iter().next() else { return Ok(None) };
    let fields: Vec<&str> = line.split(':').collect();
    Ok(Some(GroupEntry {
        gid: number(fields.get(2).copied(), &line)?,
    }))
}

fn user_entry(name: &str) -> Result<Option<UserEntry>> {
    let Some(line) = getent("passwd", Some(name))?.into_iter().next() else { return Ok(None) };
    let fields: Vec<&str> = line.split(':').collect();
    let text = |i: usize| fields.get(i).copied().unwrap_or_default().to_owned();
    Ok(Some(UserEntry {
        uid: number(fields.get(2).copied(), &line)?,
        gid: number(fields.get(3).copied(), &line)?,
        comment: text(4),
        home: text(5),
        shell: text(6),
    }))
}

/// A group of the user database.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Group(stdlib::Group);

attributes!(Group => stdlib::Group);

impl Component for Group {
    fn kind() -> Kind {
        stdlib::Group::spec()
    }

    fn configure(&mut self) -> Result<()> {
        plain_name("name", &self.name, "group")
    }

    fn verify(&mut self) -> Result<()> {
        match (self.ensure, group_entry(&self.name)?) {
            (Existence::Absent, None) => Ok(()),
            (Existence::Absent, Some(_)) => Err(update_needed("exists: delete it")),
            (Existence::Present, None) => Err(update_needed("missing")),
            (Existence::Present, Some(entry)) => match self.gid {
                Some(gid) if gid != entry.gid => Err(update_needed(format!("gid {}, not {gid}", entry.gid))),
                _ => Ok(()),
            },
        }
    }

    fn update(&mut self) -> Result<()> {
        let name = self.name.as_str();
        let cmd = match (self.ensure, group_entry(name)?) {
            (Existence::Absent, None) => return Ok(()),
            (Existence::Absent, Some(_)) => Command::new("groupdel").arg(name),
            (Existence::Present, None) => {
                let mut cmd = Command::new("groupadd");
                if self.system {
                    cmd = cmd.arg("--system");
                }
                if let Some(gid) = self.gid {
                    cmd = cmd.args(["-g".to_owned(), gid.to_string()]);
                }
                cmd.arg(name)
            }
            (Existence::Present, Some(_)) => match self.gid {
                Some(gid) => Command::new("groupmod").args(["-g".to_owned(), gid.to_string(), name.to_owned()]),
                None => return Ok(()),
            },
        };
        cmd.check()?;
        Ok(())
    }
}

/// A user of the user database.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct User(stdlib::User);

attributes!(User => stdlib::User);

/// What differs of an existing user: the `usermod` options that set it,
/// and a word for the operator.
struct Differences {
    options: Vec<String>,
    what: Vec<String>,
}

impl Component for User {
    fn kind() -> Kind {
        stdlib::User::spec()
    }

    fn configure(&mut self) -> Result<()> {
        plain_name("name", &self.name, "user")?;
        if let Some(group) = &self.group {
            plain_name("group", group, "group")?;
        }
        for group in self.groups.iter().flatten() {
            plain_name("groups", group, "group")?;
        }
        for (attr, value) in [("home", &self.home), ("shell", &self.shell)] {
            if let Some(value) = value
                && !value.starts_with('/')
            {
                return Err(bad_attribute(attr, format!("`{value}` is not an absolute path")));
            }
        }
        if let Some(comment) = &self.comment
            && comment.contains([':', '\n'])
        {
            return Err(bad_attribute("comment", "cannot hold `:` or a line break (they separate entries)"));
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        match (self.ensure, user_entry(&self.name)?) {
            (Existence::Absent, None) => Ok(()),
            (Existence::Absent, Some(_)) => Err(update_needed("exists: delete it")),
            (Existence::Present, None) => Err(update_needed("missing")),
            (Existence::Present, Some(entry)) => {
                let differences = self.differences(&entry)?;
                if differences.what.is_empty() {
                    Ok(())
                } else {
                    Err(update_needed(differences.what.join(", ")))
                }
            }
        }
    }

    fn update(&mut self) -> Result<()> {
        let name = self.name.as_str();
        let cmd = match (self.ensure, user_entry(name)?) {
            (Existence::Absent, None) => return Ok(()),
            (Existence::Absent, Some(_)) => Command::new("userdel").arg(name),
            (Existence::Present, None) => self.useradd(),
            (Existence::Present, Some(entry)) => {
                let differences = self.differences(&entry)?;
                if differences.options.is_empty() {
                    return Ok(());
                }
                Command::new("usermod").args(differences.options).arg(name)
            }
        };
        cmd.check()?;
        Ok(())
    }
}

impl User {
    /// `useradd` with what is given.
    fn useradd(&self) -> Command {
        let mut args: Vec<String> = Vec::new();
        if self.system {
            args.push("--system".into());
        }
        args.push(if self.create_home { "--create-home" } else { "--no-create-home" }.into());
        if let Some(uid) = self.uid {
            args.extend(["-u".into(), uid.to_string()]);
        }
        if let Some(group) = &self.group {
            args.extend(["-g".into(), group.clone()]);
        }
        if let Some(groups) = self.groups.as_ref().filter(|g| !g.is_empty()) {
            args.extend(["-G".into(), groups.join(",")]);
        }
        if let Some(home) = &self.home {
            args.extend(["-d".into(), home.clone()]);
        }
        if let Some(shell) = &self.shell {
            args.extend(["-s".into(), shell.clone()]);
        }
        if let Some(comment) = &self.comment {
            args.extend(["-c".into(), comment.clone()]);
        }
        Command::new("useradd").args(args).arg(self.name.as_str())
    }

    /// What of `entry` differs from the attributes.
    fn differences(&self, entry: &UserEntry) -> Result<Differences> {
        let mut d = Differences { options: Vec::new(), what: Vec::new() };
        if let Some(uid) = self.uid
            && uid != entry.uid
        {
            d.options.extend(["-u".into(), uid.to_string()]);
            d.what.push(format!("uid {}, not {uid}", entry.uid));
        }
        if let Some(group) = &self.group {
            match group_entry(group)? {
                Some(wanted) if wanted.gid == entry.gid => {}
                Some(_) => {
                    d.options.extend(["-g".into(), group.clone()]);
                    d.what.push(format!("primary group gid {}, not {group}", entry.gid));
                }
                // Another component may create it before this one updates.
                None => {
                    d.options.extend(["-g".into(), group.clone()]);
                    d.what.push(format!("primary group {group} does not exist yet"));
                }
            }
        }
        if let Some(wanted) = &self.groups {
            let mut have: Vec<String> = getent("group", None)?
                .iter()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split(':').collect();
                    let members = fields.get(3)?;
                    members.split(',').any(|m| m == self.name).then(|| fields[0].to_owned())
                })
                .collect();
            have.sort();
            have.dedup();
            let mut want = wanted.clone();
            want.sort();
            want.dedup();
            if have != want {
                d.options.extend(["-G".into(), want.join(",")]);
                d.what.push(format!(
                    "groups {}, not {}",
                    if have.is_empty() { "none".to_owned() } else { have.join(",") },
                    if want.is_empty() { "none".to_owned() } else { want.join(",") }
                ));
            }
        }
        for (flag, attr, have, want) in [
            ("-d", "home", &entry.home, &self.home),
            ("-s", "shell", &entry.shell, &self.shell),
            ("-c", "comment", &entry.comment, &self.comment),
        ] {
            if let Some(want) = want
                && want != have
            {
                d.options.extend([flag.into(), want.clone()]);
                d.what.push(format!("{attr} `{have}`, not `{want}`"));
            }
        }
        Ok(d)
    }
}
