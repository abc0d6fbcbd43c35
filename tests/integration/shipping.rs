//! What ships to hosts and what rebuilds a component are decided by one
//! walk of its folder: a `.env`, `node_modules/`, `__pycache__/` and what
//! the folder's `.gitignore` names stay on the controller, change nothing
//! when they change, and a build leaves no by-products in the folder.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::harness::{Deployment, Run, batou, cache_dir, repo, toolchains};

/// Whether the agent's store (shared by the tests' agent processes) holds
/// a file with these bytes.
fn in_agent_store(content: &str) -> bool {
    let sha: String = Sha256::digest(content.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    cache_dir().join("agent/blobs").join(sha).exists()
}

fn built(run: &Run) -> bool {
    run.stderr.contains("building")
}

/// Every file below `dir`, relative to it, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            }
            out.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

#[test]
fn a_components_env_and_ignored_files_stay_on_the_controller_and_rebuild_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let run_id = parent.path().file_name().unwrap().to_string_lossy().into_owned();
    let dir = parent.path().join("site");
    let d = dir.to_str().unwrap();
    batou(&["new", d], &[]).ok();
    let site = Deployment::at(dir.clone());
    // Sources of this run's own, so that the first deploy builds them.
    site.write("components/hello/kept.txt", &format!("an asset of {run_id}\n"));
    let secret = format!("SECRET={run_id}\n");
    site.write("components/hello/.env", &secret);
    site.write("components/hello/.env.production", &format!("{secret}production\n"));
    site.write("components/hello/node_modules/x/index.js", &format!("// {run_id} node_modules\n"));
    site.write("components/hello/__pycache__/y.cpython-314.pyc", &format!("{run_id} bytecode"));
    // A rule the user adds.
    site.write("components/hello/.gitignore", "notes.txt\n/scratch/\n");
    site.write("components/hello/notes.txt", &format!("{run_id} notes\n"));
    site.write("components/hello/scratch/draft.txt", &format!("{run_id} draft\n"));
    let env = [("BATOU_RUN_LOG", "info".into())];
    let deploy = || batou(&["deploy", "dev", "--agent-process", "-d", d], &env);

    let first = deploy().ok();
    assert!(built(&first), "{}", first.stderr);
    assert_eq!(std::fs::read_to_string(site.work("hello/hello.txt")).unwrap(), "Hello from batou-run\n");
    assert!(in_agent_store(&format!("an asset of {run_id}\n")), "the component's own asset travels");
    for (what, content) in [
        (".env", secret.clone()),
        (".env.production", format!("{secret}production\n")),
        ("node_modules/x/index.js", format!("// {run_id} node_modules\n")),
        ("__pycache__/y.cpython-314.pyc", format!("{run_id} bytecode")),
        ("notes.txt (.gitignore)", format!("{run_id} notes\n")),
        ("scratch/draft.txt (.gitignore)", format!("{run_id} draft\n")),
    ] {
        assert!(!in_agent_store(&content), "{what} reached the agent");
    }

    // Changing what stays on the controller neither rebuilds nor changes
    // anything.
    site.write("components/hello/.env", &format!("SECRET=other {run_id}\n"));
    site.write("components/hello/notes.txt", &format!("{run_id} more notes\n"));
    site.write("components/hello/node_modules/x/index.js", "// changed\n");
    let second = deploy().ok();
    assert!(!built(&second), "an ignored file rebuilt the component: {}", second.stderr);
    assert!(second.changed().is_empty(), "{}", second.stdout);
    assert!(!in_agent_store(&format!("SECRET=other {run_id}\n")));
}

#[test]
fn a_component_cannot_read_a_file_that_does_not_travel_even_in_process() {
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"secret\", \"notes\", \"page\"]\n\n\
         [components.secret]\nkind = \"file\"\npath = \"secret.txt\"\nsource = \".env\"\n\n\
         [components.notes]\nkind = \"file\"\npath = \"notes.txt\"\nsource = \"notes.txt\"\n\n\
         [components.page]\nkind = \"file\"\npath = \"page.txt\"\nsource = \"page.txt\"\nis_template = false\n",
    );
    d.write("components/secret/.env", "SECRET=1\n");
    d.write("components/notes/.gitignore", "notes.txt\n");
    d.write("components/notes/notes.txt", "mine\n");
    d.write("components/page/page.txt", "a page\n");
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("asset `.env` is not one of the component's files"), "{}", run.stderr);
    assert!(run.stderr.contains("`.env` (built in)"), "{}", run.stderr);
    assert!(run.stderr.contains("`notes.txt` in .gitignore"), "{}", run.stderr);
    assert!(!d.path().join("work/secret/secret.txt").exists());

    // The user's rule decides: `!` takes a file back from the built-in one.
    d.write("components/secret/.batou-run-ignore", "!.env\n");
    d.write("components/notes/.gitignore", "");
    let again = d.deploy().ok();
    assert!(again.stdout.contains("localhost: secret"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(d.work("secret/secret.txt")).unwrap(), "SECRET=1\n");
}

#[test]
fn python_and_javascript_builds_leave_nothing_in_the_components_folder() {
    let Some(tools) = toolchains() else { return };
    let env: Vec<(&str, &std::ffi::OsStr)> = tools.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let d = Deployment::new(
        "[hosts.localhost]\ncomponents = [\"py\", \"js\"]\n\n\
         [components.py]\nkind = \"notice\"\npath = \"py.txt\"\ntitle = \"Py\"\n\n\
         [components.js]\nkind = \"jsnotice\"\npath = \"js.txt\"\ntitle = \"Js\"\n",
    );
    let marker = d.path().display().to_string();
    let py = d.path().join("components/notice");
    std::fs::create_dir_all(&py).unwrap();
    let source = std::fs::read_to_string(repo().join("tests/languages/python/notice/app.py")).unwrap();
    // An import of a module of its own, so that Python has bytecode to write.
    d.write("components/notice/helper.py", "TITLE_SUFFIX = ''\n");
    d.write("components/notice/app.py", &format!("import helper  # {marker}\n{source}"));
    d.write("components/notice/.env", "SECRET=1\n");
    let js = std::fs::read_to_string(repo().join("tests/languages/js/notice/index.js")).unwrap();
    let js = js.replace("\"notice\"", "\"jsnotice\"").replace("'notice'", "'jsnotice'");
    assert!(js.contains("jsnotice"), "the JavaScript notice names its kind");
    d.write("components/jsnotice/index.js", &format!("// {marker}\n{js}"));
    let before = (listing(&py), listing(&d.path().join("components/jsnotice")));
    let run = d.run_with(&["deploy", "dev"], &env).ok();
    assert!(run.stdout.contains("localhost: py") && run.stdout.contains("localhost: js"), "{}", run.stdout);
    let after = (listing(&py), listing(&d.path().join("components/jsnotice")));
    assert_eq!(after, before, "a build left files in the component's folder");
}
