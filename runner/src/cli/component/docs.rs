//! `batou-run component docs`: the reference page of the standard
//! library (`docs/components.md`), written from what the embedded modules
//! themselves describe: each kind's doc and every attribute with its type,
//! default and doc, as `describe` returns them and the runner checks
//! them, and what each module's imports let it ask for. A test compares
//! the page in the repository with this output, so it cannot drift.

use super::super::{CliError, cache_dir};
use super::inspect::{meaning, short_type};
use crate::output::Output;
use crate::wasm::Runtime;
use crate::wasm::interfaces;

/// Print the reference of the standard library's kinds, as Markdown (docs/components.md is this output).
#[derive(clap::Args)]
pub struct DocsArgs {}

pub fn run(_args: DocsArgs, _out: &Output) -> Result<(), CliError> {
    let runtime = Runtime::new(cache_dir()?)?;
    let mut page = String::from(
        "# The standard library\n\n\
         The kinds every deployment has, embedded in batou-run (`components/` in its repository). Each one runs \
         sandboxed like any component, within the grants of the root that uses it: a sub-component shares its \
         root's grants. An attribute without a default is required; paths are relative to the root's workdir \
         unless absolute.\n\n\
         This page is the output of `batou-run component docs`, made from what the modules describe of \
         themselves (the same specs the runner checks attributes against); a test fails when it differs. \
         `batou-run component inspect NAME` shows one module.\n",
    );
    for crate::sources::ModuleInput { name, bytes, .. } in crate::sources::stdlib_inputs() {
        let (_, kinds) = runtime.load(&name, &bytes, None).map_err(|e| CliError::usage(e.to_string()))?;
        let found = interfaces::interfaces(&bytes).map_err(|e| CliError::usage(e.to_string()))?;
        let short = name.strip_prefix("standard library module `").and_then(|n| n.strip_suffix('`')).unwrap_or(&name);
        page.push_str(&format!("\n## Module `{short}`\n\n"));
        let names: Vec<String> = kinds.iter().map(|k| format!("[`{0}`](#{0})", k.name)).collect();
        page.push_str(&format!("Kinds: {}.\n\n", names.join(", ")));
        page.push_str("What it may ask the runner for:\n\n");
        for import in found.imports.iter().filter(|i| interfaces::contract_interface(i).is_some()) {
            let short = interfaces::contract_interface(import).unwrap_or(import);
            if short != "types" {
                page.push_str(&format!("- `{short}`: {}\n", meaning(import)));
            }
        }
        for kind in &kinds {
            page.push_str(&format!("\n### {}\n\n{}\n\n", kind.name, kind.doc));
            page.push_str("| attribute | type | default | meaning |\n| --- | --- | --- | --- |\n");
            for a in &kind.attributes {
                let default = match a.default.as_deref() {
                    None => "required".to_owned(),
                    Some("null") => "none".to_owned(),
                    Some(d) => format!("`{d}`"),
                };
                page.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    a.name,
                    short_type(&a.type_).replace('|', "\\|"),
                    default.replace('|', "\\|"),
                    a.doc.replace('|', "\\|")
                ));
            }
        }
    }
    print!("{page}");
    Ok(())
}
