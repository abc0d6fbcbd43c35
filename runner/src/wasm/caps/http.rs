//! `http`: downloads on the target, made by the runner: streamed into a
//! temporary file beside the target (the path sandbox's pending write),
//! hashed on the way, renamed into place only when the sha256 is the one
//! asked for. The URL's host and every redirect's must be in the root's
//! `http` grant.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fetch::{self, Allow, Limits};
use crate::plan::grants::{Grant, Grants};
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::http::{self, DownloadOptions, DownloadResult};
use crate::wasm::state::{Phase, StoreData};

/// How long a download may take, unless the component says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How large a download may be, unless the component says.
const DEFAULT_MAX_SIZE: u64 = 1 << 30;

impl http::Host for StoreData {
    fn download(
        &mut self,
        url: String,
        path: String,
        checksum: String,
        options: DownloadOptions,
    ) -> Result<DownloadResult, CapError> {
        self.call.allow("http.download", &[Phase::Update])?;
        let who = self.call.path.clone();
        let sandbox = self.call.sandbox.clone();
        let expected = checksum
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| CapError::invalid(format!("checksum `{checksum}` is not `sha256:` and 64 hex digits")))?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| CapError::invalid(format!("`{url}` is not a URL ({e})")))?;
        if let Err(refusal) = permitted(sandbox.grants(), &parsed) {
            return Err(match refusal {
                Refusal::Host(host) => {
                    sandbox.refuse(&who, format!("download {url}"), sandbox.grants().advice("http", &host)).into()
                }
                Refusal::Other(why) => CapError::invalid(format!("cannot download {url}: {why}")),
            });
        }
        sandbox.note_use(&who, &Grant::Http(granted_as(sandbox.grants(), &parsed)));
        // A redirect to a host the grant lacks is refused as the first URL
        // would be: named, with the grant to add.
        let denied_host: Arc<Mutex<Option<String>>> = Arc::default();
        let allow: Allow = {
            let grants = sandbox.grants().clone();
            let denied_host = denied_host.clone();
            Arc::new(move |u: &reqwest::Url| match permitted(&grants, u) {
                Ok(()) => Ok(()),
                Err(Refusal::Host(host)) => {
                    *denied_host.lock().expect("not poisoned") = Some(host.clone());
                    Err(format!("{host} is not in the `http` grant; {}", grants.advice("http", &host)))
                }
                Err(Refusal::Other(why)) => Err(why),
            })
        };
        let limits = Limits {
            timeout: options.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT),
            max_size: options.max_size.unwrap_or(DEFAULT_MAX_SIZE),
        };
        let full = self.call.resolve(&path);
        let mut pending = sandbox.begin_write(&who, &full, Some(options.mode.unwrap_or(0o644)))?;
        let started = Instant::now();
        let fetched = fetch::download_to(&url, allow, &limits, &mut |piece| {
            pending.append(piece).map_err(|e| format!("writing {}: {e}", full.display()))
        });
        // The network's time is not the component's.
        self.call.clock.host_time += started.elapsed();
        // Dropped unfinished, the pending write removes its temporary file.
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                drop(pending);
                if let Some(host) = denied_host.lock().expect("not poisoned").take() {
                    return Err(sandbox
                        .refuse(
                            &who,
                            format!("download {url} (redirected to {host})"),
                            sandbox.grants().advice("http", &host),
                        )
                        .into());
                }
                return Err(CapError::io(e.to_string()));
            }
        };
        if fetched.sha256 != expected {
            drop(pending);
            return Err(CapError::io(format!(
                "{url} has sha256:{}, not the checksum sha256:{expected}: {} is left as it was; check the URL, or \
                 the checksum if the file was meant to change",
                fetched.sha256,
                full.display()
            )));
        }
        pending.finish()?;
        Ok(DownloadResult { size: fetched.size, url: fetched.url })
    }
}

/// Why a URL may not be fetched.
enum Refusal {
    /// Its host is not granted (`host` or `host:port`, as the grant would
    /// name it).
    Host(String),
    Other(String),
}

/// `host:port` of a URL, as a grant names it (the port only when given).
fn host_port(url: &reqwest::Url) -> (String, Option<u16>) {
    (url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase(), url.port())
}

/// Whether the grants let `url` be fetched: https, or http to a loopback
/// host; its host granted (`host` for any port, `host:port` for one).
fn permitted(grants: &Grants, url: &reqwest::Url) -> Result<(), Refusal> {
    let (host, port) = host_port(url);
    match url.scheme() {
        "https" => {}
        "http" if fetch::is_loopback(&host) => {}
        "http" => return Err(Refusal::Other(format!("plain http:// is only for loopback hosts; use https://{host}"))),
        other => return Err(Refusal::Other(format!("the scheme {other}:// is not supported; use https://"))),
    }
    if granted(grants, &host, port).is_some() {
        return Ok(());
    }
    Err(Refusal::Host(match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }))
}

fn granted<'g>(grants: &'g Grants, host: &str, port: Option<u16>) -> Option<&'g String> {
    let with_port = port.map(|p| format!("{host}:{p}"));
    grants.http.iter().find(|g| g.as_str() == host || Some(g.as_str()) == with_port.as_deref())
}

/// The grant that allowed `url`, for the grants report.
fn granted_as(grants: &Grants, url: &reqwest::Url) -> String {
    let (host, port) = host_port(url);
    granted(grants, &host, port).cloned().unwrap_or(host)
}
