//! The standard `download` component of batou-run, embedded in the
//! runner: a file fetched by the runner on the target through the `http`
//! capability, verified by its sha256. Verify reads only the file's
//! digest, so a second deploy (and `-P`) makes no request.

use std::time::Duration;

use batou_sdk::prelude::*;
use batou_sdk::{http, stdlib};
use serde::Deserialize;

/// A downloaded file.
#[derive(Deserialize)]
#[serde(transparent)]
struct Download(stdlib::Download);

impl std::ops::Deref for Download {
    type Target = stdlib::Download;

    fn deref(&self) -> &stdlib::Download {
        &self.0
    }
}

impl Component for Download {
    fn kind() -> Kind {
        stdlib::Download::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err(bad_attribute("url", format!("`{}` is not an https:// URL", self.url)));
        }
        if self.target.is_empty() || self.target.ends_with('/') {
            return Err(bad_attribute("target", "give the file's path (a folder is not a file)"));
        }
        let hex = self.checksum.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad_attribute(
                "checksum",
                format!("`{}` is not `sha256:` and 64 hex digits (`sha256sum FILE` prints them)", self.checksum),
            ));
        }
        if self.timeout == Some(0) || self.max_size == Some(0) {
            return Err(Error::Invalid("timeout and max_size must be at least 1".to_owned()));
        }
        model::expose("path", &self.target)?;
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let want = self.checksum.to_ascii_lowercase();
        match files::digest(&self.target)? {
            None => Err(update_needed(format!("{} is missing: download {}", self.target, self.url))),
            Some(have) if format!("sha256:{have}") == want => match (self.mode, files::stat(&self.target)?) {
                (Some(mode), Some(stat)) if stat.mode & 0o7777 != mode => {
                    Err(update_needed(format!("mode {:o}, not {mode:o}", stat.mode & 0o7777)))
                }
                _ => Ok(()),
            },
            Some(have) => Err(update_needed(format!("its sha256 is {have}, not the checksum: download {}", self.url))),
        }
    }

    fn update(&mut self) -> Result<()> {
        if self.leading
            && let Some(parent) = files::parent(&self.target)
        {
            files::mkdir(parent, true)?;
        }
        let want = self.checksum.to_ascii_lowercase();
        // Right content, wrong mode: no need to fetch it again.
        if files::digest(&self.target)?.is_some_and(|have| format!("sha256:{have}") == want) {
            if let Some(mode) = self.mode {
                files::set_mode(&self.target, mode)?;
            }
            return Ok(());
        }
        let options = http::Options {
            timeout: self.timeout.map(Duration::from_secs),
            max_size: self.max_size,
            mode: self.mode,
        };
        let got = http::download(&self.url, &self.target, &want, &options)?;
        if let Some(mode) = self.mode {
            // A replaced file keeps its old mode; this one has what is asked.
            files::set_mode(&self.target, mode)?;
        }
        log::debug(format!("downloaded {} bytes from {} into {}", got.size, got.url, self.target));
        Ok(())
    }
}

batou_sdk::export!(Download);
