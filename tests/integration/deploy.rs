//! Deploying standard components: create, converge, predict, change.

use crate::harness::Deployment;

const TWO_FILES: &str = r#"
[environment]
connect = "local"

[hosts.localhost]
components = ["motd", "config"]
data = { role = "web" }

[components.motd]
kind = "file"
path = "motd.txt"
content = "Welcome to {{ host.name }} ({{ host.data.role }})\n"

[components.config]
kind = "file"
path = "etc/app.conf"
content = "port = 8080\n"
leading = true
mode = "0640"
"#;

#[test]
fn first_run_creates_second_run_changes_nothing() {
    let d = Deployment::new(TWO_FILES);
    let first = d.deploy().ok();
    assert_eq!(std::fs::read_to_string(d.work("motd/motd.txt")).unwrap(), "Welcome to localhost (web)\n");
    assert_eq!(std::fs::read_to_string(d.work("config/etc/app.conf")).unwrap(), "port = 8080\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.work("config/etc/app.conf")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert!(first.stdout.contains("localhost: motd > content('motd.txt')"), "{}", first.stdout);
    assert!(first.stdout.contains("localhost: config > content('etc/app.conf')"), "{}", first.stdout);
    assert!(first.stdout.contains("+port = 8080"), "the first run shows the new content: {}", first.stdout);

    let before = d.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = d.deploy().ok();
    assert!(second.changed().is_empty(), "second run changed: {:?}", second.changed());
    assert!(second.stdout.contains("0 of "), "{}", second.stdout);
    assert_eq!(d.snapshot(), before, "the second run touched files (mtimes or bytes differ)");
}

#[test]
fn predict_shows_the_diff_and_changes_nothing() {
    let d = Deployment::new(TWO_FILES);
    d.deploy().ok();
    d.write("environments/dev.toml", &TWO_FILES.replace("port = 8080", "port = 9090"));
    let before = d.snapshot();
    let predicted = d.predict().ok();
    assert_eq!(predicted.changed(), ["localhost: config > content('etc/app.conf')"], "{}", predicted.stdout);
    assert!(predicted.stdout.contains("-port = 8080"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("+port = 9090"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("nothing was changed"), "{}", predicted.stdout);
    assert_eq!(d.snapshot(), before, "predict changed files");
}

#[test]
fn predict_on_a_fresh_target_creates_nothing() {
    let d = Deployment::new(TWO_FILES);
    let predicted = d.predict().ok();
    assert!(predicted.changed().contains(&"localhost: motd > content('motd.txt')"), "{}", predicted.stdout);
    assert!(!d.path().join("work").exists(), "predict created the work directory");
}

#[test]
fn a_changed_attribute_updates_exactly_the_affected_file() {
    let d = Deployment::new(TWO_FILES);
    d.deploy().ok();
    let motd_before = std::fs::metadata(d.work("motd/motd.txt")).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    d.write("environments/dev.toml", &TWO_FILES.replace("port = 8080", "port = 9090"));
    let run = d.deploy().ok();
    assert_eq!(run.changed(), ["localhost: config > content('etc/app.conf')"], "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(d.work("config/etc/app.conf")).unwrap(), "port = 9090\n");
    assert_eq!(std::fs::metadata(d.work("motd/motd.txt")).unwrap().modified().unwrap(), motd_before);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.work("config/etc/app.conf")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "an atomic rewrite keeps the file's mode");
}

#[test]
fn consistency_check_configures_without_touching_the_target() {
    let d = Deployment::new(TWO_FILES);
    let run = d.run(&["deploy", "dev", "--consistency"]).ok();
    assert!(run.stdout.contains("is consistent: 5 components on 1 host"), "{}", run.stdout);
    assert!(!d.path().join("work").exists());
}

#[test]
fn json_output_is_one_event_per_line() {
    let d = Deployment::new(TWO_FILES);
    let run = d.run(&["deploy", "dev", "--json"]).ok();
    let events: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let changed: Vec<&str> =
        events.iter().filter(|e| e["event"] == "changed").map(|e| e["component"].as_str().unwrap()).collect();
    assert!(changed.contains(&"config > content('etc/app.conf')"), "{changed:?}");
    assert!(events.iter().any(|e| e["event"] == "diff" && e["diff"].as_str().unwrap().contains("+port = 8080")));
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["changed"], changed.len());
    assert_eq!(summary["failed_hosts"], serde_json::json!([]));
}

#[test]
fn the_tutorial_example_copied_out_of_the_repository_builds_its_own_component_and_converges() {
    // The example alone, in a folder outside the repository: its crate
    // gets the SDK from the runner, not by a path into the repository.
    let d = tutorial_copy();
    let first = d.deploy().ok();
    let hello = std::fs::read_to_string(d.work("hello/hello.txt")).unwrap();
    assert!(hello.contains("Hello, World!") && hello.contains("localhost"), "{hello}");
    assert!(first.stdout.contains("localhost: hello > file('hello.txt')"), "{}", first.stdout);
    let second = d.deploy().ok();
    assert!(second.changed().is_empty(), "{}", second.stdout);
}

/// examples/tutorial-helloworld (without any earlier work/) copied into a
/// temporary folder of its own.
pub(crate) fn tutorial_copy() -> Deployment {
    let d = Deployment::new("");
    let repo = crate::harness::repo();
    copy_tree(&repo.join("examples/tutorial-helloworld"), d.path());
    assert!(!d.path().canonicalize().unwrap().starts_with(repo.canonicalize().unwrap()));
    d
}

pub(crate) fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        // What a run leaves behind (a registry's data, a lock of modules
        // built here) is not the example's.
        if ["work", "target", ".batou-run", ".registry", "batou.lock"].iter().any(|n| name == *n) {
            continue;
        }
        let dest = to.join(&name);
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn a_failed_update_is_not_counted_as_a_change() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["motd", "boom"]

[components.motd]
kind = "file"
path = "motd.txt"
content = "hi\n"

[components.boom]
kind = "trap"
when = "update"
"#,
    );
    d.own_module("trap", crate::fixtures::FIXTURE_TRAP);
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    // motd's content changed; boom's update failed, so it did not.
    assert!(run.stdout.contains("localhost: boom"), "{}", run.stdout);
    assert!(run.stdout.contains("1 of 3 components changed before the failure"), "{}", run.stdout);
    let json = d.run(&["deploy", "dev", "--json"]);
    let summary: serde_json::Value =
        serde_json::from_str(json.stdout.lines().last().unwrap()).expect("the last event is the summary");
    assert_eq!((summary["event"].as_str(), summary["changed"].as_u64()), (Some("summary"), Some(0)), "{}", json.stdout);
}
