//! batou.toml's modules and their pins in batou.lock, with a module from a
//! file (the registry and a URL are in registry.rs): a first deploy pins,
//! other bytes are refused until `lock update`, `--locked` and `CI` never
//! write the lock, a predict only says what it would pin, and `-P` names
//! each root's modules beside its grants.

use std::ffi::OsStr;

use crate::fixtures::{FIXTURE_GRAPH, FIXTURE_NOTICE};
use crate::harness::Deployment;

const ENV: &str = "[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [\"a\"]\n\n\
                   [components.a]\nkind = \"node\"\n";

/// A deployment whose kind `node` comes from vendor/graph.wasm.
fn vendored() -> Deployment {
    let d = Deployment::new(ENV);
    std::fs::create_dir_all(d.path().join("vendor")).unwrap();
    std::fs::copy(FIXTURE_GRAPH, d.path().join("vendor/graph.wasm")).unwrap();
    d.write("batou.toml", "[components.graph]\nsource = \"vendor/graph.wasm\"\n");
    d
}

fn sha256(path: &std::path::Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn lock(d: &Deployment) -> Option<String> {
    std::fs::read_to_string(d.path().join("batou.lock")).ok()
}

#[test]
fn a_first_deploy_pins_the_module_and_other_bytes_are_refused_until_lock_update() {
    let d = vendored();
    let first = sha256(&d.path().join("vendor/graph.wasm"));
    let run = d.deploy().ok();
    assert!(
        run.stdout.contains(&format!("batou.lock: pinned `graph` to sha256:{first} (vendor/graph.wasm)")),
        "{run:?}"
    );
    let pinned = lock(&d).expect("the deploy wrote batou.lock");
    assert!(pinned.contains("[modules.graph]\nsource = \"vendor/graph.wasm\""), "{pinned}");
    assert!(pinned.contains(&format!("sha256 = \"sha256:{first}\"")), "{pinned}");

    let again = d.deploy().ok();
    assert!(!again.stdout.contains("batou.lock:"), "nothing to pin again: {again:?}");
    assert_eq!(lock(&d).unwrap(), pinned, "an unchanged lock is not rewritten");

    // Other bytes under the same name: not run, and the lock stays.
    std::fs::copy(FIXTURE_NOTICE, d.path().join("vendor/graph.wasm")).unwrap();
    let second = sha256(&d.path().join("vendor/graph.wasm"));
    let refused = d.deploy();
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "ERROR: batou.toml:1: vendor/graph.wasm has sha256 sha256:{}, but batou.lock pins sha256:{} for `graph`; it is not run",
            &second[..16],
            &first[..16]
        )),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("run `batou-run lock update graph` and commit batou.lock"), "{refused:?}");
    assert!(refused.stderr.contains("the kind may be one of batou.toml's module `graph`"), "{refused:?}");
    assert_eq!(lock(&d).unwrap(), pinned, "a refused deploy leaves the lock");

    let updated = d.run(&["lock", "update", "graph"]).ok();
    assert!(
        updated
            .stdout
            .contains(&format!("batou.lock: moved the pin of `graph` to sha256:{second} (was sha256:{first})")),
        "{updated:?}"
    );
    assert!(lock(&d).unwrap().contains(&second));
}

#[test]
fn locked_and_ci_runs_never_write_the_lock() {
    let d = vendored();
    for (args, env, why) in [
        (vec!["deploy", "dev", "--locked"], vec![], "--locked keeps the lock as it is"),
        (vec!["deploy", "dev"], vec![("CI", OsStr::new("true"))], "CI is set (as --locked) keeps the lock as it is"),
        (vec!["deploy", "dev", "-P", "--locked"], vec![], "--locked keeps the lock as it is"),
    ] {
        let run = d.run_with(&args, &env);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!("batou.toml:1: `graph` is not pinned in batou.lock, and {why}")),
            "{run:?}"
        );
        assert!(run.stderr.contains("run `batou-run lock update graph` and commit batou.lock"), "{run:?}");
        assert!(lock(&d).is_none(), "{args:?} wrote the lock");
    }
    // `lock update` is the explicit way, in CI too; then a locked run deploys.
    d.run_with(&["lock", "update"], &[("CI", OsStr::new("true"))]).ok();
    assert!(lock(&d).is_some());
    d.run_with(&["deploy", "dev"], &[("CI", OsStr::new("true"))]).ok();
    // A pin of another source is not this module's any more.
    d.write("batou.toml", "[components.graph]\nsource = \"./vendor/graph.wasm\"\n");
    let moved = d.run(&["deploy", "dev", "--locked"]);
    assert_eq!(moved.code, 2, "{moved:?}");
    assert!(
        moved.stderr.contains("batou.lock pins `graph` from another source (vendor/graph.wasm), and --locked"),
        "{moved:?}"
    );
}

#[test]
fn a_predict_says_what_it_would_pin_and_lists_each_roots_modules_beside_its_grants() {
    let d = vendored();
    let hash = sha256(&d.path().join("vendor/graph.wasm"));
    let run = d.predict().ok();
    assert!(
        run.stdout.contains(&format!("batou.lock: would pin `graph` to sha256:{hash} (vendor/graph.wasm)")),
        "{run:?}"
    );
    assert!(lock(&d).is_none(), "a predict changes nothing, batou.lock included");
    assert!(
        run.stdout
            .contains(&format!("Grants of localhost:a (none used)\n    module vendor/graph.wasm  sha256:{hash}\n")),
        "{run:?}"
    );

    let json = d.run(&["--json", "deploy", "dev", "-P"]).ok();
    let events: Vec<serde_json::Value> = json.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pinned = events.iter().find(|e| e["event"] == "pinned").expect("a pinned event");
    assert_eq!(pinned["written"], false);
    assert_eq!(pinned["sha256"], format!("sha256:{hash}"));
    let grants = events.iter().find(|e| e["event"] == "grants").expect("a grants event");
    assert_eq!(grants["modules"], serde_json::json!([{"origin": "vendor/graph.wasm", "sha256": hash}]));
}

#[test]
fn a_file_root_lists_the_standard_library_it_runs() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"motd\"]\n\
         [components.motd]\nkind = \"file\"\npath = \"motd\"\ncontent = \"hi\"\n",
    );
    let run = d.predict().ok();
    assert!(run.stdout.contains("Grants of localhost:motd\n    module standard library `files`  sha256:"), "{run:?}");
}

#[test]
fn batou_toml_mistakes_are_named_with_their_line_beside_the_environments() {
    let d = vendored();
    d.write(
        "batou.toml",
        "[components.graph]\nsource = \"vendor/missing.wasm\"\n[components.other]\nsourse = \"x.wasm\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("Modules of batou.toml:\n"), "{run:?}");
    assert!(
        run.stderr.contains("ERROR: batou.toml:4: unknown key `sourse` in [components.other] in batou.toml"),
        "{run:?}"
    );
    assert!(run.stderr.contains("ERROR: batou.toml:3: [components.other] in batou.toml has no source"), "{run:?}");
    // A module that names the deployment's own component is refused.
    let d = vendored();
    d.own_module("graph", FIXTURE_GRAPH);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("`graph` is both a module of batou.toml and the deployment's own component in components/graph/"),
        "{run:?}"
    );
}

/// `python3 -m http.server` on 127.0.0.1 serving `dir`, stopped on drop.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn serve(dir: &std::path::Path) -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 serves the download tests");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return HttpServer { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the HTTP server on 127.0.0.1:{port} did not start");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_module_from_a_url_is_checked_against_its_sha256_and_deploys_from_the_cache_with_the_server_gone() {
    let served = tempfile::tempdir().unwrap();
    std::fs::copy(FIXTURE_GRAPH, served.path().join("graph.wasm")).unwrap();
    let hash = sha256(&served.path().join("graph.wasm"));
    let server = HttpServer::serve(served.path());
    let url = format!("http://127.0.0.1:{}/graph.wasm", server.port);
    // A cache of its own: what the deploy fetched is all it has.
    let cache = tempfile::tempdir().unwrap();
    let env = [("BATOU_RUN_CACHE", cache.path().as_os_str())];

    let d = Deployment::new(ENV);
    d.write("batou.toml", &format!("[components.graph]\nsource = \"{url}\"\nsha256 = \"sha256:{}\"\n", "0".repeat(64)));
    let wrong = d.run_with(&["deploy", "dev"], &env);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains(&format!(
            "{url} has sha256 sha256:{}, but batou.toml's sha256 for `graph` is sha256:0000000000000000; it is not run",
            &hash[..16]
        )),
        "{wrong:?}"
    );
    assert!(lock(&d).is_none(), "bytes that differ from batou.toml's sha256 are not pinned");

    d.write("batou.toml", &format!("[components.graph]\nsource = \"{url}\"\nsha256 = \"sha256:{hash}\"\n"));
    let first = d.run_with(&["deploy", "dev"], &env).ok();
    assert!(first.stdout.contains(&format!("batou.lock: pinned `graph` to sha256:{hash} ({url})")), "{first:?}");

    // The server is gone: the pinned bytes come from the cache.
    drop(server);
    let offline = d.run_with(&["deploy", "dev", "-P"], &env).ok();
    assert!(offline.stdout.contains(&format!("module {url}  sha256:{hash}")), "{offline:?}");

    // With an empty cache, the server's absence is a clear error.
    let empty = tempfile::tempdir().unwrap();
    let cold = d.run_with(&["deploy", "dev"], &[("BATOU_RUN_CACHE", empty.path().as_os_str())]);
    assert_eq!(cold.code, 2, "{cold:?}");
    assert!(cold.stderr.contains(&format!("batou.toml:1: the module `graph`:")), "{cold:?}");
    assert!(cold.stderr.contains(&format!("127.0.0.1:")), "the error names where it fetched from: {cold:?}");
}

#[test]
fn a_file_that_is_not_a_component_is_not_pinned() {
    let d = Deployment::new(ENV);
    d.write("vendor/graph.wasm", "<html>not found</html>");
    d.write("batou.toml", "[components.graph]\nsource = \"vendor/graph.wasm\"\n");
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("ERROR: batou.toml:1: vendor/graph.wasm (the module `graph`) is not a WebAssembly component:"),
        "{run:?}"
    );
    assert!(lock(&d).is_none(), "{run:?}");
}

#[test]
fn a_registry_is_reached_over_https_unless_batou_toml_names_it_insecure() {
    let d = Deployment::new(ENV);
    let source = "[components.graph]\nsource = \"oci://registry.invalid:5000/team/graph:1\"\n";
    d.write("batou.toml", source);
    let https = d.deploy();
    assert_eq!(https.code, 2, "{https:?}");
    assert!(
        https
            .stderr
            .contains("batou.toml:1: the module `graph`: cannot reach the registry registry.invalid:5000 over HTTPS"),
        "{https:?}"
    );
    d.write("batou.toml", &format!("{source}[registries]\ninsecure = [\"registry.invalid:5000\"]\n"));
    let plain = d.deploy();
    assert_eq!(plain.code, 2, "{plain:?}");
    assert!(plain.stderr.contains("cannot reach the registry registry.invalid:5000 over plain HTTP"), "{plain:?}");
    // The variable counts for deploys too.
    d.write("batou.toml", source);
    let by_variable =
        d.run_with(&["deploy", "dev"], &[("BATOU_RUN_INSECURE_REGISTRIES", OsStr::new("registry.invalid:5000"))]);
    assert!(by_variable.stderr.contains("over plain HTTP"), "{by_variable:?}");
}
