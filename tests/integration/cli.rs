//! The command line's one error path: the same mistake gives the same exit
//! code and the same words from every command that can make it; `--json`
//! makes an error one JSON event on stdout; SSH settings that cannot be
//! followed name ssh_config's file and line before any connection.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use crate::harness::{Deployment, Run, cache_dir};

/// `batou-run ARGS` with `env` set and the variables in `unset` removed.
fn batou(args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_batou-run"));
    command.args(args).env("BATOU_RUN_CACHE", cache_dir()).stdin(Stdio::null());
    for name in unset {
        command.env_remove(name);
    }
    let out = command.envs(env.iter().map(|(k, v)| (*k, OsString::from(v)))).output().expect("run batou-run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The one JSON error event a failed `--json` run printed: stdout holds
/// that line and nothing else.
#[track_caller]
fn json_error(run: &Run) -> serde_json::Value {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one event on stdout: {run:?}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is a JSON event");
    assert_eq!(event["event"], "error", "{run:?}");
    assert_eq!(event["exit_code"], run.code, "{run:?}");
    assert!(!run.stderr.contains("ERROR"), "no text error besides the event: {run:?}");
    event
}

/// One mistake, made by each command that can make it.
struct Mistake {
    what: &'static str,
    /// Each command line making it (`--json` is added for the JSON run).
    commands: Vec<Vec<String>>,
    env: Vec<(&'static str, &'static str)>,
    unset: Vec<&'static str>,
    code: i32,
    kind: &'static str,
    /// The start of the error's message (text: after `ERROR: `).
    message: String,
}

fn commands(lines: &[&[&str]]) -> Vec<Vec<String>> {
    lines.iter().map(|l| l.iter().map(|a| a.to_string()).collect()).collect()
}

#[test]
fn the_same_mistake_gives_the_same_code_and_words_from_every_command() {
    let nowhere = tempfile::tempdir().unwrap();
    let not_a_deployment = nowhere.path().display().to_string();
    let fresh = nowhere.path().join("fresh").display().to_string();
    let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
    let deployment = d.path().display().to_string();
    let broken = Deployment::new("[hosts.localhost]\ncomponents = [\"motd\"\n");
    let broken_path = broken.path().display().to_string();
    let nd = not_a_deployment.as_str();
    let dp = deployment.as_str();
    let mistakes = vec![
        Mistake {
            what: "a folder that is not a deployment",
            commands: commands(&[
                &["deploy", "dev", "-d", nd],
                &["deploy", "dev", "-c", "-d", nd],
                &["deploy", "dev", "-P", "-d", nd],
                &["component", "new", "web", "-d", nd],
                &["lock", "update", "-d", nd],
            ]),
            env: vec![],
            unset: vec![],
            code: 2,
            kind: "usage",
            message: format!("{nd} is not a deployment: it has no environments/ folder"),
        },
        Mistake {
            what: "an argument no command has",
            commands: commands(&[
                &["deploy", "dev", "-d", dp, "--frob"],
                &["new", &fresh, "--frob"],
                &["component", "new", "web", "-d", dp, "--frob"],
                &["cache", "info", "--frob"],
                &["cache", "clean", "--frob"],
                &["agent", "--frob"],
            ]),
            env: vec![],
            unset: vec![],
            code: 2,
            kind: "usage",
            message: "unexpected argument '--frob' found".into(),
        },
        Mistake {
            what: "no folder for the cache",
            commands: commands(&[&["deploy", "dev", "-d", dp], &["cache", "info"], &["cache", "clean"], &["agent"]]),
            env: vec![("HOME", "relative/home"), ("BATOU_RUN_CACHE", "")],
            unset: vec!["XDG_CACHE_HOME"],
            code: 2,
            kind: "config",
            message: "no folder for batou-run's cache: HOME is \"relative/home\", not an absolute path".into(),
        },
        Mistake {
            what: "an unknown environment",
            commands: commands(&[
                &["deploy", "prod", "-d", dp],
                &["deploy", "prod", "-c", "-d", dp],
                &["deploy", "prod", "-P", "-d", dp],
            ]),
            env: vec![],
            unset: vec![],
            code: 2,
            kind: "config",
            message: format!(
                "no environment `prod` in {}",
                d.path().canonicalize().unwrap().join("environments").display()
            ),
        },
        Mistake {
            what: "a malformed environment",
            commands: commands(&[
                &["deploy", "dev", "-d", &broken_path],
                &["deploy", "dev", "-c", "-d", &broken_path],
                &["deploy", "dev", "-P", "-d", &broken_path],
            ]),
            env: vec![],
            unset: vec![],
            code: 2,
            kind: "config",
            message: "environments/dev.toml:2: malformed TOML".into(),
        },
    ];
    for mistake in &mistakes {
        for command in &mistake.commands {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            let run = batou(&args, &mistake.env, &mistake.unset);
            assert_eq!(run.code, mistake.code, "{}: {args:?}: {run:?}", mistake.what);
            let expected = format!("ERROR: {}", mistake.message);
            assert!(run.stderr.starts_with(&expected), "{}: {args:?}: `{expected}` in {run:?}", mistake.what);
            assert!(run.stdout.is_empty(), "{}: {args:?}: {run:?}", mistake.what);

            // The agent's stdout is its protocol's: errors stay text.
            if args[0] == "agent" {
                continue;
            }
            let mut with_json = args.clone();
            with_json.push("--json");
            let run = batou(&with_json, &mistake.env, &mistake.unset);
            assert_eq!(run.code, mistake.code, "{}: {with_json:?}: {run:?}", mistake.what);
            let event = json_error(&run);
            assert_eq!(event["kind"], mistake.kind, "{}: {with_json:?}: {run:?}", mistake.what);
            let shown = match event["location"].as_str() {
                Some(location) => format!("{location}: {}", event["message"].as_str().unwrap()),
                None => event["message"].as_str().unwrap().to_string(),
            };
            assert!(shown.starts_with(&mistake.message), "{}: {with_json:?}: {event}", mistake.what);
        }
    }
    assert!(!nowhere.path().join("fresh").exists(), "a refused command line writes nothing");
}

#[test]
fn clap_usage_errors_exit_2_and_help_is_no_error() {
    let missing = batou(&["deploy"], &[], &[]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.starts_with("ERROR: the following required arguments were not provided"), "{missing:?}");
    let nothing = batou(&[], &[], &[]);
    assert_eq!(nothing.code, 2, "{nothing:?}");
    assert!(nothing.stderr.starts_with("ERROR: a command is needed"), "{nothing:?}");
    let unknown = batou(&["depoly", "dev", "--json"], &[], &[]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(json_error(&unknown)["message"].as_str().unwrap().contains("unrecognized subcommand 'depoly'"));
    let jobs = batou(&["deploy", "dev", "-j", "0"], &[], &[]);
    assert_eq!(jobs.code, 2, "{jobs:?}");

    for args in [&["--help"][..], &["deploy", "--help"], &["--version"]] {
        let run = batou(args, &[], &[]);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(!run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    let help = batou(&["--help"], &[], &[]).stdout;
    assert!(help.contains("Exit codes: 0 done; 1 a deploy failed; 2 a usage or configuration error"), "{help}");
    // Each command's help is its own.
    let component = batou(&["component", "--help"], &[], &[]).stdout;
    assert!(component.starts_with("Create, build, inspect and share component modules"), "{component}");
}

#[test]
fn an_internal_error_has_a_code_of_its_own() {
    // An agent spoken to with garbage cannot work: not the deployment's
    // mistake, nor a failed deploy.
    let mut agent = crate::harness::agent_process();
    std::io::Write::write_all(&mut agent.stdin.take().unwrap(), b"not a frame at all").unwrap();
    let out = agent.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR: batou-run agent: "), "{out:?}");

    // A folder that cannot be written: text, and one JSON event.
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(parent.path().join("file"), "").unwrap();
    let under_a_file = parent.path().join("file/site").display().to_string();
    let run = batou(&["new", &under_a_file], &[], &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.starts_with("ERROR: cannot write the files: "), "{run:?}");
    let run = batou(&["new", &under_a_file, "--json"], &[], &[]);
    assert_eq!(run.code, 4, "{run:?}");
    let event = json_error(&run);
    assert_eq!(event["kind"], "internal", "{event}");
    assert!(event["message"].as_str().unwrap().starts_with("cannot write the files: "), "{event}");
}

#[test]
fn other_commands_speak_json_too() {
    let parent = tempfile::tempdir().unwrap();
    let site = parent.path().join("site");
    let run = batou(&["new", site.to_str().unwrap(), "--json"], &[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events: Vec<serde_json::Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    assert!(events.iter().any(|e| e["event"] == "created"), "{events:?}");
    assert_eq!(events.last().unwrap()["event"], "summary", "{events:?}");

    let cache = tempfile::tempdir().unwrap();
    let info = batou(&["cache", "info", "--cache", cache.path().to_str().unwrap(), "--json"], &[], &[]);
    assert_eq!(info.code, 0, "{info:?}");
    let summary: serde_json::Value = serde_json::from_str(info.stdout.trim()).expect("one JSON event");
    assert_eq!((summary["event"].as_str(), summary["bytes"].as_u64()), (Some("summary"), Some(0)), "{summary}");
}

/// An SSH environment whose one host would be reached through
/// ssh_config: nothing listens on its port, so a run that got as far as
/// connecting would say so.
fn ssh_deployment(ssh_config: &[u8]) -> Deployment {
    let d = Deployment::new(
        "[environment]\nconnect = \"ssh\"\n\n[hosts.target]\naddress = \"127.0.0.1\"\nport = 1\ncomponents = [\"motd\"]\n\n\
         [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    std::fs::write(d.path().join("ssh_config"), ssh_config).unwrap();
    d
}

#[test]
fn ssh_config_it_cannot_follow_is_a_configuration_error_with_file_and_line() {
    if crate::harness::which("ssh").is_none() {
        eprintln!("skipped: no OpenSSH client (ssh) on PATH");
        return;
    }
    // OpenSSH's own reading (`ssh -G`) names the line; what batou-run
    // cannot follow names the host.
    let cases: [(&[u8], &str); 4] = [
        (
            b"Host target\n  User deploy\n  ProxyJump first,,second\n",
            "ERROR: ssh_config:3: Invalid ProxyJump \"first,,second\"",
        ),
        (b"# ports\nHost *\n  Port twenty-two\n", "ERROR: ssh_config:3: Bad port 'twenty-two'"),
        (
            b"Host target\n  User d\xe9ploy\n",
            "ERROR: ssh_config: target: the settings `ssh -G target` gives are not UTF-8 text",
        ),
        (
            b"Host target\n  CertificateFile ~/.ssh/id-cert.pub\n",
            "ERROR: ssh_config: target: `CertificateFile ~/.ssh/id-cert.pub` is not supported",
        ),
    ];
    for (config, expected) in cases {
        let d = ssh_deployment(config);
        for mode in [&["deploy", "dev"][..], &["deploy", "dev", "-c"]] {
            let run = d.run(mode);
            assert_eq!(run.code, 2, "{mode:?}: {run:?}");
            assert!(run.stderr.starts_with(expected), "{mode:?}: `{expected}` in {run:?}");
            assert!(!run.stderr.contains("connect"), "reported before connecting: {run:?}");
        }
        let run = d.run(&["deploy", "dev", "--json"]);
        assert_eq!(run.code, 2, "{run:?}");
        let event = json_error(&run);
        assert_eq!(event["kind"], "config", "{event}");
        let location = event["location"].as_str().unwrap();
        assert!(expected.starts_with(&format!("ERROR: {location}: ")), "{event}");
    }

    // What concerns another host is no error: the run goes as far as
    // connecting, through the jump host.
    let d = ssh_deployment(
        b"Host elsewhere\n  ProxyJump a,b\n  StrictHostKeyChecking no\nHost target\n  ProxyJump jump\nHost jump\n  HostName 127.0.0.1\n  Port 1\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "a failed deploy, not a configuration error: {run:?}");
    assert!(run.stderr.contains("through the jump host"), "{run:?}");
}
