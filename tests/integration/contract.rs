//! The contract, batou:deploy@0.2: sub-components configured when added,
//! what a parent reads of its child, reading and writing in pieces, and
//! what the runner does with a module of another contract version.

use crate::fixtures::{FIXTURE_CONTRACT_020, FIXTURE_NESTING, FIXTURE_OLD_CONTRACT};
use crate::harness::Deployment;

fn nesting(env: &str) -> Deployment {
    let d = Deployment::new(env);
    d.own_module("nesting", FIXTURE_NESTING);
    d
}

#[test]
fn a_parent_builds_on_what_its_child_exposes_and_their_logs_interleave() {
    let d = nesting(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\"]\n\
         [components.p]\nkind = \"parent\"\nname = \"ada\"\n",
    );
    let run = d.run(&["deploy", "dev", "--verbose"]).ok();
    let out = std::fs::read_to_string(d.work("p/out.txt")).unwrap();
    assert_eq!(out, "hello ada x3");
    // The child's default (size 3) and the path the standard `file`
    // computed reach the parent during its configure.
    let summary = std::fs::read_to_string(d.work("p/summary.txt")).unwrap();
    let workdir = d.work("p");
    assert_eq!(summary, format!("hello ada x3 / 3 / {}/out.txt\n", workdir.display()));
    // The child's configure runs inside the parent's `add`.
    let text = format!("{}{}", run.stdout, run.stderr);
    let before = text.find("parent: before add").expect(&text);
    let child = text.find("child: configure").expect(&text);
    let after = text.find("parent: after add, p > child('ada') said").expect(&text);
    assert!(before < child && child < after, "{text}");
    // Nothing to do the second time.
    let again = d.deploy().ok();
    assert!(again.stdout.contains("0 of 4 components changed"), "{again:?}");
}

#[test]
fn a_file_larger_than_the_memory_limit_is_copied_in_pieces() {
    let d = nesting(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"c\"]\n\
         [components.c]\nkind = \"copy\"\nfrom = \"big\"\nto = \"copy\"\n\
         [limits.c]\nmemory_limit = 16\n",
    );
    let big: Vec<u8> = (0..40u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::create_dir_all(d.work("c")).unwrap();
    std::fs::write(d.work("c/big"), &big).unwrap();
    let run = d.run(&["deploy", "dev", "--verbose"]).ok();
    assert!(run.stdout.contains("copied 41943040 bytes") || run.stderr.contains("copied 41943040 bytes"), "{run:?}");
    assert!(std::fs::read(d.work("c/copy")).unwrap() == big);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(d.work("c/copy")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(d.deploy().ok().changed().is_empty());
}

#[test]
fn a_module_of_contract_0_1_is_refused_naming_both_versions() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"o\"]\n[components.o]\nkind = \"old\"\n",
    );
    d.own_module("old", FIXTURE_OLD_CONTRACT);
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("built against batou:deploy@0.1.0"), "{run:?}");
    assert!(run.stderr.contains("runs modules of batou:deploy@0.2.x"), "{run:?}");
    assert!(run.stderr.contains("rebuild it"), "{run:?}");
    assert!(!d.work("o").join("old.txt").exists());
}

#[test]
fn a_module_of_contract_0_2_0_runs_on_this_0_2_x_runner() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\"]\n[components.p]\nkind = \"prior\"\n",
    );
    d.own_module("prior", FIXTURE_CONTRACT_020);
    let inspected = d.run(&["component", "inspect", "prior"]).ok();
    assert!(inspected.stdout.contains("batou:deploy@0.2.0"), "{}", inspected.stdout);
    d.deploy().ok();
    assert_eq!(std::fs::read_to_string(d.work("p").join("prior.txt")).unwrap(), "written by a 0.2.0 module");
}

#[test]
fn a_choice_attribute_is_checked_by_the_runner_with_file_and_line() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"f\"]\n\
         [components.f]\nkind = \"file\"\npath = \"x\"\nensure = \"dirctory\"\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    let text = d.normalise(&run.stderr);
    assert!(text.contains("environments/dev.toml:8: localhost: f: attribute `ensure`"), "{text}");
    assert!(
        text.contains(r#"must be one of "file", "directory", "symlink", not "dirctory" (did you mean 'directory'?)"#),
        "{text}"
    );
    assert!(!d.work("f").join("x").exists());
}

#[test]
fn an_attribute_a_component_refuses_is_named_where_the_environment_sets_it() {
    let d = nesting(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\", \"q\"]\n\
         [components.p]\nkind = \"port\"\nnumber = 70000\n\
         [components.q]\nkind = \"port\"\nnumber = 80\nweight = 300\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    let text = d.normalise(&run.stderr);
    // Refused by configure (failure.attribute) and by deserialising the
    // attributes in create: both name the file and line.
    assert!(
        text.contains(
            "environments/dev.toml:7: localhost: p: configure: attribute `number`: 70000 is no port: use 1 to 65535"
        ),
        "{text}"
    );
    assert!(text.contains("environments/dev.toml:11: localhost: q: create: attribute `weight`:"), "{text}");
}

#[test]
fn a_child_that_fails_in_configure_is_reported_under_its_own_path() {
    let d = nesting(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"p\"]\n\
         [components.p]\nkind = \"parent\"\nname = \"ada\"\nchild_fails = true\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    // The child's own failure, with the `wrong-phase` error it met, under
    // the child's path; the parent's `add` returned `child-failed`, which
    // the parent passed on, so nothing else is reported for the parent.
    assert!(
        run.stderr.contains(
            "localhost: p > child('ada'): configure: child refuses (wrong phase: files.read is not allowed during configure"
        ),
        "{run:?}"
    );
    assert_eq!(run.stderr.matches("ERROR:").count(), 1, "{run:?}");
    assert!(!d.work("p").join("summary.txt").exists());
}

#[test]
fn a_writer_dropped_unfinished_leaves_the_file_as_it_was() {
    let d = nesting(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"c\"]\n\
         [components.c]\nkind = \"copy\"\nfrom = \"big\"\nto = \"copy\"\npiece = 1024\nabort = true\n",
    );
    std::fs::create_dir_all(d.work("c")).unwrap();
    std::fs::write(d.work("c/big"), vec![7u8; 10_000]).unwrap();
    std::fs::write(d.work("c/copy"), "the old bytes").unwrap();
    let run = d.deploy();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("localhost: c: update: aborted after 1024 bytes"), "{run:?}");
    assert_eq!(std::fs::read_to_string(d.work("c/copy")).unwrap(), "the old bytes");
    let mut names: Vec<String> = std::fs::read_dir(d.work("c"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["big", "copy"], "no temporary file is left");
}

#[test]
fn a_typed_list_of_the_standard_library_is_checked_item_by_item() {
    let d = Deployment::new(
        "[environment]\nconnect = \"local\"\n[hosts.localhost]\ncomponents = [\"d\"]\n\
         [components.d]\nkind = \"directory\"\npath = \"site\"\nexclude = [\"*.pyc\", 3]\n",
    );
    let run = d.deploy();
    assert_eq!(run.code, 2, "{run:?}");
    let text = d.normalise(&run.stderr);
    assert!(
        text.contains(
            "environments/dev.toml:8: localhost: d: attribute `exclude` of kind `directory` must be a list of strings (item 2 is an integer)"
        ),
        "{text}"
    );
    assert!(!d.work("d").join("site").exists());
}
