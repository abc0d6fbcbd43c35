//! Components written in Python and JavaScript, built from source by the
//! runner with componentize-py and componentize-js (installed into
//! .toolchains/ by tools/toolchains.sh), behave as the Rust reference
//! (tests/fixtures/notice) on the same attributes: same output, same files,
//! same bytes, same modes.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fixtures::{FIXTURE_NESTING, FIXTURE_NOTICE};
use crate::harness::{Deployment, Run, repo, toolchains};

const ENV: &str = r#"
[hosts.localhost]
components = ["motd", "plain"]

[components.motd]
kind = "notice"
path = "motd.txt"
title = "Welcome"
lines = ["backups run at 02:00", "ask ops before rebooting"]
mode = "rw-r-----"

[components.plain]
kind = "notice"
path = "plain.txt"
title = "Plain"
"#;

#[derive(Clone, Copy, Debug)]
enum Language {
    Rust,
    Python,
    Js,
}

/// The toolchain variables `language` needs (none for Rust), or `None`.
fn toolchain(language: Language) -> Option<Vec<(&'static str, OsString)>> {
    match language {
        Language::Rust => Some(Vec::new()),
        _ => toolchains(),
    }
}

/// A deployment of `ENV` whose `notice` kind is written in `language`.
fn notice(language: Language) -> Deployment {
    let d = Deployment::new(ENV);
    match language {
        Language::Rust => d.own_module("notice", FIXTURE_NOTICE),
        Language::Python => copy(&repo().join("tests/languages/python/notice"), &d.path().join("components/notice")),
        Language::Js => copy(&repo().join("tests/languages/js/notice"), &d.path().join("components/notice")),
    }
    d
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn deploy(d: &Deployment, env: &[(&'static str, OsString)]) -> Run {
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    d.run_with(&["deploy", "dev"], &env)
}

/// Every file under work/: relative path, mode, bytes.
fn files(d: &Deployment) -> Vec<(PathBuf, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let work = d.path().join("work");
    let mut stack = vec![work.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(&work).unwrap().to_path_buf();
                out.push((rel, meta.permissions().mode() & 0o7777, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// What a deploy printed, without its timing.
fn output(run: &Run) -> String {
    run.stdout.lines().filter(|l| !l.starts_with("Deployed")).collect::<Vec<_>>().join("\n")
}

/// Deploys `language`'s notice twice and compares with the Rust one.
fn matches_rust(language: Language) {
    let Some(env) = toolchain(language) else { return };
    let reference = notice(Language::Rust);
    let expected_first = deploy(&reference, &[]).ok();
    let d = notice(language);
    let first = deploy(&d, &env).ok();
    assert_eq!(output(&first), output(&expected_first), "{language:?} printed other changes");
    assert_eq!(files(&d), files(&reference), "{language:?} wrote other files");
    assert!(first.stdout.contains("2 of 4 components changed") || first.stdout.contains("4 of"), "{}", first.stdout);
    let second = deploy(&d, &env).ok();
    assert!(second.changed().is_empty(), "{language:?} changed on the second run: {}", second.stdout);
    // A changed mode is put back, as the Rust one does.
    std::fs::set_permissions(d.work("motd/motd.txt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let third = deploy(&d, &env).ok();
    assert_eq!(third.changed(), ["localhost: motd"], "{}", third.stdout);
    assert_eq!(files(&d), files(&reference));
}

#[test]
fn a_python_component_matches_the_rust_one() {
    matches_rust(Language::Python);
}

#[test]
fn a_python_build_error_names_the_file_and_line() {
    let Some(env) = toolchain(Language::Python) else { return };
    let d = Deployment::new(ENV);
    d.write("components/notice/app.py", "from batou_sdk import Component\n\nclass Notice(Component)\n    pass\n");
    let run = deploy(&d, &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("building the python component `notice` failed"), "{}", run.stderr);
    assert!(run.stderr.contains("SyntaxError") && run.stderr.contains("line 3"), "{}", run.stderr);
}

#[test]
fn a_missing_python_toolchain_says_how_to_install_it() {
    let d = Deployment::new(ENV);
    copy(&repo().join("tests/languages/python/notice"), &d.path().join("components/notice"));
    let run = d.run_with(&["deploy", "dev"], &[("BATOU_RUN_COMPONENTIZE_PY", "/nonexistent/componentize-py".as_ref())]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot run /nonexistent/componentize-py"), "{}", run.stderr);
    assert!(run.stderr.contains("pip install componentize-py"), "{}", run.stderr);
}

#[test]
fn a_javascript_component_matches_the_rust_one() {
    matches_rust(Language::Js);
}

/// `assets.list` and `files.resolve` from Python and JavaScript, with the
/// assets travelling to an agent process.
fn lists_assets_and_resolves(language: Language) {
    let Some(env) = toolchain(language) else { return };
    let d = Deployment::new("[hosts.localhost]\ncomponents = [\"lister\"]\n");
    let from = match language {
        Language::Python => "tests/languages/python/lister",
        _ => "tests/languages/js/lister",
    };
    copy(&repo().join(from), &d.path().join("components/lister"));
    d.write("components/lister/data/b/two.txt", "2\n");
    d.write("components/lister/data/a.txt", "1\n");
    d.write("components/lister/data/target/built", "build output is no asset\n");
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    d.run_with(&["deploy", "dev", "--agent-process"], &env).ok();
    assert_eq!(std::fs::read_to_string(d.work("lister/listing.txt")).unwrap(), "a.txt\nb/two.txt\n", "{language:?}");
    let where_ = std::fs::read_to_string(d.work("lister/where.txt")).unwrap();
    assert_eq!(where_, format!("{}\n", d.work("lister/where.txt").display()), "{language:?}");
    let again = d.run_with(&["deploy", "dev", "--agent-process"], &env).ok();
    assert!(again.changed().is_empty(), "{language:?}: {}", again.stdout);
}

#[test]
fn a_python_component_lists_assets_and_resolves_paths() {
    lists_assets_and_resolves(Language::Python);
}

#[test]
fn a_javascript_component_lists_assets_and_resolves_paths() {
    lists_assets_and_resolves(Language::Js);
}

/// A deployment of `env` whose own component `nesting` (the kinds
/// `parent`, `child`, `copy` and `port` of tests/fixtures/nesting) is
/// written in `language`.
fn nesting(language: Language, env: &str) -> Deployment {
    let d = Deployment::new(env);
    match language {
        Language::Rust => d.own_module("nesting", FIXTURE_NESTING),
        Language::Python => copy(&repo().join("tests/languages/python/nesting"), &d.path().join("components/nesting")),
        Language::Js => copy(&repo().join("tests/languages/js/nesting"), &d.path().join("components/nesting")),
    }
    d
}

/// `--verbose` output with the deployment's folder, the timing and the
/// modules' hashes (each language builds other bytes) taken out.
fn verbose(d: &Deployment, run: &Run) -> String {
    let text = d.normalise(&output(run));
    text.lines()
        .map(|l| match l.split_once("  sha256:") {
            Some((module, _)) if l.starts_with("    module ") => format!("{module}  sha256:$HASH"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parent reads what its child exposed and the child's checked
/// attributes (defaults filled in) as `add` returns, and the path the
/// standard `file` computed; their logs interleave. The same output and
/// files as the Rust fixture.
fn builds_on_its_child(language: Language) {
    let Some(tools) = toolchain(language) else { return };
    let env = "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\"]\n\
               [components.p]\nkind = \"parent\"\nname = \"ada\"\n";
    let reference = nesting(Language::Rust, env);
    let expected = reference.run(&["deploy", "dev", "--verbose"]).ok();
    let d = nesting(language, env);
    let with: Vec<(&str, &std::ffi::OsStr)> = tools.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let run = d.run_with(&["deploy", "dev", "--verbose"], &with).ok();
    assert_eq!(verbose(&d, &run), verbose(&reference, &expected), "{language:?}");
    let summary = std::fs::read_to_string(d.work("p/summary.txt")).unwrap();
    assert_eq!(summary, format!("hello ada x3 / 3 / {}/out.txt\n", d.work("p").display()));
    assert_eq!(std::fs::read_to_string(d.work("p/out.txt")).unwrap(), "hello ada x3");
    let text = run.stdout;
    let before = text.find("parent: before add").expect(&text);
    let child = text.find("p > child('ada'): info: child: configure").expect(&text);
    let after = text.find("parent: after add, p > child('ada') said \"hello ada x3\" (size 3)").expect(&text);
    assert!(before < child && child < after, "{text}");
    let again = deploy(&d, &tools).ok();
    assert!(again.stdout.contains("0 of 4 components changed"), "{language:?}: {}", again.stdout);
}

#[test]
fn a_python_parent_builds_on_what_its_child_exposes() {
    builds_on_its_child(Language::Python);
}

#[test]
fn a_javascript_parent_builds_on_what_its_child_exposes() {
    builds_on_its_child(Language::Js);
}

/// `copy` reads a file in pieces (`read_at`) and writes the copy in pieces
/// through a writer (`create_writer`), with the mode of a new file.
///
/// Not with a file larger than the memory limit, as the Rust fixture is
/// tested: componentize-py 0.25.1 and componentize-js 0.23.0 both keep the
/// bytes of every `list<u8>` argument passed to the runner (each `append`
/// and `write` grows the component's memory by the piece), so what a
/// Python or JavaScript component writes still counts against its memory.
fn copies_in_pieces(language: Language) {
    let Some(tools) = toolchain(language) else { return };
    let env = "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"c\"]\n\
               [components.c]\nkind = \"copy\"\nfrom = \"big\"\nto = \"copy\"\npiece = 65536\n";
    let d = nesting(language, env);
    let big: Vec<u8> = (0..(3u32 << 20) + 12345).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::create_dir_all(d.work("c")).unwrap();
    std::fs::write(d.work("c/big"), &big).unwrap();
    let with: Vec<(&str, &std::ffi::OsStr)> = tools.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let run = d.run_with(&["deploy", "dev", "--verbose"], &with).ok();
    assert!(run.stdout.contains(&format!("c: info: copied {} bytes", big.len())), "{language:?}: {run:?}");
    assert!(std::fs::read(d.work("c/copy")).unwrap() == big, "{language:?}");
    assert_eq!(std::fs::metadata(d.work("c/copy")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(deploy(&d, &tools).ok().changed().is_empty(), "{language:?}");
}

#[test]
fn a_python_component_copies_a_file_in_pieces() {
    copies_in_pieces(Language::Python);
}

#[test]
fn a_javascript_component_copies_a_file_in_pieces() {
    copies_in_pieces(Language::Js);
}

/// An attribute a component refuses (`AttributeProblem`) is named where
/// the environment sets it, as the Rust fixture's `bad_attribute`.
fn refuses_an_attribute(language: Language) {
    let Some(tools) = toolchain(language) else { return };
    let env = "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\"]\n\
               [components.p]\nkind = \"port\"\nnumber = 70000\n";
    let reference = nesting(Language::Rust, env);
    let expected = reference.deploy();
    let d = nesting(language, env);
    let run = deploy(&d, &tools);
    assert_eq!(run.code, 2, "{run:?}");
    let text = d.normalise(&run.stderr);
    assert!(
        text.contains(
            "environments/dev.toml:7: localhost: p: configure: attribute `number`: 70000 is no port: use 1 to 65535"
        ),
        "{language:?}: {text}"
    );
    assert_eq!(text, reference.normalise(&expected.stderr), "{language:?}");
}

#[test]
fn a_python_component_refuses_an_attribute_where_the_environment_sets_it() {
    refuses_an_attribute(Language::Python);
}

#[test]
fn a_javascript_component_refuses_an_attribute_where_the_environment_sets_it() {
    refuses_an_attribute(Language::Js);
}
