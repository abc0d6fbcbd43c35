//! Several hosts over SSH at once: each simulated host is its own sshd
//! with its own user, and roots wait for values provided on other hosts.

use std::os::unix::fs::PermissionsExt;

use crate::fixtures::FIXTURE_GRAPH;
use crate::harness::Deployment;
use crate::sshd::Sshd;

#[test]
fn a_root_waits_for_its_provider_on_another_host_with_parallel_hosts() {
    // Users no other test logs in as: one deploying meanwhile as the same
    // user would put the agent in that user's cache before `app` needs it.
    let (Some(db), Some(app)) = (Sshd::start(31), Sshd::start(32)) else { return };
    for host in [&db, &app] {
        let _ = std::fs::remove_dir_all(host.user_home.join("cross-host"));
        // Both hosts are sent the agent.
        let _ = std::fs::remove_dir_all(host.user_home.join(".cache/batou-run"));
    }
    // One controller key and one known_hosts for both hosts.
    app.authorize(&db.client_home.join(".ssh/id_ed25519.pub"));
    let mut known = std::fs::read_to_string(db.known_hosts()).unwrap();
    known.push_str(&std::fs::read_to_string(app.known_hosts()).unwrap());
    std::fs::write(db.known_hosts(), known).unwrap();
    // A record file both remote users can write.
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let records = shared.path().join("records");
    std::fs::create_dir(&records).unwrap();
    std::fs::set_permissions(&records, std::fs::Permissions::from_mode(0o777)).unwrap();
    let record = records.join("order.log");
    std::fs::write(&record, "").unwrap();
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();

    let d = Deployment::new("");
    d.own_module("graph", FIXTURE_GRAPH);
    // The requiring host comes first in the file: the plan must hold it back.
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[environment]
connect = "ssh"
target_directory = "cross-host"

[hosts.app]
components = ["frontend"]
{app}
[hosts.db]
components = ["database"]
{db}
[components.frontend]
kind = "node"
require = ["db-url"]
record = "{record}"

[components.database]
kind = "node"
provide = {{ db-url = "postgres://db" }}
record = "{record}"

[grants.frontend]
paths.write = ["{records}"]

[grants.database]
paths.write = ["{records}"]
"#,
            app = app.host_keys(),
            db = db.host_keys(),
            record = record.display(),
            records = records.display(),
        ),
    );
    let out = db.command(d.path(), &["deploy", "dev", "-j", "2"]).env("BATOU_RUN_LOG", "info").output().unwrap();
    let run = crate::harness::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 0, "{run:?}\n{}\n{}", db.log(), app.log());
    // An agent upgrade to many hosts reads or compresses the binary once.
    let count = |what: &str| run.stderr.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("agent binary sent"), 2, "{}", run.stderr);
    assert_eq!(count("agent binary compressed") + count("agent binary read gzipped"), 1, "{}", run.stderr);
    let lines: Vec<String> = std::fs::read_to_string(&record).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines, ["database {}", r#"frontend {"db-url":["postgres://db"]}"#]);
    assert!(run.stdout.contains("app: frontend") && run.stdout.contains("db: database"), "{}", run.stdout);
    // The agent runs with the login's umask (022), not the bootstrap's 077.
    let created = db.user_home.join("cross-host/work/database");
    let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "{}", created.display());
}
