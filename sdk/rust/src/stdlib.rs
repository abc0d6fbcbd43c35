//! The attributes of the standard library's kinds, declared once: the
//! standard components deserialise them, and a component adds one of them
//! as a sub-component, typed, with [`model::add_kind`](crate::model::add_kind):
//!
//! ```no_run
//! use batou_sdk::{model, stdlib};
//! # fn configure() -> batou_sdk::Result<()> {
//! model::add_kind("app.conf", &stdlib::File {
//!     path: "app.conf".into(),
//!     source: Some("app.conf.j2".into()),
//!     mode: Some(0o640),
//!     ..Default::default()
//! })?;
//! # Ok(()) }
//! ```
//!
//! `Default` gives each kind's defaults (and an empty string for required
//! attributes such as `path`), so `..Default::default()` leaves out what
//! the runner would fill in anyway. The first paragraph of each struct's
//! and field's documentation is what `batou-run` shows for the kind.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Kind;

/// What a [`File`] manages at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ensure {
    /// A regular file with its content.
    #[default]
    File,
    /// A directory, optionally a copy of a folder of assets.
    Directory,
    /// A symlink to `link_to`.
    Symlink,
}

/// A file, directory or symlink, with its content, mode and owner
///
/// The kind `file`: it adds `content`, `mode` and `owner` (or `presence`
/// and `directory` copies, or `symlink`) as batou's `File` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "file")]
pub struct File {
    /// Where; relative paths are below the workdir
    pub path: String,
    /// What to have at `path`: file, directory or symlink
    #[attr(choice("file", "directory", "symlink"), default = "file")]
    pub ensure: Ensure,
    /// The file's content, as a string
    pub content: Option<String>,
    /// An asset of the component that holds the content (a folder of them, copied, for ensure = directory)
    pub source: Option<String>,
    /// Render content or source as a Jinja2 template
    #[attr(default = true)]
    pub is_template: bool,
    /// The template's `component` variable
    #[attr(default = serde_json::json!({}))]
    pub context: Map<String, Value>,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: Option<u32>,
    /// The owning user's name
    pub owner: Option<String>,
    /// The owning group's name
    pub group: Option<String>,
    /// Create missing parent directories
    #[attr(default = false)]
    pub leading: bool,
    /// Where the symlink points (ensure = symlink); a relative one is below the workdir
    pub link_to: Option<String>,
    /// Never show the content's diff, only that it changed (for a file of secrets; secret values are masked in any diff anyway)
    #[attr(default = false)]
    pub sensitive: bool,
    /// The content is this secret file of the environment, byte for byte (the root needs it in its `secret_files` grant); mode 0o600 unless set
    pub secret_file: Option<String>,
}

impl Default for File {
    fn default() -> Self {
        File {
            path: String::new(),
            ensure: Ensure::File,
            content: None,
            source: None,
            is_template: true,
            context: Map::new(),
            mode: None,
            owner: None,
            group: None,
            leading: false,
            link_to: None,
            sensitive: false,
            secret_file: None,
        }
    }
}

/// A directory, with its mode and owner, optionally a copy of a folder of assets
///
/// The kind `directory`: `file` with `ensure = "directory"`; with a
/// `source`, one `file` per asset of that folder, as batou's
/// `Directory(source=...)` syncs one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "directory")]
pub struct Directory {
    /// Where; relative paths are below the workdir
    pub path: String,
    /// Create missing parent directories
    #[attr(default = false)]
    pub leading: bool,
    /// Permission bits, such as 0o755
    #[attr(mode)]
    pub mode: Option<u32>,
    /// The owning user's name
    pub owner: Option<String>,
    /// The owning group's name
    pub group: Option<String>,
    /// A folder of the component's assets whose files are copied into it, as they are (no template), each a `file`
    pub source: Option<String>,
    /// Patterns (rsync's --exclude) of source files neither copied nor removed: `*.pyc`, `cache/`, `/top-only`
    // A list of strings: the runner checks each pattern before the
    // component sees it.
    #[attr(default = serde_json::json!([]))]
    pub exclude: Vec<String>,
    /// Also remove what is in it but not in `source` (except what `exclude` matches)
    #[attr(default = false)]
    pub delete: bool,
}

/// That a file (empty if new) or a directory exists
///
/// The kind `presence`, which `file` and `directory` add.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "presence")]
pub struct Presence {
    /// Where; relative paths are below the workdir
    pub path: String,
    /// Create missing parent directories
    #[attr(default = false)]
    pub leading: bool,
    /// A directory rather than a file
    #[attr(default = false)]
    pub directory: bool,
}

/// A file's content, from a string or an asset
///
/// The kind `content`, which `file` adds: it creates the file, in one
/// atomic write with its mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "content")]
pub struct Content {
    /// The file; relative paths are below the workdir
    pub path: String,
    /// The content
    pub content: Option<String>,
    /// An asset of the component that holds the content
    pub source: Option<String>,
    /// Render the content as a Jinja2 template
    #[attr(default = true)]
    pub is_template: bool,
    /// The template's `component` variable
    #[attr(default = serde_json::json!({}))]
    pub context: Map<String, Value>,
    /// Create missing parent directories
    #[attr(default = false)]
    pub leading: bool,
    /// Permission bits a new file is created with
    #[attr(mode)]
    pub mode: Option<u32>,
    /// Never show the diff, only that the content changed
    #[attr(default = false)]
    pub sensitive: bool,
    /// The content is this secret file of the environment, byte for byte (the root needs it in its `secret_files` grant); mode 0o600 unless set
    pub secret_file: Option<String>,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            path: String::new(),
            content: None,
            source: None,
            is_template: true,
            context: Map::new(),
            leading: false,
            mode: None,
            sensitive: false,
            secret_file: None,
        }
    }
}

/// A path's permission bits
///
/// The kind `mode`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "mode")]
pub struct Mode {
    /// The path; relative paths are below the workdir
    pub path: String,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: u32,
    /// Leave a missing path alone: another component creates it with this mode (as `file` does)
    #[attr(default = false)]
    pub if_exists: bool,
}

/// A path's owning user and group
///
/// The kind `owner`: set `owner`, `group` or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "owner")]
pub struct Owner {
    /// The path; relative paths are below the workdir
    pub path: String,
    /// The owning user's name
    pub owner: Option<String>,
    /// The owning group's name
    pub group: Option<String>,
}

/// A symlink pointing to a target
///
/// The kind `symlink`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "symlink")]
pub struct Symlink {
    /// Where the symlink is; relative paths are below the workdir
    pub path: String,
    /// Where it points; a relative target is below the workdir, as every path, and the link holds its absolute path
    pub target: String,
}

/// Removes every path matching a glob pattern, directories with their contents
///
/// The kind `purge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "purge")]
pub struct Purge {
    /// A glob pattern (`*`, `?`, `[...]`, `**`); relative ones are below the workdir
    pub pattern: String,
}

/// A line in a text file: present (replacing the lines that start as it says) or absent
///
/// The kind `line-in-file`. Other lines, and the file's mode and owner,
/// are kept; a missing file is created for a present line. A line that
/// is there already changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "line-in-file")]
pub struct LineInFile {
    /// The file; relative paths are below the workdir
    pub path: String,
    /// The whole line, without its line break
    pub line: String,
    /// Lines that start with this are the line's: replaced by it (present) or removed with it (absent); else the line is appended
    pub starts_with: Option<String>,
    /// Whether the line is in the file
    #[attr(choice("present", "absent"), default = "present")]
    pub ensure: LinePresence,
}

/// Whether a `line-in-file` line is in its file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinePresence {
    /// The line is in the file.
    #[default]
    Present,
    /// No such line is in the file.
    Absent,
}

/// A JSON file written from a table, keys in the order given
///
/// The kind `json-content`, as batou's JSONContent: the data pretty
/// printed (two spaces), ending in a line break, through `content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "json-content")]
pub struct JsonContent {
    /// The file; relative paths are below the workdir
    pub path: String,
    /// What the file holds
    pub data: Map<String, Value>,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: Option<u32>,
}

/// A TOML file written from a table, keys in the order given
///
/// The kind `toml-content`: the data as TOML (tables after the values of
/// their parent), through `content`. TOML has no null: a null value is
/// an error naming its key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "toml-content")]
pub struct TomlContent {
    /// The file; relative paths are below the workdir
    pub path: String,
    /// What the file holds
    pub data: Map<String, Value>,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: Option<u32>,
}

/// A YAML file written from a table, keys in the order given
///
/// The kind `yaml-content`: the data as block-style YAML, two spaces per
/// level; a string that YAML would read as something else (`yes`, `1.0`,
/// `a: b`, an empty one) is double-quoted. Through `content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "yaml-content")]
pub struct YamlContent {
    /// The file; relative paths are below the workdir
    pub path: String,
    /// What the file holds
    pub data: Map<String, Value>,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: Option<u32>,
}

/// Runs a program on the target, unless a guard says it is not needed
///
/// The kind `command`. Its arguments, `env` values and the words of
/// `unless` are strings, numbers or booleans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "command")]
pub struct Command {
    /// The program: a name looked up in PATH, or a path
    pub command: String,
    /// Its arguments; no shell is involved
    #[attr(default = serde_json::json!([]))]
    pub args: Vec<Value>,
    /// Where it runs; relative to the workdir, which is the default
    pub cwd: Option<String>,
    /// Extra environment variables
    #[attr(default = serde_json::json!({}))]
    pub env: Map<String, Value>,
    /// A program (a string) or a program with arguments (a list):
    /// if it exits with status 0, the command does not run
    #[attr(any, optional)]
    pub unless: Value,
    /// A path the command creates: if it exists, the command does not run
    pub creates: Option<String>,
    /// Seconds after which the command (and `unless`) is killed
    pub timeout: Option<u64>,
    /// Another host of the environment to run the command (and `unless`) on, through the
    /// runner's SSH connection to it; the root needs that host in its `ssh` grant
    pub host: Option<String>,
}

/// A systemd unit: its file, a daemon-reload when that changed, enabled and running (grants: `systemctl` in commands, the unit's folder in paths.write)
///
/// The kind `systemd-unit`. The unit file is written as `file` writes one
/// (`content`, or an asset `source`, a template unless `is_template =
/// false`; the asset named like the unit if neither is given). When it
/// changed, `systemctl daemon-reload` runs; a unit to `start` is started,
/// or restarted when its file or a file in `restart_on` changed. The root
/// needs `systemctl` in its `commands` grant and the unit's folder in
/// `paths.write`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "systemd-unit")]
pub struct SystemdUnit {
    /// The unit's name with its type, such as `myapp.service`
    pub name: String,
    /// The unit file's content
    pub content: Option<String>,
    /// An asset of the component that holds the unit file
    pub source: Option<String>,
    /// Render content or source as a Jinja2 template
    #[attr(default = true)]
    pub is_template: bool,
    /// The template's `component` variable
    #[attr(default = serde_json::json!({}))]
    pub context: Map<String, Value>,
    /// A user unit, managed with `systemctl --user`; it needs `unit_dir`
    #[attr(default = false)]
    pub user: bool,
    /// The folder of the unit file: /etc/systemd/system, unless `user = true`, where it must be given (the user's ~/.config/systemd/user)
    pub unit_dir: Option<String>,
    /// Enable the unit (`systemctl enable`), so that it starts at boot; false leaves that as it is
    #[attr(default = true)]
    pub enable: bool,
    /// Keep the unit running (`systemctl start`), restarted when its file or a file in `restart_on` changed; false leaves it as it is
    #[attr(default = true)]
    pub start: bool,
    /// Files whose change restarts the running unit, such as its configuration; relative paths are below the workdir
    #[attr(default = serde_json::json!([]))]
    pub restart_on: Vec<String>,
}

impl Default for SystemdUnit {
    fn default() -> Self {
        SystemdUnit {
            name: String::new(),
            content: None,
            source: None,
            is_template: true,
            context: Map::new(),
            user: false,
            unit_dir: None,
            enable: true,
            start: true,
            restart_on: Vec::new(),
        }
    }
}

/// A job of the host's crontab, installed by the host's `crontab` (no grants of its own)
///
/// The kind `cron-job`: anywhere in a host's deployment, it provides its
/// line (key `cron-job`) to the host's `crontab`, which installs every job
/// of the host together. It needs no grant of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "cron-job")]
pub struct CronJob {
    /// The command line, run by cron with the user's shell (`%` is cron's line break: write `\%` for a percent sign)
    pub command: String,
    /// When it runs: five fields such as `*/5 * * * *`, or one of @reboot, @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly
    pub timing: String,
}

/// The host's crontab: every `cron-job` of the host between two marker lines, the other lines kept (grants: `crontab` in commands)
///
/// The kind `crontab`, one per host and user: it reads the crontab with
/// `crontab -l` and installs it with `crontab -`, changing only the lines
/// between its markers (appended at the end the first time). The root
/// needs `crontab` in its `commands` grant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "crontab")]
pub struct Crontab {
    /// Whose crontab (`crontab -u USER`, which needs root); the deploying user's by default
    pub user: Option<String>,
}

/// Whether a package, user or group is there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Existence {
    /// It is there.
    #[default]
    Present,
    /// It is not there.
    Absent,
}

/// A Debian package, installed with apt-get (grants: `dpkg-query` and `apt-get` in commands, and root on the target)
///
/// The kind `package`: `dpkg-query` verifies, `apt-get install -y` (or
/// `apt-get remove -y`) updates. The root needs `dpkg-query` and
/// `apt-get` in its `commands` grant, and the runner root on the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "package")]
pub struct Package {
    /// The package's name, such as `nginx`
    pub name: String,
    /// The version to have, as `dpkg-query` shows it (such as `1.22.1-9`); any installed version by default
    pub version: Option<String>,
    /// Whether the package is installed
    #[attr(choice("present", "absent"), default = "present")]
    pub ensure: Existence,
}

/// A group of the target's user database (grants: `getent`, `groupadd`, `groupmod`, `groupdel` in commands)
///
/// The kind `group`: `getent group` verifies, `groupadd`/`groupmod`
/// (or `groupdel`) update. The root needs them in its `commands` grant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "group")]
pub struct Group {
    /// The group's name
    pub name: String,
    /// Its numeric id; groupadd picks a free one by default
    pub gid: Option<u32>,
    /// A system group (`groupadd --system`), when it is created
    #[attr(default = false)]
    pub system: bool,
    /// Whether the group exists
    #[attr(choice("present", "absent"), default = "present")]
    pub ensure: Existence,
}

/// A user of the target's user database (grants: `getent`, `useradd`, `usermod`, `userdel` in commands)
///
/// The kind `user`: `getent passwd` and `getent group` verify,
/// `useradd`/`usermod` (or `userdel`) update. What is not given is left
/// as it is (or as `useradd` makes it). The root needs those programs in
/// its `commands` grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "user")]
pub struct User {
    /// The user's name
    pub name: String,
    /// Its numeric id; useradd picks a free one by default
    pub uid: Option<u32>,
    /// Its primary group, by name (it must exist); by default the group useradd makes or picks
    pub group: Option<String>,
    /// Its supplementary groups, by name: exactly these (the groups must exist); left as they are if not given
    pub groups: Option<Vec<String>>,
    /// Its home directory
    pub home: Option<String>,
    /// Its login shell, such as /bin/bash
    pub shell: Option<String>,
    /// The comment (GECOS) field, such as the user's full name
    pub comment: Option<String>,
    /// A system user (`useradd --system`), when it is created
    #[attr(default = false)]
    pub system: bool,
    /// Create the home directory when the user is created
    #[attr(default = true)]
    pub create_home: bool,
    /// Whether the user exists
    #[attr(choice("present", "absent"), default = "present")]
    pub ensure: Existence,
}

impl Default for User {
    fn default() -> Self {
        User {
            name: String::new(),
            uid: None,
            group: None,
            groups: None,
            home: None,
            shell: None,
            comment: None,
            system: false,
            create_home: true,
            ensure: Existence::Present,
        }
    }
}

/// A git checkout at exactly one branch, tag or revision (grants: `git` in commands, and the target's folder in paths.write unless it is below the workdir)
///
/// The kind `git`: it clones `repository` into `target`, or fetches and
/// checks out what is asked. A tree with changes of its own is refused,
/// unless `clobber = true` discards them. The root needs `git` in its
/// `commands` grant and `target`'s folder in `paths.write` (unless it is
/// below the workdir).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "git")]
pub struct Git {
    /// The repository's URL (or path), as `git clone` takes it
    pub repository: String,
    /// The checkout's folder; relative paths are below the workdir
    pub target: String,
    /// Follow this branch: its newest commit at each deploy
    pub branch: Option<String>,
    /// Check out this tag
    pub tag: Option<String>,
    /// Check out this commit (its full hash, or a prefix of it)
    pub revision: Option<String>,
    /// Discard changes in the checkout (edits, files git does not track) rather than refuse to update it
    #[attr(default = false)]
    pub clobber: bool,
}

/// An archive unpacked into a folder: tar, tar.gz, tar.xz, tar.bz2 or zip (grants: the folder in paths.write unless it is below the workdir)
///
/// The kind `extract`. The archive is read in pieces and unpacked inside
/// the component with pure-Rust decoders, so no `tar` or `unzip` is
/// needed on the host. What it unpacked is recorded (paths, digests,
/// modes, link targets) in the workdir: a changed archive or a file
/// changed since is an update, an unchanged one is not, and what a
/// previous archive had and this one lacks is removed. An entry that would
/// land outside the folder (`..`, an absolute path, a link leading out) or
/// is no file, folder or link refuses the whole archive before anything is
/// written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "extract")]
pub struct Extract {
    /// The archive; relative paths are below the workdir
    pub archive: String,
    /// The folder it is unpacked into; relative paths are below the workdir
    pub target: String,
    /// Leading path components dropped from every entry, such as 1 for an archive with one top folder
    #[attr(default = 0)]
    pub strip: u32,
    /// The archive's format: tar, tar.gz, tar.xz, tar.bz2 or zip; by default from the archive's name (.tgz, .txz and .tbz2 too)
    pub format: Option<String>,
}

/// A file downloaded by the runner on the target and verified by its sha256 (grants: the URL's host, and every redirect's, in http)
///
/// The kind `download`. Verify compares the file's sha256 with
/// `checksum` and fetches nothing; update streams the URL into a
/// temporary file beside `target` and renames it into place only when the
/// sha256 is `checksum`: a mismatch leaves no file. `https://`, or
/// `http://` to a loopback host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Kind)]
#[kind(name = "download")]
pub struct Download {
    /// What to fetch: an https:// URL (http:// only to a loopback host)
    pub url: String,
    /// The file it becomes; relative paths are below the workdir
    pub target: String,
    /// Its sha256 as `sha256:` and 64 hex digits: what is fetched must have it
    pub checksum: String,
    /// Permission bits, such as 0o644
    #[attr(mode)]
    pub mode: Option<u32>,
    /// Seconds the download may take at most (300 by default)
    pub timeout: Option<u64>,
    /// Bytes it may have at most (1 GiB by default)
    pub max_size: Option<u64>,
    /// Create missing parent directories
    #[attr(default = false)]
    pub leading: bool,
}

/// Every standard kind's spec, in the order the standard modules export
/// them: for tests and tools that list them.
pub fn kinds() -> Vec<Kind> {
    use crate::KindSpec;
    vec![
        File::spec(),
        Directory::spec(),
        Presence::spec(),
        Content::spec(),
        Mode::spec(),
        Owner::spec(),
        Symlink::spec(),
        Purge::spec(),
        LineInFile::spec(),
        JsonContent::spec(),
        TomlContent::spec(),
        YamlContent::spec(),
        Command::spec(),
        SystemdUnit::spec(),
        CronJob::spec(),
        Crontab::spec(),
        Package::spec(),
        Group::spec(),
        User::spec(),
        Git::spec(),
        Extract::spec(),
        Download::spec(),
    ]
}
