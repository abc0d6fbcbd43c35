//! The standard file components of batou-run, embedded in the runner.
//!
//! `file` is what environments and components use; it composes the small
//! kinds below it as batou's `File` does: `presence` (the file or directory
//! exists), `content`, `mode` and `owner`, or `symlink`. `directory` is
//! `file` with `ensure = "directory"` (and copies a folder of assets into
//! it, given a `source`), `purge` removes what matches a glob pattern, and
//! `line-in-file` keeps one line of a text file; `json-content`,
//! `toml-content` and `yaml-content` write structured data.
//! Each sub-component is named by the path it manages.

//!
//! Each kind's attributes are declared once, in `batou_sdk::stdlib`, where
//! other components find them to add these kinds typed; the components
//! here wrap those structs (a foreign type cannot implement the SDK's
//! foreign `Component` here) and add what their steps compute.

use std::collections::BTreeSet;

use batou_sdk::files::parent;
use batou_sdk::prelude::*;
use batou_sdk::stdlib::{self, Ensure};
use serde::Deserialize;

mod content;
mod line;
mod structured;

use content::Content;
use line::LineInFile;
use structured::{JsonContent, TomlContent, YamlContent};

/// The mode of a file holding a secret file, unless its `mode` says
/// otherwise: readable by its owner only.
const SECRET_MODE: u32 = 0o600;

/// `impl Deref` from a component to its attributes, so that its steps
/// read `self.path` as if the fields were its own.
macro_rules! attributes {
    ($component:ty => $attributes:ty, $($field:tt)+) => {
        impl std::ops::Deref for $component {
            type Target = $attributes;

            fn deref(&self) -> &$attributes {
                &self.$($field)+
            }
        }
    };
}
pub(crate) use attributes;

/// A file, directory or symlink with its content, mode and owner.
#[derive(Deserialize)]
#[serde(transparent)]
struct File(stdlib::File);

attributes!(File => stdlib::File, 0);

/// `path` joined to the workdir, unless it is absolute already.
fn absolute(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("{}/{path}", model::workdir().trim_end_matches('/')) }
}

impl File {
    /// The asset named like the file (its last path part), for a `file`
    /// given neither content nor source.
    fn guess_source(&self) -> Result<String> {
        let name = self.path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
        // The digest, not the bytes: the asset may be larger than the
        // memory a component has.
        match assets::digest(&name) {
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
        stdlib::File::spec()
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
                let guessed = match (&self.content, &self.source, &self.secret_file) {
                    (None, None, None) => Some(self.guess_source()?),
                    _ => None,
                };
                // A secret file is never readable by others unless asked.
                let mode = self.mode.or(self.secret_file.as_ref().map(|_| SECRET_MODE));
                // `content` creates the file itself, in one atomic write
                // with its mode (a secret is never readable by others).
                model::add_kind(
                    path,
                    &stdlib::Content {
                        path: path.to_owned(),
                        content: self.content.clone(),
                        source: self.source.clone().or(guessed),
                        is_template: self.is_template,
                        context: self.context.clone(),
                        leading: self.leading,
                        mode,
                        sensitive: self.sensitive,
                        secret_file: self.secret_file.clone(),
                    },
                )?;
                add_mode_and_owner_of(path, mode, self.owner.as_deref(), self.group.as_deref(), true)
            }
            Ensure::Directory => {
                self.refuse(
                    &[
                        ("content", self.content.is_some()),
                        ("link_to", self.link_to.is_some()),
                        ("secret_file", self.secret_file.is_some()),
                    ],
                    "directory",
                )?;
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
                        ("secret_file", self.secret_file.is_some()),
                    ],
                    "symlink",
                )?;
                let Some(target) = self.link_to.as_deref() else {
                    return Err(Error::Invalid(format!(
                        "{path}: ensure = \"symlink\" needs link_to, the path the symlink points to"
                    )));
                };
                model::add_kind(path, &stdlib::Symlink { path: path.to_owned(), target: target.to_owned() })?;
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
#[serde(from = "stdlib::Directory")]
struct Directory {
    attributes: stdlib::Directory,
    /// The source's files (relative to it) that are copied, listed by
    /// `configure`.
    copied: Option<BTreeSet<String>>,
}

impl From<stdlib::Directory> for Directory {
    fn from(attributes: stdlib::Directory) -> Self {
        Directory { attributes, copied: None }
    }
}

attributes!(Directory => stdlib::Directory, attributes);

impl Component for Directory {
    fn kind() -> Kind {
        stdlib::Directory::spec()
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
        model::add_kind(
            &target,
            &stdlib::File {
                path: target.clone(),
                source: Some(format!("{prefix}{name}")),
                is_template: false,
                leading: true,
                ..Default::default()
            },
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
    model::add_kind(path, &stdlib::Presence { path: path.to_owned(), leading, directory: true })?;
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
        model::add_kind(path, &stdlib::Mode { path: path.to_owned(), mode, if_exists: created_with_mode })?;
    }
    if owner.is_some() || group.is_some() {
        model::add_kind(
            path,
            &stdlib::Owner { path: path.to_owned(), owner: owner.map(str::to_owned), group: group.map(str::to_owned) },
        )?;
    }
    Ok(())
}

/// That a file or a directory exists at a path.
#[derive(Deserialize)]
#[serde(transparent)]
struct Presence(stdlib::Presence);

attributes!(Presence => stdlib::Presence, 0);

impl Component for Presence {
    fn kind() -> Kind {
        stdlib::Presence::spec()
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

/// A path's permission bits.
#[derive(Deserialize)]
#[serde(transparent)]
struct Mode(stdlib::Mode);

attributes!(Mode => stdlib::Mode, 0);

impl Component for Mode {
    fn kind() -> Kind {
        stdlib::Mode::spec()
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
#[serde(transparent)]
struct Owner(stdlib::Owner);

attributes!(Owner => stdlib::Owner, 0);

impl Component for Owner {
    fn kind() -> Kind {
        stdlib::Owner::spec()
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
#[serde(transparent)]
struct Symlink(stdlib::Symlink);

attributes!(Symlink => stdlib::Symlink, 0);

impl Component for Symlink {
    fn kind() -> Kind {
        stdlib::Symlink::spec()
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
#[serde(transparent)]
struct Purge(stdlib::Purge);

attributes!(Purge => stdlib::Purge, 0);

impl Component for Purge {
    fn kind() -> Kind {
        stdlib::Purge::spec()
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

batou_sdk::export!(File, Directory, Presence, Content, Mode, Owner, Symlink, Purge, LineInFile, JsonContent, TomlContent, YamlContent);
