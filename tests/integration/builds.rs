//! A deployment's own components are built once for what went into them
//! (their sources' bytes, the SDK, the toolchain) and never confused with
//! another deployment's component of the same name.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Deployment, Run};

/// `batou-run` with the runner's info log, which says when it builds a
/// component.
fn batou(args: &[&str]) -> Run {
    crate::harness::batou(args, &[("BATOU_RUN_LOG", "info".into())])
}

/// A deployment made by `batou-run new`, whose component `hello` writes
/// `<says>: <message>` (so each test run builds sources of its own).
fn new_deployment(parent: &Path, name: &str, says: &str) -> PathBuf {
    let dir = parent.join(name);
    batou(&["new", dir.to_str().unwrap()]).ok();
    let lib = dir.join("components/hello/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let changed =
        source.replace(r#"format!("{}\n", self.message)"#, &format!(r#"format!("{says}: {{}}\n", self.message)"#));
    assert_ne!(source, changed, "the scaffolded component writes its message with format!");
    std::fs::write(&lib, changed).unwrap();
    dir
}

fn deploy(dir: &Path) -> (Run, String) {
    let run = batou(&["deploy", "dev", "-d", dir.to_str().unwrap()]).ok();
    let written = std::fs::read_to_string(Deployment::at(dir.to_path_buf()).work("hello/hello.txt")).unwrap();
    (run, written)
}

fn built(run: &Run) -> bool {
    run.stderr.contains("building")
}

#[test]
fn same_named_components_of_two_deployments_each_run_their_own_code_in_either_order() {
    let parent = tempfile::tempdir().unwrap();
    let run_id = parent.path().file_name().unwrap().to_string_lossy().into_owned();
    let a = new_deployment(parent.path(), "a", &format!("A {run_id}"));
    let b = new_deployment(parent.path(), "b", &format!("B {run_id}"));
    let a_says = format!("A {run_id}: Hello from batou-run\n");
    let b_says = format!("B {run_id}: Hello from batou-run\n");

    let (first_a, written) = deploy(&a);
    assert!(built(&first_a), "A's sources are new: {}", first_a.stderr);
    assert_eq!(written, a_says);
    let (first_b, written) = deploy(&b);
    assert!(built(&first_b), "B's sources differ from A's: {}", first_b.stderr);
    assert_eq!(written, b_says);
    // A after B, and B after A: each its own code, from the cache.
    let (again_a, written) = deploy(&a);
    assert_eq!(written, a_says, "A deploys its own code after B was built");
    assert!(!built(&again_a), "nothing of A changed, yet it was built again: {}", again_a.stderr);
    let (again_b, written) = deploy(&b);
    assert_eq!(written, b_says, "B deploys its own code after A was deployed again");
    assert!(!built(&again_b), "{}", again_b.stderr);

    // A change to B's source is B's alone.
    let lib = b.join("components/hello/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace(&format!("B {run_id}"), &format!("B2 {run_id}"))).unwrap();
    let (changed_b, written) = deploy(&b);
    assert!(built(&changed_b), "{}", changed_b.stderr);
    assert_eq!(written, format!("B2 {run_id}: Hello from batou-run\n"));
    let (still_a, written) = deploy(&a);
    assert_eq!(written, a_says);
    assert!(!built(&still_a), "{}", still_a.stderr);
}

#[test]
fn a_new_deployment_builds_once_and_identical_sources_elsewhere_reuse_the_build() {
    let parent = tempfile::tempdir().unwrap();
    let run_id = parent.path().file_name().unwrap().to_string_lossy().into_owned();
    let a = new_deployment(parent.path(), "a", &format!("once {run_id}"));
    let (first, _) = deploy(&a);
    assert!(built(&first), "{}", first.stderr);
    // The build wrote Cargo.lock into the component's folder: that is not a
    // change of its sources that needs another build.
    assert!(a.join("components/hello/Cargo.lock").is_file());
    let (second, _) = deploy(&a);
    assert!(!built(&second), "the second deploy built again: {}", second.stderr);

    // The same sources (Cargo.lock included) in another folder are the same
    // module.
    let copy = parent.path().join("copy");
    let status = Command::new("cp").arg("-a").arg(&a).arg(&copy).status().unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(copy.join("work")).unwrap();
    let (elsewhere, written) = deploy(&copy);
    assert!(!built(&elsewhere), "{}", elsewhere.stderr);
    assert_eq!(written, format!("once {run_id}: Hello from batou-run\n"));
}

#[test]
fn a_crate_asking_for_another_sdk_than_the_runners_is_told_both_versions_and_what_to_write() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("site");
    batou(&["new", dir.to_str().unwrap()]).ok();
    let manifest = dir.join("components/hello/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let wanted = crate::scaffold::sdk_requirement();
    let line = format!("batou-sdk = \"{wanted}\"");
    assert!(text.contains(&line), "{text}");
    let version: String = std::fs::read_to_string(crate::harness::repo().join("sdk/rust/Cargo.toml"))
        .unwrap()
        .parse::<toml::Table>()
        .unwrap()["package"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    for (dependency, says) in [
        (
            "batou-sdk = \"99.0\"".to_string(),
            "asks for batou-sdk \"99.0\", but this batou-run carries batou-sdk".to_string(),
        ),
        (
            "batou-sdk = { path = \"../../../sdk/rust\" }".to_string(),
            "depends on batou-sdk by path, but batou-run provides its SDK itself".to_string(),
        ),
    ] {
        std::fs::write(&manifest, text.replace(&line, &dependency)).unwrap();
        let run = batou(&["deploy", "dev", "-d", dir.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(&says) && run.stderr.contains(&version), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("write `{line}`")), "{}", run.stderr);
        assert!(!built(&run), "refused before cargo ran: {}", run.stderr);
    }
}
