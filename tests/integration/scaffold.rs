//! `batou-run new` and `batou-run component new`: what they write builds
//! and deploys as is, in every language; `batou-run cache info|clean`.
use crate::harness::{Deployment, batou, repo, toolchains};

#[test]
fn a_new_deployment_and_its_components_deploy_as_is() {
    let tools = toolchains().unwrap_or_default();
    let languages: Vec<&str> = if tools.is_empty() { vec!["rust"] } else { vec!["rust", "python", "js"] };
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("site");
    let d = dir.to_str().unwrap();
    batou(&["new", d], &[]).ok();
    assert!(dir.join("README.md").is_file());
    // The SDK is not copied into the deployment: the crate asks for the
    // runner's version of it (sdk/rust/Cargo.toml's), which builds use.
    assert!(!dir.join(".batou-run").exists());
    let manifest = std::fs::read_to_string(dir.join("components/hello/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("\nbatou-sdk = \"{}\"\n", sdk_requirement())), "{manifest}");
    // A second `new` into it is refused: nothing is overwritten.
    let again = batou(&["new", d], &[]);
    assert_eq!(again.code, 2, "a usage error: {again:?}");
    assert!(again.stderr.contains("exists and is not empty"), "{}", again.stderr);

    let mut roots = vec!["hello".to_string()];
    for lang in &languages {
        let name = format!("made-in-{lang}");
        batou(&["component", "new", &name, "--lang", lang, "-d", d], &[]).ok();
        roots.push(name);
    }
    let env_file = dir.join("environments/dev.toml");
    let text = std::fs::read_to_string(&env_file).unwrap();
    let list = roots.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    std::fs::write(&env_file, text.replace("components = [\"hello\"]", &format!("components = [{list}]"))).unwrap();

    let site = Deployment::at(dir.clone());
    let first = batou(&["deploy", "dev", "-d", d], &tools).ok();
    assert_eq!(std::fs::read_to_string(site.work("hello/hello.txt")).unwrap(), "Hello from batou-run\n");
    for lang in &languages {
        let name = format!("made-in-{lang}");
        assert_eq!(
            std::fs::read_to_string(site.work(&format!("{name}/{name}.txt"))).unwrap(),
            format!("Hello from {name}\n"),
            "{}",
            first.stdout
        );
    }
    let second = batou(&["deploy", "dev", "-d", d], &tools).ok();
    assert!(second.changed().is_empty(), "{}", second.stdout);
}

/// `major.minor` of sdk/rust/Cargo.toml's version.
pub(crate) fn sdk_requirement() -> String {
    let manifest: toml::Table =
        std::fs::read_to_string(repo().join("sdk/rust/Cargo.toml")).unwrap().parse().expect("TOML");
    let version = manifest["package"]["version"].as_str().unwrap();
    version.rsplit_once('.').unwrap().0.to_string()
}

#[test]
fn component_sdk_names_the_sdk_builds_use_for_an_editor() {
    let run = batou(&["component", "sdk"], &[]).ok();
    let path = std::path::PathBuf::from(run.stdout.trim());
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"batou-sdk\""), "{manifest}");
    assert_eq!(manifest, std::fs::read_to_string(repo().join("sdk/rust/Cargo.toml")).unwrap());
    // Its bindings are generated from the contract two folders up.
    assert!(path.join("../../wit/component.wit").is_file());
}

#[test]
fn a_component_name_must_be_a_kind_name() {
    let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
    let run = batou(&["component", "new", "Bad Name", "-d", d.path().to_str().unwrap()], &[]);
    assert_eq!(run.code, 2, "a usage error: {run:?}");
    assert!(run.stderr.contains("is not a component name"), "{}", run.stderr);
    assert!(!d.path().join("components").exists());
}

#[test]
fn cache_info_and_clean() {
    let cache = tempfile::tempdir().unwrap();
    let compiled = cache.path().join("compiled");
    std::fs::create_dir_all(&compiled).unwrap();
    std::fs::write(compiled.join("abc-123.cwasm"), vec![0u8; 4096]).unwrap();
    std::fs::create_dir_all(cache.path().join("builds")).unwrap();
    std::fs::write(cache.path().join("builds/x.wasm"), vec![0u8; 1024]).unwrap();
    let c = cache.path().to_str().unwrap();
    let info = batou(&["cache", "info", "--cache", c], &[]).ok();
    assert!(info.stdout.contains("compiled") && info.stdout.contains("4.0 KiB"), "{}", info.stdout);
    assert!(info.stdout.contains("Compiled modules: 1"), "{}", info.stdout);
    batou(&["cache", "clean", "--compiled", "--cache", c], &[]).ok();
    assert!(!compiled.exists() && cache.path().join("builds/x.wasm").exists());
    let cleaned = batou(&["cache", "clean", "--cache", c], &[]).ok();
    assert!(cleaned.stdout.contains("Removed 1.0 KiB"), "{}", cleaned.stdout);
    assert!(!cache.path().join("builds").exists());
}
