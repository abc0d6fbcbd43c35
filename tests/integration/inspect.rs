//! `batou-run component inspect`: what a module is, the contract it
//! targets, what it imports (could ask for), the assets it carries and
//! every kind it exports, read from a file, the standard library or a
//! deployment's component.

use sha2::Digest;

use crate::fixtures::{FIXTURE_LATE, FIXTURE_OLD_CONTRACT};
use crate::harness::{Deployment, batou, golden};

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `inspect NAME` as text and as JSON, the size and sha256 checked against
/// the bytes `--write-module` wrote, then replaced by `$SIZE` and
/// `$SHA256` (they change with every change to the standard library).
fn inspected(name: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("module.wasm");
    let text = batou(&["component", "inspect", name, "--write-module", file.to_str().unwrap()], &[]).ok();
    let bytes = std::fs::read(&file).unwrap();
    let (size, sha) = (bytes.len().to_string(), sha256_hex(&bytes));
    let size_line = format!("  size      {size} bytes\n");
    let sha_line = format!("  sha256    {sha}\n");
    assert!(text.stdout.contains(&size_line) && text.stdout.contains(&sha_line), "{}", text.stdout);
    let human =
        text.stdout.replace(&size_line, "  size      $SIZE bytes\n").replace(&sha_line, "  sha256    $SHA256\n");
    let json = batou(&["component", "inspect", name, "--json"], &[]).ok();
    let lines: Vec<&str> = json.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one event: {}", json.stdout);
    let mut event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["event"], "module");
    assert_eq!(event["size"], bytes.len());
    assert_eq!(event["sha256"], sha);
    event["size"] = "$SIZE".into();
    event["sha256"] = "$SHA256".into();
    (human, serde_json::to_string_pretty(&event).unwrap() + "\n")
}

#[test]
fn inspect_the_standard_library_modules_as_their_golden_files() {
    let (files, files_json) = inspected("files");
    golden("inspect-files.txt", &files);
    golden("inspect-files.json", &files_json);
    let (command, command_json) = inspected("command");
    golden("inspect-command.txt", &command);
    // `files` cannot run programs; `command` can, here and on other hosts.
    assert!(!files.contains("batou:deploy/process") && !files.contains("batou:deploy/ssh"), "{files}");
    assert!(command.contains("batou:deploy/process@0.2.2") && command.contains("batou:deploy/ssh@0.2.2"), "{command}");
    let event: serde_json::Value = serde_json::from_str(&command_json).unwrap();
    assert_eq!(event["kinds"][0]["name"], "command");
    assert_eq!(event["contract"], "batou:deploy@0.2.2");
}

#[test]
fn inspect_a_deployment_component_as_built_with_its_assets() {
    let d = Deployment::new("");
    d.own_module("late", FIXTURE_LATE);
    d.write("components/late/page.txt.j2", "Hello {{ component.who }}\n");
    d.write("components/late/.env", "SECRET=1\n");
    let run = d.run(&["component", "inspect", "late"]).ok();
    assert!(run.stdout.starts_with("Module components/late\n"), "{}", run.stdout);
    assert!(run.stdout.contains("Assets: 1 file, 26 bytes, bundled\n  page.txt.j2 (26 bytes)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("Kind late: A file rendered from a template in verify"), "{}", run.stdout);
    assert!(run.stdout.contains("  path     string  required      Where the rendered text goes\n"), "{}", run.stdout);
    // The same bytes as `component build` writes.
    let built = d.run(&["component", "build", "late", "--json"]).ok();
    let event: serde_json::Value = serde_json::from_str(built.stdout.trim()).unwrap();
    assert!(run.stdout.contains(&format!("  sha256    {}\n", event["sha256"].as_str().unwrap())), "{}", run.stdout);
    // A file as it is: the fixture carries no assets.
    let plain = batou(&["component", "inspect", FIXTURE_LATE], &[]).ok();
    assert!(plain.stdout.contains("Assets: none bundled\n"), "{}", plain.stdout);
}

#[test]
fn inspect_shows_what_the_bytes_say_of_a_module_of_another_contract_and_refuses_it() {
    let run = batou(&["component", "inspect", FIXTURE_OLD_CONTRACT], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("  contract  batou:deploy@0.1.0 (this batou-run runs 0.2.x)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("batou:deploy/component@0.1.0"), "{}", run.stdout);
    assert!(!run.stdout.contains("Kind "), "{}", run.stdout);
    assert!(
        run.stderr.contains("is built against batou:deploy@0.1.0; this batou-run runs modules of batou:deploy@0.2.x"),
        "{}",
        run.stderr
    );
}

#[test]
fn inspect_refuses_what_is_not_a_component_module_saying_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let cases = [
        (core.to_str().unwrap(), "a core WebAssembly module, not a component"),
        (text.to_str().unwrap(), "not a WebAssembly binary"),
        ("nope", "no module `nope`: not a file, a standard library module or a component of"),
        ("oci://ghcr.io", "`oci://ghcr.io` is not an OCI reference"),
    ];
    for (what, expected) in cases {
        let run = batou(&["component", "inspect", what], &[]);
        assert_eq!(run.code, 2, "{what}: {run:?}");
        assert!(run.stderr.contains(expected), "{what}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
    }
    let json = batou(&["component", "inspect", "nope", "--json"], &[]);
    let event: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!((event["event"].as_str(), event["exit_code"].as_i64()), (Some("error"), Some(2)));
}

#[test]
fn docs_components_md_is_what_the_standard_modules_describe() {
    let page = batou(&["component", "docs"], &[]).ok().stdout;
    let path = crate::harness::repo().join("docs/components.md");
    if std::env::var_os("BATOU_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == page,
        "docs/components.md differs from `batou-run component docs` (BATOU_BLESS=1 to rewrite it)"
    );
    // Every standard kind, with each of its attributes, as the modules say.
    for kind in
        ["file", "line-in-file", "command", "systemd-unit", "crontab", "cron-job", "package", "user", "group", "git"]
    {
        assert!(page.contains(&format!("\n### {kind}\n")), "{kind} in the page");
    }
    assert!(page.contains("| `restart_on` | list of string | `[]` |"), "{page}");
    assert!(page.contains("| `ensure` | one of present\\|absent | `\"present\"` |"), "{page}");
}
