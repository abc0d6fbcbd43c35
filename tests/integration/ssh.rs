//! Deploys over SSH to a real sshd on 127.0.0.1 (see sshd.rs).

use crate::harness::{Deployment, Run};
use crate::sshd::Sshd;

/// An SSH environment of file components on host `web`, reached at `sshd`.
fn files(sshd: &Sshd, environment: &str, motd: &str) -> Deployment {
    let d = Deployment::new("");
    write_env(&d, sshd, environment, motd);
    d.write("components/page/index.html.j2", "<h1>{{ host.name }}</h1>\n");
    d
}

fn write_env(d: &Deployment, sshd: &Sshd, environment: &str, motd: &str) {
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[environment]
connect = "ssh"
{environment}

[hosts.web]
components = ["motd", "page"]
{host}

[components.motd]
kind = "file"
path = "motd.txt"
content = "{motd}"

[components.page]
kind = "file"
path = "index.html"
source = "index.html.j2"
"#,
            host = sshd.host_keys()
        ),
    );
}

fn summary(run: &Run) -> serde_json::Value {
    let last = run.stdout.lines().last().expect("a summary line");
    serde_json::from_str(last).expect("JSON")
}

#[test]
fn deploys_over_ssh_reruns_clean_and_predicts_with_diffs() {
    let Some(sshd) = Sshd::start(1) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join("deployment"));
    let d = files(&sshd, "", "Hello from {{ host.name }}\\n");
    let first = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(first.code, 0, "{first:?}\n{}", sshd.log());
    assert!(first.stdout.contains("web: motd > content('motd.txt')"), "{}", first.stdout);
    let motd = sshd.user_home.join("deployment/work/motd/motd.txt");
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "Hello from web\n");
    assert_eq!(
        std::fs::read_to_string(sshd.user_home.join("deployment/work/page/index.html")).unwrap(),
        "<h1>web</h1>\n"
    );
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&motd).unwrap().uid();
    assert_ne!(owner, 0, "the file belongs to the login user, not root");

    let again = sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);

    write_env(&d, &sshd, "", "Goodbye\\n");
    let predicted = sshd.run(d.path(), &["deploy", "dev", "--predict"]).ok();
    assert!(predicted.stdout.contains("web: motd > content('motd.txt')"), "{}", predicted.stdout);
    assert!(
        predicted.stdout.contains("-Hello from web") && predicted.stdout.contains("+Goodbye"),
        "{}",
        predicted.stdout
    );
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "Hello from web\n", "predict changed nothing");
}

#[test]
fn a_second_deploy_uploads_no_agent_and_no_modules() {
    let Some(sshd) = Sshd::start(2) else { return };
    let cache = sshd.user_home.join(".cache/batou-run");
    for entry in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with("batou-run-") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let d = files(&sshd, "target_directory = \"uploads\"", "x");
    let first = sshd.run(d.path(), &["deploy", "dev", "--json"]);
    assert_eq!(first.code, 0, "{first:?}\n{}", sshd.log());
    let uploaded = &summary(&first)["uploaded"];
    // Gzipped: a debug build shrinks to under a third.
    let agent_bytes = uploaded["agent_bytes"].as_u64().unwrap();
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_batou-run")).unwrap().len();
    assert!(agent_bytes > 1_000_000 && agent_bytes < binary / 2, "{uploaded}, binary {binary}");
    let agents: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(agents.iter().any(|a| a.to_string_lossy().starts_with("batou-run-")), "{agents:?}");
    assert!(!agents.iter().any(|a| a.to_string_lossy().ends_with(".tmp")), "{agents:?}");
    assert!(sshd.user_home.join("uploads/work/motd/motd.txt").is_file());
    let second = sshd.run(d.path(), &["deploy", "dev", "--json"]).ok();
    let uploaded = &summary(&second)["uploaded"];
    assert_eq!(uploaded, &serde_json::json!({"modules": 0, "assets": 0, "bytes": 0, "agent_bytes": 0}));
}

#[test]
fn host_keys_are_checked_against_known_hosts() {
    let Some(sshd) = Sshd::start(1) else { return };
    let d = files(&sshd, "target_directory = \"keys\"", "x");
    let listed = std::fs::read_to_string(sshd.known_hosts()).unwrap();
    std::fs::write(sshd.known_hosts(), "").unwrap();
    let refused = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let host = format!("[127.0.0.1]:{}", sshd.port);
    assert!(refused.stderr.contains(&format!("host web: the host key of {host} is unknown")), "{refused:?}");
    assert!(refused.stderr.contains("SHA256:") && refused.stderr.contains("--accept-new-host-keys"), "{refused:?}");

    let accepted = sshd.run(d.path(), &["deploy", "dev", "--accept-new-host-keys"]).ok();
    assert!(accepted.stderr.contains("Added the host key"), "{accepted:?}");
    assert_eq!(
        std::fs::read_to_string(sshd.known_hosts()).unwrap().lines().filter(|l| !l.trim().is_empty()).count(),
        1
    );
    sshd.run(d.path(), &["deploy", "dev"]).ok();

    // Another key for the same host is refused, even with the flag.
    let other = std::fs::read_to_string(sshd.new_key("other").with_extension("pub")).unwrap();
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    std::fs::write(sshd.known_hosts(), format!("{host} {}\n", other.join(" "))).unwrap();
    let changed = sshd.run(d.path(), &["deploy", "dev", "--accept-new-host-keys"]);
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stderr.contains(&format!("host web: the host key of {host} CHANGED")), "{changed:?}");
    assert!(listed.contains(&host));
}

#[test]
fn a_known_host_offering_a_key_of_another_type_or_a_revoked_key_is_refused() {
    let Some(sshd) = Sshd::start(1) else { return };
    let d = files(&sshd, "target_directory = \"keytypes\"", "x");
    let host = format!("[127.0.0.1]:{}", sshd.port);
    let listed = std::fs::read_to_string(sshd.known_hosts()).unwrap();
    // known_hosts lists an ECDSA key for the host; it offers its ed25519 key.
    let ecdsa = sshd.dir_path().join("other_ecdsa");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "", "-f"])
        .arg(&ecdsa)
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let ecdsa = std::fs::read_to_string(ecdsa.with_extension("pub")).unwrap();
    let ecdsa: Vec<&str> = ecdsa.split_whitespace().take(2).collect();
    let other_type = format!("{host} {}\n", ecdsa.join(" "));
    std::fs::write(sshd.known_hosts(), &other_type).unwrap();
    let changed = sshd.run(d.path(), &["deploy", "dev", "--accept-new-host-keys"]);
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stderr.contains(&format!("the host key of {host} CHANGED")), "{changed:?}");
    assert_eq!(std::fs::read_to_string(sshd.known_hosts()).unwrap(), other_type, "nothing was added");
    assert!(!changed.stdout.lines().any(|l| l.starts_with("web: ")), "nothing deployed: {}", changed.stdout);

    // The host's own key, listed, and revoked: refused always.
    let real_key: String =
        listed.lines().next().unwrap().split_whitespace().skip(1).take(2).collect::<Vec<_>>().join(" ");
    std::fs::write(sshd.known_hosts(), format!("{listed}@revoked * {real_key}\n")).unwrap();
    let revoked = sshd.run(d.path(), &["deploy", "dev", "--accept-new-host-keys"]);
    assert_eq!(revoked.code, 1, "{revoked:?}");
    assert!(revoked.stderr.contains(&format!("the host key of {host} is REVOKED")), "{revoked:?}");

    // A host known only through a @cert-authority line is refused, saying why.
    std::fs::write(sshd.known_hosts(), format!("@cert-authority {host} {}\n", ecdsa.join(" "))).unwrap();
    let ca = sshd.run(d.path(), &["deploy", "dev", "--accept-new-host-keys"]);
    assert_eq!(ca.code, 1, "{ca:?}");
    assert!(ca.stderr.contains("trusts a @cert-authority") && ca.stderr.contains("plain host keys only"), "{ca:?}");

    std::fs::write(sshd.known_hosts(), &listed).unwrap();
    sshd.run(d.path(), &["deploy", "dev"]).ok();
}

#[test]
fn a_key_the_host_does_not_accept_is_a_clear_error() {
    let Some(sshd) = Sshd::start(1) else { return };
    let stranger = sshd.new_key("stranger");
    let env = format!("target_directory = \"keys\"\nidentity_file = \"{}\"", stranger.display());
    let d = files(&sshd, &env, "x");
    let refused = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let expected =
        format!("host web: batou-ssh-1@127.0.0.1:{} refused the login: tried {}", sshd.port, stranger.display());
    assert!(refused.stderr.contains(&expected), "{refused:?}");
    assert!(refused.stderr.contains("authorized_keys"), "{refused:?}");
}

#[test]
fn an_unreachable_host_is_named() {
    let Some(sshd) = Sshd::start(1) else { return };
    let port = sshd.port;
    drop(sshd);
    let d = Deployment::new(&format!(
        "[environment]\nconnect = \"ssh\"\n[hosts.web]\ncomponents = [\"motd\"]\naddress = \"127.0.0.1\"\nport = {port}\n\
         [components.motd]\nkind = \"file\"\npath = \"m\"\ncontent = \"x\"\n"
    ));
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("host web: cannot connect to 127.0.0.1:{port}")), "{run:?}");
}

#[test]
fn a_host_behind_a_jump_host_is_reached_through_it() {
    let Some(target) = Sshd::start(5) else { return };
    let Some(jump) = Sshd::start(6) else { return };
    // One known_hosts for both; each server knows its own client key.
    let both =
        std::fs::read_to_string(target.known_hosts()).unwrap() + &std::fs::read_to_string(jump.known_hosts()).unwrap();
    std::fs::write(target.known_hosts(), both).unwrap();
    let _ = std::fs::remove_dir_all(target.user_home.join("jumped"));
    // The agent binary travels through the jump host too: a large upload
    // over a forwarded channel once deadlocked.
    let _ = std::fs::remove_dir_all(target.user_home.join(".cache/batou-run"));
    let d = Deployment::new(
        "[environment]\nconnect = \"ssh\"\ntarget_directory = \"jumped\"\n[hosts.target]\ncomponents = [\"motd\"]\n\
         [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"via {{ host.name }}\\n\"\n",
    );
    d.write(
        "ssh_config",
        &format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  ProxyJump jump\n\
             Host jump\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            target.port,
            target.user,
            jump.port,
            jump.user,
            jump.client_home.join(".ssh/id_ed25519").display()
        ),
    );
    let run = target.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 0, "{run:?}\njump:\n{}\ntarget:\n{}", jump.log(), target.log());
    assert_eq!(std::fs::read_to_string(target.user_home.join("jumped/work/motd/motd.txt")).unwrap(), "via target\n");
    assert!(jump.log().contains(&format!("Accepted publickey for {}", jump.user)), "{}", jump.log());

    // The jump host's refusal says it was the jump host.
    std::fs::write(jump.known_hosts(), "").unwrap();
    std::fs::write(
        target.known_hosts(),
        std::fs::read_to_string(target.known_hosts()).unwrap().lines().next().unwrap(),
    )
    .unwrap();
    let refused = target.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let expected = format!(
        "host target: through the jump host {}@127.0.0.1:{}: the host key of [127.0.0.1]:{} is unknown",
        jump.user, jump.port, jump.port
    );
    assert!(refused.stderr.contains(&expected), "{refused:?}");
}

#[test]
fn a_service_user_owns_the_files_through_sudo() {
    let Some(sshd) = Sshd::start(7) else { return };
    let Some((service, uid)) = sshd.service_user(7, true) else { return };
    let home = std::path::PathBuf::from(format!("/home/{service}"));
    let _ = std::fs::remove_dir_all(home.join("served"));
    let d = files(&sshd, &format!("target_directory = \"served\"\nservice_user = \"{service}\""), "x");
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 0, "{run:?}\n{}", sshd.log());
    use std::os::unix::fs::MetadataExt;
    let motd = home.join("served/work/motd/motd.txt");
    assert_eq!(std::fs::metadata(&motd).unwrap().uid(), uid, "owned by the service user");
    sshd.run(d.path(), &["deploy", "dev"]).ok();

    sshd.service_user(7, false);
    let refused = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("host web: cannot run the agent as the service user {service}")),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("a password is required"), "{refused:?}");
}

#[test]
fn a_folder_of_assets_and_a_relative_symlink_reach_an_ssh_host() {
    let Some(sshd) = Sshd::start(21) else { return };
    let work = sshd.user_home.join("deployment/work");
    let _ = std::fs::remove_dir_all(&work);
    let d = Deployment::new("");
    d.write(
        "environments/dev.toml",
        &format!(
            r#"
[environment]
connect = "ssh"

[hosts.web]
components = ["site", "link"]
{host}

[components.site]
kind = "directory"
path = "htdocs"
source = "htdocs"
exclude = ["*.bak"]
delete = true

[components.link]
kind = "symlink"
path = "current"
target = "releases/v1"
"#,
            host = sshd.host_keys()
        ),
    );
    d.write("components/site/htdocs/index.html", "<h1>{{ as it is }}</h1>\n");
    d.write("components/site/htdocs/css/a.css", "a {}\n");
    d.write("components/site/htdocs/notes.bak", "excluded\n");
    d.write("components/site/htdocs/target/junk", "build output does not travel\n");
    let first = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(first.code, 0, "{first:?}\n{}", sshd.log());
    assert!(
        first.stdout.contains("web: site > file('htdocs/css/a.css') > content('htdocs/css/a.css')"),
        "{}",
        first.stdout
    );
    let htdocs = work.join("site/htdocs");
    assert_eq!(std::fs::read_to_string(htdocs.join("index.html")).unwrap(), "<h1>{{ as it is }}</h1>\n");
    assert_eq!(std::fs::read_to_string(htdocs.join("css/a.css")).unwrap(), "a {}\n");
    assert!(!htdocs.join("notes.bak").exists() && !htdocs.join("target").exists());
    // The plan's workdir is `~/deployment/work/link`; the link holds the
    // absolute path on the host.
    assert_eq!(std::fs::read_link(work.join("link/current")).unwrap(), work.join("link/releases/v1"));

    let again = sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);

    d.write("components/site/htdocs/index.html", "<h1>v2</h1>\n");
    std::fs::write(htdocs.join("stray.html"), "not in the source\n").unwrap();
    let predicted = sshd.run(d.path(), &["deploy", "dev", "--predict"]).ok();
    assert!(predicted.stdout.contains("+<h1>v2</h1>"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("web: site: info: htdocs/stray.html is not in `htdocs`"), "{}", predicted.stdout);
    assert!(htdocs.join("stray.html").exists(), "predict changes nothing");
    let second = sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert_eq!(
        second.changed().into_iter().filter(|l| !l.contains(": info: ")).collect::<Vec<_>>(),
        ["web: site > file('htdocs/index.html') > content('htdocs/index.html')", "web: site"],
        "{}",
        second.stdout
    );
    assert!(!htdocs.join("stray.html").exists());
    assert_eq!(std::fs::read_to_string(htdocs.join("index.html")).unwrap(), "<h1>v2</h1>\n");
}

#[test]
fn an_asset_symlink_leading_out_of_its_folder_does_not_ship_what_it_points_to() {
    let Some(sshd) = Sshd::start(22) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join(".cache/batou-run/agent"));
    let secret = tempfile::tempdir().unwrap();
    let marker = format!("PRIVATE KEY {}", secret.path().display());
    std::fs::write(secret.path().join("id_ed25519"), &marker).unwrap();
    let d = Deployment::new("");
    d.write(
        "environments/dev.toml",
        &format!(
            "[environment]\nconnect = \"ssh\"\ntarget_directory = \"leak\"\n\n[hosts.web]\ncomponents = [\"leak\"]\n{}\n\n[components.leak]\nkind = \"file\"\npath = \"copy.txt\"\nsource = \"ok.txt\"\nis_template = false\n",
            sshd.host_keys()
        ),
    );
    std::fs::create_dir_all(d.path().join("components/leak")).unwrap();
    // The component's folder holds the asset it uses, and a link to a key.
    d.write("components/leak/ok.txt", "fine\n");
    std::os::unix::fs::symlink(secret.path().join("id_ed25519"), d.path().join("components/leak/key.txt")).unwrap();
    sshd.run(d.path(), &["deploy", "dev"]).ok();
    assert_eq!(std::fs::read_to_string(sshd.user_home.join("leak/work/leak/copy.txt")).unwrap(), "fine\n");
    // Nothing of the key reached the host's cache.
    let mut found = Vec::new();
    let mut todo = vec![sshd.user_home.join(".cache/batou-run")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes())) {
                found.push(path);
            }
        }
    }
    assert!(found.is_empty(), "the key reached the host: {found:?}");
}
