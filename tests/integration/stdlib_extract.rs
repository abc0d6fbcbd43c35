//! The standard `extract` kind with real archives built by the test
//! (Python's tarfile and zipfile, which also write the hostile entries
//! other tools refuse to make): every format, a changed archive, a
//! tampered file, an archive larger than the component's memory, and
//! archives whose entries would land outside their folder.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::harness::Deployment;

/// Builds archives from a list of entries: `python3 - OUT FORMAT` with
/// the entries as JSON on stdin: `[kind, name, data-or-target, mode]`,
/// kind one of file, dir, symlink, hardlink, fifo, random (data: MiB).
const BUILD: &str = r#"
import io, json, os, sys, tarfile, zipfile, stat
out, fmt = sys.argv[1], sys.argv[2]
entries = json.load(sys.stdin)
if fmt == "zip":
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for kind, name, data, mode in entries:
            info = zipfile.ZipInfo(name + ("/" if kind == "dir" else ""))
            kinds = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "random": stat.S_IFREG}
            info.external_attr = (kinds[kind] | mode) << 16
            if kind == "random":
                data = os.urandom(int(data) << 20).hex()[: int(data) << 20]
            z.writestr(info, "" if kind == "dir" else data)
else:
    mode = {"tar": "w", "tar.gz": "w:gz", "tgz": "w:gz", "tar.xz": "w:xz", "tar.bz2": "w:bz2"}[fmt]
    with tarfile.open(out, mode, format=tarfile.GNU_FORMAT) as t:
        for kind, name, data, perm in entries:
            info = tarfile.TarInfo(name)
            info.mode = perm
            body = None
            if kind == "file":
                body = data.encode()
            elif kind == "random":
                body = os.urandom(int(data) << 20)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, data
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            if body is not None:
                info.size = len(body)
                t.addfile(info, io.BytesIO(body))
            else:
                t.addfile(info)
"#;

fn archive(out: &Path, format: &str, entries: serde_json::Value) {
    let mut child = Command::new("python3")
        .args(["-c", BUILD])
        .arg(out)
        .arg(format)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 builds the test's archives");
    serde_json::to_writer(child.stdin.take().unwrap(), &entries).unwrap();
    assert!(child.wait().unwrap().success(), "building {}", out.display());
}

/// A release with a top folder: a program, data, a link to it, an empty folder.
fn release(version: &str) -> serde_json::Value {
    serde_json::json!([
        ["dir", "app-1.0", "", 0o755],
        ["dir", "app-1.0/bin", "", 0o755],
        ["file", "app-1.0/bin/run", "#!/bin/sh\necho run\n", 0o755],
        ["file", "app-1.0/lib/data.txt", format!("data {version}\n"), 0o640],
        ["symlink", "app-1.0/bin/data", "../lib/data.txt", 0o777],
        ["dir", "app-1.0/var", "", 0o750],
    ])
}

fn extract_env(roots: &[(&str, &str, &str)], archives: &Path, extra: &str) -> String {
    let names: Vec<String> = roots.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
    let mut env = format!("{extra}\n[hosts.localhost]\ncomponents = [{}]\n", names.join(", "));
    for (name, archive, target) in roots {
        env.push_str(&format!(
            "\n[components.{name}]\nkind = \"extract\"\narchive = \"{}/{archive}\"\ntarget = \"{target}\"\nstrip = 1\n\
             [grants.{name}]\npaths.read = [\"{}\"]\n",
            archives.display(),
            archives.display()
        ));
    }
    env
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn extract_unpacks_every_format_and_a_second_run_changes_nothing() {
    let archives = tempfile::tempdir().unwrap();
    let formats = ["tar", "tar.gz", "tgz", "tar.xz", "tar.bz2", "zip"];
    for format in formats {
        archive(&archives.path().join(format!("release.{format}")), format, release("1"));
    }
    let roots: Vec<(String, String, String)> =
        formats.iter().map(|f| (f.replace('.', "_"), format!("release.{f}"), "app".to_owned())).collect();
    let roots: Vec<(&str, &str, &str)> = roots.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    let d = Deployment::new(&extract_env(&roots, archives.path(), ""));

    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("not unpacked into app yet"), "{}", predicted.stdout);
    assert!(!d.work("tar").exists(), "predict unpacked nothing");

    d.deploy().ok();
    for (root, _, _) in &roots {
        let app = d.work(&format!("{root}/app"));
        assert_eq!(std::fs::read_to_string(app.join("bin/run")).unwrap(), "#!/bin/sh\necho run\n", "{root}");
        assert_eq!(mode(&app.join("bin/run")), 0o755, "{root}");
        assert_eq!(std::fs::read_to_string(app.join("lib/data.txt")).unwrap(), "data 1\n", "{root}");
        assert_eq!(mode(&app.join("lib/data.txt")), 0o640, "{root}");
        assert_eq!(std::fs::read_link(app.join("bin/data")).unwrap(), Path::new("../lib/data.txt"), "{root}");
        assert_eq!(std::fs::read_to_string(app.join("bin/data")).unwrap(), "data 1\n", "{root}");
        assert!(app.join("var").is_dir(), "{root}: the empty folder");
        assert!(!app.join("app-1.0").exists(), "{root}: strip = 1 dropped the top folder");
    }
    let second = d.deploy().ok();
    assert!(second.changed().is_empty(), "a second deploy changes nothing: {}", second.stdout);
}

#[test]
fn extract_unpacks_again_for_a_changed_archive_or_a_tampered_file_and_removes_what_is_gone() {
    let archives = tempfile::tempdir().unwrap();
    let tgz = archives.path().join("release.tar.gz");
    archive(&tgz, "tar.gz", release("1"));
    let d = Deployment::new(&extract_env(&[("app", "release.tar.gz", "app")], archives.path(), ""));
    d.deploy().ok();
    let app = d.work("app/app");
    let own = app.join("notes.txt");
    std::fs::write(&own, "the operator's").unwrap();

    // A tampered file: predicted, then put back; the operator's own file stays.
    std::fs::write(app.join("lib/data.txt"), "tampered\n").unwrap();
    std::fs::set_permissions(app.join("bin/run"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(
        predicted.stdout.contains("content changed") || predicted.stdout.contains("mode 777"),
        "{}",
        predicted.stdout
    );
    assert!(predicted.stdout.contains("and 1 more"), "{}", predicted.stdout);
    assert_eq!(std::fs::read_to_string(app.join("lib/data.txt")).unwrap(), "tampered\n", "predict changed nothing");
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(app.join("lib/data.txt")).unwrap(), "data 1\n");
    assert_eq!(mode(&app.join("bin/run")), 0o755);
    assert!(d.deploy().ok().changed().is_empty());

    // A new release without the link and the folder: unpacked, and what
    // it no longer has is removed; what the archive never had stays.
    archive(
        &tgz,
        "tar.gz",
        serde_json::json!([
            ["file", "app-1.0/bin/run", "#!/bin/sh\necho run 2\n", 0o755],
            ["file", "app-1.0/lib/data.txt", "data 2\n", 0o644],
        ]),
    );
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("changed since it was unpacked"), "{}", predicted.stdout);
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(app.join("bin/run")).unwrap(), "#!/bin/sh\necho run 2\n");
    assert!(std::fs::symlink_metadata(app.join("bin/data")).is_err(), "the link the new release lacks is gone");
    assert!(!app.join("var").exists(), "the empty folder it lacks is gone");
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "the operator's");
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn an_archive_larger_than_the_components_memory_is_unpacked_in_pieces() {
    let archives = tempfile::tempdir().unwrap();
    let big = archives.path().join("big.tar.gz");
    // 96 MiB that do not compress, through a component with 48 MiB.
    archive(&big, "tar.gz", serde_json::json!([["random", "data/blob", "96", 0o644]]));
    let d = Deployment::new(&extract_env(
        &[("big", "big.tar.gz", "out")],
        archives.path(),
        "[environment]\nmemory_limit = 48\n",
    ));
    d.deploy().ok();
    let blob = d.work("big/out/blob");
    assert_eq!(std::fs::metadata(&blob).unwrap().len(), 96 << 20);
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn hostile_archives_are_refused_whole_naming_the_entry() {
    let archives = tempfile::tempdir().unwrap();
    let outside = archives.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let cases: &[(&str, &str, serde_json::Value, &str)] = &[
        (
            "dotdot",
            "tar",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["file", "top/../../escaped", "x", 0o644]]),
            "a `..` in its path",
        ),
        (
            "absolute",
            "tar.gz",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["file", "/tmp/batou-run-absolute", "x", 0o644]]),
            "absolute path",
        ),
        (
            "linkout",
            "tar.xz",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["symlink", "top/out", "../../outside", 0o777]]),
            "leads outside the folder",
        ),
        ("linkabs", "tar.bz2", serde_json::json!([["symlink", "top/etc", "/etc", 0o777]]), "the absolute path /etc"),
        (
            "hardout",
            "tar",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["hardlink", "top/shadow", "../etc/shadow", 0o644]]),
            "a `..` in its path",
        ),
        (
            "fifo",
            "tar",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["fifo", "top/pipe", "", 0o644]]),
            "not a file, folder or link",
        ),
        (
            "zipdotdot",
            "zip",
            serde_json::json!([["file", "top/ok", "fine", 0o644], ["file", "top/../../zipped", "x", 0o644]]),
            "a `..` in its path",
        ),
        (
            "ziplink",
            "zip",
            serde_json::json!([["symlink", "top/out", "../../outside", 0o777]]),
            "leads outside the folder",
        ),
    ];
    for (name, format, entries, why) in cases {
        let file = format!("{name}.{format}");
        archive(&archives.path().join(&file), format, entries.clone());
        let d = Deployment::new(&extract_env(&[("app", &file, "app")], archives.path(), ""));
        let run = d.deploy();
        assert_ne!(run.code, 0, "{name}: {}", run.stdout);
        assert!(run.stderr.contains("is refused") && run.stderr.contains(why), "{name}: {}", run.stderr);
        assert!(run.stderr.contains("nothing was unpacked"), "{name}: {}", run.stderr);
        assert!(!d.work("app/app").exists(), "{name}: nothing written, not even the good entry");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{name}: nothing outside");
        assert!(!Path::new("/tmp/batou-run-absolute").exists());
    }
}

#[test]
fn extract_outside_the_workdir_needs_its_grant_and_names_it() {
    let archives = tempfile::tempdir().unwrap();
    archive(&archives.path().join("release.zip"), "zip", release("1"));
    let srv = tempfile::tempdir().unwrap();
    let target = srv.path().join("app");
    let env = extract_env(&[("app", "release.zip", &target.display().to_string())], archives.path(), "");
    let d = Deployment::new(&env);
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("paths.write") && all.contains(&target.display().to_string()), "{all}");
    assert!(!target.exists());

    d.write(
        "environments/dev.toml",
        &env.replace("paths.read = [", &format!("paths.write = [\"{}\"]\npaths.read = [", srv.path().display())),
    );
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(target.join("lib/data.txt")).unwrap(), "data 1\n");
    assert!(d.deploy().ok().changed().is_empty());

    // A format that is not in the name, and not given: a configure error.
    std::fs::copy(archives.path().join("release.zip"), archives.path().join("release.bin")).unwrap();
    d.write("environments/dev.toml", &extract_env(&[("app", "release.bin", "app")], archives.path(), ""));
    let unknown = d.run(&["deploy", "dev", "-c"]);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("set `format` to one of tar, tar.gz"), "{}", unknown.stderr);
}

#[test]
fn a_hard_link_inside_the_archive_becomes_a_copy_of_its_file() {
    let archives = tempfile::tempdir().unwrap();
    archive(
        &archives.path().join("linked.tar"),
        "tar",
        serde_json::json!([
            ["file", "top/bin/tool", "#!/bin/sh\necho tool\n", 0o755],
            ["hardlink", "top/bin/alias", "top/bin/tool", 0o755],
        ]),
    );
    let d = Deployment::new(&extract_env(&[("app", "linked.tar", "app")], archives.path(), ""));
    d.deploy().ok();
    let bin = d.work("app/app/bin");
    assert_eq!(std::fs::read(bin.join("alias")).unwrap(), std::fs::read(bin.join("tool")).unwrap());
    assert_eq!(mode(&bin.join("alias")), 0o755);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(bin.join("alias")).unwrap().nlink(), 1, "a copy, not a second name");
    assert!(d.deploy().ok().changed().is_empty());
}
