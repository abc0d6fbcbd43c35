//! examples/polyglot: a Rust, a Python and a JavaScript component that
//! provide and require values from one another (and a Rust root that adds
//! a Python kind), deployed locally and over SSH; the second run changes
//! nothing.

use std::ffi::OsString;
use std::path::Path;

use crate::harness::{Deployment, repo, toolchains};
use crate::sshd::Sshd;

/// A copy of examples/polyglot, outside the repository, with `env` as its
/// environment `dev`.
fn example(env: Option<&str>) -> Deployment {
    let d = Deployment::new("");
    let from = repo().join("examples/polyglot");
    for component in ["web", "app", "proxy"] {
        copy_tree(&from.join("components").join(component), &d.path().join("components").join(component));
    }
    let env = match env {
        Some(env) => env.to_string(),
        None => std::fs::read_to_string(from.join("environments/dev.toml")).unwrap(),
    };
    d.write("environments/dev.toml", &env);
    d
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_name() == "work" || entry.file_name() == "target" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn with<'a>(env: &'a [(&'static str, OsString)]) -> Vec<(&'static str, &'a std::ffi::OsStr)> {
    env.iter().map(|(k, v)| (*k, v.as_os_str())).collect()
}

#[test]
fn the_polyglot_example_deploys_locally_and_reruns_clean() {
    let Some(tools) = toolchains() else { return };
    let d = example(None);
    let first = d.run_with(&["deploy", "dev"], &with(&tools)).ok();
    let mut changed = first.changed();
    changed.sort();
    assert_eq!(
        changed,
        [
            "localhost: app > file('app.ini') > content('app.ini')",
            "localhost: proxy",
            "localhost: web > banner('web')",
            "localhost: web > file('web.conf') > content('web.conf')",
        ],
        "{}",
        first.stdout
    );
    let read = |rel: &str| std::fs::read_to_string(d.work(rel)).unwrap();
    assert_eq!(read("web/web.conf"), "listen 8080\nurl http://localhost:8080/\n");
    assert_eq!(read("web/banner.txt"), "served by web (Rust)\n");
    assert!(read("app/app.ini").contains("upstream = http://localhost:8080/\nworkers = 4\n"));
    let socket = d.work("app/app.sock");
    assert_eq!(
        read("proxy/proxy.conf"),
        format!("listen 80\nroute / http://localhost:8080/\nroute /app unix:{}\n", socket.display())
    );
    let second = d.run_with(&["deploy", "dev"], &with(&tools)).ok();
    assert!(second.changed().is_empty(), "{}", second.stdout);
}

#[test]
fn the_polyglot_example_deploys_over_ssh_and_reruns_clean() {
    let Some(tools) = toolchains() else { return };
    let Some(sshd) = Sshd::start(12) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join("polyglot"));
    let env = format!(
        "[environment]\nconnect = \"ssh\"\ntarget_directory = \"polyglot\"\n\n\
         [hosts.server]\ncomponents = [\"web\", \"app\", \"proxy\"]\n{}\n\
         [components.web]\nport = 8080\n",
        sshd.host_keys()
    );
    let d = example(Some(&env));
    let mut command = sshd.command(d.path(), &["deploy", "dev"]);
    command.envs(tools.iter().map(|(k, v)| (*k, v)));
    let run = |mut c: std::process::Command| {
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}\n{}", sshd.log());
    let work = sshd.user_home.join("polyglot/work");
    let proxy = std::fs::read_to_string(work.join("proxy/proxy.conf")).unwrap();
    // `workdir()` is the plan's: relative to the login's home, as
    // `target_directory` is, the same when configure runs on the
    // controller and when the agent replays it.
    assert_eq!(proxy, "listen 80\nroute / http://server:8080/\nroute /app unix:polyglot/work/app/app.sock\n");
    assert_eq!(std::fs::read_to_string(work.join("web/banner.txt")).unwrap(), "served by web (Rust)\n");
    let mut again = sshd.command(d.path(), &["deploy", "dev"]);
    again.envs(tools.iter().map(|(k, v)| (*k, v)));
    let (code, stdout, stderr) = run(again);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 of 8 components changed"), "{stdout}");
}
