//! The agent as a process of its own (`deploy --agent-process`, and
//! `batou-run agent` driven directly), as SSH deploys will run it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::FIXTURE_LOOPER;
use crate::harness::{Deployment, Run, cache_dir};

const FILES: &str = r#"
[environment]
connect = "local"

[hosts.localhost]
components = ["motd", "config", "page"]
data = { role = "web" }

[components.motd]
kind = "file"
path = "motd.txt"
content = "Welcome to {{ host.name }} ({{ host.data.role }})\n"

[components.config]
kind = "file"
path = "etc/app.conf"
content = "port = 8080\n"
leading = true
mode = "0640"

[components.page]
kind = "file"
path = "index.html"
source = "index.html.j2"
"#;

/// A deployment of FILES whose template is unique to it, so that its
/// asset is new to the shared cache.
fn files() -> Deployment {
    let d = Deployment::new(FILES);
    let marker = d.path().display().to_string();
    d.write("components/page/index.html.j2", &format!("<h1>{{{{ host.name }}}}</h1>\n<!-- {marker} -->\n"));
    d
}

/// The output lines, with the deployment's path and the timing removed.
fn lines(d: &Deployment, run: &Run) -> Vec<String> {
    d.normalise(&run.stdout).lines().map(|l| l.split(" (").next().unwrap_or(l).to_string()).collect()
}

/// How a test starts the agent process: this binary, or another command
/// line (`qemu-aarch64 /path/to/agent`), given to deploys as
/// BATOU_RUN_AGENT_PROCESS.
#[derive(Default)]
pub struct AgentCommand(pub Option<Vec<String>>);

impl AgentCommand {
    /// `batou-run deploy ARGS --agent-process` in `d` with this agent.
    fn deploy(&self, d: &Deployment, args: &[&str]) -> Run {
        let mut args = args.to_vec();
        args.push("--agent-process");
        match &self.0 {
            None => d.run(&args),
            Some(command) => {
                d.run_with(&args, &[("BATOU_RUN_AGENT_PROCESS", std::ffi::OsStr::new(&command.join(" ")))])
            }
        }
    }

    /// `AGENT agent --cache CACHE` with piped stdin, stdout and stderr.
    fn spawn(&self) -> std::process::Child {
        let Some(command) = &self.0 else { return crate::harness::agent_process() };
        Command::new(&command[0])
            .args(&command[1..])
            .args(["agent", "--cache"])
            .arg(cache_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// The protocol tests of this file, with the agent started by `agent`.
pub fn protocol_tests(agent: &AgentCommand) {
    deploys_like_the_in_process_agent(agent);
    uploads_only_what_it_is_missing(agent);
    explains_a_protocol_mismatch(agent);
    refuses_garbage(agent);
}

fn summary(run: &Run) -> serde_json::Value {
    let last = run.stdout.lines().last().expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(v["event"], "summary", "{last}");
    v
}

#[test]
fn the_agent_process_deploys_like_the_in_process_agent() {
    deploys_like_the_in_process_agent(&AgentCommand::default());
}

fn deploys_like_the_in_process_agent(agent: &AgentCommand) {
    let inside = files();
    let outside = files();
    let a = inside.deploy().ok();
    let b = agent.deploy(&outside, &["deploy", "dev"]).ok();
    assert_eq!(lines(&inside, &a), lines(&outside, &b), "{}\n---\n{}", a.stdout, b.stdout);
    assert!(b.stdout.contains("localhost: page > content('index.html')"), "{}", b.stdout);
    for file in ["motd/motd.txt", "config/etc/app.conf"] {
        assert_eq!(std::fs::read(inside.work(file)).unwrap(), std::fs::read(outside.work(file)).unwrap(), "{file}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(outside.work("config/etc/app.conf")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    // The template travelled as an asset and was rendered on the agent.
    let page = std::fs::read_to_string(outside.work("page/index.html")).unwrap();
    assert!(page.starts_with("<h1>localhost</h1>\n"), "{page}");
    assert!(page.contains(&outside.path().display().to_string()), "{page}");

    let again = agent.deploy(&outside, &["deploy", "dev"]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
}

#[test]
fn only_what_the_agent_is_missing_is_uploaded() {
    uploads_only_what_it_is_missing(&AgentCommand::default());
}

fn uploads_only_what_it_is_missing(agent: &AgentCommand) {
    let d = files();
    let first = agent.deploy(&d, &["deploy", "dev", "--json"]).ok();
    let uploaded = &summary(&first)["uploaded"];
    assert_eq!(uploaded["assets"], 1, "the new template: {}", first.stdout);
    assert!(uploaded["bytes"].as_u64().unwrap() > 0, "{}", first.stdout);

    let second = agent.deploy(&d, &["deploy", "dev", "--json"]).ok();
    let uploaded = &summary(&second)["uploaded"];
    assert_eq!(*uploaded, serde_json::json!({"modules": 0, "assets": 0, "bytes": 0}), "{}", second.stdout);
    assert_eq!(summary(&second)["changed"], 0);
}

/// A frame of the agent protocol holding one JSON message.
fn frame(json: &str) -> Vec<u8> {
    let mut f = (json.len() as u32).to_be_bytes().to_vec();
    f.push(0);
    f.extend_from_slice(json.as_bytes());
    f
}

/// The JSON messages in a stream of frames.
fn messages(mut bytes: &[u8]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while bytes.len() >= 5 {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(bytes[4], 0, "a message frame");
        out.push(serde_json::from_slice(&bytes[5..5 + len]).unwrap());
        bytes = &bytes[5 + len..];
    }
    out
}

#[test]
fn a_protocol_mismatch_is_explained() {
    explains_a_protocol_mismatch(&AgentCommand::default());
}

fn explains_a_protocol_mismatch(agent: &AgentCommand) {
    let mut agent = agent.spawn();
    agent.stdin.take().unwrap().write_all(&frame(r#"{"type":"hello","protocol":999}"#)).unwrap();
    let out = agent.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "an internal error");
    let replies = messages(&out.stdout);
    assert_eq!(replies[0]["type"], "hello", "{replies:?}");
    assert_eq!(replies[0]["protocol"], 2, "{replies:?}");
    assert_eq!(replies[1]["type"], "fatal", "{replies:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needed in ["protocol 999", "speaks protocol 2", "install the same batou-run version"] {
        assert!(stderr.contains(needed), "{needed}: {stderr}");
        assert!(replies[1]["message"].as_str().unwrap().contains(needed), "{replies:?}");
    }
}

#[test]
fn garbage_on_stdin_is_refused_with_a_fatal_message() {
    refuses_garbage(&AgentCommand::default());
}

fn refuses_garbage(agent: &AgentCommand) {
    let mut agent = agent.spawn();
    agent.stdin.take().unwrap().write_all(&[0x7f, 0xff, 0xff, 0xff, 0]).unwrap();
    let out = agent.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "an internal error");
    let replies = messages(&out.stdout);
    assert_eq!(replies[0]["type"], "fatal", "{replies:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than the limit"), "{out:?}");
}

/// The children of process `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

#[test]
fn an_agent_killed_mid_deploy_is_a_clear_error_naming_the_host() {
    let d = Deployment::new(
        "[environment]\ntimeout = 60\n[hosts.localhost]\ncomponents = [\"spin\"]\n[components.spin]\nkind = \"looper\"\nwhen = \"update\"\n",
    );
    d.own_module("looper", FIXTURE_LOOPER);
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_batou-run"))
        .args(["deploy", "dev", "--agent-process", "--json", "--deployment"])
        .arg(d.path())
        .env("BATOU_RUN_CACHE", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(deploy.stdout.take().unwrap());
    let mut seen = String::new();
    // The agent reports the change before the update (which loops) runs.
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("the deploy ended before the looper's update: {seen}");
        }
        seen.push_str(&line);
        if line.contains(r#""event":"changed""#) {
            break;
        }
    }
    let started = Instant::now();
    let agents = loop {
        let agents = children(deploy.id());
        if !agents.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break agents;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(agents.len(), 1, "one agent process under the deploy: {agents:?}");
    let killed = Command::new("kill").args(["-KILL", &agents[0].to_string()]).status().unwrap();
    assert!(killed.success());
    stdout.read_to_string(&mut seen).unwrap();
    let mut stderr = String::new();
    deploy.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = deploy.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}\n{stderr}");
    assert!(seen.contains("host localhost: the agent ended before the deploy finished"), "{seen}");
    assert!(seen.contains("the last component it reported was `spin`"), "{seen}");
    assert!(seen.contains(r#""failed_hosts":["localhost"]"#), "{seen}");
}
