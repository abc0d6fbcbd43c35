//! ssh_config read the way OpenSSH reads it, against real sshd servers:
//! `Include` and `Match host` choose how a host is reached, a two-hop
//! `ProxyJump` chain goes through two jump hosts, a `ProxyCommand` carries
//! the connection; settings batou-run cannot follow are refused by name
//! before any connection.

use crate::harness::Deployment;
use crate::sshd::Sshd;

fn motd_deployment(target_directory: &str) -> Deployment {
    Deployment::new(&format!(
        "[environment]\nconnect = \"ssh\"\ntarget_directory = \"{target_directory}\"\n[hosts.target]\n\
         components = [\"motd\"]\n[components.motd]\nkind = \"file\"\npath = \"motd.txt\"\n\
         content = \"via {{{{ host.name }}}}\\n\"\n"
    ))
}

#[test]
fn include_and_match_host_choose_how_a_host_is_reached() {
    let Some(sshd) = Sshd::start(24) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join("matched"));
    let d = motd_deployment("matched");
    // The host's address comes from an included file; its port and login
    // only from a `Match host` block, which sees that address: without
    // both the deploy would go to port 22 as the local user.
    let included = d.path().join("hosts.d");
    std::fs::create_dir_all(&included).unwrap();
    std::fs::write(included.join("target.conf"), "Host target\n  HostName 127.0.0.1\n").unwrap();
    d.write(
        "ssh_config",
        &format!(
            "Include {}/*.conf\nMatch host 10.9.9.9\n  Port 1\nMatch host 127.0.0.1\n  Port {}\n  User {}\n",
            included.display(),
            sshd.port,
            sshd.user
        ),
    );
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 0, "{run:?}\n{}", sshd.log());
    assert_eq!(std::fs::read_to_string(sshd.user_home.join("matched/work/motd/motd.txt")).unwrap(), "via target\n");

    // OpenSSH's own refusal of a line names the file and the line, before
    // any host is connected to.
    std::fs::write(included.join("target.conf"), "Host target\n  HostName 127.0.0.1\n  Port twenty-two\n").unwrap();
    let run = sshd.run(d.path(), &["deploy", "dev", "-c"]);
    assert_eq!(run.code, 2, "{run:?}");
    let expected = format!("ERROR: {}:3: ", included.join("target.conf").display());
    assert!(run.stderr.starts_with(&expected), "`{expected}` in {run:?}");
    assert!(run.stderr.contains("twenty-two"), "{run:?}");
}

#[test]
fn a_host_behind_two_jump_hosts_is_reached_through_both() {
    let Some(target) = Sshd::start(25) else { return };
    let Some(first) = Sshd::start_logging(26, "DEBUG1") else { return };
    let Some(second) = Sshd::start_logging(27, "DEBUG1") else { return };
    // One known_hosts for all three; each server knows its own client key.
    let known: String =
        [&target, &first, &second].iter().map(|s| std::fs::read_to_string(s.known_hosts()).unwrap()).collect();
    std::fs::write(target.known_hosts(), known).unwrap();
    let _ = std::fs::remove_dir_all(target.user_home.join("jumped"));
    // The agent binary travels through both hops.
    let _ = std::fs::remove_dir_all(target.user_home.join(".cache/batou-run"));
    let d = motd_deployment("jumped");
    let key = |s: &Sshd| s.client_home.join(".ssh/id_ed25519").display().to_string();
    d.write(
        "ssh_config",
        &format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  ProxyJump first,{}@second\n\
             Host first\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n\
             Host second\n  HostName 127.0.0.1\n  Port {}\n  IdentityFile {}\n",
            target.port,
            target.user,
            second.user,
            first.port,
            first.user,
            key(&first),
            second.port,
            key(&second),
        ),
    );
    let run = target.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 0, "{run:?}\nfirst:\n{}\nsecond:\n{}\ntarget:\n{}", first.log(), second.log(), target.log());
    assert_eq!(std::fs::read_to_string(target.user_home.join("jumped/work/motd/motd.txt")).unwrap(), "via target\n");
    for (jump, name) in [(&first, "first"), (&second, "second")] {
        assert!(jump.log().contains(&format!("Accepted publickey for {}", jump.user)), "{name}: {}", jump.log());
    }
    // The deploy went through both hops: each jump host's sshd forwarded a
    // connection to the next hop.
    for (jump, next, name) in [(&first, &second, "first"), (&second, &target, "second")] {
        let forwarded = format!("target 127.0.0.1 port {}", next.port);
        assert!(
            jump.log().lines().any(|l| l.contains("server_request_direct_tcpip") && l.contains(&forwarded)),
            "{name} forwarded no connection to port {}: {}",
            next.port,
            jump.log()
        );
    }
    // And the agent with it: each counts the bytes it relayed when the
    // connection closes with an end of file. A connection cut at the
    // controller's exit (a reset, when a last message was still unread)
    // is logged without the count; then the forwarding above is the proof.
    for (jump, name) in [(&first, "first"), (&second, "second")] {
        let relayed = || {
            jump.log()
                .lines()
                .filter_map(|l| l.split(", received ").nth(1))
                .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
                .max()
        };
        let cut = || jump.log().contains("Connection reset by peer");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while relayed().is_none() && !cut() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        match relayed() {
            Some(bytes) => assert!(bytes > 5_000_000, "{name} relayed {bytes} bytes, not the agent: {}", jump.log()),
            None => assert!(cut(), "{name} logged neither the bytes it relayed nor a reset: {}", jump.log()),
        }
    }

    // A refusal on the second hop names it.
    std::fs::write(second.known_hosts(), "").unwrap();
    let known: String = std::fs::read_to_string(target.known_hosts())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(&format!("[127.0.0.1]:{} ", second.port)))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(target.known_hosts(), known).unwrap();
    let refused = target.run(d.path(), &["deploy", "dev"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let expected = format!(
        "host target: through the jump host {}@127.0.0.1:{}: the host key of [127.0.0.1]:{} is unknown",
        second.user, second.port, second.port
    );
    assert!(refused.stderr.contains(&expected), "{refused:?}");
}

#[test]
fn a_proxy_command_carries_the_connection() {
    let Some(nc) = crate::harness::which("nc") else {
        eprintln!("skipped: the ProxyCommand test needs nc (apt-get install netcat-openbsd)");
        return;
    };
    let Some(sshd) = Sshd::start(28) else { return };
    let _ = std::fs::remove_dir_all(sshd.user_home.join("proxied"));
    let d = motd_deployment("proxied");
    let marker = d.path().join("proxy-used");
    d.write(
        "ssh_config",
        &format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  ProxyCommand sh -c 'echo %r@%h:%p >> {}; exec {} %h %p'\n",
            sshd.port,
            sshd.user,
            marker.display(),
            nc.display()
        ),
    );
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 0, "{run:?}\n{}", sshd.log());
    assert_eq!(std::fs::read_to_string(sshd.user_home.join("proxied/work/motd/motd.txt")).unwrap(), "via target\n");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("{}@127.0.0.1:{}\n", sshd.user, sshd.port),
        "the connection went through the ProxyCommand, its tokens expanded"
    );

    // A ProxyCommand that fails says so, and which.
    d.write("ssh_config", &format!("Host target\n  HostName 127.0.0.1\n  Port {}\n  ProxyCommand false\n", sshd.port));
    let run = sshd.run(d.path(), &["deploy", "dev"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("through the ProxyCommand `false`"), "{run:?}");
}

#[test]
fn settings_batou_run_cannot_follow_are_refused_before_connecting() {
    if crate::harness::which("ssh").is_none() {
        eprintln!("skipped: no OpenSSH client (ssh) on PATH");
        return;
    }
    let d = motd_deployment("never");
    d.write("ssh_config", "Host target\n  HostName 127.0.0.1\n  Port 1\n  StrictHostKeyChecking no\n");
    for args in [&["deploy", "dev"][..], &["deploy", "dev", "-c"]] {
        let run = d.run(args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.starts_with("ERROR: ssh_config: target: `StrictHostKeyChecking no` is not followed"),
            "{run:?}"
        );
        assert!(!run.stderr.contains("cannot connect"), "refused before connecting: {run:?}");
    }
}
