//! In-process deploys verify each root right after its configure, on
//! every core, and use that verdict at the root's turn only while it
//! still holds.

use crate::harness::Deployment;

/// Two roots that want different content in the same file: `first` puts
/// `a`, then `second` puts `b`, on every run.
const SAME_FILE: &str = r#"
[environment]
connect = "local"

[hosts.localhost]
components = ["first", "second"]

[components.first]
kind = "file"
path = "../shared/x.txt"
content = "a\n"

[components.second]
kind = "file"
path = "../shared/x.txt"
content = "b\n"

[grants.first]
paths.write = ["../shared"]

[grants.second]
paths.write = ["../shared"]
"#;

#[test]
fn a_root_verified_ahead_is_verified_again_once_an_earlier_root_changed_something() {
    let d = Deployment::new(SAME_FILE);
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(d.work("shared/x.txt")).unwrap(), "b\n");
    // Ahead of its turn, `second` finds `b` in place and nothing to do;
    // by its turn `first` has written `a`, so that no longer holds.
    let again = d.deploy().ok();
    assert_eq!(
        again.changed(),
        ["localhost: first > content('../shared/x.txt')", "localhost: second > content('../shared/x.txt')"],
        "{}",
        again.stdout
    );
    assert_eq!(std::fs::read_to_string(d.work("shared/x.txt")).unwrap(), "b\n");
    assert!(again.stdout.contains("-b\n") && again.stdout.contains("+b\n"), "second's diff: {}", again.stdout);
}

#[test]
fn a_root_verified_ahead_reports_the_grants_its_turn_would() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [\"first\", \"second\"]\n\n\
         [components.first]\nkind = \"file\"\npath = \"../out/1.txt\"\ncontent = \"1\\n\"\n\n\
         [components.second]\nkind = \"file\"\npath = \"../out/2.txt\"\ncontent = \"2\\n\"\n\n\
         [grants.first]\npaths.write = [\"../out\"]\npaths.read = [\"../elsewhere\"]\n\n\
         [grants.second]\npaths.write = [\"../out\"]\n",
    );
    d.deploy().ok();
    let grants = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with("Grants of"))
            .take_while(|l| !l.starts_with("Deployed"))
            .map(String::from)
            .collect()
    };
    // Nothing to change: both roots are verified ahead, in this process.
    let ahead = d.run(&["deploy", "dev", "-v"]);
    assert_eq!(ahead.code, 0, "{ahead:?}");
    // A separate agent verifies each root at its turn.
    let turn = d.run(&["deploy", "dev", "-v", "--agent-process"]);
    assert_eq!(turn.code, 0, "{turn:?}");
    let (ahead, turn) = (grants(&ahead.stdout), grants(&turn.stdout));
    assert_eq!(ahead, turn, "the report of a root verified ahead differs from its turn's");
    let text = ahead.join("\n");
    assert!(text.contains("Grants of localhost:first") && text.contains("Grants of localhost:second"), "{text}");
    assert!(text.contains("used by first > content('../out/1.txt')"), "{text}");
    assert!(text.contains("NOT USED"), "first's read grant: {text}");
}

const MANY: usize = 24;

fn many_roots() -> String {
    let names: Vec<String> = (0..MANY).map(|i| format!("\"r{i:02}\"")).collect();
    let mut env =
        format!("[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [{}]\n\n", names.join(", "));
    for i in 0..MANY {
        env.push_str(&format!(
            "[components.r{i:02}]\nkind = \"file\"\npath = \"f.txt\"\ncontent = \"root {i}\\n\"\n\n"
        ));
    }
    env
}

/// How many components' configure ran (the runner's debug log says so
/// for each).
fn configures(d: &Deployment, args: &[&str]) -> (usize, String) {
    let run = d.run_with(args, &[("BATOU_RUN_LOG", std::ffi::OsStr::new("batou_run::wasm=debug"))]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    (run.stderr.lines().filter(|l| l.contains(" configure ") || l.ends_with(" configure")).count(), run.stdout)
}

#[test]
fn a_deploy_with_nothing_to_change_configures_each_root_once() {
    let d = Deployment::new(&many_roots());
    d.deploy().ok();
    let (configure_only, _) = configures(&d, &["deploy", "dev", "-c"]);
    let (deploy, stdout) = configures(&d, &["deploy", "dev"]);
    assert!(stdout.contains(&format!("0 of {} components changed", MANY * 2)), "{stdout}");
    assert_eq!(configure_only, MANY * 2, "each root and its sub-component");
    assert_eq!(deploy, configure_only, "a deploy configured more than configure alone does: configure ran again");
    // A separate agent process configures each root again (as on SSH
    // hosts); its log goes to the same stderr.
    let (agent, _) = configures(&d, &["deploy", "dev", "--agent-process"]);
    assert_eq!(agent, 2 * configure_only, "the agent's replay");
}

#[test]
fn the_same_deploy_on_one_thread_and_on_several() {
    let d = Deployment::new(&many_roots());
    let one = d.run_with(&["deploy", "dev"], &[("BATOU_RUN_THREADS", std::ffi::OsStr::new("1"))]).ok();
    std::fs::remove_dir_all(d.path().join("work")).unwrap();
    let four = d.run_with(&["deploy", "dev"], &[("BATOU_RUN_THREADS", std::ffi::OsStr::new("4"))]).ok();
    let lines = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Deployed") && !l.starts_with("Predicted"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&one.stdout), lines(&four.stdout));
    let predicted = |threads: &str| {
        d.write(
            "environments/dev.toml",
            &many_roots().replace("root 3\\n", "root three\\n").replace("root 17\\n", "root seventeen\\n"),
        );
        d.run_with(&["deploy", "dev", "--predict"], &[("BATOU_RUN_THREADS", std::ffi::OsStr::new(threads))]).ok().stdout
    };
    let (p1, p4) = (predicted("1"), predicted("4"));
    assert_eq!(lines(&p1), lines(&p4));
    assert_eq!(
        crate::harness::Run { code: 0, stdout: p4.clone(), stderr: String::new() }.changed(),
        ["localhost: r03 > content('f.txt')", "localhost: r17 > content('f.txt')"],
        "{p4}"
    );
}

#[test]
fn with_host_only_that_hosts_roots_are_verified_ahead() {
    let env = r#"
[environment]
connect = "local"

[hosts.a]
components = ["one"]

[hosts.b]
components = ["two"]

[components.one]
kind = "file"
path = "one.txt"
content = "1\n"

[components.two]
kind = "file"
path = "two.txt"
content = "2\n"
"#;
    let d = Deployment::new(env);
    d.deploy().ok();
    let ahead = |args: &[&str]| {
        let run = d.run_with(args, &[("BATOU_RUN_LOG", std::ffi::OsStr::new("batou_run::cli=info"))]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let line = run.stderr.lines().find(|l| l.contains("verified ahead")).expect("the count is logged").to_string();
        line.rsplit("roots=").next().unwrap().trim().parse::<usize>().unwrap()
    };
    assert_eq!(ahead(&["deploy", "dev"]), 2);
    assert_eq!(ahead(&["deploy", "dev", "--host", "b"]), 1, "host a's root was verified though a is left alone");
    assert_eq!(ahead(&["deploy", "dev", "-c"]), 0, "a consistency check verifies nothing");
}

/// How many roots a deploy took configured ahead of their turn (the
/// agent's debug log says so for each).
fn configured_ahead(d: &Deployment, args: &[&str], threads: &str) -> (crate::harness::Run, usize) {
    let run = d.run_with(
        args,
        &[
            ("BATOU_RUN_LOG", std::ffi::OsStr::new("batou_run::agent=debug")),
            ("BATOU_RUN_THREADS", std::ffi::OsStr::new(threads)),
        ],
    );
    let ahead = run.stderr.lines().filter(|l| l.contains("configured ahead")).count();
    (run, ahead)
}

#[test]
fn roots_are_configured_ahead_of_their_turn_only_when_their_turn_needs_it() {
    let d = Deployment::new(&many_roots());
    // A first deploy by an agent of its own (as on an SSH host): every
    // root changes, so every root is configured for its deploy, on a
    // second thread while the roots before it deploy.
    let (first, ahead) = configured_ahead(&d, &["deploy", "dev", "--agent-process"], "2");
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(ahead, MANY, "{}", first.stderr);
    // Nothing to change: every root's verify ahead holds, none is
    // configured again.
    let (again, ahead) = configured_ahead(&d, &["deploy", "dev"], "2");
    assert!(again.stdout.contains(&format!("0 of {} components changed", MANY * 2)), "{}", again.stdout);
    assert_eq!(ahead, 0, "{}", again.stderr);
    // In process, a first deploy takes every root as the plan's configure
    // left it: none is configured ahead.
    std::fs::remove_dir_all(d.path().join("work")).unwrap();
    let (in_process, ahead) = configured_ahead(&d, &["deploy", "dev"], "2");
    assert!(in_process.stdout.contains(&format!("{MANY} of {} components changed", MANY * 2)), "{}", in_process.stdout);
    assert_eq!(ahead, 0, "{}", in_process.stderr);
    // One thread: nothing runs beside the deploy.
    std::fs::remove_dir_all(d.path().join("work")).unwrap();
    let (one, ahead) = configured_ahead(&d, &["deploy", "dev", "--agent-process"], "1");
    assert_eq!(one.code, 0, "{}\n{}", one.stdout, one.stderr);
    assert_eq!(ahead, 0, "{}", one.stderr);
}

#[test]
fn a_deploy_in_process_configures_each_root_once_whatever_it_changes() {
    let d = Deployment::new(&many_roots());
    let (configure_only, _) = configures(&d, &["deploy", "dev", "-c"]);
    assert_eq!(configure_only, MANY * 2, "each root and its sub-component");
    // A predict of a first deploy: no workdir yet, nothing verified ahead.
    let (predicted, stdout) = configures(&d, &["deploy", "dev", "--predict"]);
    assert!(stdout.contains(&format!("{MANY} of {} components", MANY * 2)), "{stdout}");
    assert_eq!(predicted, configure_only, "a predict configured a root again at its turn");
    assert!(!d.path().join("work").exists(), "a predict made workdirs");
    // A first deploy: every root changes.
    let (first, stdout) = configures(&d, &["deploy", "dev"]);
    assert!(stdout.contains(&format!("{MANY} of {} components changed", MANY * 2)), "{stdout}");
    assert_eq!(first, configure_only, "a first deploy configured a root again at its turn");
    for i in [0, 17, MANY - 1] {
        assert_eq!(std::fs::read_to_string(d.work(&format!("r{i:02}/f.txt"))).unwrap(), format!("root {i}\n"));
    }
    // Two roots want a change: verified ahead, kept, updated at their turn.
    d.write(
        "environments/dev.toml",
        &many_roots().replace("root 3\\n", "root three\\n").replace("root 17\\n", "root seventeen\\n"),
    );
    let (changed, stdout) = configures(&d, &["deploy", "dev"]);
    let run = crate::harness::Run { code: 0, stdout: stdout.clone(), stderr: String::new() };
    assert_eq!(run.changed(), ["localhost: r03 > content('f.txt')", "localhost: r17 > content('f.txt')"], "{stdout}");
    assert_eq!(changed, configure_only, "a changed root was configured again at its turn");
    assert_eq!(std::fs::read_to_string(d.work("r03/f.txt")).unwrap(), "root three\n");
    assert_eq!(std::fs::read_to_string(d.work("r17/f.txt")).unwrap(), "root seventeen\n");
    assert_eq!(std::fs::read_to_string(d.work("r04/f.txt")).unwrap(), "root 4\n");
}

/// Ten roots, each writing its own file; the fifth (`r04`) finds a
/// directory where its file goes, so its verify fails.
fn ten_roots_the_fifth_failing() -> String {
    let names: Vec<String> = (0..10).map(|i| format!("\"r{i:02}\"")).collect();
    let mut env =
        format!("[environment]\nconnect = \"local\"\n\n[hosts.localhost]\ncomponents = [{}]\n\n", names.join(", "));
    for i in 0..10 {
        env.push_str(&format!(
            "[components.r{i:02}]\nkind = \"file\"\npath = \"../out/r{i:02}.txt\"\ncontent = \"root {i}\\n\"\n\n\
             [grants.r{i:02}]\npaths.write = [\"../out\"]\n\n"
        ));
    }
    env
}

#[test]
fn a_failed_root_stops_the_deploy_there_though_later_roots_were_configured_ahead() {
    let d = Deployment::new(&ten_roots_the_fifth_failing());
    // An agent of its own (as on an SSH host) configures roots ahead of
    // their turn; in process, they are kept from the plan.
    let run_on = |threads: &str, args: &[&str]| {
        if d.path().join("work").exists() {
            std::fs::remove_dir_all(d.path().join("work")).unwrap();
        }
        std::fs::create_dir_all(d.work("out/r04.txt")).unwrap();
        let (run, ahead) = configured_ahead(&d, args, threads);
        assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("r04") && run.stderr.contains("is a directory"), "{}", run.stderr);
        // The roots before it deployed; the roots after it neither wrote
        // their files nor got their workdirs.
        for i in 0..4 {
            assert!(d.work(&format!("out/r{i:02}.txt")).is_file(), "r{i:02} deployed");
        }
        for i in 5..10 {
            assert!(!d.work(&format!("out/r{i:02}.txt")).exists(), "r{i:02} was deployed after the failure");
            assert!(!d.work(&format!("r{i:02}")).exists(), "r{i:02}'s workdir was made after the failure");
        }
        (run, ahead)
    };
    let agent = ["deploy", "dev", "--agent-process"];
    let (one, _) = run_on("1", &agent);
    let (two, ahead) = run_on("2", &agent);
    assert!(ahead >= 5, "r00 to r04 configured ahead: {}", two.stderr);
    let (in_process, ahead) = run_on("2", &["deploy", "dev"]);
    assert_eq!(ahead, 0, "{}", in_process.stderr);
    let kept = in_process.stderr.lines().filter(|l| l.contains("configured for the plan")).count();
    assert_eq!(kept, 5, "r00 to r04 taken as the plan configured them: {}", in_process.stderr);
    // The same lines, but for the time taken and the debug log.
    let lines = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Deployment of") && !l.contains("DEBUG"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&one.stdout), lines(&two.stdout), "the output does not depend on the threads");
    assert_eq!(lines(&one.stderr), lines(&two.stderr), "the errors do not depend on the threads");
    assert_eq!(lines(&one.stderr), lines(&in_process.stderr), "the errors do not depend on where the agent runs");
}

/// Roots whose content takes a good part of their memory limit: each
/// alone fits in it, all of them together in one store would not.
#[test]
fn roots_kept_for_their_turn_do_not_push_each_other_over_their_memory_limit() {
    const ROOTS: usize = 16;
    let big = "x".repeat(512 << 10);
    let names: Vec<String> = (0..ROOTS).map(|i| format!("\"r{i:02}\"")).collect();
    let mut env = format!(
        "[environment]\nconnect = \"local\"\nmemory_limit = 6\n\n[hosts.localhost]\ncomponents = [{}]\n\n",
        names.join(", ")
    );
    for i in 0..ROOTS {
        env.push_str(&format!(
            "[components.r{i:02}]\nkind = \"file\"\npath = \"f.txt\"\ncontent = \"{big}{i}\\n\"\n\n"
        ));
    }
    let d = Deployment::new(&env);
    let first = d.deploy();
    assert_eq!(first.code, 0, "{}", first.stderr);
    for i in [0, ROOTS - 1] {
        assert_eq!(std::fs::read_to_string(d.work(&format!("r{i:02}/f.txt"))).unwrap(), format!("{big}{i}\n"));
    }
    let again = d.deploy().ok();
    assert!(again.stdout.contains(&format!("0 of {} components changed", ROOTS * 2)), "{}", again.stdout);
}
