//! Secrets in a deploy: overrides from secrets.toml.age reach their
//! components, secret files reach the components granted them, and no
//! secret's bytes are in anything batou-run shows (deploy output, diffs,
//! `--json`, debug logs, error messages), locally and over SSH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;

use crate::harness::{Deployment, Run};
use crate::sshd::Sshd;

const DB_PASSWORD: &str = "hunter2-is-long";
const API_TOKEN: &str = "tok-9f8e7d6c5b4a";
const KEY_BODY: &str = "c2VjcmV0LWtleS1ib2R5LW9mLXRoZS10ZXN0";

/// A deployment, an age key that reads its secrets, and a HOME of its own.
struct Secrets {
    d: Deployment,
    key: PathBuf,
    public: String,
    _scratch: tempfile::TempDir,
}

impl Secrets {
    fn new(env_toml: &str) -> Secrets {
        let d = Deployment::new(env_toml);
        let scratch = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        let key = scratch.path().join("key.txt");
        std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        std::fs::create_dir_all(scratch.path().join("home")).unwrap();
        Secrets { d, key, public: identity.to_public().to_string(), _scratch: scratch }
    }

    fn home(&self) -> PathBuf {
        self._scratch.path().join("home")
    }

    /// Encrypts `plain` to the key as environments/`rel`.
    fn seal(&self, rel: &str, plain: &str) {
        let recipient: age::x25519::Recipient = self.public.parse().unwrap();
        let sealed = age::encrypt_and_armor(&recipient, plain.as_bytes()).unwrap();
        self.d.write(&format!("environments/{rel}"), &sealed);
    }

    /// secrets.toml.age of a flat environment `dev`.
    fn secrets_toml(&self, rest: &str) {
        self.seal("dev.secrets.toml.age", &format!("recipients = [\"{}\"]\n{rest}", self.public));
    }

    fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![("BATOU_RUN_AGE_IDENTITIES", self.key.clone().into_os_string()), ("HOME", self.home().into_os_string())]
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut env: Vec<(&str, OsString)> = self.env();
        env.extend(extra.iter().map(|(k, v)| (*k, OsString::from(v))));
        let refs: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        self.d.run_with(args, &refs)
    }
}

/// None of the secrets' bytes, nor a line of the key, is in `run`'s output.
#[track_caller]
fn never_shown(run: &Run) {
    for secret in [DB_PASSWORD, API_TOKEN, KEY_BODY] {
        assert!(!run.stdout.contains(secret), "stdout shows {secret}:\n{}", run.stdout);
        assert!(!run.stderr.contains(secret), "stderr shows {secret}:\n{}", run.stderr);
    }
}

const ENV: &str = r#"
[hosts.localhost]
components = ["dbconf", "api", "key"]

[components.dbconf]
kind = "file"
path = "db.conf"
content = "user = app\npassword = {{ host.data.db_password }}\n"

[components.api]
kind = "file"
path = "api.env"
mode = 0o600

[components.key]
kind = "secret-reader"
secret = "tls-key"
path = "tls.key"

[grants.key]
secret_files = ["tls-key"]
"#;

fn key_file() -> String {
    format!("-----BEGIN TEST KEY-----\n{KEY_BODY}\n-----END TEST KEY-----\n")
}

fn deployment(env: &str) -> Secrets {
    let s = Secrets::new(env);
    s.d.own_module("secret-reader", crate::fixtures::FIXTURE_SECRET_READER);
    s.secrets_toml(&format!(
        "[hosts.localhost.data]\ndb_password = \"{DB_PASSWORD}\"\n\n[components.api]\ncontent = \"API_TOKEN={API_TOKEN}\\n\"\n"
    ));
    s.seal("dev.secret-tls-key.age", &key_file());
    s
}

#[test]
fn overrides_and_secret_files_reach_their_components_and_are_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let s = deployment(ENV);
    let first = s.run(&["deploy", "dev"], &[("BATOU_RUN_LOG", "debug")]).ok();
    never_shown(&first);
    assert_eq!(
        std::fs::read_to_string(s.d.work("dbconf/db.conf")).unwrap(),
        format!("user = app\npassword = {DB_PASSWORD}\n")
    );
    assert_eq!(std::fs::read_to_string(s.d.work("api/api.env")).unwrap(), format!("API_TOKEN={API_TOKEN}\n"));
    assert_eq!(std::fs::read_to_string(s.d.work("key/tls.key")).unwrap(), key_file());
    let mode = std::fs::metadata(s.d.work("key/tls.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The diffs are shown, masked, and say which secret they held.
    assert!(first.stdout.contains("+password = [secret hosts.localhost.data.db_password]"), "{}", first.stdout);
    assert!(first.stdout.contains("(masked: hosts.localhost.data.db_password)"), "{}", first.stdout);
    // A secret is masked a whole line at a time: each line is a piece.
    assert!(first.stdout.contains("+[secret components.api.content]"), "{}", first.stdout);
    assert!(first.stdout.contains("+[secret secret file tls-key]"), "{}", first.stdout);
    // The debug log has each root's attributes, masked too.
    assert!(
        first.stderr.contains("planned") && first.stderr.contains("[secret components.api.content]"),
        "{}",
        first.stderr
    );

    let again = s.run(&["deploy", "dev"], &[]).ok();
    assert!(again.changed().is_empty(), "{}", again.stdout);
    // An agent process masks its own logs with the secrets of its plan.
    std::fs::remove_file(s.d.work("api/api.env")).unwrap();
    let agent = s.run(&["deploy", "dev", "--agent-process"], &[("BATOU_RUN_LOG", "debug")]).ok();
    never_shown(&agent);
    assert!(agent.stdout.contains("+[secret components.api.content]"), "{}", agent.stdout);

    // A predict with a change on both sides of the secret's line.
    s.d.write(
        "environments/dev.toml",
        &ENV.replace("password = {{ host.data.db_password }}", "pass = {{ host.data.db_password }}"),
    );
    let predicted = s.run(&["deploy", "dev", "-P", "-v"], &[("BATOU_RUN_LOG", "debug")]).ok();
    never_shown(&predicted);
    assert!(predicted.stdout.contains("-password = [secret hosts.localhost.data.db_password]"), "{}", predicted.stdout);
    assert!(predicted.stdout.contains("+pass = [secret hosts.localhost.data.db_password]"), "{}", predicted.stdout);
    let json = s.run(&["--json", "deploy", "dev", "-P"], &[]).ok();
    never_shown(&json);
    let diff = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "diff" && v["component"].as_str().unwrap_or_default().contains("db.conf"))
        .expect("a diff event");
    assert_eq!(diff["masked"], serde_json::json!(["hosts.localhost.data.db_password"]), "{diff}");
    assert_eq!(
        std::fs::read_to_string(s.d.work("dbconf/db.conf")).unwrap(),
        format!("user = app\npassword = {DB_PASSWORD}\n"),
        "predict changed nothing"
    );
}

#[test]
fn a_failing_component_and_a_bad_attribute_do_not_quote_a_secret() {
    let s = deployment(&ENV.replace("path = \"tls.key\"", "path = \"tls.key\"\nfail = true"));
    let failed = s.run(&["deploy", "dev"], &[]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("the secret is [secret secret file tls-key]"), "{}", failed.stderr);
    never_shown(&failed);
    let json = s.run(&["--json", "deploy", "dev"], &[]);
    assert!(json.stdout.contains("\"event\":\"failed\""), "{}", json.stdout);
    never_shown(&json);

    // A secret of the wrong type is named where it is set, not quoted.
    let s = deployment(ENV);
    s.secrets_toml(&format!(
        "[hosts.localhost.data]\ndb_password = \"x\"\n[components.api]\nleading = \"{API_TOKEN}\"\n"
    ));
    let refused = s.run(&["deploy", "dev"], &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("environments/dev.secrets.toml.age:5"), "{}", refused.stderr);
    assert!(refused.stderr.contains("attribute `leading` of kind `file` must be a boolean"), "{}", refused.stderr);
    // `x` is too short to mask, and said to be.
    assert!(refused.stderr.contains("`db_password` is shorter than 4 characters"), "{}", refused.stderr);
    never_shown(&refused);
}

#[test]
fn a_key_in_both_places_and_sections_for_nothing_are_errors_naming_where() {
    let s = deployment(ENV);
    s.d.write(
        "environments/dev.toml",
        &ENV.replace(
            "components = [\"dbconf\", \"api\", \"key\"]",
            "components = [\"dbconf\", \"api\", \"key\"]\ndata = { db_password = \"plain\" }",
        )
        .replace("path = \"api.env\"", "path = \"api.env\"\ncontent = \"set here\"")
        .replace("secret_files = [\"tls-key\"]", "secret_files = [\"tls-key\", \"tls-kye\"]"),
    );
    s.secrets_toml(&format!(
        "[hosts.localhost.data]\ndb_password = \"{DB_PASSWORD}\"\n[hosts.nowhere.data]\nx = \"abcdef\"\n\
         [components.api]\ncontent = \"{API_TOKEN}\"\n[components.gone]\ntoken = \"{API_TOKEN}\"\n"
    ));
    let run = s.run(&["deploy", "dev"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    let err = &run.stderr;
    assert!(
        err.contains("data `db_password` of host `localhost` is set both in the environment (environments/dev.toml:4) and in the secrets (environments/dev.secrets.toml.age:3)"),
        "{err}"
    );
    assert!(
        err.contains("attribute `content` of `api` is set both in the environment (environments/dev.toml:"),
        "{err}"
    );
    assert!(err.contains("environments/dev.secrets.toml.age:9: [components.gone] of the secrets: no host of environment `dev` deploys `gone`"), "{err}");
    assert!(err.contains("environments/dev.secrets.toml.age:5: [hosts.nowhere.data] of the secrets: environment `dev` has no host `nowhere`"), "{err}");
    assert!(err.contains("`secret_files` grants `tls-kye`, but the environment has no such secret file"), "{err}");
    assert!(err.contains("did you mean 'tls-key'?"), "{err}");
    assert!(err.contains("5 problems found"), "{err}");
    never_shown(&run);
}

#[test]
fn a_secret_file_is_read_only_with_its_grant() {
    let s = deployment(&ENV.replace("secret_files = [\"tls-key\"]", "commands = []"));
    let run = s.run(&["deploy", "dev"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("secret file `tls-key`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("add \"tls-key\" to `secret_files` in [grants.key] of environments/dev.toml"),
        "{}",
        run.stderr
    );
    assert!(!s.d.work("key/tls.key").exists());
}

#[test]
fn a_sensitive_file_shows_that_it_changed_but_no_diff() {
    let s = Secrets::new(
        "[hosts.localhost]\ncomponents = [\"conf\"]\n[components.conf]\nkind = \"file\"\npath = \"app.conf\"\n\
         content = \"setting = 1\\npassword = {{ host.data.db_password }}\\n\"\nsensitive = true\n",
    );
    s.secrets_toml(&format!("[hosts.localhost.data]\ndb_password = \"{DB_PASSWORD}\"\n"));
    let first = s.run(&["deploy", "dev"], &[]).ok();
    assert!(first.stdout.contains("localhost: conf > content('app.conf')"), "{}", first.stdout);
    assert!(first.stdout.contains("app.conf: no diff shown (sensitive = true)"), "{}", first.stdout);
    assert!(!first.stdout.contains("setting = 1"), "{}", first.stdout);
    never_shown(&first);
    assert_eq!(
        std::fs::read_to_string(s.d.work("conf/app.conf")).unwrap(),
        format!("setting = 1\npassword = {DB_PASSWORD}\n")
    );
    assert!(s.run(&["deploy", "dev"], &[]).ok().changed().is_empty());
}

/// Every file below `dir` holding `needle`, but those in `except`.
fn files_holding(dir: &Path, needle: &str, except: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && !except.contains(&path) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path);
                }
            }
        }
    }
    found
}

#[test]
fn over_ssh_the_secrets_reach_the_host_in_the_channel_only() {
    let Some(sshd) = Sshd::start(23) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join("deployment"));
    let env = format!(
        "[environment]\nconnect = \"ssh\"\n{}",
        ENV.replace("[hosts.localhost]", &format!("[hosts.localhost]\n{}", sshd.host_keys()))
    );
    let s = deployment(&env);
    let mut command = sshd.command(s.d.path(), &["deploy", "dev"]);
    command.env("BATOU_RUN_AGE_IDENTITIES", &s.key).env("BATOU_RUN_LOG", "debug");
    let out = command.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 0, "{run:?}\n{}", sshd.log());
    never_shown(&run);
    let work = sshd.user_home.join("deployment/work");
    let (db, api, key) = (work.join("dbconf/db.conf"), work.join("api/api.env"), work.join("key/tls.key"));
    assert_eq!(std::fs::read_to_string(&db).unwrap(), format!("user = app\npassword = {DB_PASSWORD}\n"));
    assert_eq!(std::fs::read_to_string(&api).unwrap(), format!("API_TOKEN={API_TOKEN}\n"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_file());
    // Nothing on the host holds a secret but the files deployed: not the
    // agent's cache, not a plan, not a log.
    for secret in [DB_PASSWORD, API_TOKEN, KEY_BODY] {
        let left = files_holding(&sshd.user_home, secret, &[db.clone(), api.clone(), key.clone()]);
        assert!(left.is_empty(), "{secret} is also in {left:?}");
    }
}

#[test]
fn a_file_takes_a_secret_file_byte_for_byte_private_by_default() {
    use std::os::unix::fs::PermissionsExt;
    let s = Secrets::new(
        "[hosts.localhost]\ncomponents = [\"keytab\"]\n[components.keytab]\nkind = \"file\"\npath = \"app.keytab\"\n\
         secret_file = \"keytab\"\n[grants.keytab]\nsecret_files = [\"keytab\"]\n",
    );
    s.secrets_toml("");
    // Not UTF-8, and no template: the bytes as they are.
    let bytes: Vec<u8> = vec![0x05, 0x02, 0x00, 0xff, 0xfe, b'{', b'{', b' ', b'x', b' ', b'}', b'}', 0x80];
    let recipient: age::x25519::Recipient = s.public.parse().unwrap();
    let sealed = age::encrypt_and_armor(&recipient, &bytes).unwrap();
    s.d.write("environments/dev.secret-keytab.age", &sealed);
    let first = s.run(&["deploy", "dev"], &[]).ok();
    assert!(first.stdout.contains("localhost: keytab > content('app.keytab')"), "{}", first.stdout);
    let path = s.d.work("keytab/app.keytab");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(s.run(&["deploy", "dev"], &[]).ok().changed().is_empty());

    // Without the grant, the root is refused the file, and told the grant.
    s.d.write(
        "environments/dev.toml",
        "[hosts.localhost]\ncomponents = [\"keytab\"]\n[components.keytab]\nkind = \"file\"\npath = \"other.keytab\"\n\
         secret_file = \"keytab\"\n",
    );
    let refused = s.run(&["deploy", "dev"], &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("add \"keytab\" to `secret_files` in [grants.keytab]"), "{}", refused.stderr);
    assert!(!s.d.work("keytab/other.keytab").exists());
}

#[test]
fn a_command_line_and_its_output_are_masked() {
    let s = Secrets::new(
        "[hosts.localhost]\ncomponents = [\"login\"]\n[components.login]\nkind = \"command\"\ncommand = \"sh\"\n\
         [grants.login]\ncommands = [\"sh\"]\n",
    );
    // The token is an argument, and the program prints it and fails.
    s.secrets_toml(&format!(
        "[components.login]\nargs = [\"-c\", \"echo \\\"login with $0\\\" >&2; exit 3\", \"{API_TOKEN}\"]\n"
    ));
    for args in [&["deploy", "dev"][..], &["deploy", "dev", "-P", "-v"], &["--json", "deploy", "dev"]] {
        let run = s.run(args, &[("BATOU_RUN_LOG", "debug")]);
        never_shown(&run);
        if args[0] != "--json" && args.len() == 2 {
            assert_eq!(run.code, 1, "{run:?}");
            assert!(run.stderr.contains("[secret components.login.args]"), "{}", run.stderr);
        }
    }
}
