//! Several hosts: cross-host order, hosts in parallel (`-j`), a failing
//! host, `--host`, and the deploy lock. With `connect = "local"` every
//! host is this machine, so each host's roots have names of their own.

use std::process::{Command, Stdio};

use crate::fixtures::FIXTURE_TRAP;
use crate::harness::{graph, recorded};

/// web2's app requires db-url from web1's db; web2 comes first in the
/// file, so only the cross-host dependency puts db first.
const APP_AND_DB: &str = r#"
[hosts.web2]
components = ["app"]

[hosts.web1]
components = ["db"]

[components.app]
kind = "node"
require = ["db-url"]
record = "RECORD"

[components.db]
kind = "node"
provide = { db-url = "postgres://db" }
record = "RECORD"
"#;

#[test]
fn a_root_waits_for_its_provider_on_another_host() {
    for args in
        [&["deploy", "dev"][..], &["deploy", "dev", "-j", "2"], &["deploy", "dev", "-j", "2", "--agent-process"]]
    {
        let (d, record) = graph(APP_AND_DB);
        let run = d.run(args).ok();
        assert_eq!(recorded(&record), ["db {}", r#"app {"db-url":["postgres://db"]}"#], "{args:?}: {run:?}");
        assert!(run.stdout.contains("changed on 2 hosts"), "{}", run.stdout);
    }
}

#[test]
fn a_reverse_require_on_another_host_deploys_the_requirer_first() {
    let (d, record) = graph(
        r#"
[hosts.one]
components = ["provider"]

[hosts.two]
components = ["requirer"]

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
    d.run(&["deploy", "dev", "-j", "2"]).ok();
    assert_eq!(recorded(&record), [r#"requirer {"x":[1]}"#, "provider {}"]);
}

/// Each host's command waits (up to 20 s) for a flag the other host's
/// command sets: the deploy only succeeds when both run at once.
#[test]
fn two_jobs_deploy_two_hosts_at_once() {
    let (d, _) = graph(
        r#"
[hosts.a]
components = ["ping"]

[hosts.b]
components = ["pong"]

[components.ping]
kind = "command"
command = "sh"
args = ["-c", "touch DEPLOYMENT/ping.flag; i=0; until [ -e DEPLOYMENT/pong.flag ]; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05; done"]

[components.pong]
kind = "command"
command = "sh"
args = ["-c", "touch DEPLOYMENT/pong.flag; i=0; until [ -e DEPLOYMENT/ping.flag ]; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05; done"]

[grants.ping]
commands = ["sh"]

[grants.pong]
commands = ["sh"]
"#,
    );
    let run = d.run(&["deploy", "dev", "-j", "2"]).ok();
    let mut changed = run.changed();
    changed.sort();
    assert_eq!(changed, ["a: ping", "b: pong"], "{}", run.stdout);
}

#[test]
fn a_failing_host_skips_its_dependants_and_independent_hosts_finish() {
    let (d, record) = graph(
        r#"
[hosts.web1]
components = ["boom", "db"]

[hosts.web2]
components = ["app", "worker"]

[hosts.web3]
components = ["static"]

[components.boom]
kind = "trap"
when = "update"

[components.db]
kind = "node"
provide = { db-url = "postgres://db" }
record = "RECORD"

[components.app]
kind = "node"
require = ["db-url"]
provide = { app-url = "http://app" }
record = "RECORD"

[components.worker]
kind = "node"
require = ["app-url"]
record = "RECORD"

[components.static]
kind = "node"
record = "RECORD"
"#,
    );
    d.own_module("trap", FIXTURE_TRAP);
    for jobs in ["1", "3"] {
        let _ = std::fs::remove_file(&record);
        let run = d.run(&["deploy", "dev", "-j", jobs]);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(recorded(&record), ["static {}"], "only the independent host deployed: {run:?}");
        assert!(run.stderr.contains("ERROR: web1: boom: update: trapped"), "{}", run.stderr);
        for line in [
            "SKIPPED: web1: db: not deployed: web1 stopped after web1:boom failed",
            "SKIPPED: web2: app: waits for web1:db, which was skipped",
            "SKIPPED: web2: worker: waits for web2:app, which was skipped",
        ] {
            assert!(run.stderr.contains(line), "-j {jobs}: no `{line}` in\n{}", run.stderr);
        }
        let summary = run.stdout.lines().last().unwrap();
        assert!(summary.starts_with("Deployment of `dev` FAILED on web1: "), "{summary}");
        assert!(summary.contains("failed: web1:boom; skipped: "), "{summary}");
        for root in ["web1:db", "web2:app", "web2:worker"] {
            assert!(summary.contains(root), "{summary}");
        }
        assert!(summary.contains("(hosts with skipped roots: web2)"), "{summary}");
    }

    let run = d.run(&["deploy", "dev", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["failed_hosts"], serde_json::json!(["web1"]));
    assert_eq!(summary["failed"], serde_json::json!(["web1:boom"]));
    assert_eq!(summary["skipped_hosts"], serde_json::json!(["web2"]));
    assert_eq!(summary["skipped"], serde_json::json!(["web1:db", "web2:app", "web2:worker"]));
}

/// front waits for web2, which waits for web1, whose db fails; front comes
/// first in the file.
#[test]
fn a_failed_provider_is_named_in_the_skip() {
    let (d, record) = graph(
        r#"
[hosts.front]
components = ["web"]

[hosts.web1]
components = ["db"]

[hosts.web2]
components = ["app"]

[components.web]
kind = "node"
require = ["app-url"]
record = "RECORD"

[components.db]
kind = "node"
provide = { db-url = "postgres://db" }
record = "DEPLOYMENT"

[components.app]
kind = "node"
require = ["db-url"]
provide = { app-url = "http://app" }
record = "RECORD"
"#,
    );
    for jobs in ["1", "2"] {
        let run = d.run(&["deploy", "dev", "-j", jobs]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("ERROR: web1: db: update:"), "recording into a folder fails: {}", run.stderr);
        assert!(run.stderr.contains("SKIPPED: web2: app: waits for web1:db, which failed"), "{}", run.stderr);
        assert!(run.stderr.contains("SKIPPED: front: web: waits for web2:app, which was skipped"), "{}", run.stderr);
        assert!(!record.exists());
    }
}

#[test]
fn host_limits_the_deploy_and_an_unknown_host_is_a_usage_error() {
    let (d, record) = graph(APP_AND_DB);
    let run = d.run(&["deploy", "dev", "--host", "web2"]).ok();
    assert_eq!(recorded(&record), [r#"app {"db-url":["postgres://db"]}"#], "configure saw web1's value: {run:?}");
    assert!(run.stdout.contains("changed on 1 host "), "{}", run.stdout);

    let run = d.run(&["deploy", "dev", "--host", "web1", "--host", "web3"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("environment `dev` has no host `web3`"), "{}", run.stderr);
    assert!(run.stderr.contains("web2, web1"), "the hosts are listed: {}", run.stderr);
    assert_eq!(recorded(&record).len(), 1, "nothing deployed");
}

#[test]
fn a_second_deploy_fails_at_once_while_the_lock_is_held() {
    let (d, record) = graph(APP_AND_DB);
    let lock = d.path().join(".batou-run").join("lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // `-o`: the lock stays with `flock` itself, not with `sleep`, so
    // killing `flock` frees it.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .expect("the flock command (util-linux)");
    // Wait until `flock` holds the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while Command::new("flock").args(["-n"]).arg(&lock).arg("true").status().unwrap().success() {
        assert!(std::time::Instant::now() < deadline, "flock did not take the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = d.deploy();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("the deployment is locked: another process holds"), "{}", run.stderr);
    assert!(run.stderr.contains("wait until that deploy has finished"), "{}", run.stderr);
    assert!(!record.exists());
    // The consistency check takes no lock; with the holder gone, deploys go.
    d.run(&["deploy", "dev", "-c"]).ok();
    d.deploy().ok();
    assert_eq!(recorded(&record).len(), 2);
}
