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
