//! The runner's module arrows go one way: no import cycle between the
//! top-level modules of `runner/src`, wasmtime only in `wasm/`, and the
//! plan's data (what travels to an agent) free of the runtime. A change
//! that adds a cycle fails here, in CI, with the lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::harness::repo;

/// Every `.rs` file of a top-level module (a folder or a file).
fn files_of(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        out.extend(files_of(&entry.unwrap().path()));
    }
    out.sort();
    out
}

/// The top-level modules and, for each, the modules it names with
/// `crate::` (with one line that does, for the message).
fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = repo().join("runner/src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "main" || !(path.is_dir() || path.extension().is_some_and(|e| e == "rs")) {
            continue;
        }
        modules.insert(name, path);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (name, path) in &modules {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for file in files_of(path) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(at) = rest.find("crate::") {
                    rest = &rest[at + "crate::".len()..];
                    for target in named(rest) {
                        if &target != name && names.contains(&target) {
                            let rel = file.strip_prefix(&src).unwrap().display().to_string();
                            out.entry(target).or_insert_with(|| format!("{rel}:{}: {}", i + 1, line.trim()));
                        }
                    }
                }
            }
        }
        edges.insert(name.clone(), out);
    }
    edges
}

/// The modules named right after `crate::`: one, or each of a group
/// (`crate::{a, b::c}`) on the same line.
fn named(after: &str) -> Vec<String> {
    let ident =
        |s: &str| -> String { s.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let Some(group) = after.strip_prefix('{') else { return vec![ident(after)] };
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// A cycle, as the path of modules and the lines.
fn cycle(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| n == node) {
            let mut path: Vec<String> = stack[start..].to_vec();
            path.push(node.to_string());
            let lines = path.windows(2).map(|w| format!("{} -> {}: {}", w[0], w[1], edges[&w[0]][&w[1]])).collect();
            return Some(lines);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges[node].keys() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_the_runners_top_level_modules() {
    let edges = graph();
    // The check itself sees the arrows it should: the CLI reaches the
    // controller, and the plan reaches nothing but diagnostics.
    assert!(edges["cli"].contains_key("controller"), "{edges:?}");
    if let Some(lines) = cycle(&edges) {
        panic!("an import cycle between top-level modules of runner/src:\n  {}", lines.join("\n  "));
    }
}

#[test]
fn wasmtime_is_confined_to_the_wasm_module_and_the_plan_is_data() {
    let src = repo().join("runner/src");
    for file in files_of(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("wasm") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !code.contains("wasmtime"),
                "{}:{}: wasmtime outside runner/src/wasm/: {}",
                rel.display(),
                i + 1,
                line.trim()
            );
        }
    }
    let edges = graph();
    let plan: Vec<&String> = edges["plan"].keys().collect();
    assert_eq!(plan, ["diagnostic"], "the plan's data depends on no more than diagnostics");
}

#[test]
fn the_cycle_check_finds_a_cycle_and_names_its_lines() {
    let edge = |to: &str, line: &str| (to.to_string(), line.to_string());
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeMap::from([edge("b", "a.rs:1: use crate::b;")]));
    edges.insert("b".to_string(), BTreeMap::from([edge("c", "b.rs:2: use crate::c;")]));
    edges.insert("c".to_string(), BTreeMap::from([edge("a", "c.rs:3: use crate::{a, b};")]));
    let found = cycle(&edges).expect("a -> b -> c -> a");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[2].starts_with("c -> a: c.rs:3"), "{found:?}");
    assert_eq!(named("{a, b::c, d}; x"), ["a", "b", "d"]);
    edges.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&edges), None);
}
