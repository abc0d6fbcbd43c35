//! What a module's bytes say about it without compiling it: the names of
//! the component's top-level imports and exports (`batou:deploy/files@0.2.0`,
//! `wasi:cli/environment@0.2.6`), the contract version they target, and
//! its top-level custom sections. Read with `wasmparser`, which only
//! parses: nothing is validated or compiled, so it is fast and safe on
//! any bytes.

use wasmparser::{Encoding, Parser, Payload};

/// The package of the contract (`batou:deploy/<interface>@<version>`).
pub const CONTRACT_PACKAGE: &str = "batou:deploy";

/// A component's top-level imports and exports, in the order of the binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interfaces {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Why the bytes are not a component whose interfaces can be read.
#[derive(Debug, thiserror::Error)]
pub enum InterfacesError {
    #[error("a core WebAssembly module, not a component: build it for wasm32-wasip2 (a component)")]
    CoreModule,
    #[error("not a WebAssembly binary: {0}")]
    Malformed(String),
    #[error("it names two versions of batou:deploy ({0} and {1}); rebuild it against one")]
    TwoContracts(String, String),
}

impl Interfaces {
    /// The `batou:deploy` version every contract name targets: `None` if
    /// it names none (not a batou-run component).
    pub fn contract(&self) -> Result<Option<String>, InterfacesError> {
        let mut found: Option<String> = None;
        for name in self.imports.iter().chain(&self.exports) {
            let Some(version) = contract_version(name) else { continue };
            match &found {
                Some(v) if *v != version => return Err(InterfacesError::TwoContracts(v.clone(), version)),
                _ => found = Some(version),
            }
        }
        Ok(found)
    }
}

/// `files` of `batou:deploy/files@0.2.0`.
pub fn contract_interface(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').map(|(i, _)| i).unwrap_or(rest))
}

/// `0.2.0` of `batou:deploy/files@0.2.0` (`(no version)` if it has none).
pub fn contract_version(name: &str) -> Option<String> {
    let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').map(|(_, v)| v.to_string()).unwrap_or_else(|| "(no version)".to_string()))
}

/// The names of the top-level imports and exports of the component `wasm`.
pub fn interfaces(wasm: &[u8]) -> Result<Interfaces, InterfacesError> {
    let mut out = Interfaces::default();
    walk(wasm, |payload| {
        match payload {
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    out.imports.push(import.map_err(malformed)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    out.exports.push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every top-level custom section of the component `wasm` named `name`.
pub fn custom_sections<'a>(wasm: &'a [u8], name: &str) -> Result<Vec<&'a [u8]>, InterfacesError> {
    let mut out = Vec::new();
    walk(wasm, |payload| {
        if let Payload::CustomSection(reader) = payload
            && reader.name() == name
        {
            out.push(reader.data());
        }
        Ok(())
    })?;
    Ok(out)
}

fn malformed(e: wasmparser::BinaryReaderError) -> InterfacesError {
    InterfacesError::Malformed(e.to_string())
}

/// Calls `each` with every payload of the outermost component (not those
/// of the modules and components nested in it).
fn walk<'a>(
    wasm: &'a [u8],
    mut each: impl FnMut(Payload<'a>) -> Result<(), InterfacesError>,
) -> Result<(), InterfacesError> {
    if !wasm.starts_with(b"\0asm") {
        return Err(InterfacesError::Malformed("it does not start with \\0asm".to_string()));
    }
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        match &payload {
            Payload::Version { encoding: Encoding::Module, .. } if depth == 0 => {
                return Err(InterfacesError::CoreModule);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                depth += 1;
                continue;
            }
            Payload::End(_) => {
                if depth == 0 {
                    return Ok(());
                }
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            each(payload)?;
        }
    }
    Ok(())
}

/// `wasm` with a custom section `name` holding `payload` appended: the
/// inverse of [`custom_sections`] (a component may carry custom sections
/// anywhere between its sections).
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + name.len() + 8);
    leb(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(wasm.len() + body.len() + 8);
    out.extend_from_slice(wasm);
    out.push(0);
    leb(&mut out, body.len());
    out.extend(body);
    out
}

/// LEB128, as the binary format writes sizes.
fn leb(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component binary: the preamble, then `sections` (id, payload).
    fn component(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\0asm\x0d\0\x01\0".to_vec();
        for (id, payload) in sections {
            out.push(*id);
            leb(&mut out, payload.len());
            out.extend(payload);
        }
        out
    }

    fn custom(name: &str, data: &[u8]) -> (u8, Vec<u8>) {
        let mut payload = Vec::new();
        leb(&mut payload, name.len());
        payload.extend(name.as_bytes());
        payload.extend(data);
        (0, payload)
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let core = b"\0asm\x01\0\0\0".to_vec();
        assert!(matches!(interfaces(&core), Err(InterfacesError::CoreModule)), "{:?}", interfaces(&core));
        assert!(matches!(interfaces(b"hello"), Err(InterfacesError::Malformed(_))));
    }

    #[test]
    fn custom_sections_of_the_outer_component_only() {
        // A nested core module (section 1) with a custom section of the
        // same name inside it, which is not the component's.
        let mut nested = b"\0asm\x01\0\0\0".to_vec();
        let (_, inner) = custom("x", b"inner");
        nested.push(0);
        leb(&mut nested, inner.len());
        nested.extend(inner);
        let wasm = component(&[(1, nested), custom("x", b"outer"), custom("y", b"other")]);
        assert_eq!(custom_sections(&wasm, "x").unwrap(), vec![&b"outer"[..]]);
        assert_eq!(interfaces(&wasm).unwrap(), Interfaces::default());
    }

    #[test]
    fn the_contract_version_is_read_from_the_names() {
        let i = Interfaces {
            imports: vec!["batou:deploy/files@0.2.0".into(), "wasi:cli/environment@0.2.6".into()],
            exports: vec!["batou:deploy/component@0.2.0".into()],
        };
        assert_eq!(i.contract().unwrap().as_deref(), Some("0.2.0"));
        assert_eq!(contract_interface(&i.imports[0]), Some("files"));
        assert_eq!(contract_interface(&i.imports[1]), None);
        let two = Interfaces { imports: vec!["batou:deploy/files@0.1.0".into(), "batou:deploy/log@0.2.0".into()], ..i };
        assert!(matches!(two.contract(), Err(InterfacesError::TwoContracts(..))));
    }
}
