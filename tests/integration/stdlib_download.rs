//! The standard `download` kind and the `http` capability, against a real
//! HTTP server on loopback started by the test: a good download (and no
//! request on the second run), a wrong checksum, redirects within and out
//! of the grant, a server that stalls, a size limit, a 404, no grant.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::Digest;

use crate::harness::Deployment;

/// A small HTTP/1.0 server on 127.0.0.1: the body of `/file`, redirects,
/// a stall, a large body; it records the paths asked for.
struct Server {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

const BODY: &[u8] = b"release 1.0\n";

impl Server {
    fn start(redirect_out_to: Option<u16>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    // The rest of the request.
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    log.lock().unwrap().push(path.clone());
                    let mut out = stream;
                    let reply = |out: &mut std::net::TcpStream, status: &str, headers: &str, body: &[u8]| {
                        let _ = write!(out, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n{headers}\r\n", body.len());
                        let _ = out.write_all(body);
                    };
                    match path.as_str() {
                        "/file" => reply(&mut out, "200 OK", "", BODY),
                        "/moved" => reply(&mut out, "302 Found", "Location: /file\r\n", b""),
                        "/away" => {
                            let to = format!("Location: http://localhost:{}/file\r\n", redirect_out_to.unwrap_or(1));
                            reply(&mut out, "302 Found", &to, b"")
                        }
                        "/stall" => {
                            let _ = write!(out, "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\nsome");
                            std::thread::sleep(std::time::Duration::from_secs(30));
                        }
                        "/big" => reply(&mut out, "200 OK", "", &vec![b'x'; 3 << 20]),
                        _ => reply(&mut out, "404 Not Found", "", b"no such file\n"),
                    }
                });
            }
        });
        Server { port, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn checksum(bytes: &[u8]) -> String {
    format!("sha256:{}", sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn download_env(port: u16, path: &str, sum: &str, extra: &str, grant: &str) -> String {
    format!(
        "[hosts.localhost]\ncomponents = [\"release\"]\n[components.release]\nkind = \"download\"\n\
         url = \"http://127.0.0.1:{port}{path}\"\ntarget = \"release.txt\"\nchecksum = \"{sum}\"\n{extra}\n\
         [grants.release]\n{grant}\n"
    )
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn download_fetches_once_verifies_by_checksum_and_predicts_without_fetching() {
    let server = Server::start(None);
    let grant = format!("http = [\"127.0.0.1:{}\"]", server.port);
    let d = Deployment::new(&download_env(server.port, "/file", &checksum(BODY), "mode = 0o640", &grant));

    let predicted = d.run(&["deploy", "dev", "-P", "--json"]).ok();
    assert!(predicted.stdout.contains("release.txt is missing"), "{}", predicted.stdout);
    assert!(server.asked().is_empty(), "predict fetched nothing");

    d.deploy().ok();
    assert_eq!(std::fs::read(d.work("release/release.txt")).unwrap(), BODY);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.work("release/release.txt")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(server.asked(), ["/file"]);
    assert!(d.deploy().ok().changed().is_empty(), "a second deploy changes nothing");
    assert_eq!(server.asked(), ["/file"], "and asks the server nothing");

    // A redirect within the granted host is followed.
    std::fs::remove_file(d.work("release/release.txt")).unwrap();
    d.write("environments/dev.toml", &download_env(server.port, "/moved", &checksum(BODY), "", &grant));
    d.deploy().ok();
    assert_eq!(std::fs::read(d.work("release/release.txt")).unwrap(), BODY);
    assert_eq!(server.asked(), ["/file", "/moved", "/file"]);

    // Through an agent process, as on a remote host: the agent fetches.
    std::fs::remove_file(d.work("release/release.txt")).unwrap();
    d.run(&["deploy", "dev", "--agent-process"]).ok();
    assert_eq!(std::fs::read(d.work("release/release.txt")).unwrap(), BODY);
    assert_eq!(server.asked().len(), 5);
}

#[test]
fn a_wrong_checksum_a_404_a_stall_and_a_size_limit_fail_clearly_and_leave_no_file() {
    let server = Server::start(None);
    let grant = format!("http = [\"127.0.0.1:{}\"]", server.port);
    let wrong = checksum(b"another release");
    let cases = [
        ("/file", wrong.as_str(), "", "not the checksum"),
        ("/nothing", wrong.as_str(), "", "404 Not Found"),
        ("/stall", wrong.as_str(), "timeout = 1", "did not complete within 1 s"),
        ("/big", wrong.as_str(), "max_size = 1048576", "more than the limit of 1048576 bytes"),
    ];
    for (path, sum, extra, expected) in cases {
        let d = Deployment::new(&download_env(server.port, path, sum, extra, &grant));
        let run = d.deploy();
        assert_ne!(run.code, 0, "{path}");
        assert!(run.stderr.contains(expected), "{path}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("127.0.0.1:{}{path}", server.port)),
            "{path}: names the URL: {}",
            run.stderr
        );
        assert!(
            leftovers(&d.work("release")).is_empty(),
            "{path}: no file, no temporary file: {:?}",
            leftovers(&d.work("release"))
        );
    }
}

#[test]
fn download_without_its_grant_or_redirected_out_of_it_is_refused_naming_the_grant() {
    let other = Server::start(None);
    let server = Server::start(Some(other.port));
    let d = Deployment::new(&download_env(server.port, "/file", &checksum(BODY), "", ""));
    let denied = d.deploy();
    assert_ne!(denied.code, 0);
    assert!(
        denied.stderr.contains(&format!("add \"127.0.0.1:{}\" to `http` in [grants.release]", server.port)),
        "{}",
        denied.stderr
    );
    assert!(server.asked().is_empty(), "nothing was asked without the grant");

    // Granted, but it redirects to a host the grant lacks: refused, named.
    let grant = format!("http = [\"127.0.0.1:{}\"]", server.port);
    d.write("environments/dev.toml", &download_env(server.port, "/away", &checksum(BODY), "", &grant));
    let away = d.deploy();
    assert_ne!(away.code, 0);
    assert!(away.stderr.contains(&format!("add \"localhost:{}\" to `http`", other.port)), "{}", away.stderr);
    assert!(other.asked().is_empty(), "the ungranted host was never asked");
    assert!(leftovers(&d.work("release")).is_empty());

    // A malformed checksum is a configure error.
    d.write("environments/dev.toml", &download_env(server.port, "/file", "md5:abc", "", &grant));
    let bad = d.run(&["deploy", "dev", "-c"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("checksum") && bad.stderr.contains("64 hex digits"), "{}", bad.stderr);
}
