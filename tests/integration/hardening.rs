//! What a hostile checkout or another user of the machine could do, and
//! does not get: `~` without a home is no grant of `/`, and compiled code
//! is loaded only from a cache no one else can write.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{Deployment, Run};

/// `batou-run deploy dev` with `cache` as its cache, without `unset`
/// variables.
fn deploy_with(d: &Deployment, cache: Option<&Path>, unset: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_batou-run"));
    cmd.args(["deploy", "dev", "--deployment"]).arg(d.path());
    cmd.env_remove("BATOU_RUN_CACHE");
    for var in unset {
        cmd.env_remove(var);
    }
    if let Some(cache) = cache {
        cmd.env("BATOU_RUN_CACHE", cache);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_home_grant_without_a_home_is_an_error_not_a_grant_of_everything() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("planted.txt");
    let d = Deployment::new(&format!(
        r#"[hosts.localhost]
components = ["motd"]

[components.motd]
kind = "file"
path = "{}"
content = "written\n"

[grants.motd]
paths.write = ["~/logs"]
"#,
        target.display()
    ));
    let run = deploy_with(&d, Some(&crate::harness::cache_dir()), &["HOME"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot resolve the grant `~/logs` of [grants.motd]")
            && run.stderr.contains("HOME is not set"),
        "{}",
        run.stderr
    );
    assert!(!target.exists(), "a grant of ~/logs without a home let the component write {}", target.display());
}

#[test]
fn without_a_home_or_a_cache_setting_there_is_no_cache_in_a_shared_folder() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"m\"\ncontent = \"\"\n",
    );
    let run = deploy_with(&d, None, &["HOME", "XDG_CACHE_HOME"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no folder for batou-run's cache: HOME is not set"), "{}", run.stderr);
    assert!(run.stderr.contains("set HOME, XDG_CACHE_HOME or BATOU_RUN_CACHE"), "{}", run.stderr);
    assert!(!d.work("motd").exists());
}

fn motd(d: &Deployment) -> String {
    std::fs::read_to_string(d.work("motd/motd.txt")).unwrap()
}

#[test]
fn compiled_code_others_could_have_written_is_never_loaded() {
    let cache = tempfile::tempdir().unwrap();
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"one\\n\"\n",
    );
    deploy_with(&d, Some(cache.path()), &[]).ok();
    assert_eq!(motd(&d), "one\n");

    // Someone plants other native code under the names of the standard
    // library's compiled modules: each entry gets another module's code,
    // writable by others, and then (as root) owned by another user.
    let compiled = cache.path().join("compiled");
    let mut entries: Vec<_> = std::fs::read_dir(&compiled)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 2, "{entries:?}");
    let codes: Vec<Vec<u8>> = entries.iter().map(|e| std::fs::read(e).unwrap()).collect();
    let mut plants: Vec<(&str, Box<dyn Fn(&std::path::Path)>)> = vec![(
        "writable by others",
        Box::new(|e| std::fs::set_permissions(e, std::fs::Permissions::from_mode(0o666)).unwrap()),
    )];
    if crate::harness::is_root() {
        plants.push((
            "owned by another user",
            Box::new(|e| {
                std::fs::set_permissions(e, std::fs::Permissions::from_mode(0o644)).unwrap();
                std::os::unix::fs::chown(e, Some(65534), Some(65534)).unwrap();
            }),
        ));
    } else {
        eprintln!("note: not root, so entries owned by another user are not tried");
    }
    use std::os::unix::fs::MetadataExt;
    for (round, (how, plant)) in plants.iter().enumerate() {
        for (i, entry) in entries.iter().enumerate() {
            std::fs::remove_file(entry).unwrap();
            std::fs::write(entry, &codes[(i + 1) % codes.len()]).unwrap();
            plant(entry);
        }
        let text = format!("round {round}\n");
        d.write(
            "environments/dev.toml",
            &format!("[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = {text:?}\n"),
        );
        // Loading one would run another module's code as `file`'s; it
        // compiles the module it uses again instead, and puts its own,
        // private, entry in its place. The modules this deploy does not
        // use are not loaded at all: their entries stay as planted.
        let run = deploy_with(&d, Some(cache.path()), &[]).ok();
        assert_eq!(motd(&d), text, "{how}: {}", run.stderr);
        let mut replaced = 0;
        for (i, entry) in entries.iter().enumerate() {
            let meta = std::fs::metadata(entry).unwrap();
            if (meta.uid(), meta.mode() & 0o022) == (unsafe { libc::geteuid() }, 0) {
                replaced += 1;
                assert_ne!(std::fs::read(entry).unwrap(), codes[(i + 1) % codes.len()], "{how}: {}", entry.display());
            } else {
                assert_eq!(std::fs::read(entry).unwrap(), codes[(i + 1) % codes.len()], "{how}: {}", entry.display());
            }
        }
        assert!(replaced >= 1, "{how}: the module the deploy used was not compiled again: {}", run.stderr);
        assert!(replaced < entries.len(), "{how}: modules this deploy does not use were loaded: {}", run.stderr);
    }

    // A cache folder of this user's that others may write (a umask of 002)
    // is closed to them; one of another user's, or a symlink, is refused.
    std::fs::set_permissions(&compiled, std::fs::Permissions::from_mode(0o777)).unwrap();
    deploy_with(&d, Some(cache.path()), &[]).ok();
    assert_eq!(std::fs::metadata(&compiled).unwrap().permissions().mode() & 0o777, 0o755);
    let moved = cache.path().join("elsewhere");
    std::fs::rename(&compiled, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &compiled).unwrap();
    let run = deploy_with(&d, Some(cache.path()), &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("will not load compiled modules from the cache"), "{}", run.stderr);
    assert!(run.stderr.contains("is not a folder (a symlink?)") && run.stderr.contains("chmod 700"), "{}", run.stderr);
    std::fs::remove_file(&compiled).unwrap();
    std::fs::rename(&moved, &compiled).unwrap();
    if crate::harness::is_root() {
        std::os::unix::fs::chown(&compiled, Some(65534), Some(65534)).unwrap();
        let run = deploy_with(&d, Some(cache.path()), &[]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("belongs to uid 65534, not to you"), "{}", run.stderr);
    }
}

#[test]
fn root_names_are_names_not_paths() {
    for (name, listed) in [("../../x", "\"../../x\""), ("/abs", "\"/abs\""), ("", "\"\""), ("a/b", "\"a/b\"")] {
        let d = Deployment::new(&format!(
            "[hosts.localhost]\ncomponents = [{listed}]\n\n[components.\"{name}\"]\nkind = \"file\"\npath = \"x\"\ncontent = \"\"\n"
        ));
        let run = d.deploy();
        assert_eq!(run.code, 2, "{name:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!("environments/dev.toml:2: `{name}` is not a component name")),
            "{name:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("environments/dev.toml:4:"), "the table is reported too: {}", run.stderr);
        assert!(!d.path().join("work").exists() && !d.path().join("x").exists());
    }
}

#[test]
fn a_workdir_shipped_as_a_symlink_does_not_move_the_default_grant() {
    let elsewhere = tempfile::tempdir().unwrap();
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    for link in ["work", "work/motd"] {
        let _ = std::fs::remove_dir_all(d.path().join("work"));
        std::fs::create_dir_all(d.path().join(link).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(link)).unwrap();
        let run = d.deploy();
        assert_eq!(run.code, 1, "{link}: {run:?}");
        assert!(run.stderr.contains("is a symlink") && run.stderr.contains("remove the link"), "{}", run.stderr);
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "{link}: something was written through it");
    }
}

/// Through the link, the file is already what the root wants: a verify
/// ahead of the root's turn must not make the turn pass for "no change".
#[test]
fn a_linked_workdir_is_refused_even_where_nothing_would_change() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    for link in ["work", "work/motd"] {
        let elsewhere = tempfile::tempdir().unwrap();
        let workdir = if link == "work" { elsewhere.path().join("motd") } else { elsewhere.path().to_path_buf() };
        std::fs::create_dir_all(&workdir).unwrap();
        std::fs::write(workdir.join("motd.txt"), "hi\n").unwrap();
        let _ = std::fs::remove_dir_all(d.path().join("work"));
        std::fs::create_dir_all(d.path().join(link).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(link)).unwrap();
        for _ in 0..2 {
            let run = d.deploy();
            assert_eq!(run.code, 1, "{link}: {run:?}");
            assert!(run.stderr.contains("is a symlink") && run.stderr.contains("remove the link"), "{}", run.stderr);
        }
        assert_eq!(std::fs::read_to_string(workdir.join("motd.txt")).unwrap(), "hi\n");
    }
}

#[test]
fn a_workdir_taken_by_a_file_or_a_dangling_link_is_refused_and_left_alone() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    std::fs::create_dir_all(d.path().join("work")).unwrap();
    std::fs::write(d.path().join("work/motd"), "not a folder\n").unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot create the workdir")
            && run.stderr.contains("work/motd")
            && run.stderr.contains("remove it, and the deploy makes the folder"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(d.path().join("work/motd")).unwrap(), "not a folder\n");

    // A link to nowhere is a link: not followed, not replaced.
    let nowhere = tempfile::tempdir().unwrap().path().join("gone");
    std::fs::remove_file(d.path().join("work/motd")).unwrap();
    std::os::unix::fs::symlink(&nowhere, d.path().join("work/motd")).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("is a symlink") && run.stderr.contains("remove the link"), "{}", run.stderr);
    assert!(!nowhere.exists());
    assert!(std::fs::symlink_metadata(d.path().join("work/motd")).unwrap().file_type().is_symlink());

    // Removed, the workdir is made and the file deployed.
    std::fs::remove_file(d.path().join("work/motd")).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(d.path().join("work/motd").is_dir());
    assert_eq!(std::fs::read_to_string(d.path().join("work/motd/motd.txt")).unwrap(), "hi\n");
}

#[test]
fn the_deploy_lock_shipped_as_a_symlink_truncates_nothing() {
    let victim = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(victim.path(), "precious\n").unwrap();
    let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
    std::fs::create_dir_all(d.path().join(".batou-run")).unwrap();
    std::os::unix::fs::symlink(victim.path(), d.path().join(".batou-run/lock")).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(".batou-run/lock is a symlink"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(victim.path()).unwrap(), "precious\n");

    // `.batou-run` itself as a link to elsewhere.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(d.path().join(".batou-run")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), d.path().join(".batou-run")).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not a folder (a symlink?)"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn environment_names_are_names() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.toml"), "[hosts.localhost]\ncomponents = []\n").unwrap();
    let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
    let relative = format!("../../../../../../../..{}/x", outside.path().display());
    let absolute = outside.path().join("x").display().to_string();
    for name in [relative.as_str(), absolute.as_str(), ".hidden", ""] {
        let run = d.run(&["deploy", name]);
        assert_eq!(run.code, 2, "{name:?}: {run:?}");
        assert!(run.stderr.contains("is not an environment name"), "{name:?}: {}", run.stderr);
        assert!(run.stderr.contains("valid choices: dev"), "{}", run.stderr);
    }
}

#[test]
fn numbers_out_of_range_are_errors_not_wrapped() {
    let d = Deployment::new(
        "[environment]\nmemory_limit = 17592186044416\ntimeout = 99999999999\njobs = 100000\n\n[hosts.localhost]\ncomponents = [\"m\"]\n\n[limits.m]\nmemory_limit = 17592186044416\n\n[components.m]\nkind = \"file\"\npath = \"m\"\ncontent = \"\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    for expected in [
        "dev.toml:2: `memory_limit` must be between 1 and 1048576 MiB (1 TiB), not 17592186044416",
        "dev.toml:3: `timeout` must be between 1 and 604800 seconds (a week), not 99999999999",
        "dev.toml:4: `jobs` must be between 1 and 1024 hosts at once, not 100000",
        "dev.toml:10: `memory_limit` must be between 1 and 1048576 MiB (1 TiB), not 17592186044416",
    ] {
        assert!(run.stderr.contains(expected), "missing {expected:?} in {}", run.stderr);
    }
}

#[test]
fn control_characters_reach_the_terminal_escaped_and_json_as_json() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"m\\u001b[2Jx.txt\"\ncontent = \"new\\n\"\n",
    );
    let file = d.work("motd/m\u{1b}[2Jx.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    // Old content that would set the clipboard and clear the screen.
    std::fs::write(&file, "\u{1b}]52;c;aGk=\u{7}old\rforged\n").unwrap();
    let predicted = d.run(&["deploy", "dev", "-P"]).ok();
    assert!(!predicted.stdout.contains('\u{1b}') && !predicted.stdout.contains('\u{7}'), "{:?}", predicted.stdout);
    assert!(predicted.stdout.contains("content('m\\x1b[2Jx.txt')"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("-\\x1b]52;c;aGk=\\x07old\\r"), "{}", predicted.stdout);
    let json = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(!json.stdout.contains('\u{1b}'), "{:?}", json.stdout);
    assert!(json.stdout.contains(r"\u001b]52;c;aGk=\u0007old"), "{}", json.stdout);
}

#[test]
fn a_symlinked_working_directory_does_not_lead_a_command_out_of_its_grants() {
    let outside = tempfile::tempdir().unwrap();
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["run"]

[components.run]
kind = "command"
command = "touch"
args = ["planted"]
cwd = "link"

[grants.run]
commands = ["touch"]
"#,
    );
    std::fs::create_dir_all(d.work("run")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.work("run/link")).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("DENIED: localhost: run") && run.stderr.contains("leads outside"), "{}", run.stderr);
    assert!(!outside.path().join("planted").exists(), "the command ran outside its grants");

    // A real folder beneath the workdir is fine.
    std::fs::remove_file(d.work("run/link")).unwrap();
    std::fs::create_dir(d.work("run/link")).unwrap();
    d.deploy().ok();
    assert!(d.work("run/link/planted").exists());
}

#[test]
fn values_a_component_provides_and_assets_it_reads_are_bounded_by_its_memory_limit() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["hoarder", "reader"]

[components.hoarder]
kind = "escape"
attempt = "provide"

[components.reader]
kind = "escape"
attempt = "asset"
path = "huge.bin"

[limits.hoarder]
memory_limit = 64

[limits.reader]
memory_limit = 64
"#,
    );
    d.own_module("hostile", crate::fixtures::FIXTURE_HOSTILE);
    // A sparse asset of 3 GiB: reading it would take the runner's memory.
    std::fs::File::create(d.path().join("components/hostile/huge.bin")).unwrap().set_len(3 << 30).unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("localhost: hoarder: configure:")
            && run
                .stderr
                .contains("made the runner hold more than its memory limit of 64 MiB (the values it provided)"),
        "{}",
        run.stderr
    );
    std::fs::write(
        d.path().join("environments/dev.toml"),
        "[hosts.localhost]\ncomponents = [\"reader\"]\n[components.reader]\nkind = \"escape\"\nattempt = \"asset\"\npath = \"huge.bin\"\n[limits.reader]\nmemory_limit = 64\n",
    )
    .unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("asset `huge.bin` is 3072 MiB, more than the component's memory_limit of 64 MiB"),
        "{}",
        run.stderr
    );
}
