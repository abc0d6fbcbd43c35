//! The standard library's other kinds: directory, symlink, mode, purge, command.

use std::os::unix::fs::PermissionsExt;

use crate::harness::Deployment;

#[test]
fn directory_symlink_and_purge_converge() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["data", "current", "cleanup"]

[components.data]
kind = "directory"
path = "releases/v1"
leading = true
mode = "rwxr-x---"

[components.current]
kind = "symlink"
path = "current"
target = "releases/v1"

[components.cleanup]
kind = "purge"
pattern = "*.tmp"
"#,
    );
    std::fs::create_dir_all(d.work("cleanup")).unwrap();
    std::fs::write(d.work("cleanup/a.tmp"), "x").unwrap();
    std::fs::write(d.work("cleanup/keep.txt"), "x").unwrap();
    std::fs::write(d.work("cleanup/.hidden.tmp"), "x").unwrap();
    d.deploy().ok();
    assert!(d.work("data/releases/v1").is_dir());
    assert_eq!(std::fs::metadata(d.work("data/releases/v1")).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(std::fs::read_link(d.work("current/current")).unwrap(), d.work("current/releases/v1"));
    assert!(!d.work("cleanup/a.tmp").exists());
    assert!(d.work("cleanup/keep.txt").exists());
    assert!(d.work("cleanup/.hidden.tmp").exists(), "`*` does not match hidden files, as in a shell");
    let again = d.deploy().ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
}

#[test]
fn modes_in_every_spelling_and_a_drifted_mode_is_repaired() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["a", "b", "c"]

[components.a]
kind = "file"
path = "a"
content = ""
mode = 0o640

[components.b]
kind = "file"
path = "b"
content = ""
mode = "0640"

[components.c]
kind = "file"
path = "c"
content = ""
mode = "rw-r-----"
"#,
    );
    d.deploy().ok();
    for f in ["a/a", "b/b", "c/c"] {
        assert_eq!(std::fs::metadata(d.work(f)).unwrap().permissions().mode() & 0o7777, 0o640, "{f}");
    }
    std::fs::set_permissions(d.work("b/b"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = d.deploy().ok();
    assert_eq!(run.changed(), ["localhost: b > mode('b')"], "{}", run.stdout);
    assert_eq!(std::fs::metadata(d.work("b/b")).unwrap().permissions().mode() & 0o7777, 0o640);
}

#[test]
fn command_with_a_creates_guard_runs_once() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["init"]

[components.init]
kind = "command"
command = "sh"
args = ["-c", "echo run >> runs.log && touch initialised"]
creates = "initialised"

[grants.init]
commands = ["sh"]
"#,
    );
    let first = d.deploy().ok();
    assert_eq!(first.changed(), ["localhost: init"], "{}", first.stdout);
    let second = d.deploy().ok();
    assert!(second.changed().is_empty(), "{}", second.stdout);
    assert_eq!(std::fs::read_to_string(d.work("init/runs.log")).unwrap(), "run\n");
}

#[test]
fn command_with_an_unless_guard_and_a_failing_command() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["check", "broken"]

[components.check]
kind = "command"
command = "sh"
args = ["-c", "echo ran > ran.txt"]
unless = ["test", "-e", "ran.txt"]

[components.broken]
kind = "command"
command = "sh"
args = ["-c", "echo 'disk on fire' >&2; exit 3"]

[grants.check]
commands = ["sh", "test"]

[grants.broken]
commands = ["sh"]
"#,
    );
    let first = d.deploy();
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("localhost: broken: update: `sh -c "), "{}", first.stderr);
    assert!(first.stderr.contains("exited with status 3"), "{}", first.stderr);
    assert!(first.stderr.contains("disk on fire") && first.stderr.contains('3'), "{}", first.stderr);
    assert!(d.work("check/ran.txt").exists(), "the component before the failure was deployed");
    let again = d.deploy();
    assert!(!again.changed().contains(&"localhost: check"), "{}", again.stdout);
}

#[test]
fn owner_and_group_are_set_by_name() {
    // Changing a file's owner needs root: CI runs as root.
    if !crate::harness::is_root() {
        eprintln!("skipped: owner changes need root");
        return;
    }
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["owned"]

[components.owned]
kind = "file"
path = "owned.txt"
content = "mine\n"
owner = "nobody"
group = "nogroup"
"#,
    );
    let first = d.deploy().ok();
    assert!(first.changed().contains(&"localhost: owned > owner('owned.txt')"), "{}", first.stdout);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(d.work("owned/owned.txt")).unwrap();
    assert_eq!(meta.uid(), 65534, "nobody");
    assert_eq!(meta.gid(), 65534, "nogroup");
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn a_file_without_content_takes_the_asset_named_like_it_or_fails() {
    let env = "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"etc/motd\"\nleading = true\n";
    let d = Deployment::new(env);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("localhost: motd: configure: invalid: file `etc/motd` has no `content`, no `source`, and there is no asset named `motd`"),
        "{}",
        run.stderr
    );
    d.write("components/motd/motd", "Hello {{ host.name }}\n");
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(d.work("motd/etc/motd")).unwrap(), "Hello localhost\n");
}

#[test]
fn a_rewrite_keeps_owner_and_writes_through_a_symlink() {
    let env = "[hosts.localhost]\ncomponents = [\"conf\"]\n[components.conf]\nkind = \"file\"\npath = \"app.conf\"\ncontent = \"new\\n\"\n";
    let d = Deployment::new(env);
    std::fs::create_dir_all(d.work("conf")).unwrap();
    std::fs::write(d.work("conf/real.conf"), "old\n").unwrap();
    std::os::unix::fs::symlink("real.conf", d.work("conf/app.conf")).unwrap();
    let root = crate::harness::is_root();
    if root {
        std::os::unix::fs::chown(d.work("conf/real.conf"), Some(65534), Some(65534)).unwrap();
    }
    let run = d.deploy().ok();
    assert!(run.stdout.contains("-old") && run.stdout.contains("+new"), "{}", run.stdout);
    assert!(std::fs::symlink_metadata(d.work("conf/app.conf")).unwrap().file_type().is_symlink(), "the link stays");
    assert_eq!(std::fs::read_to_string(d.work("conf/real.conf")).unwrap(), "new\n");
    if root {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(d.work("conf/real.conf")).unwrap().uid(), 65534, "the owner is kept");
    }
}

#[test]
fn command_on_another_host_of_a_local_environment_runs_here() {
    let d = Deployment::new("");
    let marker = d.path().join("elsewhere/made-from-a");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[hosts.a]
components = ["remote"]

[hosts.b]
components = []

[components.remote]
kind = "command"
host = "b"
command = "touch"
args = ["{marker}"]
unless = ["test", "-e", "{marker}"]

[grants.remote]
ssh = ["b"]
commands = ["touch", "test"]
"#,
            marker = marker.display()
        ),
    );
    let first = d.deploy().ok();
    assert_eq!(first.changed(), ["a: remote"], "{}", first.stdout);
    assert!(marker.exists());
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn command_with_host_and_creates_is_a_configure_error() {
    let d = Deployment::new(
        "[hosts.a]\ncomponents = [\"c\"]\n[hosts.b]\ncomponents = []\n\
         [components.c]\nkind = \"command\"\nhost = \"b\"\ncommand = \"true\"\ncreates = \"x\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("creates checks a path on this host"), "{}", run.stderr);
}

#[test]
fn a_command_with_megabytes_of_output_succeeds_and_logs_its_end() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["chatty"]

[components.chatty]
kind = "command"
command = "seq"
args = ["1", "400000"]

[grants.chatty]
commands = ["seq"]
"#,
    );
    let run = d.run(&["deploy", "dev", "-v"]).ok();
    // 2.6 MB of output: the log shows its end and says what it cut.
    assert!(run.stdout.contains("bytes of output are cut]"), "{}", &run.stdout[..run.stdout.len().min(2000)]);
    assert!(run.stdout.contains("\n399999\n400000"), "the end of the output is kept");
    assert!(run.stdout.len() < 200_000, "{} bytes of output shown", run.stdout.len());
}

/// Whether a process runs `sleep <seconds>` (a number unique to a test),
/// and has not ended.
fn sleeping(seconds: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.ends_with(format!("sleep\0{seconds}\0").as_bytes()))
            // A zombie has ended (nobody here may reap it).
            && !std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| s.contains(") Z "))
    })
}

#[test]
fn a_command_timeout_ends_what_the_command_started_too() {
    let d = Deployment::new(
        r#"[hosts.localhost]
components = ["forks", "leaves"]

[components.forks]
kind = "command"
command = "sh"
args = ["-c", "sleep 3071 & sleep 3071"]
timeout = 1

[components.leaves]
kind = "command"
command = "sh"
args = ["-c", "sleep 3072 &"]
timeout = 1

[grants.forks]
commands = ["sh"]

[grants.leaves]
commands = ["sh"]
"#,
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("killed after its timeout of 1.0s"), "{}", run.stderr);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!sleeping("3071"), "a grandchild of the timed-out command survived");
    // The second one exits at once but leaves a child holding its output:
    // bounded by the timeout as well, not waited for until it ends.
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"leaves\"]\n[components.leaves]\nkind = \"command\"\ncommand = \"sh\"\nargs = [\"-c\", \"sleep 3072 &\"]\ntimeout = 1\n[grants.leaves]\ncommands = [\"sh\"]\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!sleeping("3072"), "what the command left running survived");
}

#[test]
fn a_temporary_file_a_killed_deploy_left_is_removed_by_the_next_write_there() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
    );
    let dir = d.work("motd");
    std::fs::create_dir_all(&dir).unwrap();
    // Of a process that is gone, and of one that runs (this test).
    let stale = dir.join(".motd.txt.batou-tmp.4194000.7");
    let live = dir.join(format!(".motd.txt.batou-tmp.{}.0", std::process::id()));
    std::fs::write(&stale, "half").unwrap();
    std::fs::write(&live, "being written").unwrap();
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(dir.join("motd.txt")).unwrap(), "hi\n");
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert!(live.exists(), "a temporary file of a running process was removed");
}

#[test]
fn purge_of_a_path_without_wildcards_matches_only_what_is_there() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["never", "old"]

[components.never]
kind = "purge"
pattern = "never-there"

[components.old]
kind = "purge"
pattern = "conf.d/old.conf"
"#,
    );
    std::fs::create_dir_all(d.work("old/conf.d")).unwrap();
    std::fs::write(d.work("old/conf.d/old.conf"), "x").unwrap();
    std::fs::write(d.work("old/conf.d/new.conf"), "x").unwrap();
    let predicted = d.predict().ok();
    assert_eq!(predicted.changed(), ["localhost: old"], "{}", predicted.stdout);
    assert!(d.work("old/conf.d/old.conf").exists(), "predict changes nothing");
    let first = d.deploy().ok();
    assert_eq!(first.changed(), ["localhost: old"], "{}", first.stdout);
    assert!(!d.work("old/conf.d/old.conf").exists());
    assert!(d.work("old/conf.d/new.conf").exists());
    let again = d.deploy().ok();
    assert!(again.changed().is_empty(), "a literal pattern that matches nothing converges:\n{}", again.stdout);
}

#[test]
fn a_relative_symlink_target_is_below_the_workdir_as_in_batou() {
    let d = Deployment::new("");
    let elsewhere = d.path().join("elsewhere/shared");
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[hosts.localhost]
components = ["link", "linkfile", "absolute"]

[components.link]
kind = "symlink"
path = "sub/link"
target = "data"

[components.linkfile]
kind = "file"
ensure = "symlink"
path = "sub/link"
link_to = "./data/../data"

[components.absolute]
kind = "symlink"
path = "link"
target = "{elsewhere}"

[grants.absolute]
paths.read = ["{elsewhere}"]
"#,
            elsewhere = elsewhere.display()
        ),
    );
    for root in ["link", "linkfile"] {
        std::fs::create_dir_all(d.work(&format!("{root}/sub"))).unwrap();
        std::fs::write(d.work(&format!("{root}/data")), "the workdir's data\n").unwrap();
        std::fs::write(d.work(&format!("{root}/sub/data")), "not this one\n").unwrap();
    }
    std::fs::create_dir_all(d.work("absolute")).unwrap();

    let predicted = d.predict().ok();
    assert_eq!(
        predicted.changed(),
        ["localhost: link", "localhost: linkfile > symlink('sub/link')", "localhost: absolute"],
        "{}",
        predicted.stdout
    );
    assert!(std::fs::symlink_metadata(d.work("link/sub/link")).is_err(), "predict changes nothing");

    d.deploy().ok();
    for root in ["link", "linkfile"] {
        let link = d.work(&format!("{root}/sub/link"));
        assert_eq!(std::fs::read_link(&link).unwrap(), d.work(&format!("{root}/data")), "{root}");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "the workdir's data\n", "{root}");
    }
    assert_eq!(std::fs::read_link(d.work("absolute/link")).unwrap(), elsewhere, "an absolute target as given");

    let again = d.deploy().ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
    assert!(d.predict().ok().changed().is_empty());

    // A link made by hand the POSIX way (relative to its folder) is repaired.
    std::fs::remove_file(d.work("link/sub/link")).unwrap();
    std::os::unix::fs::symlink("data", d.work("link/sub/link")).unwrap();
    let repaired = d.deploy().ok();
    assert_eq!(repaired.changed(), ["localhost: link"], "{}", repaired.stdout);
    assert_eq!(std::fs::read_link(d.work("link/sub/link")).unwrap(), d.work("link/data"));
}

/// A deployment whose root `site` (kind `directory`) copies the asset
/// folder `htdocs` of components/site/ into work/site/htdocs.
fn site() -> Deployment {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["site"]

[components.site]
kind = "directory"
path = "htdocs"
source = "htdocs"
exclude = ["*.bak", "cache/", "/drafts"]
delete = true
"#,
    );
    d.write("components/site/htdocs/index.html", "<h1>{{ not a template }}</h1>\n");
    d.write("components/site/htdocs/css/site.css", "body { margin: 0 }\n");
    d.write("components/site/htdocs/notes.bak", "excluded by name\n");
    d.write("components/site/htdocs/cache/page", "excluded as a folder\n");
    d.write("components/site/htdocs/drafts/new.html", "excluded from the top\n");
    d.write("components/site/htdocs/blog/drafts/old.html", "not the top's drafts: copied\n");
    d.write("components/site/htdocs/target/build.log", "build output is no asset\n");
    d.write("components/site/other.txt", "outside the source folder\n");
    std::fs::write(d.path().join("components/site/htdocs/logo.png"), [0x89, b'P', b'N', b'G', 0xff, 0x00]).unwrap();
    d
}

/// What the target folder holds: every file's path below it and bytes.
fn tree(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

fn copied(changed: &[&str]) -> Vec<String> {
    changed.iter().filter(|l| !l.contains(": info: ")).map(|l| l.to_string()).collect()
}

#[test]
fn directory_with_a_source_copies_a_folder_of_assets_and_converges() {
    let d = site();
    // What was there before: removed unless excluded.
    let target = d.work("site/htdocs");
    std::fs::create_dir_all(target.join("css")).unwrap();
    std::fs::create_dir_all(target.join("old/deep")).unwrap();
    std::fs::create_dir_all(target.join("cache")).unwrap();
    std::fs::write(target.join("stale.html"), "stale\n").unwrap();
    std::fs::write(target.join("css/old.css"), "old\n").unwrap();
    std::fs::write(target.join("old/deep/x"), "old\n").unwrap();
    std::fs::write(target.join("local.bak"), "the host's own\n").unwrap();
    std::fs::write(target.join("cache/hot"), "the host's cache\n").unwrap();
    let before = tree(&target);

    let predicted = d.predict().ok();
    assert_eq!(tree(&target), before, "predict changes nothing");
    let files = [
        "localhost: site > file('htdocs/blog/drafts/old.html') > content('htdocs/blog/drafts/old.html')",
        "localhost: site > file('htdocs/css/site.css') > content('htdocs/css/site.css')",
        "localhost: site > file('htdocs/index.html') > content('htdocs/index.html')",
        "localhost: site > file('htdocs/logo.png') > content('htdocs/logo.png')",
        "localhost: site",
    ];
    assert_eq!(copied(&predicted.changed()), files, "{}", predicted.stdout);
    for removed in ["css/old.css", "old", "stale.html"] {
        let line = format!("localhost: site: info: {}/{removed} is not in `htdocs` (delete = true)", "htdocs");
        assert!(predicted.stdout.contains(&line), "{line}\n{}", predicted.stdout);
    }
    assert!(predicted.stdout.contains("+<h1>{{ not a template }}</h1>"), "{}", predicted.stdout);

    let first = d.deploy().ok();
    assert_eq!(copied(&first.changed()), files, "{}", first.stdout);
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0xff, 0x00];
    let expected: Vec<(String, Vec<u8>)> = [
        ("blog/drafts/old.html", &b"not the top's drafts: copied\n"[..]),
        ("cache/hot", b"the host's cache\n"),
        ("css/site.css", b"body { margin: 0 }\n"),
        ("index.html", b"<h1>{{ not a template }}</h1>\n"),
        ("local.bak", b"the host's own\n"),
        ("logo.png", png),
    ]
    .into_iter()
    .map(|(n, b)| (n.to_string(), b.to_vec()))
    .collect();
    assert_eq!(tree(&target), expected);
    assert!(!target.join("old").exists(), "a folder with nothing to keep goes as a whole");

    let again = d.deploy().ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
    assert!(d.predict().ok().changed().is_empty());

    // An asset changed, one added, one removed: each shows by itself.
    d.write("components/site/htdocs/index.html", "<h1>v2</h1>\n");
    d.write("components/site/htdocs/about.html", "about\n");
    std::fs::remove_file(d.path().join("components/site/htdocs/css/site.css")).unwrap();
    let second = d.deploy().ok();
    assert_eq!(
        copied(&second.changed()),
        [
            "localhost: site > file('htdocs/about.html') > content('htdocs/about.html')",
            "localhost: site > file('htdocs/index.html') > content('htdocs/index.html')",
            "localhost: site",
        ],
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("-<h1>{{ not a template }}</h1>") && second.stdout.contains("+<h1>v2</h1>"));
    assert!(second.stdout.contains("localhost: site: info: htdocs/css is not in `htdocs` (delete = true)"));
    assert!(!target.join("css").exists());
    assert_eq!(std::fs::read_to_string(target.join("about.html")).unwrap(), "about\n");
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn directory_with_a_source_lists_the_same_assets_on_an_agent() {
    // The agent gets the assets that travel (not `target/`, not `*.wasm`)
    // and replays configure with its own listing of them: a listing that
    // differed would add other sub-components and fail the replay.
    let inside = site();
    let outside = site();
    for d in [&inside, &outside] {
        d.write("components/site/htdocs/module.wasm", "a module travels as a module\n");
    }
    let a = inside.deploy().ok();
    let b = outside.run(&["deploy", "dev", "--agent-process"]).ok();
    let lines = |d: &Deployment, run: &crate::harness::Run| -> Vec<String> {
        d.normalise(&run.stdout).lines().map(|l| l.split(" (").next().unwrap_or(l).to_string()).collect()
    };
    assert_eq!(lines(&inside, &a), lines(&outside, &b), "{}\n---\n{}", a.stdout, b.stdout);
    assert!(
        b.stdout.contains("localhost: site > file('htdocs/logo.png') > content('htdocs/logo.png')"),
        "{}",
        b.stdout
    );
    assert_eq!(tree(&inside.work("site/htdocs")), tree(&outside.work("site/htdocs")));
    assert!(!outside.work("site/htdocs/target").exists() && !outside.work("site/htdocs/module.wasm").exists());
    let again = outside.run(&["deploy", "dev", "--agent-process"]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
}

#[test]
fn file_with_ensure_directory_and_a_source_copies_and_keeps_what_else_is_there() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["conf", "outside"]

[components.conf]
kind = "file"
ensure = "directory"
path = "etc/conf.d"
leading = true
source = "."

[components.outside]
kind = "directory"
path = "/etc/batou-run-test-never"
source = "."
"#,
    );
    d.write("components/conf/a.conf", "a = 1\n");
    d.write("components/conf/sub/b.conf", "b = 2\n");
    d.write("components/outside/a.conf", "a = 1\n");
    std::fs::create_dir_all(d.work("conf/etc/conf.d")).unwrap();
    std::fs::write(d.work("conf/etc/conf.d/local.conf"), "mine\n").unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "the root outside its grants fails: {run:?}");
    assert!(
        run.stderr.contains("DENIED: localhost: outside > presence('/etc/batou-run-test-never')"),
        "{}",
        run.stderr
    );
    assert!(!std::path::Path::new("/etc/batou-run-test-never").exists());
    let expected = [("a.conf", "a = 1\n"), ("local.conf", "mine\n"), ("sub/b.conf", "b = 2\n")]
        .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec()));
    assert_eq!(tree(&d.work("conf/etc/conf.d")), expected, "as batou's sync, without `delete` nothing is removed");
    let again = d.deploy();
    assert!(!again.stdout.contains("localhost: conf"), "{}", again.stdout);
}

#[test]
fn directory_with_a_source_that_is_no_folder_of_assets_is_a_configure_error() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"missing\", \"unsourced\"]\n\
         [components.missing]\nkind = \"directory\"\npath = \"x\"\nsource = \"nothing-here\"\n\
         [components.unsourced]\nkind = \"directory\"\npath = \"x\"\ndelete = true\n",
    );
    d.write("components/missing/elsewhere/a", "a\n");
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("localhost: missing: configure: not found: source `nothing-here`:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("localhost: unsourced: configure: invalid: x: `exclude` and `delete` are for a copy of assets"),
        "{}",
        run.stderr
    );
}

#[test]
fn predict_on_a_fresh_target_lists_what_the_deploy_changes_and_no_mode_of_a_file_created_with_it() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"secret\"]\n[components.secret]\nkind = \"file\"\npath = \"secret.txt\"\ncontent = \"s3cret\\n\"\nmode = 0o600\n",
    );
    let predicted = d.run(&["deploy", "dev", "-P"]).ok();
    let deployed = d.deploy().ok();
    assert_eq!(predicted.changed(), deployed.changed(), "-P:\n{}\ndeploy:\n{}", predicted.stdout, deployed.stdout);
    assert_eq!(deployed.changed(), ["localhost: secret > content('secret.txt')"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(d.work("secret/secret.txt")).unwrap().permissions().mode() & 0o777, 0o600);
    // A mode changed afterwards is a change of `mode`.
    std::fs::set_permissions(d.work("secret/secret.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(d.deploy().ok().changed(), ["localhost: secret > mode('secret.txt')"]);
}

#[test]
fn a_command_for_another_host_in_a_local_environment_runs_only_in_a_granted_working_directory() {
    let granted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(granted.path().join("real")).unwrap();
    std::os::unix::fs::symlink(outside.path(), granted.path().join("link")).unwrap();
    let d = Deployment::new("");
    let deploy_in = |cwd: &std::path::Path| {
        d.write(
            "environments/dev.toml",
            &format!(
                "[hosts.a]\ncomponents = [\"remote\"]\n[hosts.b]\ncomponents = []\n[components.remote]\nkind = \"command\"\nhost = \"b\"\ncommand = \"touch\"\nargs = [\"here\"]\ncwd = \"{}\"\n[grants.remote]\nssh = [\"b\"]\ncommands = [\"touch\"]\npaths.read = [\"{}\"]\n",
                cwd.display(),
                granted.path().display()
            ),
        );
        d.deploy()
    };
    let linked = deploy_in(&granted.path().join("link"));
    assert_eq!(linked.code, 1, "{linked:?}");
    assert!(linked.stderr.contains("leads outside the granted paths"), "{}", linked.stderr);
    assert!(!outside.path().join("here").exists());
    let elsewhere = deploy_in(outside.path());
    assert_eq!(elsewhere.code, 1, "{elsewhere:?}");
    assert!(elsewhere.stderr.contains("the working directory is outside the granted paths"), "{}", elsewhere.stderr);
    deploy_in(&granted.path().join("real")).ok();
    assert!(granted.path().join("real/here").exists());
}

#[test]
fn a_command_ends_when_the_runner_running_it_is_killed() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"long\"]\n[components.long]\nkind = \"command\"\ncommand = \"sleep\"\nargs = [\"3075\"]\n[grants.long]\ncommands = [\"sleep\"]\n",
    );
    /// Kills the runner however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let runner = std::process::Command::new(env!("CARGO_BIN_EXE_batou-run"))
        .args(["deploy", "dev", "--deployment"])
        .arg(d.path())
        .env("BATOU_RUN_CACHE", crate::harness::cache_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut runner = Killed(runner);
    let started = std::time::Instant::now();
    while !sleeping("3075") {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    runner.0.kill().unwrap();
    runner.0.wait().unwrap();
    let killed = std::time::Instant::now();
    while sleeping("3075") {
        assert!(killed.elapsed() < std::time::Duration::from_secs(10), "the command outlived the runner");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_file_from_an_asset_larger_than_the_memory_limit_is_compared_by_digest_and_copied_in_pieces() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"big\"]\n\
         [components.big]\nkind = \"file\"\npath = \"big.bin\"\nsource = \"big.bin\"\nis_template = false\n\
         [limits.big]\nmemory_limit = 16\n",
    );
    // 40 MiB that compress badly, more than twice the component's memory.
    let big: Vec<u8> = (0..40u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::create_dir_all(d.path().join("components/big")).unwrap();
    std::fs::write(d.path().join("components/big/big.bin"), &big).unwrap();
    let first = d.deploy().ok();
    assert_eq!(first.changed(), ["localhost: big > content('big.bin')"], "{}", first.stdout);
    assert!(std::fs::read(d.work("big/big.bin")).unwrap() == big, "the copy is the asset");
    let again = d.deploy().ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
    // A changed target file is found by its digest, and copied again.
    std::fs::write(d.work("big/big.bin"), b"changed").unwrap();
    let repaired = d.deploy().ok();
    assert_eq!(repaired.changed(), ["localhost: big > content('big.bin')"], "{}", repaired.stdout);
    assert!(std::fs::read(d.work("big/big.bin")).unwrap() == big);
}

#[test]
fn line_in_file_replaces_appends_and_removes_lines_keeping_the_rest() {
    let outside = tempfile::tempdir().unwrap();
    let etc = outside.path().display().to_string();
    let config = outside.path().join("sshd_config");
    std::fs::write(
        &config,
        "Port 22\nPermitRootLogin yes\n# PermitRootLogin is commented\nPermitRootLogin again\n# end",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let d = Deployment::new(&format!(
        r#"
[hosts.localhost]
components = ["rootlogin", "noport", "created"]

[components.rootlogin]
kind = "line-in-file"
path = "{etc}/sshd_config"
line = "PermitRootLogin no"
starts_with = "PermitRootLogin "

[components.noport]
kind = "line-in-file"
path = "{etc}/sshd_config"
line = "Port 22"
ensure = "absent"

[components.created]
kind = "line-in-file"
path = "app.conf"
line = "answer = 42"

[grants.rootlogin]
paths.write = ["{etc}"]

[grants.noport]
paths.write = ["{etc}"]
"#
    ));
    let before = std::fs::read_to_string(&config).unwrap();
    let predicted = d.predict().ok();
    assert!(predicted.stdout.contains("localhost: rootlogin"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("-PermitRootLogin yes") && predicted.stdout.contains("+PermitRootLogin no"));
    assert!(predicted.stdout.contains("localhost: created"), "{}", predicted.stdout);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before, "predict changed nothing");
    assert!(!d.work("created/app.conf").exists());

    d.deploy().ok();
    // The first line of its own is replaced, the later one removed;
    // the comment, which does not start with it, stays; so does the mode.
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "PermitRootLogin no\n# PermitRootLogin is commented\n# end");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(std::fs::read_to_string(d.work("created/app.conf")).unwrap(), "answer = 42\n");
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // Without its grant, a file outside the workdir is refused, the grant named.
    d.write(
        "environments/dev.toml",
        &format!(
            "[hosts.localhost]\ncomponents = [\"other\"]\n[components.other]\nkind = \"line-in-file\"\n\
             path = \"{etc}/sshd_config\"\nline = \"X11Forwarding no\"\n"
        ),
    );
    let refused = d.deploy();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("to `paths.read` in [grants.other]")
            || refused.stderr.contains("to `paths.write` in [grants.other]"),
        "{}",
        refused.stderr
    );
    assert!(!std::fs::read_to_string(&config).unwrap().contains("X11Forwarding"));
}

#[test]
fn json_and_toml_content_keep_the_environments_key_order() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["settings", "app"]

[components.settings]
kind = "json-content"
path = "settings.json"
data = { zebra = 1, apple = "two", nested = { y = true, b = [1, 2] } }

[components.app]
kind = "toml-content"
path = "app.toml"
mode = 0o600
data = { name = "app", port = 8080, database = { url = "postgres://db/app", pool = 5 }, alpha = ["a"] }
"#,
    );
    let predicted = d.predict().ok();
    assert!(predicted.stdout.contains("+  \"zebra\": 1,"), "{}", predicted.stdout);
    assert!(!d.work("settings/settings.json").exists(), "predict changed nothing");
    d.deploy().ok();
    assert_eq!(
        std::fs::read_to_string(d.work("settings/settings.json")).unwrap(),
        "{\n  \"zebra\": 1,\n  \"apple\": \"two\",\n  \"nested\": {\n    \"y\": true,\n    \"b\": [\n      1,\n      2\n    ]\n  }\n}\n"
    );
    let toml_text = std::fs::read_to_string(d.work("app/app.toml")).unwrap();
    assert_eq!(
        toml_text,
        "name = \"app\"\nport = 8080\nalpha = [\"a\"]\n\n[database]\nurl = \"postgres://db/app\"\npool = 5\n"
    );
    assert_eq!(std::fs::metadata(d.work("app/app.toml")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // Outside the workdir without a grant: refused, the grant named.
    d.write(
        "environments/dev.toml",
        "[hosts.localhost]\ncomponents = [\"settings\"]\n[components.settings]\nkind = \"json-content\"\n\
         path = \"/etc/batou-run-test.json\"\ndata = { a = 1 }\n",
    );
    let refused = d.deploy();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("[grants.settings]"), "{}", refused.stderr);
}

#[test]
fn yaml_content_quotes_what_yaml_would_read_as_something_else() {
    let d = Deployment::new(
        r#"
[hosts.localhost]
components = ["compose"]

[components.compose]
kind = "yaml-content"
path = "compose.yaml"
data = { version = "3.8", services = { web = { image = "nginx:1.27", ports = ["8080:80"], enabled = true, answer = "yes", note = "a: b", empty = "", env = [{ name = "A", value = 1 }], none = {} } } }
"#,
    );
    d.deploy().ok();
    assert_eq!(
        std::fs::read_to_string(d.work("compose/compose.yaml")).unwrap(),
        "version: \"3.8\"\nservices:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"8080:80\"\n    enabled: true\n    \
         answer: \"yes\"\n    note: \"a: b\"\n    empty: \"\"\n    env:\n      -\n        name: A\n        value: 1\n    none: {}\n"
    );
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");
}
