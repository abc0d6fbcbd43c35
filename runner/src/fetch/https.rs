//! Which hosts may be spoken to over plain HTTP (loopback ones, and those
//! the operator names as insecure), TLS on ring, and plain downloads.

use std::time::Duration;

use oci_client::client::ClientProtocol;

use super::reference::host_of;
use super::{FetchError, Options, SIZE_LIMIT};

/// How long a download may take in all, and to connect.
const TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 10;

/// rustls on ring (no aws-lc), installed once per process.
pub(crate) fn install_crypto() {
    // Already installed (by us, or by russh's users) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// 127.0.0.0/8, ::1 and `localhost` (also `*.localhost`).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        // ::ffff:127.0.0.1 is 127.0.0.1.
        Ok(ip) => ip.to_canonical().is_loopback(),
        Err(_) => false,
    }
}

/// Whether `registry` (`host` or `host:port`) is spoken to over plain
/// HTTP: loopback ones always, others when `options.insecure` names them
/// (by `host:port` or by `host`).
pub(crate) fn plain_http(registry: &str, options: &Options) -> bool {
    let host = host_of(registry);
    is_loopback(host) || options.insecure.iter().any(|i| i == registry || i == host)
}

/// oci-client's protocol for `registry`.
pub(crate) fn protocol(registry: &str, options: &Options) -> ClientProtocol {
    if plain_http(registry, options) {
        ClientProtocol::HttpsExcept(vec![registry.to_string()])
    } else {
        ClientProtocol::Https
    }
}

/// The error and its causes, `: `-joined (reqwest hides TLS and connection
/// details in its sources). URLs carry no credentials here.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// What to do about a connection that failed with `detail`.
pub(crate) fn connect_hint(detail: &str, registry: &str, plain: bool) -> String {
    let d = detail.to_ascii_lowercase();
    if d.contains("dns error") || d.contains("failed to lookup") {
        return format!("; check the name {}", host_of(registry));
    }
    if d.contains("connection refused") {
        return "; check that it runs and listens there".to_string();
    }
    if d.contains("timed out") || d.contains("no answer") {
        return "; check that it is up and that this machine may reach it".to_string();
    }
    if plain {
        return String::new();
    }
    format!(
        "; check that it serves HTTPS with a certificate this machine trusts (if it only speaks plain HTTP, allow \
         that with --insecure {registry}, BATOU_RUN_INSECURE_REGISTRIES, or a deployment's batou.toml: \
         [registries] insecure = [\"{registry}\"])"
    )
}

/// Whether `url` may be fetched: https, or http to a host plain HTTP is
/// allowed for.
fn allowed(url: &reqwest::Url, options: &Options) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let registry = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            if plain_http(&registry, options) {
                Ok(())
            } else {
                Err(format!(
                    "plain http:// is only allowed to loopback hosts (or with --insecure {host}); use https://"
                ))
            }
        }
        other => Err(format!("the scheme {other}:// is not supported; use https://")),
    }
}

pub(crate) async fn download(url: &str, options: &Options) -> Result<Vec<u8>, FetchError> {
    let fail = |problem: String| FetchError::Download { url: url.to_string(), problem };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("it is not a URL ({e})")))?;
    allowed(&parsed, options).map_err(&fail)?;
    install_crypto();
    let policy_options = options.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            let e = format!("more than {MAX_REDIRECTS} redirects");
            return attempt.error(e);
        }
        match allowed(attempt.url(), &policy_options) {
            Ok(()) => attempt.follow(),
            Err(e) => {
                let e = format!("a redirect to {}: {e}", attempt.url());
                attempt.error(e)
            }
        }
    });
    let client = reqwest::Client::builder()
        .redirect(policy)
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| fail(chain(&e)))?;
    let mut response = client.get(parsed).send().await.map_err(|e| {
        if e.is_timeout() { fail(format!("no answer within {} s", TIMEOUT.as_secs())) } else { fail(chain(&e)) }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    if let Some(len) = response.content_length()
        && len > SIZE_LIMIT
    {
        return Err(fail(format!("it is {len} bytes, more than the limit of {SIZE_LIMIT} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() { fail(format!("not complete within {} s", TIMEOUT.as_secs())) } else { fail(chain(&e)) }
    })? {
        if body.len() as u64 + chunk.len() as u64 > SIZE_LIMIT {
            return Err(fail(format!("it is more than the limit of {SIZE_LIMIT} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Streams `url` into `sink`, piece by piece, as [`super::download_to`]
/// describes.
pub(crate) async fn stream(
    url: &str,
    allow: super::Allow,
    limits: &super::Limits,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<super::Fetched, FetchError> {
    use sha2::Digest;
    let fail = |problem: String| FetchError::Download { url: url.to_string(), problem };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("it is not a URL ({e})")))?;
    allow(&parsed).map_err(&fail)?;
    install_crypto();
    let policy_allow = allow.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            let e = format!("more than {MAX_REDIRECTS} redirects");
            return attempt.error(e);
        }
        match policy_allow(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(e) => {
                let e = format!("it redirects to {}: {e}", attempt.url());
                attempt.error(e)
            }
        }
    });
    let seconds = limits.timeout.as_secs_f64();
    let client = reqwest::Client::builder()
        .redirect(policy)
        .timeout(limits.timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(limits.timeout))
        .build()
        .map_err(|e| fail(chain(&e)))?;
    let timed_out =
        || fail(format!("it did not complete within {seconds} s (the server stalls or is slow; raise `timeout`)"));
    let mut response =
        client.get(parsed).send().await.map_err(|e| if e.is_timeout() { timed_out() } else { fail(chain(&e)) })?;
    let final_url = response.url().to_string();
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    let too_big = |size: String| {
        fail(format!("it is {size} bytes, more than the limit of {} bytes (raise `max_size`)", limits.max_size))
    };
    if let Some(len) = response.content_length()
        && len > limits.max_size
    {
        return Err(too_big(len.to_string()));
    }
    let mut size = 0u64;
    let mut sha = sha2::Sha256::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| if e.is_timeout() { timed_out() } else { fail(chain(&e)) })?
    {
        size += chunk.len() as u64;
        if size > limits.max_size {
            return Err(fail(format!("it is more than the limit of {} bytes (raise `max_size`)", limits.max_size)));
        }
        sha.update(&chunk);
        sink(&chunk).map_err(&fail)?;
    }
    let sha256 = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(super::Fetched { size, sha256, url: final_url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_speak_plain_http_others_https_unless_insecure() {
        let none = Options::default();
        for r in [
            "127.0.0.1:5000",
            "127.3.4.5",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "[::1]",
            "[::ffff:127.0.0.1]:5000",
            "reg.localhost",
        ] {
            assert!(plain_http(r, &none), "{r}");
            assert_eq!(protocol(r, &none), ClientProtocol::HttpsExcept(vec![r.to_string()]));
        }
        for r in ["ghcr.io", "10.0.0.1:5000", "128.0.0.1", "localhost.invalid:5000", "mylocalhost"] {
            assert!(!plain_http(r, &none), "{r}");
            assert_eq!(protocol(r, &none), ClientProtocol::Https);
        }
        let insecure = Options { insecure: vec!["registry.lan".into(), "10.0.0.1:5000".into()] };
        assert!(plain_http("registry.lan:5000", &insecure));
        assert!(plain_http("10.0.0.1:5000", &insecure));
        assert!(!plain_http("10.0.0.1:5001", &insecure));
        assert!(!plain_http("ghcr.io", &insecure));
    }

    /// A one-connection HTTP server on 127.0.0.1 answering `response`.
    fn serve_once(response: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn downloads_from_loopback_and_refuses_redirects_to_plain_http_elsewhere() {
        let none = Options::default();
        let addr = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        assert_eq!(super::super::download(&format!("http://{addr}/x.wasm"), &none).unwrap(), b"hello");

        let addr = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: http://example.com/x.wasm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let url = format!("http://{addr}/x.wasm");
        let e = super::super::download(&url, &none).unwrap_err().to_string();
        assert!(e.contains(&url) && e.contains("http://example.com/x.wasm") && e.contains("use https://"), "{e}");

        let addr = serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let e = super::super::download(&format!("http://{addr}/x.wasm"), &none).unwrap_err().to_string();
        assert!(e.contains("404"), "{e}");

        let addr = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n");
        let e = super::super::download(&format!("http://{addr}/x.wasm"), &none).unwrap_err().to_string();
        assert!(e.contains("more than the limit"), "{e}");
    }

    #[test]
    fn downloads_refuse_plain_http_to_other_hosts() {
        let none = Options::default();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(allowed(&url("https://example.com/x.wasm"), &none).is_ok());
        assert!(allowed(&url("http://127.0.0.1:8080/x.wasm"), &none).is_ok());
        let e = allowed(&url("http://example.com/x.wasm"), &none).unwrap_err();
        assert!(e.contains("https://"), "{e}");
        assert!(allowed(&url("ftp://example.com/x.wasm"), &none).is_err());
        let e = super::super::download("http://example.com/x.wasm", &none).unwrap_err().to_string();
        assert!(e.contains("http://example.com/x.wasm") && e.contains("use https://"), "{e}");
    }
}
