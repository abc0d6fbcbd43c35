//! Misbehaving components end their own deploy with a clear message,
//! never the runner.

use crate::fixtures::{FIXTURE_GRAPH, FIXTURE_LOOPER, FIXTURE_NONDETERMINISTIC, FIXTURE_TRAP};
use crate::harness::Deployment;

fn with(module: (&str, &str), env: &str) -> Deployment {
    let d = Deployment::new(env);
    d.own_module(module.0, module.1);
    d
}

#[test]
fn a_panic_in_update_fails_that_host_with_the_panic_message() {
    let d = with(
        ("trap", FIXTURE_TRAP),
        r#"
[hosts.localhost]
components = ["before", "boom"]

[components.before]
kind = "file"
path = "before.txt"
content = "deployed\n"

[components.boom]
kind = "trap"
when = "update"
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("ERROR: localhost: boom: update: trapped"), "{}", run.stderr);
    assert!(run.stderr.contains("boom in update"), "the panic message is shown: {}", run.stderr);
    assert!(run.stdout.contains("FAILED on localhost"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(d.work("before/before.txt")).unwrap(), "deployed\n");
}

#[test]
fn unreachable_in_verify_and_a_panic_in_configure() {
    let d = with(
        ("trap", FIXTURE_TRAP),
        "[hosts.localhost]\ncomponents = [\"boom\"]\n[components.boom]\nkind = \"trap\"\nwhen = \"verify\"\nhow = \"unreachable\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("localhost: boom: verify: trapped: wasm trap: wasm `unreachable` instruction executed"),
        "{}",
        run.stderr
    );

    d.write(
        "environments/dev.toml",
        "[hosts.localhost]\ncomponents = [\"boom\"]\n[components.boom]\nkind = \"trap\"\nwhen = \"configure\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "a configure failure is a configuration error: {run:?}");
    assert!(run.stderr.contains("localhost: boom: configure: trapped"), "{}", run.stderr);
    assert!(run.stderr.contains("boom in configure"), "{}", run.stderr);
}

#[test]
fn a_memory_bomb_is_stopped_at_the_memory_limit() {
    let d = with(
        ("trap", FIXTURE_TRAP),
        "[environment]\nmemory_limit = 64\n[hosts.localhost]\ncomponents = [\"bomb\"]\n[components.bomb]\nkind = \"trap\"\nwhen = \"update\"\nhow = \"hog\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("localhost: bomb: update: exceeded the memory limit of 64 MiB and was stopped"),
        "{}",
        run.stderr
    );
}

/// Standard-library stores go from one root to the next (`wasm/instance.rs`):
/// one whose call trapped must not.
#[test]
fn a_standard_library_store_that_trapped_is_not_given_to_the_next_root() {
    let big = "x".repeat(3 << 20);
    let d = Deployment::new(&format!(
        "[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [\"big\", \"small\"]\n\n\
         [limits.big]\nmemory_limit = 2\n\n[limits.small]\nmemory_limit = 2\n\n\
         [components.big]\nkind = \"file\"\npath = \"big.txt\"\ncontent = \"{big}\"\n\n\
         [components.small]\nkind = \"file\"\npath = \"small.txt\"\ncontent = \"fine\\n\"\n"
    ));
    // One thread: `small` is configured right after `big`, with the same
    // module and memory limit, where a store left by `big` would serve it.
    let run = d.run_with(&["deploy", "dev"], &[("BATOU_RUN_THREADS", std::ffi::OsStr::new("1"))]);
    assert_ne!(run.code, 0, "{run:?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("localhost: big: create: exceeded the memory limit of 2 MiB"), "{}", run.stderr);
}

#[test]
fn an_endless_loop_is_stopped_at_the_timeout() {
    for (when, code) in [("configure", 2), ("update", 1)] {
        let d = with(
            ("looper", FIXTURE_LOOPER),
            &format!(
                "[environment]\ntimeout = 1\n[hosts.localhost]\ncomponents = [\"spin\"]\n[components.spin]\nkind = \"looper\"\nwhen = \"{when}\"\n"
            ),
        );
        let run = d.deploy();
        assert_eq!(run.code, code, "{run:?}");
        assert!(
            run.stderr.contains(&format!("localhost: spin: {when}: ran longer than the limit of 1s")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_configure_that_is_not_deterministic_is_caught_on_replay() {
    let d = with(
        ("nondeterministic", FIXTURE_NONDETERMINISTIC),
        r#"
[hosts.localhost]
components = ["dice", "reader"]

[components.dice]
kind = "nondeterministic"

[components.reader]
kind = "node"
require = ["random"]
"#,
    );
    d.own_module("graph", FIXTURE_GRAPH);
    // An agent of its own replays configure from the plan, as on an SSH
    // host. (In process, the plan's configure is the one deployed.)
    let run = d.run(&["deploy", "dev", "--agent-process"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("localhost: dice: configure is not deterministic"), "{}", run.stderr);
    // In process, the instance configured for the plan is the one
    // deployed: the value `reader` was given is the one `dice` provided.
    let run = d.deploy();
    assert_eq!(run.code, 0, "{run:?}");
}
