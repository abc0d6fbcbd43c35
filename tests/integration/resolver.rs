//! batou's resolver semantics, with the `graph` fixture's `node` kind.

use crate::harness::{golden, graph, recorded};

#[test]
fn roots_deploy_after_the_roots_whose_values_they_require() {
    let (d, record) = graph(
        r#"
[hosts.localhost]
components = ["frontend", "app", "db"]

[components.frontend]
kind = "node"
require = ["app-url"]
record = "RECORD"

[components.app]
kind = "node"
require = ["db-url"]
provide = { app-url = "http://app" }
record = "RECORD"

[components.db]
kind = "node"
provide = { db-url = "postgres://db" }
record = "RECORD"
"#,
    );
    d.deploy().ok();
    assert_eq!(
        recorded(&record),
        ["db {}", r#"app {"db-url":["postgres://db"]}"#, r#"frontend {"app-url":["http://app"]}"#,]
    );
}

#[test]
fn a_reverse_require_deploys_the_requiring_root_first() {
    let (d, record) = graph(
        r#"
[hosts.localhost]
components = ["provider", "requirer"]

[components.provider]
kind = "node"
provide = { x = 1 }
record = "RECORD"

[components.requirer]
kind = "node"
require = ["x"]
reverse = true
record = "RECORD"
"#,
    );
    d.deploy().ok();
    assert_eq!(recorded(&record), [r#"requirer {"x":[1]}"#, "provider {}"]);
}

#[test]
fn sub_components_deploy_before_their_parent_in_the_order_added() {
    let (d, record) = graph(
        r#"
[hosts.localhost]
components = ["parent"]

[components.parent]
kind = "node"
add = ["first", "second"]
record = "RECORD"
"#,
    );
    d.deploy().ok();
    assert_eq!(recorded(&record), ["parent > node('first') {}", "parent > node('second') {}", "parent {}"]);
}

#[test]
fn a_cycle_is_an_error_that_prints_the_cycle() {
    let (d, _) = graph(
        r#"
[hosts.localhost]
components = ["a", "b"]

[components.a]
kind = "node"
provide = { x = 1 }
require = ["y"]

[components.b]
kind = "node"
provide = { y = 1 }
require = ["x"]
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    golden("cycle.txt", &d.normalise(&run.stderr));
    assert!(!d.path().join("work").exists(), "nothing is deployed when the model is wrong");
}

#[test]
fn unsatisfied_and_unused_values_are_reported_together() {
    let (d, _) = graph(
        r#"
[hosts.localhost]
components = ["needy", "generous"]

[components.needy]
kind = "node"
require = ["database"]

[components.generous]
kind = "node"
provide = { databse = "typo" }
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    golden("unsatisfied-and-unused.txt", &d.normalise(&run.stderr));
}

#[test]
fn a_non_strict_require_without_providers_gets_an_empty_list() {
    let (d, record) = graph(
        r#"
[hosts.localhost]
components = ["optional"]

[components.optional]
kind = "node"
require = ["maybe"]
strict = false
record = "RECORD"
"#,
    );
    d.deploy().ok();
    assert_eq!(recorded(&record), [r#"optional {"maybe":[]}"#]);
}

#[test]
fn host_only_requires_see_only_their_own_host() {
    let env = r#"
[hosts.web1]
components = ["cache", "app"]

[hosts.web2]
components = ["cache", "app"]

[components.cache]
kind = "node"
provide = { cache = "here" }

[components.app]
kind = "node"
require = ["cache"]
host_only = true
record = "RECORD"
"#;
    let (d, record) = graph(env);
    d.deploy().ok();
    // Each app sees its own host's one value, not both hosts' values.
    assert_eq!(recorded(&record), [r#"app {"cache":["here"]}"#, r#"app {"cache":["here"]}"#]);

    // A value only a host_only require on another host could see is unused.
    let (d, _) = graph(
        &env.replace("[hosts.web2]\ncomponents = [\"cache\", \"app\"]", "[hosts.web2]\ncomponents = [\"cache\"]"),
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("web2: cache: provides `cache`, but no component requires it"), "{}", run.stderr);
}
