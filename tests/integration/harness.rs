//! A throwaway deployment directory and the real `batou-run` binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

pub struct Deployment {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// The outcome of one `batou-run` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Lines naming a changed component (`host: path`).
    pub fn changed(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| {
                !l.starts_with(' ') && l.contains(": ") && !l.starts_with("Deployed") && !l.starts_with("Predicted")
            })
            .collect()
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "batou-run failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

impl Deployment {
    /// An empty deployment with one environment `dev` written from `toml`.
    pub fn new(env_toml: &str) -> Deployment {
        let temp = tempfile::tempdir().expect("temp dir");
        let d = Deployment { dir: temp.path().to_path_buf(), _temp: Some(temp) };
        d.write("environments/dev.toml", env_toml);
        d
    }

    /// An existing deployment directory (which the caller cleans up).
    pub fn at(dir: PathBuf) -> Deployment {
        Deployment { dir, _temp: None }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn work(&self, rel: &str) -> PathBuf {
        self.path().join("work").join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Installs a prebuilt fixture module as the deployment's own
    /// component `name`.
    pub fn own_module(&self, name: &str, wasm: &str) {
        let dir = self.path().join("components").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(wasm, dir.join(format!("{name}.wasm"))).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// `run` with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_batou-run"))
            .args(args)
            .arg("--deployment")
            .arg(self.path())
            .env("BATOU_RUN_CACHE", cache_dir())
            // CI=true makes batou.lock read-only (as --locked): a test
            // that wants that says so itself.
            .env_remove("CI")
            .envs(env.iter().copied())
            .output()
            .expect("run batou-run");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn deploy(&self) -> Run {
        self.run(&["deploy", "dev"])
    }

    pub fn predict(&self) -> Run {
        self.run(&["deploy", "dev", "--predict"])
    }

    /// Every file under the deployment's work/ with its modification time.
    pub fn snapshot(&self) -> Vec<(PathBuf, SystemTime, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.path().join("work"), &mut out);
        out.sort();
        out
    }

    /// `text` with the deployment's path replaced, for golden files.
    pub fn normalise(&self, text: &str) -> String {
        let real = self.path().canonicalize().unwrap();
        let repo = repo().canonicalize().unwrap();
        text.replace(&real.display().to_string(), "$DEPLOYMENT")
            .replace(&self.path().display().to_string(), "$DEPLOYMENT")
            .replace(&repo.display().to_string(), "$REPO")
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, SystemTime, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            walk(&p, out);
        }
        let content = if meta.is_file() { std::fs::read(&p).unwrap() } else { Vec::new() };
        out.push((p, meta.modified().unwrap(), content));
    }
}

/// Compiled modules are shared by all tests (the cache is safe for
/// concurrent use), so each module compiles once per test run.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("batou-run-cache")
}

/// `batou-run ARGS` (no deployment implied) with the tests' cache and
/// extra variables.
pub fn batou(args: &[&str], env: &[(&str, std::ffi::OsString)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_batou-run"))
        .args(args)
        .env("BATOU_RUN_CACHE", cache_dir())
        .env_remove("CI")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .expect("run batou-run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Compares `actual` with tests/golden/`name`; `BATOU_BLESS=1` rewrites it.
#[track_caller]
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden").join(name);
    if std::env::var_os("BATOU_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no golden file {}; run with BATOU_BLESS=1 to create it", path.display()));
    assert_eq!(actual, expected, "output differs from {} (BATOU_BLESS=1 to accept)", path.display());
}

/// A deployment whose own module is the `graph` fixture (kind `node`),
/// with `env` as environments/dev.toml; `RECORD` in it becomes the path of
/// the file nodes record their deploy order in, `DEPLOYMENT` the
/// deployment's path. Every root is granted the record's folder.
pub fn graph(env: &str) -> (Deployment, PathBuf) {
    let d = Deployment::new("");
    let record_dir = d.path().join("record");
    std::fs::create_dir_all(&record_dir).unwrap();
    let record = record_dir.join("record.log");
    let mut env =
        env.replace("RECORD", &record.display().to_string()).replace("DEPLOYMENT", &d.path().display().to_string());
    let parsed: toml::Table = env.parse().expect("a graph test's environment is valid TOML");
    let mut roots: Vec<&str> = parsed["hosts"]
        .as_table()
        .unwrap()
        .values()
        .flat_map(|h| h["components"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()))
        .collect();
    roots.sort();
    roots.dedup();
    let own = parsed.get("grants").and_then(|g| g.as_table());
    for root in roots.into_iter().filter(|r| !own.is_some_and(|g| g.contains_key(*r))) {
        env.push_str(&format!("\n[grants.{root}]\npaths.write = [\"{}\"]\n", record_dir.display()));
    }
    d.write("environments/dev.toml", &env);
    d.own_module("graph", crate::fixtures::FIXTURE_GRAPH);
    (d, record)
}

/// The lines graph nodes recorded, in deploy order.
pub fn recorded(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// componentize-py and componentize-js as tools/toolchains.sh installs them
/// into .toolchains/, as the variables that point the runner to them; `None`
/// (and a note) when they are not there.
pub fn toolchains() -> Option<Vec<(&'static str, std::ffi::OsString)>> {
    let py = repo().join(".toolchains/python/bin/componentize-py");
    let js = repo().join(".toolchains/js/node_modules/.bin/componentize-js");
    if !py.exists() || !js.exists() {
        eprintln!("skipped: Python and JavaScript components need tools/toolchains.sh");
        return None;
    }
    Some(vec![("BATOU_RUN_COMPONENTIZE_PY", py.into_os_string()), ("BATOU_RUN_COMPONENTIZE_JS", js.into_os_string())])
}

/// `batou-run agent` with the test cache and piped stdin, stdout and
/// stderr, for tests that speak (or garble) its protocol.
pub fn agent_process() -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_batou-run"))
        .args(["agent", "--cache"])
        .arg(cache_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The first executable `name` in PATH, as a shell finds it.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether the tests run as root (CI does), as tests that change the
/// machine's users, crontabs or owners need.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
