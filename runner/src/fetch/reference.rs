//! `oci://HOST[:PORT]/NAMESPACE/NAME:TAG` (or `@sha256:HEX`): where a
//! module lives in an OCI registry.

use std::fmt;

use super::FetchError;

/// A module in an OCI registry: `oci://HOST[:PORT]/REPOSITORY:TAG`, or
/// pinned `oci://HOST[:PORT]/REPOSITORY@sha256:HEX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    /// `namespace/name`, one or more segments, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 lowercase hex>`.
    pub digest: Option<String>,
}

const SHAPE: &str = "oci://HOST[:PORT]/NAMESPACE/NAME:TAG or oci://HOST[:PORT]/NAMESPACE/NAME@sha256:DIGEST";

impl Reference {
    /// Parses `oci://HOST[:PORT]/NS/NAME:TAG`, `…@sha256:HEX` or
    /// `…:TAG@sha256:HEX` (the digest wins; the tag is kept for display).
    pub fn parse(s: &str) -> Result<Reference, FetchError> {
        let bad = |problem: String| FetchError::Reference { input: s.to_string(), problem };
        let Some(rest) = s.strip_prefix("oci://") else {
            return Err(bad(format!("it does not start with oci:// (the shape is {SHAPE})")));
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(bad(format!("it names no repository after the registry (the shape is {SHAPE})")));
        };
        check_registry(registry).map_err(&bad)?;
        let (path, digest) = match path.split_once('@') {
            Some((path, digest)) => {
                check_digest(digest).map_err(&bad)?;
                (path, Some(digest.to_string()))
            }
            None => (path, None),
        };
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match path[last_slash..].find(':') {
            Some(i) => {
                let tag = &path[last_slash + i + 1..];
                check_tag(tag).map_err(&bad)?;
                (&path[..last_slash + i], Some(tag.to_string()))
            }
            None => (path, None),
        };
        check_repository(repository).map_err(&bad)?;
        if tag.is_none() && digest.is_none() {
            return Err(bad(format!("it has neither a tag (:TAG) nor a digest (@sha256:…) (the shape is {SHAPE})")));
        }
        Ok(Reference { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// The same repository pinned by `digest`, without a tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        }
    }

    /// oci-client's reference (the digest wins over the tag).
    pub(crate) fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), d.clone())
            }
            (None, Some(t)) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), t.clone())
            }
            (None, None) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), "latest".to_string())
            }
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `host` of `host:port` (or of `[v6]:port`).
pub(crate) fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn check_registry(registry: &str) -> Result<(), String> {
    if registry.is_empty() {
        return Err("it names no registry after oci://".to_string());
    }
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("the registry `{registry}` has an unclosed [ (an IPv6 address is [ADDR]:PORT)"));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("the registry `{registry}` is not an IPv6 address in brackets"));
        }
        match after {
            "" => (v6, None),
            p if p.starts_with(':') => (v6, Some(&p[1..])),
            _ => return Err(format!("the registry `{registry}` has something after its ]")),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    if !registry.starts_with('[')
        && (host.is_empty()
            || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || host.starts_with(['.', '-']))
    {
        return Err(format!(
            "the registry `{registry}` is not a host name (letters, digits, `.` and `-`, then an optional :PORT)"
        ));
    }
    if let Some(port) = port
        && port.parse::<u16>().map(|p| p == 0).unwrap_or(true)
    {
        return Err(format!("the registry `{registry}` has a port that is not a number from 1 to 65535"));
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err(format!("it names no repository after the registry (the shape is {SHAPE})"));
    }
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("the repository `{repository}` has uppercase letters; OCI repositories are lowercase"));
    }
    for segment in repository.split('/') {
        let ok = !segment.is_empty()
            && segment.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && segment.starts_with(|c: char| c.is_ascii_alphanumeric())
            && segment.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "the repository `{repository}` has a bad part `{segment}`: each part between / is lowercase letters and \
                 digits, separated by `.`, `_` or `-`"
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the tag `{tag}` is not a tag: up to 128 letters, digits, `.`, `_` and `-`, not starting with `.` or `-`"
        ))
    }
}

pub(crate) fn check_digest(digest: &str) -> Result<(), String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("the digest `{digest}` is not sha256:<64 hex digits>"));
    };
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(format!("the digest `{digest}` is not sha256:<64 lowercase hex digits>"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        Reference::parse(s).expect_err(s).to_string()
    }

    #[test]
    fn good_references_parse_and_print_back() {
        let r = ok("oci://127.0.0.1:5000/batou/notice:1.0");
        assert_eq!(
            r,
            Reference {
                registry: "127.0.0.1:5000".into(),
                repository: "batou/notice".into(),
                tag: Some("1.0".into()),
                digest: None
            }
        );
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/batou/notice:1.0");
        assert_eq!(host_of(&r.registry), "127.0.0.1");

        let d = ok(&format!("oci://ghcr.io/a/b/c@sha256:{HEX}"));
        assert_eq!(d.registry, "ghcr.io");
        assert_eq!(d.repository, "a/b/c");
        assert_eq!(d.tag, None);
        assert_eq!(d.digest.as_deref(), Some(&*format!("sha256:{HEX}")));
        assert_eq!(d.to_string(), format!("oci://ghcr.io/a/b/c@sha256:{HEX}"));

        let both = ok(&format!("oci://localhost:5000/x/y:v2@sha256:{HEX}"));
        assert_eq!(both.tag.as_deref(), Some("v2"));
        assert_eq!(both.to_oci().digest(), Some(&*format!("sha256:{HEX}")), "the digest wins");
        let pinned = both.with_digest(&format!("sha256:{HEX}"));
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.to_string(), format!("oci://localhost:5000/x/y@sha256:{HEX}"));

        assert_eq!(host_of(&ok("oci://[::1]:5000/n/m:t").registry), "::1");
        assert_eq!(ok("oci://registry.example.com/one-name_2.x:latest").repository, "one-name_2.x");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        assert!(err("127.0.0.1:5000/a/b:1").contains("oci://"), "{}", err("127.0.0.1:5000/a/b:1"));
        assert!(err("https://ghcr.io/a/b:1").contains("does not start with oci://"));
        assert!(err("oci://ghcr.io").contains("no repository"));
        assert!(err("oci://ghcr.io/").contains("no repository"));
        assert!(err("oci:///a/b:1").contains("no registry"));
        assert!(err("oci://ghcr.io/Batou/notice:1").contains("uppercase"));
        assert!(err("oci://ghcr.io/a/b@sha256:abc").contains("digest"));
        assert!(err(&format!("oci://ghcr.io/a/b@md5:{HEX}")).contains("digest"));
        assert!(err(&format!("oci://ghcr.io/a/b@sha256:{}", HEX.to_uppercase())).contains("lowercase hex"));
        assert!(err("oci://ghcr.io/a/b").contains("neither a tag"));
        assert!(err("oci://ghcr.io/a/b:").contains("tag"));
        assert!(err("oci://ghcr.io/a/b:-x").contains("tag"));
        assert!(err("oci://ghcr.io:99999/a/b:1").contains("port"));
        assert!(err("oci://gh_cr.io/a/b:1").contains("host name"));
        assert!(err("oci://ghcr.io/a//b:1").contains("bad part"));
        assert!(err("oci://ghcr.io/a/-b:1").contains("bad part"));
        // The input is named.
        assert!(err("oci://ghcr.io/A:1").contains("oci://ghcr.io/A:1"));
    }
}
