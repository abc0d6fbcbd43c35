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
    #[default]
    Present,
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
    ]
}
