//! The standard `git` kind with real repositories made by the test and
//! the real `git` program.

use std::path::Path;
use std::process::Command;

use crate::harness::Deployment;

/// Runs git in `dir`, with an identity of its own; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository with two commits on `main`, a tag `v1` (annotated) on the
/// first; the commits' hashes.
fn repository(dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("app.py"), "print('one')\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "one"]);
    git(dir, &["tag", "-a", "v1", "-m", "release one"]);
    let first = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("app.py"), "print('two')\n").unwrap();
    git(dir, &["commit", "-q", "-am", "two"]);
    (first, git(dir, &["rev-parse", "HEAD"]))
}

fn git_env(repository: &Path, at: &str, extra: &str, granted: bool) -> String {
    let grants = if granted { "[grants.app]\ncommands = [\"git\"]\n" } else { "" };
    format!(
        "[hosts.localhost]\ncomponents = [\"app\"]\n[components.app]\nkind = \"git\"\nrepository = \"{}\"\n\
         target = \"checkout\"\n{at}\n{extra}\n{grants}",
        repository.display()
    )
}

fn head(checkout: &Path) -> String {
    git(checkout, &["rev-parse", "HEAD"])
}

#[test]
fn git_follows_a_branch_and_is_refused_on_changes_of_its_own_unless_clobbered() {
    let repos = tempfile::tempdir().unwrap();
    let upstream = repos.path().join("upstream");
    let (_, second) = repository(&upstream);
    let d = Deployment::new(&git_env(&upstream, "branch = \"main\"", "", true));
    let checkout = d.work("app/checkout");

    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("not cloned"), "{}", predicted.stdout);
    assert!(!checkout.exists(), "predict cloned nothing");
    d.deploy().ok();
    assert_eq!(head(&checkout), second);
    assert_eq!(git(&checkout, &["symbolic-ref", "--short", "HEAD"]), "main", "on the branch");
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");

    // A new commit upstream: predicted (the remote is asked), then checked out.
    std::fs::write(upstream.join("app.py"), "print('three')\n").unwrap();
    git(&upstream, &["commit", "-q", "-am", "three"]);
    let third = git(&upstream, &["rev-parse", "HEAD"]);
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains(&format!("not {}", &third[..12])), "{}", predicted.stdout);
    assert_eq!(head(&checkout), second, "predict fetched nothing into the checkout");
    d.deploy().ok();
    assert_eq!(head(&checkout), third);
    assert_eq!(std::fs::read_to_string(checkout.join("app.py")).unwrap(), "print('three')\n");

    // An edit and a stray file: refused, saying how to go on; nothing lost.
    std::fs::write(checkout.join("app.py"), "print('edited by hand')\n").unwrap();
    std::fs::write(checkout.join("notes.txt"), "mine\n").unwrap();
    let refused = d.deploy();
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("changes of its own") && refused.stderr.contains("clobber = true"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("app.py") && refused.stderr.contains("notes.txt"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(checkout.join("app.py")).unwrap(), "print('edited by hand')\n");

    // clobber = true discards them.
    d.write("environments/dev.toml", &git_env(&upstream, "branch = \"main\"", "clobber = true", true));
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(checkout.join("app.py")).unwrap(), "print('three')\n");
    assert!(!checkout.join("notes.txt").exists());
    assert!(d.deploy().ok().changed().is_empty());

    // Without the grant, refused with the grant named.
    d.write("environments/dev.toml", &git_env(&upstream, "branch = \"main\"", "", false));
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert!(all.contains("`git`") && all.contains("commands"), "{all}");
}

#[test]
fn git_checks_out_a_tag_or_a_revision_and_follows_a_changed_remote() {
    let repos = tempfile::tempdir().unwrap();
    let upstream = repos.path().join("upstream");
    let (first, second) = repository(&upstream);
    let d = Deployment::new(&git_env(&upstream, "tag = \"v1\"", "", true));
    let checkout = d.work("app/checkout");
    d.deploy().ok();
    assert_eq!(head(&checkout), first, "the annotated tag's commit");
    assert!(d.deploy().ok().changed().is_empty());

    d.write("environments/dev.toml", &git_env(&upstream, &format!("revision = \"{}\"", &second[..10]), "", true));
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains(&format!("at {}", &first[..12])), "{}", predicted.stdout);
    d.deploy().ok();
    assert_eq!(head(&checkout), second);
    assert!(d.deploy().ok().changed().is_empty());

    // The same history at another place: the checkout's remote follows.
    let mirror = repos.path().join("mirror");
    git(repos.path(), &["clone", "-q", "--mirror", &upstream.display().to_string(), "mirror"]);
    d.write("environments/dev.toml", &git_env(&mirror, &format!("revision = \"{second}\""), "", true));
    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains(&format!("not {}", mirror.display())), "{}", predicted.stdout);
    d.deploy().ok();
    assert_eq!(git(&checkout, &["remote", "get-url", "origin"]), mirror.display().to_string());
    assert!(d.deploy().ok().changed().is_empty());

    // Two of branch, tag and revision: a configure error.
    d.write("environments/dev.toml", &git_env(&upstream, "tag = \"v1\"\nbranch = \"main\"", "", true));
    let both = d.run(&["deploy", "dev", "-c"]);
    assert_ne!(both.code, 0);
    assert!(both.stderr.contains("exactly one of branch, tag and revision"), "{}", both.stderr);

    // A tag the repository lacks fails naming it.
    d.write("environments/dev.toml", &git_env(&upstream, "tag = \"v9\"", "", true));
    let missing = d.deploy();
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("has no tag v9"), "{}", missing.stderr);
}
