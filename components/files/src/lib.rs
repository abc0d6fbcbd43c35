//! The standard file components of batou-run, embedded in the runner.
//!
//! `file` is what environments and components use; it composes the small
//! kinds below it as batou's `File` does: `presence` (the file or directory
//! exists), `content`, `mode` and `owner`, or `symlink`. `directory` is
//! `file` with `ensure = "directory"` (and copies a folder of assets into
//! it, given a `source`), and `purge` removes what matches a glob pattern.
//! Each sub-component is named by the path it manages.

use std::borrow::Cow;
use std::collections::BTreeSet;

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

/// `path` joined to the workdir, unless it is absolute already.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{path}", model::workdir().trim_end_matches('/'))
    }
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
            .attr(
                Attr::choice("ensure", &["file", "directory", "symlink"])
                    .default("file")
                    .doc("What to have at `path`: file, directory or symlink"),
            )
            .attr(Attr::string("content").optional().doc("The file's content, as a string"))
            .attr(Attr::string("source").optional().doc(
                "An asset of the component that holds the content (a folder of them, copied, for ensure = directory)",
            ))
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
        // What a parent reads of its file: the path it manages, absolute.
        model::expose("path", &absolute(path))?;
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
                add_mode_and_owner_of(path, self.mode, self.owner.as_deref(), self.group.as_deref(), true)
            }
            Ensure::Directory => {
                self.refuse(&[("content", self.content.is_some()), ("link_to", self.link_to.is_some())], "directory")?;
                // As batou's File passes its source on to Directory.
                add_directory(path, self.leading, self.mode, self.owner.as_deref(), self.group.as_deref())?;
                match &self.source {
                    Some(source) => add_copies(path, source, &[]).map(drop),
                    None => Ok(()),
                }
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
                model::add("symlink", path, &json!({ "path": path, "target": target }))?;
                Ok(())
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
            "content" => "ensure = \"file\"",
            "source" => "ensure = \"file\" or \"directory\"",
            _ => "ensure = \"file\" or \"directory\"",
        };
        Err(Error::Invalid(format!("{}: `{name}` is for {meant}, not ensure = \"{ensure}\"", self.path)))
    }
}

/// A directory with its mode and owner: `file` with `ensure = "directory"`;
/// with a `source`, a copy of a folder of the component's assets, as
/// batou's `Directory(source=...)` syncs one.
#[derive(Deserialize)]
struct Directory {
    path: String,
    leading: bool,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
    source: Option<String>,
    exclude: Vec<String>,
    delete: bool,
    /// The source's files (relative to it) that are copied, listed by
    /// `configure`.
    #[serde(skip)]
    copied: Option<BTreeSet<String>>,
}

impl Component for Directory {
    fn kind() -> Kind {
        Kind::new("directory", "A directory, with its mode and owner, optionally a copy of a folder of assets")
            .attr(path_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::mode("mode").optional().doc("Permission bits, such as 0o755"))
            .attr(owner_attr())
            .attr(group_attr())
            .attr(Attr::string("source").optional().doc(
                "A folder of the component's assets whose files are copied into it, as they are (no template), each a `file`",
            ))
            .attr(Attr::list("exclude").default(json!([])).doc(
                "Patterns (rsync's --exclude) of source files neither copied nor removed: `*.pyc`, `cache/`, `/top-only`",
            ))
            .attr(
                Attr::boolean("delete")
                    .default(false)
                    .doc("Also remove what is in it but not in `source` (except what `exclude` matches)"),
            )
    }

    fn configure(&mut self) -> Result<()> {
        add_directory(&self.path, self.leading, self.mode, self.owner.as_deref(), self.group.as_deref())?;
        match &self.source {
            Some(source) => {
                for pattern in &self.exclude {
                    if pattern.is_empty() {
                        return Err(Error::Invalid(format!("{}: an `exclude` pattern is empty", self.path)));
                    }
                }
                self.copied = Some(add_copies(&self.path, source, &self.exclude)?);
                Ok(())
            }
            None if self.delete || !self.exclude.is_empty() => Err(Error::Invalid(format!(
                "{}: `exclude` and `delete` are for a copy of assets: set `source` to a folder of them",
                self.path
            ))),
            None => Ok(()),
        }
    }

    fn verify(&mut self) -> Result<()> {
        let extra = self.extra()?;
        let Some(first) = extra.first() else {
            return Ok(());
        };
        let source = self.source.as_deref().unwrap_or_default();
        for rel in &extra {
            log::info(format!("{}/{rel} is not in `{source}` (delete = true)", self.base()));
        }
        Err(update_needed(match extra.len() {
            1 => format!("{}/{first} is not in `{source}`", self.base()),
            n => format!("{n} paths in {} are not in `{source}`", self.path),
        }))
    }

    fn update(&mut self) -> Result<()> {
        for rel in self.extra()? {
            files::remove(&format!("{}/{rel}", self.base()), true)?;
        }
        Ok(())
    }
}

impl Directory {
    /// The path to put `/name` after (`""` for `/`).
    fn base(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// With `delete`, what is in the directory but not copied nor
    /// excluded, relative to it: a folder with nothing to keep as a whole.
    fn extra(&mut self) -> Result<Vec<String>> {
        let Some(source) = self.source.clone().filter(|_| self.delete) else {
            return Ok(Vec::new());
        };
        if self.copied.is_none() {
            self.copied = Some(copied_files(&source, &self.exclude)?);
        }
        if !files::stat(&self.path)?.is_some_and(|s| s.is_dir()) {
            return Ok(Vec::new());
        }
        let mut extra = Vec::new();
        self.collect_extra("", self.copied.as_ref().expect("listed"), &mut extra)?;
        Ok(extra)
    }

    /// Adds to `extra` what in the folder `rel` is neither copied nor
    /// excluded; returns whether that is all of it.
    fn collect_extra(&self, rel: &str, copied: &BTreeSet<String>, extra: &mut Vec<String>) -> Result<bool> {
        let dir = if rel.is_empty() { self.path.clone() } else { format!("{}/{rel}", self.base()) };
        let mut all = true;
        for name in files::list(&dir)? {
            let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let Some(stat) = files::stat(&format!("{}/{rel}", self.base()))? else {
                continue;
            };
            if excluded(&self.exclude, &rel, stat.is_dir()) {
                all = false;
            } else if stat.is_dir() {
                let inside = format!("{rel}/");
                let keeps = copied.range(inside.clone()..).next().is_some_and(|c| c.starts_with(&inside));
                let mut below = Vec::new();
                if self.collect_extra(&rel, copied, &mut below)? && !keeps {
                    extra.push(rel);
                } else {
                    all = false;
                    extra.extend(below);
                }
            } else if copied.contains(&rel) {
                all = false;
            } else {
                extra.push(rel);
            }
        }
        Ok(all)
    }
}

/// The files of the asset folder `source` that are copied: all but the
/// excluded ones, relative to it.
fn copied_files(source: &str, exclude: &[String]) -> Result<BTreeSet<String>> {
    let listed = assets::list(source).map_err(|e| e.context(format!("source `{source}`")))?;
    Ok(listed.into_iter().filter(|name| !excluded(exclude, name, false)).collect())
}

/// Adds a `file` below `path` for each file of the asset folder `source`
/// not excluded (as batou's sync builds one File per file), so each
/// changed file is shown; returns them, relative to `source`.
fn add_copies(path: &str, source: &str, exclude: &[String]) -> Result<BTreeSet<String>> {
    let copied = copied_files(source, exclude)?;
    let prefix = match source.trim_end_matches('/') {
        "" | "." => String::new(),
        folder => format!("{folder}/"),
    };
    let base = path.trim_end_matches('/');
    for name in &copied {
        let target = format!("{base}/{name}");
        model::add(
            "file",
            &target,
            &json!({ "path": target, "source": format!("{prefix}{name}"), "is_template": false, "leading": true }),
        )?;
    }
    Ok(copied)
}

/// Whether rsync's `--exclude` patterns exclude `rel` (a path relative
/// to the folder copied, `/` between names) or a folder it lies in. A
/// pattern without `/` matches a name at any depth; one starting with
/// `/` matches from the folder's top; another one with `/` matches the
/// end of the path; a trailing `/` matches folders only. `*` and `?` do
/// not match `/`, `**` does, `[...]` is a class.
fn excluded(patterns: &[String], rel: &str, is_dir: bool) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    (1..=parts.len()).any(|n| {
        let dir = n < parts.len() || is_dir;
        patterns.iter().any(|p| excludes(p, &parts[..n], dir))
    })
}

fn excludes(pattern: &str, parts: &[&str], is_dir: bool) -> bool {
    let (pattern, dirs_only) = match pattern.strip_suffix('/') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    if dirs_only && !is_dir {
        return false;
    }
    let matches = |text: &str| {
        glob_match(&pattern.trim_start_matches('/').chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>())
    };
    if pattern.starts_with('/') {
        matches(&parts.join("/"))
    } else if !pattern.contains('/') && !pattern.contains("**") {
        matches(parts.last().expect("a name"))
    } else {
        (0..parts.len()).any(|i| matches(&parts[i..].join("/")))
    }
}

/// A shell-style match of the whole `text`: `*`, `**`, `?`, `[...]`
/// (`[!...]` or `[^...]` negated, `a-z` ranges), `\` quotes.
fn glob_match(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => (0..=t.len()).any(|i| glob_match(&p[2..], &t[i..])),
        Some('*') => {
            for i in 0..=t.len() {
                if glob_match(&p[1..], &t[i..]) {
                    return true;
                }
                if t.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Some('?') => t.first().is_some_and(|c| *c != '/') && glob_match(&p[1..], &t[1..]),
        Some('[') => match class(p, t.first().copied()) {
            Some((hit, len)) => hit && glob_match(&p[len..], &t[1..]),
            None => t.first() == Some(&'[') && glob_match(&p[1..], &t[1..]),
        },
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && glob_match(&p[2..], &t[1..]),
        Some(c) => t.first() == Some(c) && glob_match(&p[1..], &t[1..]),
    }
}

/// Whether `c` is in the class at the start of `p`, and the class's
/// length; `None` if `p` has no closing `]` (then `[` is literal).
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let item = *p.get(i)?;
        if item == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let end = p[i + 2];
            hit |= c.is_some_and(|c| item <= c && c <= end);
            i += 3;
        } else {
            hit |= c == Some(item);
            i += 1;
        }
    }
    let hit = c.is_some_and(|c| c != '/') && hit != negated;
    Some((hit, i + 1))
}

fn add_directory(path: &str, leading: bool, mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> Result<()> {
    model::add("presence", path, &PresenceAttrs { path, leading, directory: true })?;
    add_mode_and_owner(path, mode, owner, group)
}

fn add_mode_and_owner(path: &str, mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> Result<()> {
    add_mode_and_owner_of(path, mode, owner, group, false)
}

/// `created_with_mode`: a sibling creates a missing file with `mode`
/// already, so a missing file is no change of its mode (`-P` on a fresh
/// target then predicts what the deploy does).
fn add_mode_and_owner_of(
    path: &str,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
    created_with_mode: bool,
) -> Result<()> {
    if let Some(mode) = mode {
        model::add("mode", path, &json!({ "path": path, "mode": mode, "if_exists": created_with_mode }))?;
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
        // The runner names the template in errors (file and line).
        let origin = self.source.as_deref().map_or(template::Origin::Attribute("content"), template::Origin::Asset);
        let rendered = template::render_from(&source, &json!({ "component": self.context }), origin)?;
        Ok(rendered.into_bytes())
    }
}

/// A path's permission bits.
#[derive(Deserialize)]
struct Mode {
    path: String,
    mode: u32,
    if_exists: bool,
}

impl Component for Mode {
    fn kind() -> Kind {
        Kind::new("mode", "A path's permission bits")
            .attr(Attr::string("path").doc("The path; relative paths are below the workdir"))
            .attr(Attr::mode("mode").doc("Permission bits, such as 0o644"))
            .attr(Attr::boolean("if_exists").default(false).doc(
                "Leave a missing path alone: another component creates it with this mode (as `file` does)",
            ))
    }

    fn verify(&mut self) -> Result<()> {
        if self.if_exists && !files::exists(&self.path)? {
            return Ok(());
        }
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
