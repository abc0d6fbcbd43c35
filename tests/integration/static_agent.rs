//! The agent that goes to hosts: a static Linux executable without debug
//! information (built on first use by `batou-run agents`), which deploys
//! in a root file system holding nothing but a shell and the tools the
//! bootstrap script calls, and whose aarch64 build passes the agent
//! protocol tests under qemu-user.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::{AgentCommand, protocol_tests};
use crate::harness::{Deployment, batou};
use crate::sshd::Sshd;

/// `batou-run agents MACHINE --json`: the agent's path and its sizes.
fn agent_for(machine: &str) -> (PathBuf, u64, u64) {
    let run = batou(&["agents", machine, "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let event: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON event");
    assert_eq!((event["event"].as_str(), event["machine"].as_str()), (Some("agent"), Some(machine)), "{event}");
    (
        PathBuf::from(event["path"].as_str().unwrap()),
        event["bytes"].as_u64().unwrap(),
        event["gzipped_bytes"].as_u64().unwrap(),
    )
}

/// What an ELF executable's headers say: its machine, whether it asks
/// for a dynamic loader (`PT_INTERP`), and whether it has DWARF sections.
struct Elf {
    machine: u16,
    interpreter: bool,
    debug_sections: Vec<String>,
}

fn read_elf(path: &Path) -> Elf {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{}", path.display());
    assert_eq!(bytes[4], 2, "a 64-bit executable");
    assert_eq!(bytes[5], 1, "little-endian");
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36) as usize, u16_at(0x38) as usize);
    let interpreter = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3);
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a) as usize, u16_at(0x3c) as usize, u16_at(0x3e) as usize);
    let names = u64_at(shoff + shstrndx * shentsize + 0x18);
    let debug_sections = (0..shnum)
        .map(|i| {
            let start = names + u32_at(shoff + i * shentsize) as usize;
            let end = start + bytes[start..].iter().position(|b| *b == 0).unwrap();
            String::from_utf8_lossy(&bytes[start..end]).into_owned()
        })
        .filter(|name| name.starts_with(".debug_"))
        .collect();
    Elf { machine: u16_at(0x12), interpreter, debug_sections }
}

#[test]
fn the_x86_64_agent_is_static_without_debug_information_and_small() {
    let (path, bytes, gzipped) = agent_for("x86_64");
    let elf = read_elf(&path);
    assert_eq!(elf.machine, 0x3e);
    assert!(!elf.interpreter, "a static executable asks for no dynamic loader: {}", path.display());
    assert!(elf.debug_sections.is_empty(), "{:?}", elf.debug_sections);
    assert!(gzipped < 12_500_000, "what a new host is sent: {gzipped} bytes ({bytes} unpacked)");
    // It is batou-run, of the same sources as this one.
    let out = Command::new(&path).arg("--version").output().unwrap();
    assert!(out.status.success());
    let mine = batou(&["--version"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), mine.stdout);
}

#[test]
fn a_host_with_nothing_but_a_shell_runs_the_agent() {
    if crate::harness::which("busybox").is_none() {
        eprintln!("skipped: the bare-host test needs a static busybox (apt-get install busybox-static)");
        return;
    }
    // sshd wants a chroot whose every folder is root's and closed to
    // others' writes: not below /tmp.
    let root = PathBuf::from("/run/batou-run-tests/bare-host");
    let user = "batou-ssh-29";
    let Some(sshd) = Sshd::start_with(29, &format!("Match User {user}\n  ChrootDirectory {}\n", root.display())) else {
        return;
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    // A shell, and the POSIX tools the bootstrap script calls, all one
    // static busybox; /dev/null, which every Linux host has. No libc, no
    // /proc, no /etc.
    std::fs::copy(crate::harness::which("busybox").unwrap(), root.join("bin/busybox")).unwrap();
    for tool in ["sh", "uname", "id", "mkdir", "find", "wc", "head", "chmod", "mv", "rm", "gzip", "sha256sum"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    std::fs::create_dir_all(root.join("dev")).unwrap();
    let status = Command::new("mknod").args(["-m", "666"]).arg(root.join("dev/null")).args(["c", "1", "3"]).status();
    assert!(status.unwrap().success(), "mknod /dev/null");
    let home = root.join(sshd.user_home.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&home).unwrap();
    let status = Command::new("chown").arg(format!("{user}:{user}")).arg(&home).status().unwrap();
    assert!(status.success());

    let d = Deployment::new(&format!(
        "[environment]\nconnect = \"ssh\"\ntarget_directory = \"bare\"\n[hosts.bare]\n{}components = [\"motd\", \"conf\"]\n\
         [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"Welcome to {{{{ host.name }}}}\\n\"\n\
         [components.conf]\nkind = \"file\"\npath = \"etc/app.conf\"\ncontent = \"port = 8080\\n\"\nmode = \"0640\"\nleading = true\n",
        sshd.host_keys()
    ));
    let run = sshd.run(d.path(), &["deploy", "dev", "--json"]);
    assert_eq!(run.code, 0, "{run:?}\n{}", sshd.log());
    assert_eq!(std::fs::read_to_string(home.join("bare/work/motd/motd.txt")).unwrap(), "Welcome to bare\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("bare/work/conf/etc/app.conf")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let sent = summary["uploaded"]["agent_bytes"].as_u64().unwrap();
    let (_, _, gzipped) = agent_for("x86_64");
    assert_eq!(sent, gzipped, "the static agent, gzipped, went to the host");

    // Again: the agent is there, nothing is sent, nothing changes.
    let again = sshd.run(d.path(), &["deploy", "dev", "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    let summary: serde_json::Value = serde_json::from_str(again.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (summary["uploaded"]["agent_bytes"].as_u64(), summary["changed"].as_u64()),
        (Some(0), Some(0)),
        "{summary}"
    );
    drop(sshd);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_host_of_a_machine_without_an_agent_is_refused_with_those_that_have_one() {
    // The login's PATH starts with a folder whose `uname` says riscv64.
    let fake = PathBuf::from("/run/batou-run-tests/riscv64-bin");
    if crate::harness::is_root() {
        std::fs::create_dir_all(&fake).unwrap();
        std::fs::write(fake.join("uname"), "#!/bin/sh\necho riscv64\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(fake.join("uname"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let Some(sshd) = Sshd::start_with(30, &format!("SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin\n", fake.display()))
    else {
        return;
    };
    let d = Deployment::new(&format!(
        "[environment]\nconnect = \"ssh\"\n[hosts.odd]\n{}components = [\"motd\"]\n\
         [components.motd]\nkind = \"file\"\npath = \"motd.txt\"\ncontent = \"hi\\n\"\n",
        sshd.host_keys()
    ));
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "host odd: the host is a riscv64 machine (`uname -m`), and batou-run has agents for x86_64 and aarch64 hosts only"
        ),
        "{run:?}"
    );
}

#[test]
fn the_aarch64_agent_passes_the_protocol_tests_under_qemu() {
    let (Some(qemu), Some(_)) = (crate::harness::which("qemu-aarch64"), crate::harness::which("aarch64-linux-gnu-gcc"))
    else {
        eprintln!(
            "skipped: the aarch64 agent needs Debian's gcc-aarch64-linux-gnu to build and qemu-user to run \
             (apt-get install gcc-aarch64-linux-gnu qemu-user)"
        );
        return;
    };
    let (path, _, gzipped) = agent_for("aarch64");
    let elf = read_elf(&path);
    assert_eq!(elf.machine, 0xb7, "an aarch64 executable");
    assert!(!elf.interpreter, "static");
    assert!(elf.debug_sections.is_empty(), "{:?}", elf.debug_sections);
    assert!(gzipped < 12_500_000, "{gzipped}");
    let out = Command::new(&qemu).arg(&path).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), batou(&["--version"], &[]).stdout, "{out:?}");
    protocol_tests(&AgentCommand(Some(vec![qemu.display().to_string(), path.display().to_string()])));
}
