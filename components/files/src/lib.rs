//! The standard file components of batou-run, embedded in the runner.
//!
//! `file` is what environments and components use; it composes the small
//! kinds below it as batou's `File` does: `presence` (the file or directory
//! exists), `content`, `mode` and `owner`, or `symlink`. `directory` is
//! `file` with `ensure = "directory"`, and `purge` removes what matches a
//! glob pattern. Each sub-component is named by the path it manages.

use std::borrow::Cow;

use batou_sdk::files::parent;
use batou_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What `file` manages at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Ensure {
    File,
    Directory,
    Symlink,
}

/// A file, directory or symlink with its content, mode and owner.
#[derive(Deserialize)]
struct File {
    path: String,
    ensure: Ensure,
    content: Option<String>,
    source: Option<String>,
    is_template: bool,
    context: Map<String, Value>,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
    leading: bool,
    link_to: Option<String>,
}

/// `path`, as every kind here names it.
fn path_attr() -> Attr {
    Attr::string("path").doc("Where; relative paths are below the workdir")
}

/// `owner`, optional.
fn owner_attr() -> Attr {
    Attr::string("owner").optional().doc("The owning user's name")
}

/// `group`, optional.
fn group_attr() -> Attr {
    Attr::string("group").optional().doc("The owning group's name")
}

impl File {
    /// The asset named like the file (its last path part), for a `file`
    /// given neither content nor source.
    fn guess_source(&self) -> Result<String> {
        let name = self.path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
        match assets::read(&name) {
            Ok(_) => Ok(name),
            Err(Error::NotFound(_)) => Err(Error::Invalid(format!(
                "file `{}` has no `content`, no `source`, and there is no asset named `{name}`: set `content` (`content = \"\"` for an empty file) or `source`, or use the `presence` kind",
                self.path
            ))),
            Err(e) => Err(e),
        }
    }
}

impl Component for File {
    fn kind() -> Kind {
        Kind::new("file", "A file, directory or symlink, with its content, mode and owner")
            .attr(path_attr())
            .attr(Attr::string("ensure").default("file").doc("What to have at `path`: file, directory or symlink"))
            .attr(Attr::string("content").optional().doc("The file's content, as a string"))
            .attr(Attr::string("source").optional().doc("An asset of the component that holds the content"))
            .attr(Attr::boolean("is_template").default(true).doc("Render content or source as a Jinja2 template"))
            .attr(Attr::table("context").default(json!({})).doc("The template's `component` variable"))
            .attr(Attr::mode("mode").optional().doc("Permission bits, such as 0o644"))
            .attr(owner_attr())
            .attr(group_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(
                Attr::string("link_to")
                    .optional()
                    .doc("Where the symlink points (ensure = symlink); a relative one is below the workdir"),
            )
    }

    fn configure(&mut self) -> Result<()> {
        let path = self.path.as_str();
        match self.ensure {
            Ensure::File => {
                self.refuse(&[("link_to", self.link_to.is_some())], "symlink")?;
                // As in batou, a file without content or source takes the
                // asset named like the file, if there is one: a missing
                // template is an error, not an empty file.
                let guessed = match (&self.content, &self.source) {
                    (None, None) => Some(self.guess_source()?),
                    _ => None,
                };
                // `content` creates the file itself, in one atomic write
                // with its mode (a secret is never readable by others).
                model::add(
                    "content",
                    path,
                    &ContentAttrs {
                        path,
                        content: self.content.as_deref(),
                        source: self.source.as_deref().or(guessed.as_deref()),
                        is_template: self.is_template,
                        context: &self.context,
                        leading: self.leading,
                        mode: self.mode,
                    },
                )?;
                add_mode_and_owner(path, self.mode, self.owner.as_deref(), self.group.as_deref())
            }
            Ensure::Directory => {
                self.refuse(
                    &[
                        ("content", self.content.is_some()),
                        ("source", self.source.is_some()),
                        ("link_to", self.link_to.is_some()),
                    ],
                    "directory",
                )?;
                add_directory(path, self.leading, self.mode, self.owner.as_deref(), self.group.as_deref())
            }
            Ensure::Symlink => {
                self.refuse(
                    &[
                        ("content", self.content.is_some()),
                        ("source", self.source.is_some()),
                        ("mode", self.mode.is_some()),
                        ("owner", self.owner.is_some()),
                        ("group", self.group.is_some()),
                        ("leading", self.leading),
                    ],
                    "symlink",
                )?;
                let Some(target) = self.link_to.as_deref() else {
                    return Err(Error::Invalid(format!(
                        "{path}: ensure = \"symlink\" needs link_to, the path the symlink points to"
                    )));
                };
                model::add("symlink", path, &json!({ "path": path, "target": target }))
            }
        }
    }
}

impl File {
    /// An error naming the first attribute that is set but means nothing
    /// for this `ensure`.
    fn refuse(&self, attrs: &[(&str, bool)], ensure: &str) -> Result<()> {
        let Some((name, _)) = attrs.iter().find(|(_, set)| *set) else {
            return Ok(());
        };
        let meant = match *name {
            "link_to" => "ensure = \"symlink\"",
            "content" | "source" => "ensure = \"file\"",
            _ => "ensure = \"file\" or \"directory\"",
        };
        Err(Error::Invalid(format!("{}: `{name}` is for {meant}, not ensure = \"{ensure}\"", self.path)))
    }
}

/// A directory with its mode and owner: `file` with `ensure = "directory"`.
#[derive(Deserialize)]
struct Directory {
    path: String,
    leading: bool,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
}

impl Component for Directory {
    fn kind() -> Kind {
        Kind::new("directory", "A directory, with its mode and owner")
            .attr(path_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::mode("mode").optional().doc("Permission bits, such as 0o755"))
            .attr(owner_attr())
            .attr(group_attr())
    }

    fn configure(&mut self) -> Result<()> {
        add_directory(&self.path, self.leading, self.mode, self.owner.as_deref(), self.group.as_deref())
    }
}

fn add_directory(path: &str, leading: bool, mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> Result<()> {
    model::add("presence", path, &PresenceAttrs { path, leading, directory: true })?;
    add_mode_and_owner(path, mode, owner, group)
}

fn add_mode_and_owner(path: &str, mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> Result<()> {
    if let Some(mode) = mode {
        model::add("mode", path, &json!({ "path": path, "mode": mode }))?;
    }
    if owner.is_some() || group.is_some() {
        model::add("owner", path, &json!({ "path": path, "owner": owner, "group": group }))?;
    }
    Ok(())
}

/// The attributes `file` gives `presence`.
#[derive(Serialize)]
struct PresenceAttrs<'a> {
    path: &'a str,
    leading: bool,
    directory: bool,
}

/// That a file or a directory exists at a path.
#[derive(Deserialize)]
struct Presence {
    path: String,
    leading: bool,
    directory: bool,
}

impl Component for Presence {
    fn kind() -> Kind {
        Kind::new("presence", "That a file (empty if new) or a directory exists")
            .attr(path_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::boolean("directory").default(false).doc("A directory rather than a file"))
    }

    fn verify(&mut self) -> Result<()> {
        if self.directory { ensure_directory(&self.path) } else { ensure_file(&self.path) }
    }

    fn update(&mut self) -> Result<()> {
        if self.directory {
            files::mkdir(&self.path, self.leading)
        } else {
            if self.leading
                && let Some(dir) = parent(&self.path)
            {
                files::mkdir(dir, true)?;
            }
            files::write(&self.path, [])
        }
    }
}

/// The attributes `file` gives `content`.
#[derive(Serialize)]
struct ContentAttrs<'a> {
    path: &'a str,
    content: Option<&'a str>,
    source: Option<&'a str>,
    is_template: bool,
    context: &'a Map<String, Value>,
    leading: bool,
    mode: Option<u32>,
}

/// A file's bytes, from a string or an asset, rendered as a template.
#[derive(Deserialize)]
struct Content {
    path: String,
    content: Option<String>,
    source: Option<String>,
    is_template: bool,
    context: Map<String, Value>,
    leading: bool,
    mode: Option<u32>,
    /// The bytes wanted, computed by `configure`.
    #[serde(skip)]
    wanted: Option<Vec<u8>>,
}

impl Component for Content {
    fn kind() -> Kind {
        Kind::new("content", "A file's content, from a string or an asset")
            .attr(Attr::string("path").doc("The file; relative paths are below the workdir"))
            .attr(Attr::string("content").optional().doc("The content"))
            .attr(Attr::string("source").optional().doc("An asset of the component that holds the content"))
            .attr(Attr::boolean("is_template").default(true).doc("Render the content as a Jinja2 template"))
            .attr(Attr::table("context").default(json!({})).doc("The template's `component` variable"))
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::mode("mode").optional().doc("Permission bits a new file is created with"))
    }

    fn configure(&mut self) -> Result<()> {
        self.wanted = Some(self.compute()?);
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        ensure_content(&self.path, self.wanted()?)
    }

    fn update(&mut self) -> Result<()> {
        if self.leading
            && let Some(dir) = parent(&self.path)
        {
            files::mkdir(dir, true)?;
        }
        files::write_with_mode(&self.path, self.wanted()?, self.mode)
    }
}

impl Content {
    /// The wanted bytes, as `configure` computed them (or computed now,
    /// should `configure` not have run on this instance).
    fn wanted(&self) -> Result<Cow<'_, [u8]>> {
        match &self.wanted {
            Some(wanted) => Ok(Cow::Borrowed(wanted)),
            None => self.compute().map(Cow::Owned),
        }
    }

    fn compute(&self) -> Result<Vec<u8>> {
        let raw: Vec<u8> = match (&self.content, &self.source) {
            (Some(content), None) => content.clone().into_bytes(),
            (None, Some(source)) => assets::read(source)?,
            (Some(_), Some(_)) => {
                return Err(Error::Invalid("set either content or source, not both".to_owned()));
            }
            (None, None) => return Err(Error::Invalid("set content or source".to_owned())),
        };
        if !self.is_template {
            return Ok(raw);
        }
        let what = self.source.as_deref().map_or_else(|| "content".to_owned(), |s| format!("asset {s}"));
        let source = String::from_utf8(raw).map_err(|_| {
            Error::Invalid(format!("{what} is not UTF-8 text, so it cannot be a template; set is_template = false"))
        })?;
        let rendered = template::render(&source, &json!({ "component": self.context }))
            .map_err(|e| e.context(format!("rendering {what}")))?;
        Ok(rendered.into_bytes())
    }
}

/// A path's permission bits.
#[derive(Deserialize)]
struct Mode {
    path: String,
    mode: u32,
}

impl Component for Mode {
    fn kind() -> Kind {
        Kind::new("mode", "A path's permission bits")
            .attr(Attr::string("path").doc("The path; relative paths are below the workdir"))
            .attr(Attr::mode("mode").doc("Permission bits, such as 0o644"))
    }

    fn verify(&mut self) -> Result<()> {
        ensure_mode(&self.path, self.mode)
    }

    fn update(&mut self) -> Result<()> {
        files::set_mode(&self.path, self.mode & 0o7777)
    }
}

/// A path's owner and group.
#[derive(Deserialize)]
struct Owner {
    path: String,
    owner: Option<String>,
    group: Option<String>,
}

impl Component for Owner {
    fn kind() -> Kind {
        Kind::new("owner", "A path's owning user and group")
            .attr(Attr::string("path").doc("The path; relative paths are below the workdir"))
            .attr(owner_attr())
            .attr(group_attr())
    }

    fn configure(&mut self) -> Result<()> {
        if self.owner.is_none() && self.group.is_none() {
            return Err(Error::Invalid("set owner, group or both".to_owned()));
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let Some(stat) = files::stat(&self.path)? else {
            return Err(update_needed(format!("{} is missing", self.path)));
        };
        if let Some(owner) = &self.owner
            && stat.owner.as_ref() != Some(owner)
        {
            let current = stat.owner.unwrap_or_else(|| format!("uid {}", stat.uid));
            return Err(update_needed(format!("owner is {current}, wanted {owner}")));
        }
        if let Some(group) = &self.group
            && stat.group.as_ref() != Some(group)
        {
            let current = stat.group.unwrap_or_else(|| format!("gid {}", stat.gid));
            return Err(update_needed(format!("group is {current}, wanted {group}")));
        }
        Ok(())
    }

    fn update(&mut self) -> Result<()> {
        files::set_owner(&self.path, self.owner.as_deref(), self.group.as_deref())
    }
}

/// A symlink pointing to a target.
#[derive(Deserialize)]
struct Symlink {
    path: String,
    target: String,
}

impl Component for Symlink {
    fn kind() -> Kind {
        Kind::new("symlink", "A symlink pointing to a target")
            .attr(Attr::string("path").doc("Where the symlink is; relative paths are below the workdir"))
            .attr(Attr::string("target").doc(
                "Where it points; a relative target is below the workdir, as every path, and the link holds its absolute path",
            ))
    }

    fn verify(&mut self) -> Result<()> {
        ensure_symlink(&self.path, &self.pointed()?)
    }

    fn update(&mut self) -> Result<()> {
        files::symlink(&self.pointed()?, &self.path)
    }
}

impl Symlink {
    /// What the link holds: as batou maps every path, a relative target
    /// names a path below the workdir (`sub/link` to `data` is
    /// `<workdir>/data`, not `<workdir>/sub/data`), written as the absolute
    /// path on the target; an absolute target as given.
    fn pointed(&self) -> Result<String> {
        if self.target.starts_with('/') { Ok(self.target.clone()) } else { files::resolve(&self.target) }
    }
}

/// That nothing matches a glob pattern.
#[derive(Deserialize)]
struct Purge {
    pattern: String,
}

impl Component for Purge {
    fn kind() -> Kind {
        Kind::new("purge", "Removes every path matching a glob pattern, directories with their contents").attr(
            Attr::string("pattern")
                .doc("A glob pattern (`*`, `?`, `[...]`, `**`); relative ones are below the workdir"),
        )
    }

    fn verify(&mut self) -> Result<()> {
        let found = files::glob(&self.pattern)?.len();
        match found {
            0 => Ok(()),
            1 => Err(update_needed(format!("1 path matches {}", self.pattern))),
            n => Err(update_needed(format!("{n} paths match {}", self.pattern))),
        }
    }

    fn update(&mut self) -> Result<()> {
        for path in files::glob(&self.pattern)? {
            files::remove(&path, true)?;
        }
        Ok(())
    }
}

batou_sdk::export!(File, Directory, Presence, Content, Mode, Owner, Symlink, Purge);
