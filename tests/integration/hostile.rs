//! Hostile components (the `hostile` fixture): each root tries one escape
//! from its sandbox, on a host of its own so that one failing does not stop
//! the others. Every attempt must be refused or stopped with the expected
//! words, the runner must survive and report all of them, and nothing in
//! the canary tree outside the grants may change. The same attempts run in
//! this process (`connect = "local"`) and on an agent over SSH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::fixtures::FIXTURE_HOSTILE;
use crate::harness::{Deployment, Run};
use crate::sshd::Sshd;

/// One escape: its root (and host) name, the root's attributes, its
/// grants and limits tables' bodies, and words its error must contain.
struct Attempt {
    root: &'static str,
    attributes: String,
    grants: &'static str,
    limits: &'static str,
    expected: String,
}

fn attempt(root: &'static str, attributes: &str, expected: &str) -> Attempt {
    Attempt { root, attributes: attributes.to_string(), grants: "", limits: "", expected: expected.to_string() }
}

/// The attempts against `canary` (a tree outside every grant).
fn attempts(canary: &Path) -> Vec<Attempt> {
    let c = canary.display().to_string();
    let up = format!("{}{}", "../".repeat(12), c.trim_start_matches('/'));
    vec![
        attempt(
            "traversal",
            &format!("attempt = \"read\"\npath = \"{up}/secret\""),
            &format!("access denied: read {c}/secret: it is outside the granted paths"),
        ),
        attempt(
            "absolute",
            &format!("attempt = \"write\"\npath = \"{c}/secret\""),
            &format!("access denied: change {c}/secret: it is outside the granted paths"),
        ),
        attempt("symlink-read", "attempt = \"read\"\npath = \"out/secret\"", "leads outside"),
        attempt("symlink-write", "attempt = \"write\"\npath = \"out/planted\"", "leads outside"),
        attempt(
            "symlink-make",
            &format!("attempt = \"symlink\"\npath = \"link\"\ntarget = \"{c}/secret\""),
            "a symlink may only point beneath the granted paths",
        ),
        attempt("race", "attempt = \"race\"\npath = \"swapped/victim\"", "race done:"),
        attempt(
            "hardlink-read",
            "attempt = \"read\"\npath = \"hard\"",
            "hard links: another name of it may lie outside",
        ),
        attempt(
            "hardlink-chmod",
            "attempt = \"chmod\"\npath = \"hard\"",
            "hard links: another name of it may lie outside",
        ),
        attempt("shadow", "attempt = \"read\"\npath = \"/etc/shadow\"", "access denied: read /etc/shadow"),
        attempt(
            "ssh-key",
            &format!("attempt = \"read\"\npath = \"{c}/home/.ssh/id_ed25519\""),
            &format!("access denied: read {c}/home/.ssh/id_ed25519"),
        ),
        Attempt {
            grants: "paths.read = [\"/proc/self\"]",
            ..attempt(
                "proc-magic",
                &format!("attempt = \"read\"\npath = \"/proc/self/root{c}/secret\""),
                "a /proc magic link",
            )
        },
        attempt("list", &format!("attempt = \"list\"\npath = \"{c}\""), &format!("access denied: read {c}")),
        attempt("glob", &format!("attempt = \"glob\"\npath = \"{up}/*\""), &format!("access denied: read {c}")),
        attempt("remove", &format!("attempt = \"remove\"\npath = \"{c}/sub\""), "access denied: change"),
        Attempt {
            grants: "paths.read = [\"CANARY\"]",
            ..attempt("read-only", &format!("attempt = \"write\"\npath = \"{c}/secret\""), "it is granted read-only")
        },
        attempt(
            "program",
            &format!("attempt = \"run\"\nprogram = \"cat\"\nargs = [\"{c}/secret\"]"),
            "access denied: run `cat`: add \"cat\" to `commands`",
        ),
        Attempt {
            grants: "commands = [\"cat\"]",
            ..attempt(
                "shell",
                &format!("attempt = \"run\"\nprogram = \"sh\"\nargs = [\"-c\", \"echo escaped > {c}/secret\"]"),
                "access denied: run `sh`: add \"sh\" to `commands`",
            )
        },
        Attempt {
            grants: "commands = [\"cat\"]",
            ..attempt(
                "shell-path",
                &format!("attempt = \"run\"\nprogram = \"/bin/sh\"\nargs = [\"-c\", \"echo escaped > {c}/secret\"]"),
                "access denied: run `/bin/sh`: add \"/bin/sh\" to `commands`",
            )
        },
        Attempt {
            grants: "commands = [\"true\"]",
            ..attempt(
                "preload",
                "attempt = \"run\"\nprogram = \"true\"\nenv = { LD_PRELOAD = \"/tmp/evil.so\" }",
                "add \"LD_PRELOAD\" to `env`",
            )
        },
        attempt("ssh-host", "attempt = \"ssh\"\nhost = \"shadow\"", "add \"shadow\" to `ssh`"),
        attempt("wasi", "attempt = \"wasi\"", "wasi: no files, no environment, no sockets"),
        Attempt {
            limits: "timeout = 1",
            ..attempt("loop-update", "attempt = \"loop-update\"", "ran longer than the limit of 1s and was stopped")
        },
        Attempt {
            limits: "memory_limit = 64",
            ..attempt("alloc", "attempt = \"alloc\"", "exceeded the memory limit of 64 MiB and was stopped")
        },
        attempt("recurse", "attempt = \"recurse\"", "call stack exhausted"),
        attempt("flood", "attempt = \"flood\"", "logged more than 1024 KiB in one update call; stopped"),
        // What the runner would hold or do for the component counts
        // against its limits too.
        Attempt {
            limits: "memory_limit = 64",
            ..attempt(
                "diffs",
                "attempt = \"diffs\"",
                "made the runner hold more than its memory limit of 64 MiB (the contents of the files it reported diffs of)",
            )
        },
        Attempt {
            limits: "timeout = 1",
            ..attempt(
                "template-loop",
                "attempt = \"template-loop\"",
                "the template did more work than its component's timeout of 1s allows",
            )
        },
        Attempt {
            limits: "memory_limit = 64",
            ..attempt("template-grow", "attempt = \"template-grow\"", "the template's output grew over 64 MiB")
        },
        attempt("deny-flood", "attempt = \"deny-flood\"", "flooded with refused calls"),
    ]
}

/// The environment: one host per attempt, reached by `host_keys`.
fn environment(header: &str, host_keys: &str, canary: &Path, attempts: &[Attempt]) -> String {
    let mut env = format!("{header}\n");
    for a in attempts {
        env.push_str(&format!("[hosts.{0}]\ncomponents = [\"{0}\"]\n{host_keys}\n", a.root));
        env.push_str(&format!("[components.{}]\nkind = \"escape\"\n{}\n\n", a.root, a.attributes));
        if !a.grants.is_empty() {
            let grants = a.grants.replace("CANARY", &canary.display().to_string());
            env.push_str(&format!("[grants.{}]\n{grants}\n\n", a.root));
        }
        if !a.limits.is_empty() {
            env.push_str(&format!("[limits.{}]\n{}\n\n", a.root, a.limits));
        }
    }
    env
}

/// A tree no grant covers: a secret, a folder, a fake SSH key.
fn plant_canary(canary: &Path) {
    std::fs::create_dir_all(canary.join("sub")).unwrap();
    std::fs::create_dir_all(canary.join("home/.ssh")).unwrap();
    std::fs::write(canary.join("secret"), "canary\n").unwrap();
    std::fs::write(canary.join("sub/inner"), "inner\n").unwrap();
    std::fs::write(canary.join("home/.ssh/id_ed25519"), "not really a key\n").unwrap();
}

/// Every path below `dir` with its kind, mode, size, content and mtime.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
            }
            let content = if meta.is_file() { std::fs::read(&p).unwrap() } else { Vec::new() };
            out.push((p, meta.permissions().mode(), content, meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// What the attempts find in their workdirs (`work` is where they are):
/// a symlink out, a hard link to the canary's secret, and the folder the
/// race swaps for a symlink.
fn plant_traps(work: &Path, canary: &Path) {
    for root in ["symlink-read", "symlink-write"] {
        std::fs::create_dir_all(work.join(root)).unwrap();
        std::os::unix::fs::symlink(canary, work.join(root).join("out")).unwrap();
    }
    for root in ["hardlink-read", "hardlink-chmod"] {
        std::fs::create_dir_all(work.join(root)).unwrap();
        std::fs::hard_link(canary.join("secret"), work.join(root).join("hard")).unwrap();
    }
    std::fs::create_dir_all(work.join("race/swapped")).unwrap();
}

/// Swaps `work/race/swapped` between a folder and a symlink to the canary
/// until the returned flag is set.
fn swap_in_symlinks(work: &Path, canary: &Path) -> (Arc<AtomicBool>, std::thread::JoinHandle<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (dir, aside, canary) = (work.join("race/swapped"), work.join("race/aside"), canary.to_path_buf());
    let flag = stop.clone();
    let swapper = std::thread::spawn(move || {
        let mut swaps = 0;
        while !flag.load(Ordering::Relaxed) {
            if std::fs::rename(&dir, &aside).is_ok() {
                let _ = std::os::unix::fs::symlink(&canary, &dir);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&dir);
                let _ = std::fs::rename(&aside, &dir);
                swaps += 1;
                // The folder stays a while too, so that some writes land.
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        swaps
    });
    (stop, swapper)
}

/// Each attempt failed with its words, on its own host; the runner
/// reported them all and ended normally.
#[track_caller]
fn check_refused(run: &Run, attempts: &[Attempt], canary: &Path) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Deployment of `dev` FAILED"), "{}", run.stdout);
    for a in attempts {
        // The root's error: its line and the indented lines after it.
        let prefix = format!("ERROR: {0}: {0}: update: ", a.root);
        let error: Vec<&str> = run
            .stderr
            .lines()
            .skip_while(|l| !l.starts_with(&prefix))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with(' '))
            .map(|(_, l)| l)
            .collect();
        let expected = a.expected.replace("CANARY", &canary.display().to_string());
        assert!(
            error.join("\n").contains(&expected),
            "{}: expected an error with {expected:?}:\n{}",
            a.root,
            run.stderr
        );
    }
    let refused_by_the_sandbox = |a: &&Attempt| {
        a.expected.contains("access denied")
            || a.expected.contains("leads outside")
            || a.expected.contains("hard links")
            || a.expected.contains("magic link")
    };
    for a in attempts.iter().filter(refused_by_the_sandbox) {
        assert!(run.stderr.contains(&format!("DENIED: {0}: {0}: ", a.root)), "{}: {}", a.root, run.stderr);
    }
    // A hundred thousand refusals: twenty lines, then one that counts the rest.
    let flood: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("DENIED: deny-flood: ")).collect();
    assert_eq!(flood.len(), 21, "{}", flood.join("\n"));
    assert!(flood[20].contains("and 99980 more refused calls like those above"), "{}", flood[20]);
}

#[test]
fn hostile_components_are_refused_locally() {
    refused_locally(false);
}

/// As on a kernel without openat2 (before Linux 5.6), where the sandbox
/// walks each path component itself: the same attempts, the same races.
#[test]
fn hostile_components_are_refused_locally_by_the_walk_for_kernels_without_openat2() {
    refused_locally(true);
}

fn refused_locally(walk: bool) {
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary");
    plant_canary(&canary);
    let attempts = attempts(&canary);
    let d = Deployment::new(&environment("[environment]\njobs = 4\n", "", &canary, &attempts));
    d.own_module("hostile", FIXTURE_HOSTILE);
    plant_traps(&d.path().join("work"), &canary);
    let before = snapshot(&canary);

    let (stop, swapper) = swap_in_symlinks(&d.path().join("work"), &canary);
    let home = canary.join("home");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_batou-run"))
        .args(["deploy", "dev", "--deployment"])
        .arg(d.path())
        .env("BATOU_RUN_CACHE", crate::harness::cache_dir())
        .env("HOME", &home)
        .env("BATOU_RUN_SANDBOX_WALK", if walk { "1" } else { "0" })
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    check_refused(&run, &attempts, &canary);
    assert!(swaps > 0, "the race never swapped");
    assert_eq!(snapshot(&canary), before, "a file outside the grants changed");
}

#[test]
fn an_endless_configure_is_stopped_by_its_limit() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"spin\"]\n[components.spin]\nkind = \"escape\"\nattempt = \"loop-configure\"\n\
         [limits.spin]\ntimeout = 1\n",
    );
    d.own_module("hostile", FIXTURE_HOSTILE);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("ran longer than the limit of 1s and was stopped"), "{}", run.stderr);
    assert!(run.stderr.contains("raise `timeout` in [limits.spin]"), "{}", run.stderr);
}

#[test]
fn sub_components_without_end_are_stopped_by_their_limits() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"deep\", \"wide\"]\n\
         [components.deep]\nkind = \"escape\"\nattempt = \"add-itself\"\n\
         [components.wide]\nkind = \"escape\"\nattempt = \"add-flood\"\n[limits.wide]\nmemory_limit = 64\n",
    );
    d.own_module("hostile", FIXTURE_HOSTILE);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("nested sub-components deeper than 64 levels (does a kind add itself?)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("made the runner hold more than its memory limit of 64 MiB (its sub-components)"),
        "{}",
        run.stderr
    );
}

#[test]
fn hostile_components_are_refused_on_an_agent_over_ssh() {
    let Some(sshd) = Sshd::start(11) else { return };
    let uid = user_id(&sshd.user);
    // In the login user's home, theirs: without the sandbox, the agent
    // could change every byte of it.
    let canary = sshd.user_home.join("hostile-canary");
    let _ = std::fs::remove_dir_all(&canary);
    plant_canary(&canary);
    let work = sshd.user_home.join("hostile/work");
    let _ = std::fs::remove_dir_all(sshd.user_home.join("hostile"));
    let attempts: Vec<Attempt> = attempts(&canary);
    plant_traps(&work, &canary);
    chown_tree(&canary, uid);
    chown_tree(&sshd.user_home.join("hostile"), uid);
    let before = snapshot(&canary);

    let header = "[environment]\nconnect = \"ssh\"\ntarget_directory = \"hostile\"\njobs = 4\n";
    let d = Deployment::new(&environment(header, &sshd.host_keys(), &canary, &attempts));
    d.own_module("hostile", FIXTURE_HOSTILE);
    let (stop, swapper) = swap_in_symlinks(&work, &canary);
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    check_refused(&run, &attempts, &canary);
    assert_eq!(snapshot(&canary), before, "a file outside the grants changed");
}

fn user_id(user: &str) -> u32 {
    let out = std::process::Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Gives `dir` and everything below it (symlinks themselves) to `uid`.
fn chown_tree(dir: &Path, uid: u32) {
    let status = std::process::Command::new("chown").args(["-hR", &format!("{uid}:{uid}")]).arg(dir).status().unwrap();
    assert!(status.success());
}
