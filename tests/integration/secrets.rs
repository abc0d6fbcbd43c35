//! `batou-run secrets ...` with real keys: age identities generated here,
//! ssh keys by ssh-keygen, `$EDITOR` a shell script. Every run has a home
//! of its own (no ~/.ssh of the machine's), a private-folder base of its
//! own (to look for leftovers), and no controlling terminal.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;

use crate::harness::{Deployment, Run, cache_dir};

/// A deployment with a flat environment `dev` and a folder one `prod`,
/// the keys and scripts of a test, and where cleartext may go.
struct Fixture {
    d: Deployment,
    scratch: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let d = Deployment::new("[hosts.localhost]\ncomponents = []\n");
        d.write("environments/prod/environment.toml", "[hosts.localhost]\ncomponents = []\n");
        let f = Fixture { d, scratch: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(f.home()).unwrap();
        std::fs::create_dir_all(f.tmp()).unwrap();
        f
    }

    fn home(&self) -> PathBuf {
        self.scratch.path().join("home")
    }

    /// The base of the private folders ($BATOU_RUN_SECRETS_TMPDIR).
    fn tmp(&self) -> PathBuf {
        self.scratch.path().join("tmp")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.scratch.path().join(rel)
    }

    /// A new age identity file; its public key.
    fn age_key(&self, name: &str) -> (PathBuf, String) {
        let identity = age::x25519::Identity::generate();
        let path = self.path(name);
        std::fs::write(&path, format!("# a test key\n{}\n", identity.to_string().expose_secret())).unwrap();
        (path, identity.to_public().to_string())
    }

    /// A new ssh key (`ed25519` or `rsa`), with a passphrase if not empty.
    fn ssh_key(&self, name: &str, kind: &str, passphrase: &str) -> (PathBuf, String) {
        let path = self.path(name);
        let mut args = vec!["-q", "-t", kind, "-N", passphrase, "-C", "test@batou-run", "-f"];
        if kind == "rsa" {
            args.splice(0..0, ["-b", "2048"]);
        }
        let status = Command::new("ssh-keygen").args(&args).arg(&path).stdin(Stdio::null()).status().unwrap();
        assert!(status.success(), "ssh-keygen failed");
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        (path, public.trim().to_string())
    }

    /// An executable sh script.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `batou-run ARGS --deployment D` without a terminal.
    fn command(&self, args: &[&str], identities: &[&Path], env: &[(&str, OsString)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_batou-run"));
        command
            .args(args)
            .arg("--deployment")
            .arg(self.d.path())
            .env("BATOU_RUN_CACHE", cache_dir())
            .env("HOME", self.home())
            .env("BATOU_RUN_SECRETS_TMPDIR", self.tmp())
            .env("EDITOR", "false")
            .env(
                "BATOU_RUN_AGE_IDENTITIES",
                identities.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(","),
            )
            .env_remove("BATOU_RUN_AGE_PASSPHRASE")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("VISUAL")
            .stdin(Stdio::null())
            .envs(env.iter().map(|(k, v)| (*k, v)));
        // SAFETY: setsid is async-signal-safe; no terminal to ask on.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        command
    }

    fn run(&self, args: &[&str], identities: &[&Path], env: &[(&str, OsString)]) -> Run {
        let out = self.command(args, identities, env).output().expect("run batou-run");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `secrets edit` with `editor` as $EDITOR.
    fn edit(&self, args: &[&str], editor: &Path, identities: &[&Path]) -> Run {
        let mut all = vec!["secrets", "edit"];
        all.extend_from_slice(args);
        self.run(&all, identities, &[("EDITOR", editor.as_os_str().to_owned())])
    }

    fn decrypt(&self, rel: &str, identities: &[&Path]) -> Run {
        let file = self.d.path().join(rel);
        self.run(&["secrets", "decrypt-to-stdout", file.to_str().unwrap()], identities, &[])
    }

    /// Nothing is left where the cleartext went.
    #[track_caller]
    fn no_leftovers(&self) {
        let left: Vec<_> = std::fs::read_dir(self.tmp()).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "cleartext left behind: {left:?}");
    }

    /// A new secrets file for `env` with `content`, through `secrets edit`.
    fn create(&self, env: &str, recipients: &[&str], content: &str, identities: &[&Path]) {
        let source = self.path(&format!("content-{env}.toml"));
        std::fs::write(&source, content).unwrap();
        let editor = self.script(&format!("write-{env}.sh"), &format!("cat '{}' > \"$1\"", source.display()));
        let mut args = vec![env];
        for r in recipients {
            args.extend(["--recipient", r]);
        }
        self.edit(&args, &editor, identities).ok();
    }
}

fn secrets_toml(recipients: &[&str], rest: &str) -> String {
    let list: Vec<String> = recipients.iter().map(|r| format!("{r:?}")).collect();
    format!("recipients = [{}]\n{rest}", list.join(", "))
}

#[test]
fn an_edit_round_trips_and_summary_lists_the_recipients() {
    let f = Fixture::new();
    let (key, public) = f.age_key("key.txt");
    let content = secrets_toml(
        &[&public],
        "\n[components.db]\npassword = \"hunter2\"\n\n[hosts.localhost.data]\ntoken = \"t0ken\"\n",
    );
    for (env, file) in [("prod", "environments/prod/secrets.toml.age"), ("dev", "environments/dev.secrets.toml.age")] {
        f.create(env, &[&public], &content, &[&key]);
        let sealed = std::fs::read_to_string(f.d.path().join(file)).unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        let mode = std::fs::metadata(f.d.path().join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(f.decrypt(file, &[&key]).ok().stdout, content);
    }
    // A secret file, encrypted to the environment's recipients.
    let editor = f.script("pem.sh", "printf 'PEM DATA\\n' > \"$1\"");
    let run = f.edit(&["prod", "secret-db.pem"], &editor, &[&key]).ok();
    assert!(run.stdout.contains("encrypted environments/prod/secret-db.pem.age"), "{}", run.stdout);
    assert_eq!(f.decrypt("environments/prod/secret-db.pem.age", &[&key]).ok().stdout, "PEM DATA\n");
    let summary = f.run(&["secrets", "summary"], &[&key], &[]).ok();
    assert!(summary.stdout.contains("prod: environments/prod/secrets.toml.age"), "{}", summary.stdout);
    assert!(summary.stdout.contains(&format!("    {public}")), "{}", summary.stdout);
    assert!(summary.stdout.contains("environments/prod/secret-db.pem.age"), "{}", summary.stdout);
    assert!(summary.stdout.contains("dev: environments/dev.secrets.toml.age"), "{}", summary.stdout);
    let json = f.run(&["secrets", "summary", "--json"], &[&key], &[]).ok();
    let event: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(event["environments"][1]["recipients"][0], public.as_str());
    assert_eq!(event["environments"][1]["secret_files"][0]["name"], "db.pem");
    f.no_leftovers();
}

#[test]
fn a_mistake_opens_the_editor_again_and_keeps_the_edit() {
    let f = Fixture::new();
    let (key, public) = f.age_key("key.txt");
    f.create("dev", &[&public], &secrets_toml(&[&public], ""), &[&key]);
    let counter = f.path("count");
    let editor = f.script(
        "twice.sh",
        &format!(
            "if [ ! -e '{c}' ]; then touch '{c}'; printf '[components.app]\\nkey = \"v2\"\\noops = [\\n' >> \"$1\"; \
             else grep -q 'key = \"v2\"' \"$1\" || exit 3; grep -v oops \"$1\" > \"$1.new\"; mv \"$1.new\" \"$1\"; fi",
            c = counter.display()
        ),
    );
    let run = f.edit(&["dev"], &editor, &[&key]).ok();
    assert!(run.stderr.contains("environments/dev.secrets.toml.age:4: malformed TOML"), "{}", run.stderr);
    assert!(run.stderr.contains("opens again"), "{}", run.stderr);
    let shown = f.decrypt("environments/dev.secrets.toml.age", &[&key]).ok().stdout;
    assert!(shown.contains("key = \"v2\"") && !shown.contains("oops"), "{shown}");
    f.no_leftovers();

    // An editor that keeps writing nonsense is given up on, nothing written.
    let before = std::fs::read(f.d.path().join("environments/dev.secrets.toml.age")).unwrap();
    let bad = f.script("bad.sh", "echo 'recipients = [\"age1bad\"]' > \"$1\"");
    let run = f.edit(&["dev"], &bad, &[&key]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("environments/dev.secrets.toml.age:1: recipient `age1bad` cannot be used"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("still wrong after 5 edits"), "{}", run.stderr);
    assert_eq!(std::fs::read(f.d.path().join("environments/dev.secrets.toml.age")).unwrap(), before);
    f.no_leftovers();
}

#[test]
fn an_unchanged_edit_leaves_the_file_alone() {
    let f = Fixture::new();
    let (key, public) = f.age_key("key.txt");
    f.create("prod", &[&public], &secrets_toml(&[&public], "[components.a]\nx = \"y\"\n"), &[&key]);
    let path = f.d.path().join("environments/prod/secrets.toml.age");
    let (bytes, mtime) = (std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap());
    std::thread::sleep(Duration::from_millis(20));
    let run = f.edit(&["prod"], Path::new("true"), &[&key]).ok();
    assert!(run.stdout.contains("unchanged"), "{}", run.stdout);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    // An editor that fails writes nothing either.
    let run = f.edit(&["prod"], f.script("fail.sh", "echo junk > \"$1\"; exit 1").as_path(), &[&key]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    f.no_leftovers();
}

#[test]
fn recipients_are_added_and_removed() {
    let f = Fixture::new();
    let (a, public_a) = f.age_key("a.txt");
    let (b, public_b) = f.age_key("b.txt");
    f.create("prod", &[&public_a], &secrets_toml(&[&public_a], "[components.a]\nx = \"y\"\n"), &[&a]);
    let editor = f.script("file.sh", "echo 'file secret' > \"$1\"");
    f.edit(&["prod", "cert"], &editor, &[&a]).ok();
    let summary = f.run(&["secrets", "summary"], &[&b], &[]);
    assert_eq!(summary.code, 2, "{summary:?}");

    let run = f.run(&["secrets", "add", &public_b, "--environments", "prod"], &[&a], &[]).ok();
    assert!(run.stdout.contains("encrypted environments/prod/secrets.toml.age"), "{}", run.stdout);
    assert!(run.stdout.contains("encrypted environments/prod/secret-cert.age"), "{}", run.stdout);
    for key in [&a, &b] {
        f.run(&["secrets", "summary"], &[key.as_path()], &[]).ok();
        assert_eq!(f.decrypt("environments/prod/secret-cert.age", &[key]).ok().stdout, "file secret\n");
    }
    let listed = f.decrypt("environments/prod/secrets.toml.age", &[&b]).ok().stdout;
    assert!(listed.contains(&public_b) && listed.contains("x = \"y\""), "{listed}");

    f.run(&["secrets", "remove", &public_b], &[&a], &[]).ok();
    let summary = f.run(&["secrets", "summary"], &[&b], &[]);
    assert_eq!(summary.code, 2, "{summary:?}");
    assert!(
        summary.stderr.contains("environments/prod/secrets.toml.age: no identity at hand can decrypt it"),
        "{}",
        summary.stderr
    );
    assert!(summary.stderr.contains("environments/prod/secret-cert.age: no identity"), "{}", summary.stderr);
    assert_eq!(f.decrypt("environments/prod/secret-cert.age", &[&b]).code, 2);
    f.run(&["secrets", "summary"], &[&a], &[]).ok();
    // The last recipient stays; an unknown one is said to be unknown.
    let run = f.run(&["secrets", "remove", &public_a], &[&a], &[]);
    assert!(run.stderr.contains("it is the only recipient"), "{}", run.stderr);
    let run = f.run(&["secrets", "remove", &public_b], &[&a], &[]);
    assert!(run.stderr.contains("is not a recipient of any environment's secrets"), "{}", run.stderr);
}

#[test]
fn ssh_keys_are_recipients_and_identities() {
    let f = Fixture::new();
    let (ed, public_ed) = f.ssh_key("id_ed25519", "ed25519", "");
    let (rsa, public_rsa) = f.ssh_key("id_rsa", "rsa", "");
    let (locked, public_locked) = f.ssh_key("id_locked", "ed25519", "open sesame");
    let content = secrets_toml(&[&public_ed, &public_rsa, &public_locked], "[components.a]\nx = \"ssh secret\"\n");
    f.create("prod", &[&public_ed, &public_rsa, &public_locked], &content, &[&ed]);
    for key in [&ed, &rsa] {
        assert_eq!(f.decrypt("environments/prod/secrets.toml.age", &[key]).ok().stdout, content);
    }
    let file = f.d.path().join("environments/prod/secrets.toml.age");
    let file = file.to_str().unwrap();
    let pass = |p: &str| vec![("BATOU_RUN_AGE_PASSPHRASE", OsString::from(p))];
    let run = f.run(&["secrets", "decrypt-to-stdout", file], &[&locked], &pass("open sesame")).ok();
    assert_eq!(run.stdout, content);
    let run = f.run(&["secrets", "decrypt-to-stdout", file], &[&locked], &pass("wrong"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("BATOU_RUN_AGE_PASSPHRASE does not open the ssh key"), "{}", run.stderr);
    let run = f.run(&["secrets", "decrypt-to-stdout", file], &[&locked], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no terminal to ask it on: set BATOU_RUN_AGE_PASSPHRASE"), "{}", run.stderr);
    assert!(run.stderr.contains("ssh-ed25519 key (tag"), "{}", run.stderr);
    // The user's own ~/.ssh keys are found when no identities are named.
    std::fs::create_dir_all(f.home().join(".ssh")).unwrap();
    std::fs::copy(&rsa, f.home().join(".ssh/id_rsa")).unwrap();
    assert_eq!(f.decrypt("environments/prod/secrets.toml.age", &[]).ok().stdout, content);
}

/// Starts an edit whose editor records the modes of the cleartext and its
/// folder, then sleeps; sends `signal` to batou-run; the cleartext goes.
fn interrupted(signal: libc::c_int, name: &str) {
    let f = Fixture::new();
    let (key, public) = f.age_key("key.txt");
    f.create("prod", &[&public], &secrets_toml(&[&public], "[components.a]\nx = \"y\"\n"), &[&key]);
    let before = std::fs::read(f.d.path().join("environments/prod/secrets.toml.age")).unwrap();
    let record = f.path("modes");
    let editor = f.script(
        "slow.sh",
        &format!(
            "stat -c %a \"$(dirname \"$1\")\" \"$1\" > '{r}.tmp'; echo \"$1\" >> '{r}.tmp'; mv '{r}.tmp' '{r}'; \
             echo changed >> \"$1\"; exec sleep 10",
            r = record.display()
        ),
    );
    let child = f
        .command(&["secrets", "edit", "prod"], &[&key], &[("EDITOR", editor.into_os_string())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !record.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "the editor never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let modes = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = modes.lines().collect();
    assert_eq!(&lines[..2], ["700", "600"], "{modes}");
    assert!(lines[2].starts_with(f.tmp().to_str().unwrap()) && lines[2].ends_with("/secrets.toml"), "{modes}");
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("interrupted by {name}")), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(9), "batou-run waited for the editor's sleep");
    f.no_leftovers();
    assert_eq!(std::fs::read(f.d.path().join("environments/prod/secrets.toml.age")).unwrap(), before);
}

#[test]
fn a_killed_edit_leaves_no_cleartext_sigterm() {
    interrupted(libc::SIGTERM, "SIGTERM");
}

#[test]
fn a_killed_edit_leaves_no_cleartext_sigint() {
    interrupted(libc::SIGINT, "SIGINT");
}

#[test]
fn errors_name_the_file_the_line_and_what_to_do() {
    let f = Fixture::new();
    let (a, public_a) = f.age_key("a.txt");
    let (b, _) = f.age_key("b.txt");
    // A file another program wrote, whose cleartext is wrong.
    let recipient: age::x25519::Recipient = public_a.parse().unwrap();
    let text = format!("recipients = [\"{public_a}\"]\n[components.x\n");
    let sealed = age::encrypt_and_armor(&recipient, text.as_bytes()).unwrap();
    std::fs::write(f.d.path().join("environments/dev.secrets.toml.age"), sealed).unwrap();
    let run = f.run(&["secrets", "summary"], &[&a], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("environments/dev.secrets.toml.age:2: malformed TOML"), "{}", run.stderr);

    // No identity: the file, its recipients, the identities tried.
    let run = f.run(&["secrets", "summary"], &[&b], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("environments/dev.secrets.toml.age: no identity at hand can decrypt it"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 age (X25519) key"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{} (age key age1", b.display())), "{}", run.stderr);
    assert!(run.stderr.contains("hint: point BATOU_RUN_AGE_IDENTITIES"), "{}", run.stderr);

    // A recipient that cannot be parsed, on the command line.
    let run = f.run(&["secrets", "add", "ssh-ed25519 AAAAbroken me", "-e", "dev"], &[&a], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("recipient `ssh-ed25519 AAAAbroken me` cannot be used"), "{}", run.stderr);
    let secret = std::fs::read_to_string(&a).unwrap();
    let secret = secret.lines().nth(1).unwrap();
    let run = f.run(&["secrets", "edit", "prod", "--recipient", secret], &[&a], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("private key") && !run.stderr.contains(&secret[20..]), "{}", run.stderr);
    // A new secrets file needs recipients; an unknown environment is named.
    let run = f.run(&["secrets", "edit", "prod"], &[&a], &[]);
    assert!(run.stderr.contains("no recipient is given") && run.stderr.contains("--recipient"), "{}", run.stderr);
    let run = f.run(&["secrets", "edit", "prdo"], &[&a], &[]);
    assert!(
        run.stderr.contains("no environment `prdo`") && run.stderr.contains("did you mean 'prod'"),
        "{}",
        run.stderr
    );
    let run = f.run(&["secrets", "summary"], &[&f.path("missing")], &[]);
    assert!(run.stderr.contains("BATOU_RUN_AGE_IDENTITIES names it, but it is not a file"), "{}", run.stderr);
}

#[test]
fn reencrypt_touches_only_files_encrypted_to_other_recipients() {
    let f = Fixture::new();
    let (a, public_a) = f.age_key("a.txt");
    f.create("prod", &[&public_a], &secrets_toml(&[&public_a], ""), &[&a]);
    f.edit(&["prod", "one"], &f.script("one.sh", "echo one > \"$1\""), &[&a]).ok();
    // A secret file another program wrote has no record of its recipients.
    let recipient: age::x25519::Recipient = public_a.parse().unwrap();
    let sealed = age::encrypt_and_armor(&recipient, b"two").unwrap();
    std::fs::write(f.d.path().join("environments/prod/secret-two.age"), sealed).unwrap();
    let run = f.run(&["secrets", "reencrypt"], &[&a], &[]).ok();
    assert!(run.stdout.contains("up to date environments/prod/secrets.toml.age"), "{}", run.stdout);
    assert!(run.stdout.contains("up to date environments/prod/secret-one.age"), "{}", run.stdout);
    assert!(run.stdout.contains("encrypted environments/prod/secret-two.age"), "{}", run.stdout);
    let run = f.run(&["secrets", "reencrypt"], &[&a], &[]).ok();
    assert!(run.stdout.contains("Encrypted 0 file(s) again."), "{}", run.stdout);
    let run = f.run(&["secrets", "reencrypt", "--force", "-e", "prod"], &[&a], &[]).ok();
    assert!(run.stdout.contains("Encrypted 3 file(s) again."), "{}", run.stdout);
    assert_eq!(f.decrypt("environments/prod/secret-two.age", &[&a]).ok().stdout, "two");
}

#[test]
fn a_passphrase_is_asked_once_on_the_terminal() {
    // `script` (util-linux) gives batou-run a terminal to ask on.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no `script` program: skipped");
        return;
    }
    let f = Fixture::new();
    let (locked, public) = f.ssh_key("id_locked", "ed25519", "open sesame");
    let content = secrets_toml(&[&public], "[components.a]\nx = \"y\"\n");
    f.create("prod", &[&public], &content, &[&locked]);
    let editor = f.script("cert.sh", "echo cert > \"$1\"").into_os_string();
    let env = [("EDITOR", editor), ("BATOU_RUN_AGE_PASSPHRASE", OsString::from("open sesame"))];
    f.run(&["secrets", "edit", "prod", "cert"], &[&locked], &env).ok();
    let file = f.d.path().join("environments/prod/secret-cert.age");
    // summary decrypts secrets.toml and the secret file: one question.
    let inner = format!("{} secrets summary --deployment {}", env!("CARGO_BIN_EXE_batou-run"), f.d.path().display());
    let command = f.command(&[], &[&locked], &[]);
    let mut script = Command::new("script");
    script.args(["-qec", &inner, "/dev/null"]);
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut child = script.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"open sesame\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("Passphrase for").count(), 1, "{stdout}");
    assert!(stdout.contains("secret-cert.age") && !stdout.contains("CANNOT"), "{stdout}");
    assert!(file.is_file());
}

#[test]
fn the_tutorial_opens_with_its_throwaway_key() {
    let example = crate::harness::repo().join("examples/tutorial-secrets");
    let key = example.join("THROWAWAY-age-key.txt");
    assert!(std::fs::read_to_string(&key).unwrap().contains("THROWAWAY KEY"));
    let run = crate::harness::batou(
        &["secrets", "summary", "--deployment", example.to_str().unwrap()],
        &[("BATOU_RUN_AGE_IDENTITIES", key.clone().into_os_string())],
    )
    .ok();
    assert!(run.stdout.contains("environments/dev/secret-api-token.age"), "{}", run.stdout);
    let file = example.join("environments/dev/secrets.toml.age");
    let run = crate::harness::batou(
        &["secrets", "decrypt-to-stdout", file.to_str().unwrap()],
        &[("BATOU_RUN_AGE_IDENTITIES", key.into_os_string())],
    )
    .ok();
    assert!(run.stdout.contains("db_password"), "{}", run.stdout);
    let password = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("db_password = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("a db_password line");

    // Deployed from a copy, as a newcomer would: the password reaches
    // db.conf, and the output shows it masked.
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp").arg("-r").arg(&example).arg(copy.path()).status().unwrap();
    assert!(status.success());
    let copied = copy.path().join("tutorial-secrets");
    let identities = [("BATOU_RUN_AGE_IDENTITIES", copied.join("THROWAWAY-age-key.txt").into_os_string())];
    let run = crate::harness::batou(&["deploy", "dev", "--deployment", copied.to_str().unwrap()], &identities).ok();
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password), "{run:?}");
    assert!(run.stdout.contains("+password = [secret hosts.localhost.data.db_password]"), "{}", run.stdout);
    let db = std::fs::read_to_string(copied.join("work/dbconfig/db.conf")).unwrap();
    assert_eq!(db, format!("user = app\npassword = {password}\n"));
    let token = crate::harness::batou(
        &["secrets", "decrypt-to-stdout", copied.join("environments/dev/secret-api-token.age").to_str().unwrap()],
        &identities,
    )
    .ok();
    assert_eq!(std::fs::read_to_string(copied.join("work/apitoken/api-token")).unwrap(), token.stdout);
    assert!(!run.stdout.contains(token.stdout.trim()), "{}", run.stdout);
}

#[test]
fn editing_the_recipients_encrypts_the_secret_files_to_them() {
    let f = Fixture::new();
    let (a, public_a) = f.age_key("a.txt");
    let (b, public_b) = f.age_key("b.txt");
    f.create("prod", &[&public_a], &secrets_toml(&[&public_a], ""), &[&a]);
    f.edit(&["prod", "secret-token.age"], &f.script("t.sh", "echo token > \"$1\""), &[&a]).ok();
    let add_b = f.script("add-b.sh", &format!("sed -i 's/\"{public_a}\"]/\"{public_a}\", \"{public_b}\"]/' \"$1\""));
    let run = f.edit(&["prod"], &add_b, &[&a]).ok();
    assert!(run.stdout.contains("encrypted environments/prod/secrets.toml.age"), "{}", run.stdout);
    assert!(run.stdout.contains("encrypted environments/prod/secret-token.age"), "{}", run.stdout);
    assert_eq!(f.decrypt("environments/prod/secret-token.age", &[&b]).ok().stdout, "token\n");
    // Another edit that leaves the recipients leaves the secret file alone.
    let more = f.script("more.sh", "printf '[components.x]\\ny = 1\\n' >> \"$1\"");
    let run = f.edit(&["prod"], &more, &[&b]).ok();
    assert!(run.stdout.contains("up to date environments/prod/secret-token.age"), "{}", run.stdout);
}
