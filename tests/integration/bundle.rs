//! A module's assets travel inside it (`sources/bundle.rs`): `component
//! build` embeds them, and a deployment holding only the built module
//! deploys the templates it carries, on this machine and through an
//! agent process.

use crate::fixtures::FIXTURE_LATE;
use crate::harness::Deployment;

const ENV: &str = r#"
[hosts.localhost]
components = ["page"]

[components.page]
kind = "late"
path = "page.txt"
source = "templates/page.txt.j2"
context = { who = "bundle" }
"#;

/// A deployment whose component `late` is the fixture beside its template.
fn sources() -> Deployment {
    let d = Deployment::new(ENV);
    d.own_module("late", FIXTURE_LATE);
    d.write("components/late/templates/page.txt.j2", "Hello {{ component.who }} on {{ host.name }}\n");
    d
}

fn built(run: &crate::harness::Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

#[test]
fn a_bundled_module_deploys_the_template_it_carries() {
    let src = sources();
    let first = built(&src.run(&["component", "build", "late", "--json"]).ok());
    assert_eq!((first["event"].as_str(), first["assets"].as_u64()), (Some("built"), Some(1)));
    assert_eq!(first["kinds"], serde_json::json!(["late"]));
    let module = src.path().join("build/late.wasm");
    assert_eq!(first["path"].as_str(), Some(module.to_str().unwrap()));
    // The same folder builds the same bytes.
    let again = built(&src.run(&["component", "build", "late", "--json"]).ok());
    assert_eq!(again["sha256"], first["sha256"]);

    for agent in [false, true] {
        let d = Deployment::new(ENV);
        std::fs::create_dir_all(d.path().join("components/late")).unwrap();
        std::fs::copy(&module, d.path().join("components/late/late.wasm")).unwrap();
        let run = if agent { d.run(&["deploy", "dev", "--agent-process"]) } else { d.deploy() };
        let run = run.ok();
        assert_eq!(run.changed(), ["localhost: page"], "{run:?}");
        assert_eq!(std::fs::read_to_string(d.work("page/page.txt")).unwrap(), "Hello bundle on localhost\n");
        // A module that carries its assets is built as it is.
        let out = d.path().join("out.wasm");
        let rebuilt = built(&d.run(&["component", "build", "late", "-o", out.to_str().unwrap(), "--json"]).ok());
        assert_eq!(rebuilt["sha256"], first["sha256"]);
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&module).unwrap());
    }
}

#[test]
fn component_build_reports_every_component_that_fails_and_builds_the_others() {
    let d = sources();
    d.write("components/broken/broken.wasm", "not wasm");
    std::fs::create_dir_all(d.path().join("components/core")).unwrap();
    std::fs::write(d.path().join("components/core/core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let run = d.run(&["component", "build"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("components/broken"), "{}", run.stderr);
    assert!(run.stderr.contains("components/core"), "{}", run.stderr);
    assert!(run.stderr.contains("2 problems found."), "{}", run.stderr);
    assert!(run.stdout.contains("build/late.wasm"), "{}", run.stdout);
    assert!(d.path().join("build/late.wasm").is_file());
    assert!(!d.path().join("build/broken.wasm").exists());

    let usage = d.run(&["component", "build", "-o", "x.wasm"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    assert!(usage.stderr.contains("name the one component to build"), "{}", usage.stderr);
    let unknown = d.run(&["component", "build", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("has no component `nope`"), "{}", unknown.stderr);
}

#[test]
fn a_new_rust_component_builds_as_a_deploy_builds_it_and_its_module_deploys_alone() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("site");
    let d = dir.to_str().unwrap();
    crate::harness::batou(&["new", d], &[]).ok();
    std::fs::write(dir.join("components/hello/motd.txt"), "an asset\n").unwrap();
    let site = Deployment::at(dir.clone());
    let event = built(&site.run(&["component", "build", "--json"]).ok());
    assert_eq!((event["component"].as_str(), event["kinds"].clone()), (Some("hello"), serde_json::json!(["hello"])));
    // What ships of the crate's folder: its sources, Cargo.lock, the asset.
    let inspect = site.run(&["component", "inspect", dir.join("build/hello.wasm").to_str().unwrap()]).ok();
    assert!(inspect.stdout.contains("  motd.txt (9 bytes)\n"), "{}", inspect.stdout);
    assert!(inspect.stdout.contains("  Cargo.toml ("), "{}", inspect.stdout);
    assert!(!inspect.stdout.contains("target/"), "{}", inspect.stdout);

    let env = std::fs::read_to_string(dir.join("environments/dev.toml")).unwrap();
    let alone = Deployment::new(&env);
    std::fs::create_dir_all(alone.path().join("components/hello")).unwrap();
    std::fs::copy(dir.join("build/hello.wasm"), alone.path().join("components/hello/hello.wasm")).unwrap();
    alone.deploy().ok();
    assert_eq!(std::fs::read_to_string(alone.work("hello/hello.txt")).unwrap(), "Hello from batou-run\n");
}
