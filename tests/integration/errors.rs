//! Configuration errors: each names the file and line, and what to do.

use crate::harness::{Deployment, golden};

#[test]
fn bad_attributes_and_unknown_kinds_are_all_reported_with_lines() {
    let d = Deployment::new(
        r#"[environment]
connect = "local"

[hosts.localhost]
components = ["motd", "nginx", "site"]

[components.motd]
kind = "file"
paht = "motd.txt"
leading = "yes"

[components.site]
kind = "fiel"
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    golden("bad-attributes.txt", &d.normalise(&run.stderr));
}

/// Roots are checked on every core: what is reported, and its order, is
/// the environment's order all the same.
#[test]
fn a_root_listed_twice_is_reported_in_its_place_among_the_others() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["motd", "site", "motd", "page"]

[components.motd]
kind = "file"
path = "motd.txt"
content = "hello"

[components.site]
kind = "fiel"

[components.page]
kind = "file"
paht = "x"
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    assert_eq!(
        errors,
        [
            "ERROR: environments/dev.toml:10: localhost: unknown component kind `fiel`",
            "ERROR: environments/dev.toml:2: component `motd` is listed twice for host `localhost`",
            "ERROR: environments/dev.toml:14: localhost: page: unknown attribute `paht` for kind `file`",
            "ERROR: environments/dev.toml:12: localhost: page: missing required attribute `path` for kind `file`",
        ],
        "{}",
        run.stderr
    );
    assert!(!d.path().join("work/motd/motd.txt").exists(), "nothing is deployed");
}

#[test]
fn malformed_toml_is_an_error_with_its_line() {
    let d = Deployment::new("[hosts.localhost]\ncomponents = [\"motd\"\n");
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    golden("malformed-toml.txt", &d.normalise(&run.stderr));
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
    let run = d.run(&["deploy", "prod"]);
    assert_eq!(run.code, 2, "{run:?}");
    golden("unknown-environment.txt", &d.normalise(&run.stderr));
}

#[test]
fn a_template_with_an_undefined_variable_names_the_component() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["motd"]

[components.motd]
kind = "file"
path = "motd.txt"
content = "Hello {{ host.nmae }}"
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("localhost: motd"), "{}", run.stderr);
    assert!(run.stderr.contains("undefined"), "{}", run.stderr);
    assert!(!d.path().join("work").exists());
}

/// A crate that cargo refuses to build, with no dependencies (it fails at
/// once).
fn broken_crate(d: &Deployment, name: &str, source: &str) {
    d.write(
        &format!("components/{name}/Cargo.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n"
        ),
    );
    d.write(&format!("components/{name}/src/lib.rs"), source);
}

#[test]
fn every_problem_of_every_stage_is_reported_in_one_run() {
    let d = Deployment::new(
        r#"[environment]
connect = "local"
tiemout = 5

[hosts.localhost]
components = ["broken", "cracked", "site", "motd", "boom", "generous", "chicken", "egg"]

[components.site]
kind = "fiel"

[components.motd]
kind = "file"
path = "motd.txt"
contnet = "hi"

[components.boom]
kind = "trap"
when = "configure"

[components.generous]
kind = "node"
provide = { databse = "pg" }

[components.chicken]
kind = "node"
provide = { chicken = 1 }
require = ["egg"]

[components.egg]
kind = "node"
provide = { egg = 1 }
require = ["chicken"]
"#,
    );
    broken_crate(&d, "broken", "pub fn broken( {\n");
    broken_crate(&d, "cracked", "pub fn cracked() -> u8 { \"not a number\" }\n");
    d.own_module("trap", crate::fixtures::FIXTURE_TRAP);
    d.own_module("graph", crate::fixtures::FIXTURE_GRAPH);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    let report = d.normalise(&run.stderr);
    // Each stage's problems, in one report.
    for expected in [
        "environments/dev.toml:3: unknown key `tiemout` in [environment]",
        "components/broken: building component `broken` failed",
        "components/cracked: building component `cracked` failed",
        "unknown component kind `fiel`",
        "unknown attribute `contnet`",
        "localhost: boom",
        "provides `databse`, but no component requires it",
        "dependency cycle: localhost:egg > localhost:chicken > localhost:egg",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    assert!(!d.path().join("work").exists(), "nothing was deployed");
    golden("every-stage.txt", &report);

    // The same report as JSON events, each with its stage.
    let json = d.run(&["deploy", "dev", "--json"]);
    assert_eq!(json.code, 2, "{json:?}");
    let stages: Vec<String> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "error")
        .map(|e| e["stage"].as_str().unwrap_or("none").to_string())
        .collect();
    let mut distinct = stages.clone();
    distinct.dedup();
    assert_eq!(distinct, ["environment", "build", "kinds", "configure"], "{}", json.stdout);
}

#[test]
fn a_component_table_no_host_deploys_is_a_warning() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["motd"]

[components.motd]
kind = "file"
path = "motd.txt"
content = "hi\n"

[components.later]
kind = "file"
path = "later.txt"
content = "not yet\n"
"#,
    );
    let run = d.deploy().ok();
    assert!(
        run.stderr
            .contains("WARNING: environments/dev.toml:9: [components.later] is configured but no host deploys it"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(d.work("motd/motd.txt")).unwrap(), "hi\n");
    assert!(!d.work("later").exists());
}
