//! PLACEHOLDER until the registry client lands (same API).
#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, FetchError> {
        Err(FetchError::NotImplemented(s.to_string()))
    }
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { tag: None, digest: Some(digest.to_string()), ..self.clone() }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")
        } else if let Some(t) = &self.tag {
            write!(f, ":{t}")
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub insecure: Vec<String>,
}

pub struct Pulled {
    pub manifest_digest: String,
    pub wasm: Vec<u8>,
}

pub fn pull(reference: &Reference, _options: &Options) -> Result<Pulled, FetchError> {
    Err(FetchError::NotImplemented(reference.to_string()))
}

pub fn manifest_digest(reference: &Reference, _options: &Options) -> Result<String, FetchError> {
    Err(FetchError::NotImplemented(reference.to_string()))
}

pub fn download(url: &str, _options: &Options) -> Result<Vec<u8>, FetchError> {
    Err(FetchError::NotImplemented(url.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}: not implemented")]
    NotImplemented(String),
}
