//! Modules fetched from outside the deployment, kept by the sha256 of
//! their bytes: `<cache>/modules/sha256/<hex>.wasm`. Nothing is found by
//! a name or a tag, and an entry is checked against its name on every
//! read, so a changed or truncated file is never taken for the module.

use std::path::{Path, PathBuf};

use crate::wasm::sha256_hex;

pub fn dir(cache: &Path) -> PathBuf {
    cache.join("modules").join("sha256")
}

fn entry(cache: &Path, hex: &str) -> Option<PathBuf> {
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| dir(cache).join(format!("{hex}.wasm")))
}

/// The module whose bytes have sha256 `hex`, if the cache has it.
pub fn get(cache: &Path, hex: &str) -> Option<Vec<u8>> {
    let path = entry(cache, hex)?;
    let bytes = std::fs::read(&path).ok()?;
    if sha256_hex(&bytes) != hex {
        tracing::warn!(path = %path.display(), "a cached module does not match its sha256; fetching it again");
        let _ = std::fs::remove_file(&path);
        return None;
    }
    Some(bytes)
}

/// Keeps `bytes` in the cache; returns their sha256 and where they are.
pub fn put(cache: &Path, bytes: &[u8]) -> Result<(String, PathBuf), String> {
    let hex = sha256_hex(bytes);
    let folder = dir(cache);
    crate::wasm::cache::private_dir(&folder)?;
    let path = entry(cache, &hex).expect("a sha256 is a valid entry name");
    if !path.is_file() {
        crate::atomic_file::write(&path, bytes, 0o600)
            .map_err(|e| format!("cannot keep the module in {}: {e}", folder.display()))?;
    }
    Ok((hex, path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_entry_is_found_by_its_bytes_and_a_changed_one_is_not() {
        let cache = tempfile::tempdir().unwrap();
        let (hex, path) = super::put(cache.path(), b"module").unwrap();
        assert_eq!(super::get(cache.path(), &hex).unwrap(), b"module");
        std::fs::write(&path, b"other").unwrap();
        assert!(super::get(cache.path(), &hex).is_none(), "a changed entry is not the module");
        assert!(super::get(cache.path(), "../../etc/passwd").is_none());
    }
}
