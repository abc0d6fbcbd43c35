//! What a terminal shows: colored diffs and `ERROR:` lines on a real
//! pseudo-terminal (tmux), a live line per host while several deploy, and
//! no escape sequence at all when the output is piped, with `--json`, or
//! with `NO_COLOR` set.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fixtures::FIXTURE_LOOPER;
use crate::harness::{Deployment, cache_dir};

const ENV: &str = "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"motd\"]\n\
                   [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hello from a terminal\\n\"\n";

/// The screen (with its escape sequences) after `commands` (`batou-run`
/// arguments, each run in `d`) ran on a tmux pseudo-terminal with `env`
/// set; `watch` sees the plain screen every 50 ms meanwhile.
fn on_a_terminal(tmux: &Path, d: &Deployment, env: &str, commands: &[&str], mut watch: impl FnMut(&str)) -> String {
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = format!("batou-run-test-{}-{n}", std::process::id());
    let tmux_cmd = |args: &[&str]| Command::new(tmux).arg("-L").arg(&socket).args(args).output().unwrap();
    let binary = env!("CARGO_BIN_EXE_batou-run");
    let mut script = String::new();
    for command in commands {
        script.push_str(&format!(
            "env BATOU_RUN_CACHE='{cache}' {env} {binary} {command} -d '{dir}'; ",
            cache = cache_dir().display(),
            dir = d.path().display(),
        ));
    }
    script.push_str("echo ALL-DONE; sleep 120");
    let started = tmux_cmd(&["new-session", "-d", "-x", "200", "-y", "50", &script]);
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let screen = loop {
        let plain = String::from_utf8_lossy(&tmux_cmd(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned();
        if plain.contains("ALL-DONE") {
            break String::from_utf8_lossy(&tmux_cmd(&["capture-pane", "-p", "-e", "-t", "0"]).stdout).into_owned();
        }
        watch(&plain);
        assert!(Instant::now() < deadline, "the commands did not finish: {plain}");
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux_cmd(&["kill-server"]);
    screen
}

#[test]
fn diffs_and_errors_are_colored_on_a_terminal_and_nowhere_else() {
    let Some(tmux) = crate::harness::which("tmux") else {
        eprintln!("skipped: the terminal test needs tmux (apt-get install tmux)");
        return;
    };
    let d = Deployment::new(ENV);
    let screen = on_a_terminal(&tmux, &d, "", &["deploy dev", "deploy nope"], |_| {});
    let line = |text: &str| screen.lines().find(|l| l.contains(text)).unwrap_or_else(|| panic!("{text} in {screen}"));
    assert!(line("+hello from a terminal").contains("\u{1b}[32m+hello from a terminal"), "green: {screen:?}");
    assert!(line("ERROR:").contains("\u{1b}[31mERROR:"), "red: {screen:?}");
    assert!(!line("localhost: motd").contains('\u{1b}'), "a change line stays plain: {screen:?}");

    // NO_COLOR: the same screen without a color.
    let plain = Deployment::new(ENV);
    let screen = on_a_terminal(&tmux, &plain, "NO_COLOR=1", &["deploy dev", "deploy nope"], |_| {});
    assert!(screen.contains("+hello from a terminal") && screen.contains("ERROR:"), "{screen}");
    assert!(!screen.contains("\u{1b}[3"), "no color with NO_COLOR: {screen:?}");

    // Piped, and with --json: no escape sequence at all.
    let piped = Deployment::new(ENV);
    for args in
        [&["deploy", "dev"][..], &["deploy", "dev", "--json"], &["deploy", "nope"], &["deploy", "nope", "--json"]]
    {
        let run = piped.run(args);
        assert!(!run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'), "{args:?}: {run:?}");
    }
}

#[test]
fn a_line_per_host_shows_what_each_is_doing_and_how_it_ended() {
    let Some(tmux) = crate::harness::which("tmux") else {
        eprintln!("skipped: the terminal test needs tmux (apt-get install tmux)");
        return;
    };
    // Host `web` spins in its root's update until the 2 s timeout ends
    // it; host `db` deploys a file meanwhile.
    let d = Deployment::new("");
    d.own_module("looper", FIXTURE_LOOPER);
    d.write(
        "environments/dev.toml",
        "[environment]\nconnect = \"local\"\ntimeout = 2\njobs = 2\n[hosts.web]\ncomponents = [\"spin\"]\n\
         [hosts.db]\ncomponents = [\"motd\"]\n[components.spin]\nkind = \"looper\"\nwhen = \"update\"\n\
         [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    let mut seen_live = false;
    let screen = on_a_terminal(&tmux, &d, "", &["deploy dev"], |plain| {
        seen_live |= plain.contains("web: deploying root 1 of 1: spin");
    });
    assert!(seen_live, "the live line of host web, while it deployed: {screen}");
    assert!(screen.contains("db: done (1 of 1 roots)"), "{screen}");
    assert!(screen.contains("web: FAILED (0 of 1 roots deployed)"), "{screen}");
    // Piped: no such line.
    let piped = d.run(&["deploy", "dev"]);
    assert!(!piped.stdout.contains("roots)") && !piped.stderr.contains("roots)"), "{piped:?}");
}
