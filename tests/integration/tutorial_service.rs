//! examples/tutorial-service, deployed from a copy outside the
//! repository: the release unpacked and its configuration written, the
//! service started from what was deployed and asked for its page; then
//! with its systemd unit and cron job granted (a recording `systemctl`
//! on PATH, a test user's crontab).

use std::io::{Read, Write};
use std::process::Command;

use crate::deploy::copy_tree;
use crate::harness::Deployment;

fn copy() -> Deployment {
    let d = Deployment::new("");
    copy_tree(&crate::harness::repo().join("examples/tutorial-service"), d.path());
    d
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET / of the service at `port`, retried while it starts.
fn page(port: u16) -> String {
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).unwrap();
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("webstatus never listened on {port}");
}

#[test]
fn the_service_example_deploys_runs_and_changes_nothing_the_second_time() {
    let d = copy();
    let port = free_port();
    let dev = std::fs::read_to_string(d.path().join("environments/dev.toml")).unwrap();
    d.write("environments/dev.toml", &dev.replace("port = 8080", &format!("port = {port}")));

    let predicted = d.predict().ok();
    assert!(predicted.stdout.contains("localhost: webstatus > extract('app')"), "{}", predicted.stdout);
    assert!(!d.work("webstatus").exists(), "predict changed nothing");
    d.deploy().ok();
    let app = d.work("webstatus/app");
    assert_eq!(std::fs::read_to_string(app.join("VERSION")).unwrap(), "1.0\n");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(app.join("webstatus.py")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755, "the archive's mode");
    let config = std::fs::read_to_string(d.work("webstatus/webstatus.conf")).unwrap();
    assert!(config.contains(&format!("port = {port}\n")) && config.contains("greeting = Hello from dev\n"), "{config}");
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // What was deployed runs.
    let mut service =
        Command::new("python3").arg(app.join("webstatus.py")).arg(d.work("webstatus/webstatus.conf")).spawn().unwrap();
    let answer = page(port);
    let _ = service.kill();
    let _ = service.wait();
    assert!(answer.starts_with("HTTP/1.0 200") && answer.ends_with("Hello from dev from webstatus 1.0\n"), "{answer}");
}

#[test]
fn the_service_example_with_its_unit_and_cron_job_granted() {
    if !crate::harness::is_root() || crate::harness::which("crontab").is_none() {
        eprintln!("skipped: needs root and crontab (a test user's crontab); .ci/run installs it");
        return;
    }
    let d = copy();
    let systemd = tempfile::tempdir().unwrap();
    let bin = crate::stdlib_system::recording_systemctl(systemd.path());
    let units = systemd.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let user = "batou-cron-t2";
    crate::stdlib_system::test_user(user);
    let _ = Command::new("crontab").args(["-u", user, "-r"]).output();
    d.write(
        "environments/service.toml",
        &format!(
            "[hosts.localhost]\ncomponents = [\"webstatus\", \"crontab\"]\n\
             [components.webstatus]\nsystemd = true\ncron = true\nunit_dir = \"{units}\"\n\
             [components.crontab]\nkind = \"crontab\"\nuser = \"{user}\"\n\
             [grants.webstatus]\ncommands = [\"systemctl\"]\npaths.write = [\"{units}\"]\n\
             [grants.crontab]\ncommands = [\"crontab\"]\n",
            units = units.display()
        ),
    );
    let path = crate::stdlib_system::path_with(&bin);
    let env: &[(&str, &std::ffi::OsStr)] = &[("PATH", &path)];
    d.run_with(&["deploy", "service"], env).ok();
    let unit = std::fs::read_to_string(units.join("webstatus.service")).unwrap();
    assert!(unit.contains("/webstatus.py ") && unit.contains("webstatus.conf"), "{unit}");
    let calls = crate::stdlib_system::calls(systemd.path());
    assert_eq!(
        crate::stdlib_system::changing(&calls),
        ["daemon-reload", "enable webstatus.service", "start webstatus.service"]
    );
    let crontab = String::from_utf8(Command::new("crontab").args(["-u", user, "-l"]).output().unwrap().stdout).unwrap();
    assert!(
        crontab.contains("17 3 * * * find ") && crontab.contains("/logs -name '*.log' -mtime +14 -delete"),
        "{crontab}"
    );
    assert!(d.run_with(&["deploy", "service"], env).ok().changed().is_empty(), "a second deploy changes nothing");

    // A new greeting: the configuration changes, the unit restarts, nothing else.
    let service = std::fs::read_to_string(d.path().join("environments/service.toml")).unwrap();
    d.write("environments/service.toml", &service.replace("cron = true\n", "cron = true\ngreeting = \"Moin\"\n"));
    crate::stdlib_system::calls(systemd.path());
    let changed = d.run_with(&["deploy", "service"], env).ok();
    assert_eq!(
        crate::stdlib_system::changing(&crate::stdlib_system::calls(systemd.path())),
        ["restart webstatus.service"]
    );
    assert!(changed.stdout.contains("webstatus.conf"), "{}", changed.stdout);
    assert!(!changed.stdout.contains("extract"), "the release is unchanged: {}", changed.stdout);
}
