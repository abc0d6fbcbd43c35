//! `component push` and `component pull` against a real registry
//! (Debian's docker-registry, tests/integration/registry_server.rs),
//! through the real binary.

use std::ffi::OsString;
use std::path::Path;

use super::fixtures::FIXTURE_NOTICE;
use super::harness::{Run, batou, golden};
use super::registry_server::{PASSWORD, RegistryServer, header, http, put_blob, sha256};

const USER: &str = "deployer";

/// The password and its forms in `Authorization` headers and Docker
/// configs: none may ever be shown.
fn secrets() -> Vec<String> {
    vec![PASSWORD.to_string(), base64(&format!("{USER}:{PASSWORD}"))]
}

#[track_caller]
fn assert_no_secret(run: &Run) {
    for secret in secrets() {
        assert!(!run.stdout.contains(&secret), "a secret on stdout:\n{}", run.stdout);
        assert!(!run.stderr.contains(&secret), "a secret on stderr:\n{}", run.stderr);
    }
}

fn base64(s: &str) -> String {
    use base64ct::{Base64, Encoding};
    Base64::encode_string(s.as_bytes())
}

/// A Docker config folder whose config.json has `auths` for `registry`.
fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) -> OsString {
    let folder = dir.join("docker");
    std::fs::create_dir_all(&folder).unwrap();
    let auth = base64(&format!("{user}:{password}"));
    std::fs::write(folder.join("config.json"), format!(r#"{{"auths": {{"{registry}": {{"auth": "{auth}"}}}}}}"#))
        .unwrap();
    folder.into_os_string()
}

/// Variables that keep a run away from the machine's own credentials.
fn no_credentials(dir: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("DOCKER_CONFIG", dir.join("no-docker-config").into_os_string()),
        ("BATOU_RUN_REGISTRY_USERNAME", OsString::new()),
        ("BATOU_RUN_REGISTRY_PASSWORD", OsString::new()),
    ]
}

fn with(mut env: Vec<(&'static str, OsString)>, more: &[(&'static str, OsString)]) -> Vec<(&'static str, OsString)> {
    for (k, v) in more {
        env.retain(|(key, _)| key != k);
        env.push((k, v.clone()));
    }
    env
}

/// The `pushed`/`pulled` event of a `--json` run.
fn event(run: &Run, name: &str) -> serde_json::Value {
    run.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event:\n{}\n{}", run.stdout, run.stderr))
}

fn module() -> Vec<u8> {
    std::fs::read(FIXTURE_NOTICE).unwrap()
}

#[test]
fn push_then_pull_by_tag_and_by_digest() {
    let registry = RegistryServer::start();
    let dir = registry.scratch();
    // A fixed creation time: the same module pushes as the same digest.
    let env = with(no_credentials(&dir), &[("SOURCE_DATE_EPOCH", "1767225600".into())]);
    let reference = format!("oci://{}/batou/notice:1.0", registry.addr());
    let pushed = batou(&["component", "push", FIXTURE_NOTICE, &reference, "--json"], &env).ok();
    let pushed = event(&pushed, "pushed");
    let bytes = module();
    let hex = sha256(&bytes).trim_start_matches("sha256:").to_string();
    assert_eq!(pushed["sha256"], hex.as_str());
    assert_eq!(pushed["size"], bytes.len());
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert_eq!(pushed["reference"], format!("oci://{}/batou/notice@{digest}", registry.addr()).as_str());

    // Human output says the same; pushed again, it is the same artifact.
    let again = batou(&["component", "push", FIXTURE_NOTICE, &reference], &env).ok();
    assert!(
        again.stdout.contains(&format!("pushed oci://{}/batou/notice@{digest} ", registry.addr()))
            && again.stdout.contains(&format!("({} bytes, sha256 {hex})", bytes.len())),
        "{}",
        again.stdout
    );

    // By tag.
    let out = dir.join("by-tag.wasm");
    let pulled = batou(&["component", "pull", &reference, "-o", out.to_str().unwrap(), "--json"], &env).ok();
    let pulled = event(&pulled, "pulled");
    assert_eq!(pulled["sha256"], hex.as_str());
    assert_eq!(pulled["digest"], digest.as_str());
    assert_eq!(pulled["reference"], format!("oci://{}/batou/notice@{digest}", registry.addr()).as_str());
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let cached = Path::new(pulled["path"].as_str().unwrap());
    assert!(cached.ends_with(format!("modules/sha256/{hex}.wasm")), "{}", cached.display());
    assert_eq!(std::fs::read(cached).unwrap(), bytes);

    // By digest, human output.
    let pinned = format!("oci://{}/batou/notice@{digest}", registry.addr());
    let out2 = dir.join("by-digest.wasm");
    let run = batou(&["component", "pull", &pinned, "-o", out2.to_str().unwrap()], &env).ok();
    assert!(run.stdout.contains(&pinned) && run.stdout.contains(&format!("sha256 {hex}")), "{}", run.stdout);
    assert_eq!(std::fs::read(&out2).unwrap(), bytes);
}

#[test]
fn pulling_a_missing_tag_names_it() {
    let registry = RegistryServer::start();
    let env = no_credentials(&registry.scratch());
    let reference = format!("oci://{}/batou/nothing:9.9", registry.addr());
    let run = batou(&["component", "pull", &reference], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(&reference) && run.stderr.contains("does not exist"), "{}", run.stderr);

    // A push needs a component and a tag.
    let not_wasm = registry.scratch().join("notes.wasm");
    std::fs::write(&not_wasm, "not wasm").unwrap();
    let run = batou(&["component", "push", not_wasm.to_str().unwrap(), &reference], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("notes.wasm: not a WebAssembly binary"), "{}", run.stderr);
    let run = batou(
        &[
            "component",
            "push",
            FIXTURE_NOTICE,
            &format!("oci://{}/batou/notice@sha256:{}", registry.addr(), "a".repeat(64)),
        ],
        &env,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("a push names a tag"), "{}", run.stderr);
    let run = batou(&["component", "push", "missing.wasm", &reference], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot read the module") && run.stderr.contains("missing.wasm"), "{}", run.stderr);

    // A reference that is not one says so.
    let run = batou(&["component", "pull", &format!("{}/batou/notice:1", registry.addr())], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("oci://"), "{}", run.stderr);
}

#[test]
fn credentials_from_a_docker_config_or_the_environment() {
    let registry = RegistryServer::with_auth(USER, PASSWORD);
    let dir = registry.scratch();
    let reference = format!("oci://{}/batou/notice:auth", registry.addr());
    let debug = [("BATOU_RUN_LOG", OsString::from("debug"))];

    // None: the registry asks, and the message says how to log in.
    let run = batou(&["component", "pull", &reference], &with(no_credentials(&dir), &debug));
    assert_eq!(run.code, 2, "{run:?}");
    assert_no_secret(&run);
    assert!(run.stderr.contains("asks for credentials") && run.stderr.contains("docker login"), "{}", run.stderr);

    // From DOCKER_CONFIG's auths.
    let config = docker_config(&dir, &registry.addr(), USER, PASSWORD);
    let env = with(no_credentials(&dir), &[("DOCKER_CONFIG", config)]);
    let push = batou(&["component", "push", FIXTURE_NOTICE, &reference], &with(env.clone(), &debug)).ok();
    assert_no_secret(&push);
    let out = dir.join("docker.wasm");
    let pull = batou(&["component", "pull", &reference, "-o", out.to_str().unwrap()], &with(env, &debug)).ok();
    assert_no_secret(&pull);
    assert_eq!(std::fs::read(&out).unwrap(), module());

    // From the variables (which win over a Docker config).
    let bad_config = docker_config(&dir.join("bad"), &registry.addr(), USER, "wrong-password");
    let env = with(
        no_credentials(&dir),
        &[
            ("DOCKER_CONFIG", bad_config),
            ("BATOU_RUN_REGISTRY_USERNAME", USER.into()),
            ("BATOU_RUN_REGISTRY_PASSWORD", PASSWORD.into()),
        ],
    );
    let push = batou(
        &["component", "push", FIXTURE_NOTICE, &format!("oci://{}/batou/env:1", registry.addr())],
        &with(env.clone(), &debug),
    )
    .ok();
    assert_no_secret(&push);
    let pull = batou(&["component", "pull", &reference, "--json"], &with(env, &debug)).ok();
    assert_no_secret(&pull);
    assert_eq!(event(&pull, "pulled")["sha256"], sha256(&module()).trim_start_matches("sha256:"));

    // One variable alone is an error.
    let run = batou(
        &["component", "pull", &reference],
        &with(no_credentials(&dir), &[("BATOU_RUN_REGISTRY_USERNAME", USER.into())]),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_no_secret(&run);
    assert!(run.stderr.contains("BATOU_RUN_REGISTRY_PASSWORD is not"), "{}", run.stderr);
}

#[test]
fn wrong_credentials_are_refused_and_never_shown() {
    let registry = RegistryServer::with_auth(USER, PASSWORD);
    let dir = registry.scratch();
    let reference = format!("oci://{}/batou/notice:1", registry.addr());
    let debug = [("BATOU_RUN_LOG", OsString::from("debug"))];
    // The wrong password is as secret as the right one.
    let wrong = "not-the-Password-42";
    let check = |run: &Run| {
        assert_no_secret(run);
        for secret in [wrong.to_string(), base64(&format!("{USER}:{wrong}"))] {
            assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret), "a secret shown: {run:?}");
        }
    };

    let config = docker_config(&dir, &registry.addr(), USER, wrong);
    let env = with(no_credentials(&dir), &[("DOCKER_CONFIG", config)]);
    for args in [
        vec!["component", "push", FIXTURE_NOTICE, &reference],
        vec!["component", "pull", &reference],
        vec!["component", "pull", &reference, "--json"],
    ] {
        let run = batou(&args, &with(env.clone(), &debug));
        assert_eq!(run.code, 2, "{run:?}");
        check(&run);
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(
            text.contains(&format!("the registry {} refused the credentials of", registry.addr()))
                && text.contains("config.json")
                && text.contains("docker login"),
            "{text}"
        );
    }

    let env = with(
        no_credentials(&dir),
        &[("BATOU_RUN_REGISTRY_USERNAME", USER.into()), ("BATOU_RUN_REGISTRY_PASSWORD", wrong.into())],
    );
    let run = batou(&["component", "push", FIXTURE_NOTICE, &reference], &with(env.clone(), &debug));
    assert_eq!(run.code, 2, "{run:?}");
    check(&run);
    // Not even at trace level.
    let run = batou(&["component", "pull", &reference], &with(env, &[("BATOU_RUN_LOG", "trace".into())]));
    assert_eq!(run.code, 2, "{run:?}");
    check(&run);
    assert!(run.stderr.contains("refused the credentials of BATOU_RUN_REGISTRY_USERNAME"), "{}", run.stderr);
}

#[test]
fn a_registry_that_is_not_loopback_is_spoken_to_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let env = no_credentials(dir.path());
    let run = batou(&["component", "pull", "oci://localhost.invalid:5000/batou/notice:1"], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot reach the registry localhost.invalid:5000 over HTTPS")
            && run.stderr.contains("https://localhost.invalid:5000/v2/"),
        "{}",
        run.stderr
    );
    // Named insecure, it is plain HTTP.
    let run = batou(
        &["component", "pull", "oci://localhost.invalid:5000/batou/notice:1", "--insecure", "localhost.invalid"],
        &env,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("over plain HTTP"), "{}", run.stderr);
}

#[test]
fn a_stopped_registry_is_unreachable() {
    let mut registry = RegistryServer::start();
    let env = no_credentials(&registry.scratch());
    registry.stop();
    let run = batou(&["component", "pull", &format!("oci://{}/batou/notice:1", registry.addr())], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!("cannot reach the registry {} over plain HTTP", registry.addr())),
        "{}",
        run.stderr
    );
}

#[test]
fn an_artifact_that_is_not_wasm_is_refused() {
    let registry = RegistryServer::start();
    let env = no_credentials(&registry.scratch());
    let addr = registry.addr();
    let layer = put_blob(&addr, "other/image", b"not a tarball, but typed as one");
    let config = put_blob(&addr, "other/image", b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 31}]
    });
    let (code, _, body) = http(
        &addr,
        "PUT",
        "/v2/other/image/manifests/1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let reference = format!("oci://{addr}/other/image:1");
    let run = batou(&["component", "pull", &reference], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!("{reference} is not a Wasm component artifact"))
            && run.stderr.contains("application/vnd.oci.image.config.v1+json")
            && run.stderr.contains("application/vnd.oci.image.layer.v1.tar+gzip"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_pushed_manifest_and_config_have_the_wasm_oci_layout() {
    let registry = RegistryServer::start();
    let env = with(
        no_credentials(&registry.scratch()),
        &[("SOURCE_DATE_EPOCH", "1767225600".into())], // 2026-01-01
    );
    let addr = registry.addr();
    let reference = format!("oci://{addr}/batou/notice:golden");
    batou(
        &["component", "push", FIXTURE_NOTICE, &reference, "--version", "1.2.3", "--description", "Writes a notice"],
        &env,
    )
    .ok();
    let (code, headers, manifest) = http(
        &addr,
        "GET",
        "/v2/batou/notice/manifests/golden",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    )
    .unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&manifest));
    assert_eq!(header(&headers, "content-type"), Some("application/vnd.oci.image.manifest.v1+json"));
    assert_eq!(header(&headers, "docker-content-digest"), Some(&*sha256(&manifest)));
    let mut m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = m["config"]["digest"].as_str().unwrap().to_string();
    let (code, _, config) = http(&addr, "GET", &format!("/v2/batou/notice/blobs/{config_digest}"), &[], b"").unwrap();
    assert_eq!(code, 200);
    assert_eq!(sha256(&config), config_digest);
    let mut c: serde_json::Value = serde_json::from_slice(&config).unwrap();

    // What varies with the fixture's build.
    let bytes = module();
    assert_eq!(m["layers"][0]["digest"], sha256(&bytes).as_str());
    assert_eq!(m["layers"][0]["size"], bytes.len());
    assert_eq!(m["config"]["size"], config.len());
    assert_eq!(c["layerDigests"][0], sha256(&bytes).as_str());
    m["layers"][0]["digest"] = "sha256:<module>".into();
    m["layers"][0]["size"] = "<module size>".into();
    m["config"]["digest"] = "sha256:<config>".into();
    m["config"]["size"] = "<config size>".into();
    c["layerDigests"][0] = "sha256:<module>".into();
    golden("oci-manifest.json", &(serde_json::to_string_pretty(&m).unwrap() + "\n"));
    golden("oci-config.json", &(serde_json::to_string_pretty(&c).unwrap() + "\n"));
}

#[test]
fn an_artifact_pushed_as_wkg_pushes_it_is_pulled() {
    let registry = RegistryServer::start();
    let dir = registry.scratch();
    let env = no_credentials(&dir);
    let addr = registry.addr();
    let bytes = module();
    let layer = put_blob(&addr, "wkg/notice", &bytes);
    // oci-wasm's WasmConfig as chrono writes it (with a fraction).
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2025-06-01T12:34:56.789012345Z",
        "author": "someone",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer],
        "component": {"exports": ["batou:deploy/component@0.2.0"], "imports": [], "target": null}
    }))
    .unwrap();
    let config_digest = put_blob(&addr, "wkg/notice", &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": "application/wasm",
            "digest": layer,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.title": "notice.wasm"}
        }],
        "annotations": {
            "org.opencontainers.image.created": "2025-06-01T12:34:56Z",
            "org.opencontainers.image.authors": "someone",
            "org.opencontainers.image.licenses": "Apache-2.0",
            "dev.wasmcloud.something": "else"
        }
    });
    let (code, _, body) = http(
        &addr,
        "PUT",
        "/v2/wkg/notice/manifests/0.1.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let out = dir.join("wkg.wasm");
    let run =
        batou(&["component", "pull", &format!("oci://{addr}/wkg/notice:0.1.0"), "-o", out.to_str().unwrap()], &env)
            .ok();
    assert!(run.stdout.contains(&sha256(&bytes).trim_start_matches("sha256:").to_string()), "{}", run.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
