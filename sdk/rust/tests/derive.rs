//! `#[derive(Kind)]` builds the spec a component would write by hand.

use std::collections::{BTreeMap, HashMap};

use batou_sdk::{Attr, Kind, KindSpec, Scalar, stdlib};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
enum Ensure {
    #[default]
    File,
    Directory,
}

/// A file, with its content
/// and mode.
///
/// Only the first paragraph is the kind's doc.
#[derive(Deserialize, Kind)]
#[kind(name = "example")]
#[allow(dead_code)]
struct Example {
    /// Where; relative paths are below the workdir
    path: String,
    /// What to have
    #[attr(choice("file", "directory"), default = "file")]
    ensure: Ensure,
    /// Permission bits
    #[attr(mode)]
    mode: Option<u32>,
    #[attr(default = true)]
    is_template: bool,
    /// The template's `component` variable
    #[attr(default = json!({}))]
    context: Map<String, Value>,
    tags: BTreeMap<String, String>,
    labels: Option<HashMap<String, i64>>,
    exclude: Vec<String>,
    ports: Vec<u16>,
    ratios: Vec<f64>,
    anything: Vec<Value>,
    #[attr(list_of(mode))]
    modes: Vec<u32>,
    count: i32,
    size: usize,
    ratio: f64,
    #[attr(any)]
    extra: Value,
    /// Renamed for the environment
    #[serde(rename = "type")]
    ty: String,
    #[attr(name = "for")]
    for_: Option<String>,
    #[attr(doc = "Said here, not in a doc comment")]
    #[attr(default = 3)]
    retries: u8,
    #[attr(required)]
    must: Option<String>,
    #[attr(string, optional)]
    unless: Value,
    #[serde(skip)]
    state: Vec<std::cell::Cell<u8>>,
}

#[test]
fn the_derived_spec_is_the_hand_built_one() {
    let hand = Kind::new("example", "A file, with its content and mode.")
        .attr(Attr::string("path").doc("Where; relative paths are below the workdir"))
        .attr(Attr::choice("ensure", &["file", "directory"]).default("file").doc("What to have"))
        .attr(Attr::mode("mode").optional().doc("Permission bits"))
        .attr(Attr::boolean("is_template").default(true))
        .attr(Attr::table("context").default(json!({})).doc("The template's `component` variable"))
        .attr(Attr::table("tags"))
        .attr(Attr::table("labels").optional())
        .attr(Attr::list_of("exclude", Scalar::String))
        .attr(Attr::list_of("ports", Scalar::Integer))
        .attr(Attr::list_of("ratios", Scalar::Float))
        .attr(Attr::list("anything"))
        .attr(Attr::list_of("modes", Scalar::Mode))
        .attr(Attr::integer("count"))
        .attr(Attr::integer("size"))
        .attr(Attr::float("ratio"))
        .attr(Attr::any("extra"))
        .attr(Attr::string("type").doc("Renamed for the environment"))
        .attr(Attr::string("for").optional())
        .attr(Attr::integer("retries").default(3).doc("Said here, not in a doc comment"))
        .attr(Attr::string("must"))
        .attr(Attr::string("unless").optional());
    assert_eq!(Example::spec(), hand);
    assert_eq!(Example::NAME, "example");
}

/// A kind without attributes.
#[derive(Deserialize, Kind)]
#[kind(name = "empty", doc = "Nothing at all")]
struct Empty {}

/// Borrowed attributes, for a parent that adds the kind.
#[derive(Serialize, Kind)]
#[kind(name = "borrowed")]
#[allow(dead_code)]
struct Borrowed<'a> {
    path: &'a str,
    content: Option<&'a str>,
    context: &'a Map<String, Value>,
}

#[test]
fn empty_and_borrowing_structs_derive_too() {
    assert_eq!(Empty::spec(), Kind::new("empty", "Nothing at all"));
    assert_eq!(
        Borrowed::spec(),
        Kind::new("borrowed", "Borrowed attributes, for a parent that adds the kind.")
            .attr(Attr::string("path"))
            .attr(Attr::string("content").optional())
            .attr(Attr::table("context"))
    );
}

/// The standard kinds as they were written by hand before the derive:
/// the runner's tests and golden files depend on every name, type,
/// default and doc.
fn hand_built_standard_kinds() -> Vec<Kind> {
    let path_attr = || Attr::string("path").doc("Where; relative paths are below the workdir");
    let owner_attr = || Attr::string("owner").optional().doc("The owning user's name");
    let group_attr = || Attr::string("group").optional().doc("The owning group's name");
    vec![
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
            .attr(Attr::boolean("sensitive").default(false).doc(
                "Never show the content's diff, only that it changed (for a file of secrets; secret values are \
                 masked in any diff anyway)",
            ))
            .attr(Attr::string("secret_file").optional().doc(
                "The content is this secret file of the environment, byte for byte (the root needs it in its \
                 `secret_files` grant); mode 0o600 unless set",
            )),
        Kind::new("directory", "A directory, with its mode and owner, optionally a copy of a folder of assets")
            .attr(path_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::mode("mode").optional().doc("Permission bits, such as 0o755"))
            .attr(owner_attr())
            .attr(group_attr())
            .attr(Attr::string("source").optional().doc(
                "A folder of the component's assets whose files are copied into it, as they are (no template), each a `file`",
            ))
            .attr(Attr::list_of("exclude", Scalar::String).default(json!([])).doc(
                "Patterns (rsync's --exclude) of source files neither copied nor removed: `*.pyc`, `cache/`, `/top-only`",
            ))
            .attr(
                Attr::boolean("delete")
                    .default(false)
                    .doc("Also remove what is in it but not in `source` (except what `exclude` matches)"),
            ),
        Kind::new("presence", "That a file (empty if new) or a directory exists")
            .attr(path_attr())
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::boolean("directory").default(false).doc("A directory rather than a file")),
        Kind::new("content", "A file's content, from a string or an asset")
            .attr(Attr::string("path").doc("The file; relative paths are below the workdir"))
            .attr(Attr::string("content").optional().doc("The content"))
            .attr(Attr::string("source").optional().doc("An asset of the component that holds the content"))
            .attr(Attr::boolean("is_template").default(true).doc("Render the content as a Jinja2 template"))
            .attr(Attr::table("context").default(json!({})).doc("The template's `component` variable"))
            .attr(Attr::boolean("leading").default(false).doc("Create missing parent directories"))
            .attr(Attr::mode("mode").optional().doc("Permission bits a new file is created with"))
            .attr(Attr::boolean("sensitive").default(false).doc("Never show the diff, only that the content changed"))
            .attr(Attr::string("secret_file").optional().doc(
                "The content is this secret file of the environment, byte for byte (the root needs it in its \
                 `secret_files` grant); mode 0o600 unless set",
            )),
        Kind::new("mode", "A path's permission bits")
            .attr(Attr::string("path").doc("The path; relative paths are below the workdir"))
            .attr(Attr::mode("mode").doc("Permission bits, such as 0o644"))
            .attr(Attr::boolean("if_exists").default(false).doc(
                "Leave a missing path alone: another component creates it with this mode (as `file` does)",
            )),
        Kind::new("owner", "A path's owning user and group")
            .attr(Attr::string("path").doc("The path; relative paths are below the workdir"))
            .attr(owner_attr())
            .attr(group_attr()),
        Kind::new("symlink", "A symlink pointing to a target")
            .attr(Attr::string("path").doc("Where the symlink is; relative paths are below the workdir"))
            .attr(Attr::string("target").doc(
                "Where it points; a relative target is below the workdir, as every path, and the link holds its absolute path",
            )),
        Kind::new("purge", "Removes every path matching a glob pattern, directories with their contents").attr(
            Attr::string("pattern")
                .doc("A glob pattern (`*`, `?`, `[...]`, `**`); relative ones are below the workdir"),
        ),
        Kind::new("command", "Runs a program on the target, unless a guard says it is not needed")
            .attr(Attr::string("command").doc("The program: a name looked up in PATH, or a path"))
            .attr(Attr::list("args").default(json!([])).doc("Its arguments; no shell is involved"))
            .attr(Attr::string("cwd").optional().doc("Where it runs; relative to the workdir, which is the default"))
            .attr(Attr::table("env").default(json!({})).doc("Extra environment variables"))
            .attr(Attr::any("unless").optional().doc(
                "A program (a string) or a program with arguments (a list): \
                 if it exits with status 0, the command does not run",
            ))
            .attr(
                Attr::string("creates")
                    .optional()
                    .doc("A path the command creates: if it exists, the command does not run"),
            )
            .attr(Attr::integer("timeout").optional().doc("Seconds after which the command (and `unless`) is killed"))
            .attr(Attr::string("host").optional().doc(
                "Another host of the environment to run the command (and `unless`) on, through the \
                 runner's SSH connection to it; the root needs that host in its `ssh` grant",
            )),
    ]
}

#[test]
fn the_standard_kinds_are_declared_as_they_were_by_hand() {
    // The kinds written out by hand here, each against the derived one of
    // its name (later kinds are declared with the derive only).
    let derived = stdlib::kinds();
    for hand in hand_built_standard_kinds() {
        let found = derived.iter().find(|k| k.name() == hand.name());
        assert_eq!(found, Some(&hand), "kind `{}`", hand.name());
    }
}

/// `..Default::default()` must mean what the runner fills in.
fn defaults_agree<K: KindSpec + Serialize + Default>() {
    let value = serde_json::to_value(K::default()).unwrap();
    for attr in K::spec().attributes() {
        let Some(default) = attr.default_json() else { continue };
        let default: Value = serde_json::from_str(default).unwrap();
        assert_eq!(value[attr.name()], default, "{}.{}", K::NAME, attr.name());
    }
    let spec = K::spec();
    let names: Vec<&str> = spec.attributes().iter().map(|a| a.name()).collect();
    let fields: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(fields, sorted, "{}: every field is an attribute", K::NAME);
}

#[test]
fn the_standard_kinds_defaults_are_the_specs_defaults() {
    defaults_agree::<stdlib::File>();
    defaults_agree::<stdlib::SystemdUnit>();
    defaults_agree::<stdlib::CronJob>();
    defaults_agree::<stdlib::Crontab>();
    defaults_agree::<stdlib::Package>();
    defaults_agree::<stdlib::Group>();
    defaults_agree::<stdlib::User>();
    defaults_agree::<stdlib::Git>();
    defaults_agree::<stdlib::Extract>();
    defaults_agree::<stdlib::Download>();
    defaults_agree::<stdlib::Directory>();
    defaults_agree::<stdlib::Presence>();
    defaults_agree::<stdlib::Content>();
    defaults_agree::<stdlib::Mode>();
    defaults_agree::<stdlib::Owner>();
    defaults_agree::<stdlib::Symlink>();
    defaults_agree::<stdlib::Purge>();
    defaults_agree::<stdlib::Command>();
}
