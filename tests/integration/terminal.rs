//! What a terminal shows: colored diffs and `ERROR:` lines on a real
//! pseudo-terminal (tmux), and no escape sequence at all when the output
//! is piped, with `--json`, or with `NO_COLOR` set.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Deployment, cache_dir};

const ENV: &str = "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"motd\"]\n\
                   [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hello from a terminal\\n\"\n";

/// The screen (with its escape sequences) after `batou-run deploy dev`
/// and `batou-run deploy nope` ran in `d` on a tmux pseudo-terminal, with
/// `env` set.
fn on_a_terminal(tmux: &Path, d: &Deployment, env: &str) -> String {
    let socket = format!("batou-run-test-{}-{}", std::process::id(), env.len());
    let tmux_cmd = |args: &[&str]| Command::new(tmux).arg("-L").arg(&socket).args(args).output().unwrap();
    let binary = env!("CARGO_BIN_EXE_batou-run");
    let script = format!(
        "env BATOU_RUN_CACHE='{cache}' {env} {binary} deploy dev -d '{dir}'; \
         env BATOU_RUN_CACHE='{cache}' {env} {binary} deploy nope -d '{dir}'; echo ALL-DONE; sleep 120",
        cache = cache_dir().display(),
        dir = d.path().display(),
    );
    let started = tmux_cmd(&["new-session", "-d", "-x", "200", "-y", "50", &script]);
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let screen = loop {
        let plain = String::from_utf8_lossy(&tmux_cmd(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned();
        if plain.contains("ALL-DONE") {
            break String::from_utf8_lossy(&tmux_cmd(&["capture-pane", "-p", "-e", "-t", "0"]).stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "the commands did not finish: {plain}");
        std::thread::sleep(Duration::from_millis(100));
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
    let screen = on_a_terminal(&tmux, &d, "");
    let line = |text: &str| screen.lines().find(|l| l.contains(text)).unwrap_or_else(|| panic!("{text} in {screen}"));
    assert!(line("+hello from a terminal").contains("\u{1b}[32m+hello from a terminal"), "green: {screen:?}");
    assert!(line("ERROR:").contains("\u{1b}[31mERROR:"), "red: {screen:?}");
    assert!(!line("localhost: motd").contains('\u{1b}'), "a change line stays plain: {screen:?}");

    // NO_COLOR: the same screen without a color.
    let plain = Deployment::new(ENV);
    let screen = on_a_terminal(&tmux, &plain, "NO_COLOR=1");
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
