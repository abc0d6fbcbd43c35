//! What `batou-run new` and `batou-run component new` write: a deployment
//! that deploys as is, and components in Rust, Python or JavaScript that
//! build and deploy as is.

use std::path::Path;

use crate::sources::sdk;

/// The languages a component can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
}

/// Why nothing (or not everything) was written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// What was asked for cannot be made: nothing was written.
    #[error("{0}")]
    Refused(String),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes a new deployment into `dir` (which must not exist, or be empty):
/// an environment `dev` on this machine with one Rust component `hello`.
pub fn deployment(dir: &Path) -> Result<Vec<String>, ScaffoldError> {
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::Refused(format!("{} exists and is not empty", dir.display())));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(ScaffoldError::Refused(format!("{} exists and is not a folder", dir.display())));
    }
    std::fs::create_dir_all(dir.join("environments"))?;
    write(
        dir,
        "environments/dev.toml",
        "# The environment `dev`: this machine, deployed in-process (no SSH).\n\
         # Another environment is another file here; `connect = \"ssh\"` deploys\n\
         # to the hosts over SSH (see batou-run's README).\n\
         [environment]\n\
         connect = \"local\"\n\n\
         [hosts.localhost]\n\
         components = [\"hello\"]\n\n\
         [components.hello]\n\
         message = \"Hello from batou-run\"\n",
    )?;
    write(
        dir,
        ".gitignore",
        "# What deploys make: the workdirs of a local environment, the lock.\n/work/\n/.batou-run/lock\n\
         # Where cargo finds batou-run's SDK on this machine, for an editor\n\
         # (see a component's Cargo.toml): a path of this machine's.\n/.cargo/\n",
    )?;
    write(
        dir,
        "README.md",
        "# A batou-run deployment\n\n\
         ```sh\n\
         batou-run deploy dev          # bring every host of `dev` to its described state\n\
         batou-run deploy dev -P       # predict: what would change, with diffs\n\
         batou-run component new NAME --lang rust|python|js\n\
         ```\n\n\
         - `environments/dev.toml`: the hosts, which components each runs, their\n  \
           attributes, and what each root is granted (`[grants.<root>]`).\n\
         - `components/<name>/`: this deployment's own components (a Rust crate,\n  \
           an `app.py` or an `index.js`), built by batou-run when their sources\n  \
           change. Every file of a component's folder is one of its assets\n  \
           and a source of its build, except what the folder's `.gitignore`\n  \
           (or `.batou-run-ignore`) names and `.git`, `.env`, `.env.*`,\n  \
           `node_modules/`, `target/`, `__pycache__/` and `*.wasm`: those stay\n  \
           on this machine.\n\n\
         A Rust component depends on `batou-sdk = \"X.Y\"`, the SDK batou-run\n\
         carries (its builds use that copy). For an editor (rust-analyzer) to\n\
         see it, tell cargo where it is on this machine:\n\n\
         ```sh\n\
         mkdir -p .cargo && echo \"patch.crates-io.batou-sdk.path = '$(batou-run component sdk)'\" > .cargo/config.toml\n\
         ```\n",
    )?;
    let mut made = vec!["environments/dev.toml".to_string(), "README.md".into(), ".gitignore".into()];
    made.extend(component(dir, "hello", Language::Rust)?);
    Ok(made)
}

/// Writes `components/<name>/` of the deployment `dir`: a kind `<name>`
/// with an attribute `message`, which it writes to `<name>.txt` through a
/// standard `file`.
pub fn component(dir: &Path, name: &str, language: Language) -> Result<Vec<String>, ScaffoldError> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid {
        return Err(ScaffoldError::Refused(format!(
            "`{name}` is not a component name: use lower-case letters, digits, `-` and `_`, starting with a letter"
        )));
    }
    let folder = dir.join("components").join(name);
    if folder.exists() {
        return Err(ScaffoldError::Refused(format!("{} exists already", folder.display())));
    }
    let files: Vec<(String, String)> = match language {
        Language::Rust => vec![("Cargo.toml".into(), rust_manifest(name)), ("src/lib.rs".into(), rust_source(name))],
        Language::Python => vec![("app.py".into(), python_source(name))],
        Language::Js => vec![("index.js".into(), js_source(name))],
    };
    let mut made = Vec::new();
    for (file, text) in files {
        let rel = format!("components/{name}/{file}");
        write(dir, &rel, &text)?;
        made.push(rel);
    }
    Ok(made)
}

fn write(dir: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a folder"))?;
    std::fs::write(path, text)
}

fn rust_manifest(name: &str) -> String {
    let sdk = sdk::rust_requirement();
    format!(
        r#"# The component `{name}`: a Rust crate built to a WebAssembly component.
# batou-run builds it (`cargo build --release --target wasm32-wasip2`)
# whenever a file of it changes.
#
# batou-sdk is the SDK batou-run carries (its version follows the
# contract's): batou-run's builds take that copy, wherever this folder is.
# For an editor (rust-analyzer) or a `cargo build` of your own, tell cargo
# where it is on this machine, in the deployment's folder (.cargo/ is
# ignored by git, as the path is this machine's; write it again after
# upgrading batou-run):
#   mkdir -p .cargo && echo "patch.crates-io.batou-sdk.path = '$(batou-run component sdk)'" > .cargo/config.toml
[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
batou-sdk = "{sdk}"
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# Built on its own, outside any workspace around it.
[workspace]

# Small modules load fast.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
"#
    )
}

fn rust_source(name: &str) -> String {
    format!(
        r#"//! The component `{name}`.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{{Deserialize, Serialize}};

/// Writes a message to {name}.txt
///
/// The attributes, filled in by the runner from `[components.<root>]`:
/// `derive(Kind)` declares the kind from the fields, their doc comments
/// and `#[attr(...)]`.
#[derive(Serialize, Deserialize, Kind)]
#[kind(name = "{name}")]
struct Main {{
    /// What {name}.txt says
    #[attr(default = "Hello from {name}")]
    message: String,
}}

impl Component for Main {{
    fn kind() -> Kind {{
        Self::spec()
    }}

    /// Describes the target; the standard `file` does the work.
    fn configure(&mut self) -> Result<()> {{
        let content = format!("{{}}\n", self.message);
        model::add_kind(
            "{name}.txt",
            &stdlib::File {{
                path: "{name}.txt".into(),
                content: Some(content),
                is_template: false,
                ..Default::default()
            }},
        )?;
        Ok(())
    }}
}}

batou_sdk::export!(Main);
"#
    )
}

fn python_source(name: &str) -> String {
    format!(
        r#""""The component `{name}`, built with componentize-py (batou_sdk, contract 0.2).

Import everything at the top of the file: the build runs the module once
and keeps what it imported.
"""

from batou_sdk import Attribute, Component


class Main(Component):
    """Writes a message to {name}.txt"""

    kind = "{name}"
    message = Attribute(str, default="Hello from {name}", doc="What {name}.txt says")

    def configure(self) -> None:
        # The standard `file` does the work; `add` configures it at once
        # and returns it (its path, attributes and what it exposed).
        self.add("file", "{name}.txt", path="{name}.txt", content=self.message + "\n", is_template=False)
"#
    )
}

fn js_source(name: &str) -> String {
    format!(
        r#"// The component `{name}`, built with componentize-js (batou.js, contract 0.2).
// batou-run puts its batou.js beside this file when it builds; the types
// are in batou-run's sdk/js/batou.d.ts, for editors.

import {{ Component, exportKinds }} from "./batou.js";

class Main extends Component {{
  static kind = "{name}";
  static doc = "Writes a message to {name}.txt";
  static attributes = {{
    message: {{ type: "string", default: "Hello from {name}", doc: "What {name}.txt says" }},
  }};

  configure() {{
    // The standard `file` does the work; `add` configures it at once and
    // returns it (its path, attributes and what it exposed).
    this.add("file", "{name}.txt", {{ path: "{name}.txt", content: this.message + "\n", is_template: false }});
  }}
}}

export const component = exportKinds(Main);
"#
    )
}
