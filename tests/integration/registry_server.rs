//! A real OCI registry for the registry tests: Debian's `docker-registry`
//! (distribution 2.8), unpacked into .toolchains/registry/ by
//! tools/toolchains.sh, run on a free port of 127.0.0.1 with its storage
//! in a temporary folder, optionally behind htpasswd (bcrypt) auth. Also a
//! tiny HTTP/1.1 client to look at (and plant) what the registry stores.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::repo;

/// The one password [`RegistryServer::with_auth`] knows the bcrypt hash
/// of (cost 4, made with libxcrypt: `crypt.crypt(PASSWORD, "$2b$04$…")`).
pub const PASSWORD: &str = "hunter2-Registry-7Qx";
const PASSWORD_BCRYPT: &str = "$2b$04$KgTFrJ5GtQvf4expIxubgeXD7vkMLErTDxhosyIsYm78w6tlOcsGa";

pub struct RegistryServer {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl RegistryServer {
    /// A registry that lets anyone push and pull.
    pub fn start() -> RegistryServer {
        RegistryServer::launch(None)
    }

    /// A registry that asks for `user` and `password` (which must be
    /// [`PASSWORD`]: the harness holds its hash, not a bcrypt).
    pub fn with_auth(user: &str, password: &str) -> RegistryServer {
        assert_eq!(password, PASSWORD, "the harness only has the bcrypt hash of registry_server::PASSWORD");
        RegistryServer::launch(Some(user))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the registry (a test of an unreachable one); Drop does too.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            assert!(Instant::now() < deadline, "the registry on {} does not stop", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn launch(user: Option<&str>) -> RegistryServer {
        let binary = repo().join(".toolchains/registry/usr/bin/docker-registry");
        assert!(
            binary.exists(),
            "{} is missing: run tools/toolchains.sh (it unpacks Debian's docker-registry there)",
            binary.display()
        );
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n  secret: batou-run-tests-only\n",
                dir.path().join("data").display()
            );
            if let Some(user) = user {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{PASSWORD_BCRYPT}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: batou-run-tests\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config_path)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut server = RegistryServer { child: Some(child), addr, dir };
            if server.wait_ready() {
                return server;
            }
            // Lost the port to someone else, most likely: try another.
            server.stop();
        }
        panic!("docker-registry did not start (three ports tried)");
    }

    /// Until `GET /v2/` answers (200, or 401 with auth); false if the
    /// process ended first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                eprintln!("docker-registry ended: {}", self.log());
                return false;
            }
            if let Ok((code, _, _)) = http(&self.addr(), "GET", "/v2/", &[], b"")
                && (code == 200 || code == 401)
            {
                return true;
            }
            assert!(Instant::now() < deadline, "docker-registry does not answer on {}: {}", self.addr, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A folder of the test's own, removed with the server.
    pub fn scratch(&self) -> PathBuf {
        let d = self.dir.path().join("scratch");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response: the status, the headers (names lowercase), the body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request to `addr` (`host:port`), `Connection: close`:
/// the status, the headers (names lowercase) and the body.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of the response's headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code: u16 = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = unchunk(&body);
    }
    Ok((code, headers, body))
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).split(';').next().unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// The header `name` (lowercase) of a response.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Uploads `bytes` as a blob of `repository` (no auth): POST, then PUT
/// with the digest.
pub fn put_blob(addr: &str, repository: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let (code, headers, body) = http(addr, "POST", &format!("/v2/{repository}/blobs/uploads/"), &[], b"").unwrap();
    assert_eq!(code, 202, "start upload: {}", String::from_utf8_lossy(&body));
    let location = header(&headers, "location").expect("an upload location").to_string();
    let path = match location.find("/v2/") {
        Some(i) => location[i..].to_string(),
        None => location,
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let (code, _, body) = http(
        addr,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    )
    .unwrap();
    assert_eq!(code, 201, "finish upload: {}", String::from_utf8_lossy(&body));
    digest
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
