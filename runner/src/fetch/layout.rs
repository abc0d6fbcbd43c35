//! The Wasm OCI artifact, as wkg and wash (the `oci-wasm` crate) lay it
//! out: an OCI image manifest, a config of media type
//! `application/vnd.wasm.config.v0+json` (`WasmConfig`), and exactly one
//! `application/wasm` layer holding the component.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FetchError, PushMeta, sha256_digest};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// An OCI content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest (the fields a Wasm artifact uses; others are
/// ignored when reading).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `oci-wasm`'s `WasmConfig`, field for field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339, UTC.
    pub created: String,
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<String>,
    pub component: Option<Component>,
}

/// `oci-wasm`'s `Component`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    pub target: Option<String>,
}

/// The artifact for `wasm`: the config's JSON and the manifest's JSON,
/// created at `created` (RFC 3339).
pub fn artifact(wasm: &[u8], meta: &PushMeta, created: &str) -> (Vec<u8>, Manifest) {
    let layer_digest = sha256_digest(wasm);
    let config = WasmConfig {
        created: created.to_string(),
        author: None,
        architecture: "wasm".to_string(),
        os: "wasip2".to_string(),
        layer_digests: vec![layer_digest.clone()],
        component: Some(Component { exports: meta.exports.clone(), imports: meta.imports.clone(), target: None }),
    };
    let config_json = serde_json::to_vec(&config).expect("a config serialises");
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.created".to_string(), created.to_string());
    for (key, value) in [
        ("title", &meta.title),
        ("version", &meta.version),
        ("source", &meta.source),
        ("description", &meta.description),
    ] {
        if let Some(value) = value {
            annotations.insert(format!("org.opencontainers.image.{key}"), value.clone());
        }
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_string(),
            digest: sha256_digest(&config_json),
            size: config_json.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: LAYER_MEDIA_TYPE.to_string(),
            digest: layer_digest,
            size: wasm.len() as u64,
            annotations: None,
        }],
        annotations,
    };
    (config_json, manifest)
}

/// The one Wasm layer of a pulled manifest, or why it is not a Wasm
/// component artifact (naming the media types it has).
pub fn wasm_layer(manifest_json: &[u8], reference: &str) -> Result<Descriptor, FetchError> {
    let not_wasm = |problem: String| FetchError::NotWasm { reference: reference.to_string(), problem };
    let manifest: Manifest = serde_json::from_slice(manifest_json)
        .map_err(|e| not_wasm(format!("its manifest is not an OCI image manifest ({e})")))?;
    if let Some(t) = &manifest.media_type
        && t != MANIFEST_MEDIA_TYPE
    {
        return Err(not_wasm(format!("its manifest is of type {t}, not {MANIFEST_MEDIA_TYPE}")));
    }
    let types = || {
        let layers: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
        format!("config {}, layers [{}]", manifest.config.media_type, layers.join(", "))
    };
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its config is {}, not {CONFIG_MEDIA_TYPE} (it has {})",
            manifest.config.media_type,
            types()
        )));
    }
    match &manifest.layers[..] {
        [layer] if layer.media_type == LAYER_MEDIA_TYPE => {
            super::reference::check_digest(&layer.digest).map_err(|e| not_wasm(format!("its layer's {e}")))?;
            Ok(layer.clone())
        }
        [layer] => {
            Err(not_wasm(format!("its layer is {}, not {LAYER_MEDIA_TYPE} (it has {})", layer.media_type, types())))
        }
        layers => Err(not_wasm(format!(
            "it has {} layers, a Wasm component artifact has exactly one {LAYER_MEDIA_TYPE} layer (it has {})",
            layers.len(),
            types()
        ))),
    }
}

/// When an artifact is created: `SOURCE_DATE_EPOCH` if set, else now, as
/// RFC 3339 UTC (`2026-12-02T04:51:40Z`).
pub fn created_now() -> String {
    let secs =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        });
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic
/// Gregorian, Howard Hinnant's civil-from-days).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn the_config_has_oci_wasms_shape() {
        let meta = PushMeta {
            imports: vec!["wasi:cli/environment@0.2.6".into()],
            exports: vec!["batou:deploy/component@0.2.0".into()],
            title: Some("notice".into()),
            ..PushMeta::default()
        };
        let (config, manifest) = artifact(b"\0asm", &meta, "2026-01-02T03:04:05Z");
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "created": "2026-01-02T03:04:05Z",
                "author": null,
                "architecture": "wasm",
                "os": "wasip2",
                "layerDigests": [sha256_digest(b"\0asm")],
                "component": {
                    "exports": ["batou:deploy/component@0.2.0"],
                    "imports": ["wasi:cli/environment@0.2.6"],
                    "target": null
                }
            })
        );
        let keys: Vec<&str> = config.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["created", "author", "architecture", "os", "layerDigests", "component"]);
        let m = serde_json::to_value(&manifest).unwrap();
        assert_eq!(m["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(m["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(m["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(m["layers"][0]["size"], 4);
        assert_eq!(m["annotations"]["org.opencontainers.image.title"], "notice");
        assert_eq!(m["annotations"]["org.opencontainers.image.created"], "2026-01-02T03:04:05Z");
        assert!(m["annotations"].get("org.opencontainers.image.version").is_none(), "only the known ones");
    }

    #[test]
    fn pull_accepts_wasm_artifacts_and_names_what_others_are() {
        let (_, manifest) = artifact(b"\0asm", &PushMeta::default(), "2026-01-02T03:04:05Z");
        let mut m = serde_json::to_value(&manifest).unwrap();
        m["annotations"]["dev.wkg.something"] = "x".into();
        let layer = wasm_layer(&serde_json::to_vec(&m).unwrap(), "oci://r/x:1").unwrap();
        assert_eq!(layer.digest, sha256_digest(b"\0asm"));

        let mut tar = m.clone();
        tar["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let e = wasm_layer(&serde_json::to_vec(&tar).unwrap(), "oci://r/x:1").unwrap_err().to_string();
        assert!(e.contains("oci://r/x:1") && e.contains("application/vnd.oci.image.layer.v1.tar+gzip"), "{e}");

        let mut two = m.clone();
        two["layers"] = serde_json::json!([m["layers"][0], m["layers"][0]]);
        let e = wasm_layer(&serde_json::to_vec(&two).unwrap(), "oci://r/x:1").unwrap_err().to_string();
        assert!(e.contains("2 layers"), "{e}");

        let mut image = m.clone();
        image["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let e = wasm_layer(&serde_json::to_vec(&image).unwrap(), "oci://r/x:1").unwrap_err().to_string();
        assert!(e.contains("application/vnd.oci.image.config.v1+json"), "{e}");
    }
}
