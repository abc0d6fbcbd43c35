//! One table of edge cases in three languages: the kind `edge`, written
//! with the Rust SDK (tests/fixtures/edge), the Python SDK
//! (tests/languages/python/edge) and the JavaScript SDK
//! (tests/languages/js/edge), runs into each case in turn, and the deploy
//! ends the same way whatever the language: the same exit code, the same
//! messages under the same component path, and the runner going on with
//! what does not depend on the failure (a root on another host deploys).
//!
//! | case | what the component does | the outcome |
//! | --- | --- | --- |
//! | `wrong-type` | reads a directory as a file (verify) | exit 1, `invalid`: the path is a directory, not a file |
//! | `missing` | reads a path where nothing is (verify) | exit 1, `not found` with the path |
//! | `denied` | reads a path outside its grants (verify) | exit 1, `access denied` naming the grant, and the DENIED line |
//! | `require-none` | `require_one` of a key nobody provides | exit 2, ``no value is provided under `KEY` `` |
//! | `require-strict` | `require_one` of a key nobody provides, strictly (the default) | exit 2, the runner's ``requires `KEY`, but no component provides it`` |
//! | `require-two` | `require_one` of a key provided twice | exit 2, ``2 values are provided under `KEY`, where exactly one is wanted`` |
//! | `trap` | crashes as a bug does: a panic (Rust), an uncaught exception (Python, JavaScript) | exit 1, the component fails with its path and what it said |
//!
//! A Rust panic traps the component (the runner shows the panic message
//! from its stderr); the Python and JavaScript SDKs catch an exception a
//! step raises and return it as `failure.failed` with its type, message,
//! file and line, so the component fails the same way without trapping.

use std::ffi::OsString;

use crate::fixtures::FIXTURE_EDGE;
use crate::harness::{Deployment, Run, repo, toolchains};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Language {
    Rust,
    Python,
    Js,
}

const LANGUAGES: [Language; 3] = [Language::Rust, Language::Python, Language::Js];

/// The cases, as the fixtures' `case` attribute names them (`provide` is
/// the helper of `require-two`).
const CASES: [&str; 7] = ["wrong-type", "missing", "denied", "require-none", "require-strict", "require-two", "trap"];

/// A deployment whose own component `edge` is written in `language`, with
/// a root `case` on `localhost` (after two roots providing `edge-two` for
/// `require-two`) and a root `after` on another host that depends on
/// nothing.
fn deployment(language: Language, case: &str) -> Deployment {
    let mut roots = Vec::new();
    let mut env = String::new();
    if case == "require-two" {
        for p in ["p1", "p2"] {
            roots.push(format!("\"{p}\""));
            env.push_str(&format!("\n[components.{p}]\nkind = \"edge\"\ncase = \"provide\"\n"));
        }
    }
    roots.push(format!("\"{case}\""));
    env.push_str(&format!("\n[components.{case}]\nkind = \"edge\"\ncase = \"{case}\"\n"));
    let env = format!(
        "[hosts.localhost]\ncomponents = [{}]\n\n[hosts.other]\ncomponents = [\"after\"]\n\n\
         [components.after]\nkind = \"file\"\npath = \"after.txt\"\ncontent = \"deployed\\n\"\n{env}",
        roots.join(", ")
    );
    let d = Deployment::new(&env);
    match language {
        Language::Rust => d.own_module("edge", FIXTURE_EDGE),
        Language::Python => copy(&repo().join("tests/languages/python/edge"), &d.path().join("components/edge")),
        Language::Js => copy(&repo().join("tests/languages/js/edge"), &d.path().join("components/edge")),
    }
    // What `wrong-type` reads as a file.
    std::fs::create_dir_all(d.work("wrong-type/folder")).unwrap();
    d
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// How a deploy ended, with what depends on the deployment's folder, the
/// time and the language taken out.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// Whether the independent root on the other host was deployed.
    after_deployed: bool,
}

/// What a crash says in `language`: the detail after `verify: ` on the
/// error line, and the lines that continue it.
fn crash_detail(language: Language, detail: &str) {
    match language {
        Language::Rust => {
            assert!(detail.starts_with("trapped: "), "a Rust panic traps: {detail}");
            assert!(detail.contains("edge trap in verify"), "the panic message is shown: {detail}");
        }
        Language::Python => {
            assert!(
                detail.starts_with("RuntimeError: edge trap in verify (at app.py:"),
                "an uncaught Python exception fails with its type, message, file and line: {detail}"
            );
        }
        Language::Js => {
            assert!(
                detail.starts_with("TypeError: edge trap in verify (at index.js:"),
                "an uncaught JavaScript exception fails with its type, message, file and line: {detail}"
            );
        }
    }
}

/// The outcome of `run`, normalised. A crash's own words (which differ by
/// language) are checked by `crash_detail` and replaced by `<crash>`.
fn outcome(d: &Deployment, language: Language, case: &str, run: &Run) -> Outcome {
    let marker = format!("{case}: verify: ");
    let lines = |text: &str| -> Vec<String> {
        let text = d.normalise(text);
        let all: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let line = all[i];
            i += 1;
            match line.find(&marker) {
                Some(at) if case == "trap" => {
                    let at = at + marker.len();
                    // A trap's message goes on on the next, indented lines.
                    let mut detail = line[at..].to_string();
                    while i < all.len() && all[i].starts_with(' ') {
                        detail.push('\n');
                        detail.push_str(all[i]);
                        i += 1;
                    }
                    crash_detail(language, &detail);
                    out.push(format!("{}<crash>", &line[..at]));
                }
                _ => out.push(without_seconds(line)),
            }
        }
        out
    };
    Outcome {
        code: run.code,
        stdout: lines(&run.stdout),
        stderr: lines(&run.stderr),
        after_deployed: d.work("after/after.txt").is_file(),
    }
}

/// `line` with durations such as `(0.52s)` or `in 1.2s` replaced.
fn without_seconds(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() {
            let rest = &line[i..];
            let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            if number.contains('.') && rest[number.len()..].starts_with('s') {
                out.push_str("<time>");
                for _ in 0..number.len() {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn deploy(language: Language, case: &str, tools: &[(&'static str, OsString)]) -> Outcome {
    let d = deployment(language, case);
    let env: Vec<(&str, &std::ffi::OsStr)> = tools.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let run = d.run_with(&["deploy", "dev"], &env);
    outcome(&d, language, case, &run)
}

/// What each case must say, checked on every language's outcome.
fn expected(case: &str, o: &Outcome) {
    let stderr = o.stderr.join("\n");
    let at = |step: &str| format!("localhost: {case}: {step}: ");
    match case {
        "wrong-type" => {
            assert_eq!(o.code, 1, "{o:#?}");
            assert!(
                stderr.contains(&format!(
                    "{}invalid: $DEPLOYMENT/work/wrong-type/folder is a directory, not a file: remove it, or choose another path",
                    at("verify")
                )),
                "{stderr}"
            );
        }
        "missing" => {
            assert_eq!(o.code, 1, "{o:#?}");
            assert!(
                stderr.contains(&format!(
                    "{}not found: $DEPLOYMENT/work/missing/missing.txt: No such file or directory (os error 2)",
                    at("verify")
                )),
                "{stderr}"
            );
        }
        "denied" => {
            assert_eq!(o.code, 1, "{o:#?}");
            let grant = "add \"/etc\" to `paths.read` in [grants.denied] of environments/dev.toml";
            assert!(
                stderr.contains(&format!(
                    "{}access denied: read /etc/passwd: it is outside the granted paths; {grant}",
                    at("verify")
                )),
                "{stderr}"
            );
            assert!(
                stderr.contains(&format!(
                    "DENIED: localhost: denied: read /etc/passwd; it is outside the granted paths; {grant}"
                )),
                "listed as denied: {stderr}"
            );
        }
        "require-none" => {
            assert_eq!(o.code, 2, "a configure failure is a configuration error: {o:#?}");
            assert!(stderr.contains(&format!("{}no value is provided under `edge-none`", at("configure"))), "{stderr}");
        }
        "require-two" => {
            assert_eq!(o.code, 2, "a configure failure is a configuration error: {o:#?}");
            assert!(
                stderr.contains(&format!(
                    "{}2 values are provided under `edge-two`, where exactly one is wanted",
                    at("configure")
                )),
                "{stderr}"
            );
        }
        "require-strict" => {
            assert_eq!(o.code, 2, "{o:#?}");
            assert!(
                stderr.contains("ERROR: localhost: require-strict: requires `edge-none`, but no component provides it"),
                "a strict require without a value is the runner's to report: {stderr}"
            );
        }
        "trap" => {
            assert_eq!(o.code, 1, "{o:#?}");
            assert!(stderr.contains(&format!("{}<crash>", at("verify"))), "{stderr}");
        }
        _ => unreachable!("a case without expectations: {case}"),
    }
    if o.code == 1 {
        // The host of the failed root stops; the other host goes on, and
        // the summary names the failed root.
        assert!(o.after_deployed, "the root on the other host deployed: {o:#?}");
        assert!(o.stdout.iter().any(|l| l.contains("FAILED")), "{o:#?}");
    }
}

/// Deploys every case in `language` and checks what it must say.
fn cases(language: Language, tools: &[(&'static str, OsString)]) -> Vec<(&'static str, Outcome)> {
    CASES
        .iter()
        .map(|case| {
            let o = deploy(language, case, tools);
            expected(case, &o);
            (*case, o)
        })
        .collect()
}

#[test]
fn every_edge_case_ends_the_same_in_rust_python_and_javascript() {
    let Some(tools) = toolchains() else {
        // The Rust column still says what it must.
        cases(Language::Rust, &[]);
        return;
    };
    let table: Vec<(Language, Vec<(&str, Outcome)>)> =
        LANGUAGES.iter().map(|&language| (language, cases(language, &tools))).collect();
    let (_, rust) = &table[0];
    for (language, outcomes) in &table[1..] {
        for ((case, expected), (_, actual)) in rust.iter().zip(outcomes) {
            assert_eq!(actual, expected, "`{case}` in {language:?} ends otherwise than in Rust");
        }
    }
}
