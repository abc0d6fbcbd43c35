//! Deploying modules from a real registry (Debian's docker-registry on
//! 127.0.0.1, tests/integration/registry_server.rs): pinned by batou.lock,
//! a moved tag refused until `lock update`, a warm cache needing no
//! registry, an agent process that gets the module from the controller,
//! and credentials that never show.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::fixtures::FIXTURE_GRAPH;
use crate::harness::{Deployment, Run, batou};
use crate::registry_server::{PASSWORD, RegistryServer, sha256};

const ENV: &str = "[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [\"a\"]\n\n\
                   [components.a]\nkind = \"node\"\n";

/// The graph fixture with a custom section appended: a valid component
/// with the same kinds and other bytes.
fn graph_variant(mark: &str) -> Vec<u8> {
    let mut wasm = std::fs::read(FIXTURE_GRAPH).unwrap();
    let name = b"test-mark";
    let payload = mark.as_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128 && name.len() < 128, "one-byte LEB128 sizes");
    wasm.extend([0u8, size as u8, name.len() as u8]);
    wasm.extend(name);
    wasm.extend(payload);
    wasm
}

fn env_of(pairs: &[(&'static str, &Path)]) -> Vec<(&'static str, OsString)> {
    pairs.iter().map(|(k, v)| (*k, v.as_os_str().to_owned())).collect()
}

/// No credentials: none from the variables, none from a Docker config.
fn anonymous(docker: &Path) -> Vec<(&'static str, OsString)> {
    [
        vec![("BATOU_RUN_REGISTRY_USERNAME", OsString::new()), ("BATOU_RUN_REGISTRY_PASSWORD", OsString::new())],
        env_of(&[("DOCKER_CONFIG", docker)]),
    ]
    .concat()
}

/// The sha256 of a file's bytes, hex.
fn hex(file: &Path) -> String {
    sha256(&std::fs::read(file).unwrap()).trim_start_matches("sha256:").to_string()
}

fn push(file: &Path, reference: &str, env: &[(&'static str, OsString)]) -> Run {
    batou(&["component", "push", file.to_str().unwrap(), reference], env).ok()
}

fn run(d: &Deployment, args: &[&str], env: &[(&'static str, OsString)]) -> Run {
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    d.run_with(args, &env)
}

#[test]
fn a_module_from_a_registry_deploys_pinned_and_a_moved_tag_waits_for_lock_update() {
    let mut registry = RegistryServer::start();
    let scratch = registry.scratch();
    let docker = scratch.join("no-docker-config");
    let base = anonymous(&docker);
    let v1 = scratch.join("graph-v1.wasm");
    std::fs::write(&v1, graph_variant("v1")).unwrap();
    let reference = format!("oci://{}/team/graph:1", registry.addr());
    push(&v1, &reference, &base);

    let d = Deployment::new(ENV);
    d.write("batou.toml", &format!("[components.graph]\nsource = \"{reference}\"\n"));
    let hash = hex(&v1);
    // A cache of the deployment's own: what it holds, the deploys fetched.
    let cache = tempfile::tempdir().unwrap();
    let warm = [base.clone(), env_of(&[("BATOU_RUN_CACHE", cache.path())])].concat();

    let first = run(&d, &["deploy", "dev", "-P"], &warm).ok();
    assert!(first.stdout.contains(&format!("batou.lock: would pin `graph` to sha256:{hash} (oci://")), "{first:?}");
    let deployed = run(&d, &["deploy", "dev"], &warm).ok();
    let pinned = std::fs::read_to_string(d.path().join("batou.lock")).unwrap();
    let resolved = pinned
        .lines()
        .find_map(|l| l.strip_prefix("resolved = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a resolved reference")
        .to_string();
    assert!(resolved.starts_with(&format!("oci://{}/team/graph@sha256:", registry.addr())), "{pinned}");
    assert!(
        deployed.stdout.contains(&format!("batou.lock: pinned `graph` to sha256:{hash} ({resolved})")),
        "{deployed:?}"
    );
    // -P names the module by digest beside the root's grants.
    let predicted = run(&d, &["deploy", "dev", "-P"], &warm).ok();
    assert!(predicted.stdout.contains(&format!("    module {resolved}  sha256:{hash}\n")), "{predicted:?}");
    // An agent process gets the module from the controller.
    run(&d, &["deploy", "dev", "--agent-process"], &warm).ok();

    // The same bytes pushed again (another manifest: another `created`)
    // have not moved the module: it deploys, fetched again.
    let cold_cache = tempfile::tempdir().unwrap();
    let cold = [base.clone(), env_of(&[("BATOU_RUN_CACHE", cold_cache.path())])].concat();
    push(&v1, &reference, &[base.clone(), vec![("SOURCE_DATE_EPOCH", "86400".into())]].concat());
    run(&d, &["deploy", "dev"], &cold).ok();
    assert_eq!(std::fs::read_to_string(d.path().join("batou.lock")).unwrap(), pinned, "the pin stays");

    // The tag moves to other bytes.
    let v2 = scratch.join("graph-v2.wasm");
    std::fs::write(&v2, graph_variant("v2")).unwrap();
    push(&v2, &reference, &base);
    // With the pinned bytes in the cache nothing is fetched: they deploy.
    run(&d, &["deploy", "dev"], &warm).ok();
    // Fetching again (an empty cache) finds the tag moved and refuses.
    let cold_cache = tempfile::tempdir().unwrap();
    let cold = [base.clone(), env_of(&[("BATOU_RUN_CACHE", cold_cache.path())])].concat();
    let moved = run(&d, &["deploy", "dev"], &cold);
    assert_eq!(moved.code, 2, "{moved:?}");
    assert!(
        moved
            .stderr
            .contains(&format!("ERROR: batou.toml:1: {reference} has moved to other bytes: it points to sha256:")),
        "{moved:?}"
    );
    assert!(moved.stderr.contains("run `batou-run lock update graph` and commit batou.lock"), "{moved:?}");
    assert!(moved.stderr.contains(&format!("name it by digest: {resolved}")), "{moved:?}");
    assert_eq!(std::fs::read_to_string(d.path().join("batou.lock")).unwrap(), pinned, "the lock stays");
    // A reference by digest names what the lock pins, and still deploys.
    let by_digest = Deployment::new(ENV);
    by_digest.write("batou.toml", &format!("[components.graph]\nsource = \"{resolved}\"\n"));
    run(&by_digest, &["deploy", "dev"], &cold).ok();

    let updated = run(&d, &["lock", "update", "graph"], &cold).ok();
    let hash2 = hex(&v2);
    assert!(
        updated.stdout.contains(&format!("batou.lock: moved the pin of `graph` to sha256:{hash2} (was sha256:{hash})")),
        "{updated:?}"
    );
    run(&d, &["deploy", "dev"], &cold).ok();

    // The lock pins other bytes than the registry has: refused.
    let lock = std::fs::read_to_string(d.path().join("batou.lock")).unwrap();
    std::fs::write(d.path().join("batou.lock"), lock.replace(&hash2, &"0".repeat(64))).unwrap();
    let mismatch = run(&d, &["deploy", "dev"], &cold);
    assert_eq!(mismatch.code, 2, "{mismatch:?}");
    assert!(
        mismatch.stderr.contains(&format!(
            "{reference} has sha256 sha256:{}, but batou.lock pins sha256:0000000000000000 for `graph`; it is not run",
            &hash2[..16]
        )),
        "{mismatch:?}"
    );
    std::fs::write(d.path().join("batou.lock"), lock).unwrap();

    // The registry is gone: a warm cache deploys; an empty one says why not.
    registry.stop();
    run(&d, &["deploy", "dev"], &cold).ok();
    let empty = tempfile::tempdir().unwrap();
    let offline = run(&d, &["deploy", "dev"], &[base, env_of(&[("BATOU_RUN_CACHE", empty.path())])].concat());
    assert_eq!(offline.code, 2, "{offline:?}");
    assert!(offline.stderr.contains("batou.toml:1: the module `graph`: cannot reach the registry"), "{offline:?}");
}

#[test]
fn a_registry_that_asks_for_credentials_gets_them_and_they_never_show() {
    let registry = RegistryServer::with_auth("deployer", PASSWORD);
    let scratch = registry.scratch();
    let reference = format!("oci://{}/team/graph:1", registry.addr());
    let creds: Vec<(&'static str, OsString)> = vec![
        ("BATOU_RUN_REGISTRY_USERNAME", "deployer".into()),
        ("BATOU_RUN_REGISTRY_PASSWORD", PASSWORD.into()),
        ("DOCKER_CONFIG", scratch.join("no-docker-config").into_os_string()),
        ("BATOU_RUN_LOG", "debug".into()),
    ];
    let v1 = scratch.join("graph.wasm");
    std::fs::write(&v1, graph_variant("auth")).unwrap();
    let pushed = push(&v1, &reference, &creds);
    let d = Deployment::new(ENV);
    d.write("batou.toml", &format!("[components.graph]\nsource = \"{reference}\"\n"));
    let cache = tempfile::tempdir().unwrap();
    let env = [creds.clone(), env_of(&[("BATOU_RUN_CACHE", cache.path())])].concat();
    let deployed = run(&d, &["deploy", "dev"], &env).ok();
    let json = run(&d, &["--json", "deploy", "dev", "-P"], &env).ok();
    let cold_cache = tempfile::tempdir().unwrap();
    let mut wrong = creds.clone();
    wrong[1].1 = "not-the-password".into();
    let refused = run(&d, &["lock", "update"], &[wrong, env_of(&[("BATOU_RUN_CACHE", cold_cache.path())])].concat());
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("the registry {} refused the credentials", registry.addr())),
        "{refused:?}"
    );
    let lock = std::fs::read_to_string(d.path().join("batou.lock")).unwrap();
    for shown in [
        &pushed.stdout,
        &pushed.stderr,
        &deployed.stdout,
        &deployed.stderr,
        &json.stdout,
        &json.stderr,
        &refused.stdout,
        &refused.stderr,
        &lock,
    ] {
        assert!(!shown.contains(PASSWORD), "the password shows:\n{shown}");
        assert!(!shown.contains("not-the-password"), "a password shows:\n{shown}");
    }
}

/// wkg as tools/toolchains.sh installs it.
fn wkg() -> std::path::PathBuf {
    let wkg = crate::harness::repo().join(".toolchains/wkg/bin/wkg");
    assert!(wkg.exists(), "{} is missing: run tools/toolchains.sh", wkg.display());
    wkg
}

fn run_wkg(args: &[&str], registry: &str, docker: &Path) -> std::process::Output {
    let out = std::process::Command::new(wkg())
        .args(args)
        .args(["--insecure", registry])
        .env("DOCKER_CONFIG", docker)
        .env_remove("WKG_OCI_USERNAME")
        .env_remove("WKG_OCI_PASSWORD")
        .output()
        .expect("run wkg");
    assert!(out.status.success(), "wkg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn wkg_pulls_what_batou_run_pushes_and_a_module_wkg_pushes_deploys() {
    let registry = RegistryServer::start();
    let scratch = registry.scratch();
    let docker = scratch.join("no-docker-config");
    let base = anonymous(&docker);
    let addr = registry.addr();

    // batou-run pushes, wkg pulls the same bytes.
    let ours = scratch.join("ours.wasm");
    std::fs::write(&ours, graph_variant("ours")).unwrap();
    push(&ours, &format!("oci://{addr}/team/ours:1"), &base);
    let theirs_copy = scratch.join("pulled-by-wkg.wasm");
    run_wkg(&["oci", "pull", &format!("{addr}/team/ours:1"), "-o", theirs_copy.to_str().unwrap()], &addr, &docker);
    assert_eq!(std::fs::read(&theirs_copy).unwrap(), std::fs::read(&ours).unwrap(), "wkg pulls the bytes pushed");

    // wkg pushes, batou-run inspects and deploys it.
    let theirs = scratch.join("theirs.wasm");
    std::fs::write(&theirs, graph_variant("theirs")).unwrap();
    run_wkg(&["oci", "push", &format!("{addr}/team/theirs:2"), theirs.to_str().unwrap()], &addr, &docker);
    let reference = format!("oci://{addr}/team/theirs:2");
    let inspected = batou(&["component", "inspect", &reference], &base).ok();
    assert!(inspected.stdout.contains(&format!("sha256    {}", hex(&theirs))), "{inspected:?}");
    assert!(inspected.stdout.contains("Kind node"), "{inspected:?}");
    let d = Deployment::new(ENV);
    d.write("batou.toml", &format!("[components.theirs]\nsource = \"{reference}\"\n"));
    let deployed = run(&d, &["deploy", "dev"], &base).ok();
    assert!(
        deployed.stdout.contains(&format!("batou.lock: pinned `theirs` to sha256:{}", hex(&theirs))),
        "{deployed:?}"
    );
}

/// examples/shared-module/run.sh, from a copy outside the repository: a
/// registry of its own, the module pushed from publisher/ (built from
/// source, its template inside), inspected, deployed; and again, with
/// nothing to change.
#[test]
fn the_shared_module_example_runs_its_whole_loop_from_a_copy() {
    let copy = tempfile::tempdir().unwrap();
    crate::deploy::copy_tree(&crate::harness::repo().join("examples/shared-module"), copy.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let example = |round: &str| {
        let out = std::process::Command::new(copy.path().join("run.sh"))
            .env("BATOU_RUN", env!("CARGO_BIN_EXE_batou-run"))
            .env("BATOU_RUN_CACHE", crate::harness::cache_dir())
            .env("DOCKER_REGISTRY", crate::harness::repo().join(".toolchains/registry/usr/bin/docker-registry"))
            .env("REGISTRY_PORT", port.to_string())
            .env("DOCKER_CONFIG", copy.path().join("no-docker-config"))
            .env_remove("CI")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{round}: run.sh failed:\n{stdout}\n{stderr}");
        stdout.into_owned()
    };
    let first = example("first");
    assert!(first.contains(&format!("pushed oci://127.0.0.1:{port}/examples/greeting@sha256:")), "{first}");
    assert!(first.contains("  greeting.txt (128 bytes)\n"), "the template travels inside: {first}");
    assert!(first.contains("batou.lock: pinned `greeting`"), "{first}");
    assert!(first.ends_with("Hello, operator!\nThis file was written on localhost by a module the example's publisher shared through a registry.\n"), "{first}");
    let again = example("again");
    assert!(again.contains("Deployed `dev`: 0 of 3 components changed"), "{again}");
    assert!(!again.contains("batou.lock:"), "{again}");
}
