//! The protocol between a controller and `batou-run agent`, version
//! [`PROTOCOL`], over any byte stream (a child's stdin/stdout today, one SSH
//! exec channel later).
//!
//! A frame is a 4-byte big-endian length `n`, a 1-byte type, then `n`
//! bytes of payload (the length counts the payload only). Type 0 is one
//! JSON [`Message`]; type 1 is a raw blob, sent right after the
//! [`Message::Blob`] that announces it. Frames over [`MAX_FRAME`] are
//! refused.
//!
//! A session: the controller sends `Hello`, the agent answers `Hello` (both
//! check the protocol version); the controller sends `Have` and the agent
//! answers `Missing`; the controller uploads each missing module and asset
//! file as `Blob` + blob frame, then sends `Deploy`; the agent answers with
//! `Event`s and finally `Done`, or `Fatal` at any point if it cannot go on.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Event, HostOutcome};
use crate::plan::HostPlan;
use crate::plan::program::{Program, ProgramOutput, RemoteError};

/// The protocol version this build speaks. Bump it on any incompatible
/// change of frames or messages.
pub const PROTOCOL: u32 = 2;

/// The largest payload of one frame.
pub const MAX_FRAME: usize = 512 << 20;

const TYPE_MESSAGE: u8 = 0;
const TYPE_BLOB: u8 = 1;

/// One message of the protocol, as the JSON of a type-0 frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// The first message of each side. The controller sends only
    /// `protocol`; the agent also says what it is and where its cache is.
    Hello {
        protocol: u32,
        /// The agent's `batou-run` version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// The agent's machine, as `arch-os` (`x86_64-linux`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arch: Option<String>,
        /// The agent's cache directory; asset folders are materialised
        /// under `<cache>/agent/assets/`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<PathBuf>,
    },
    /// Controller: the sha256 of every module and asset file the deploy uses.
    Have { modules: Vec<String>, assets: Vec<String> },
    /// Agent: those of `Have` it does not have yet.
    Missing { modules: Vec<String>, assets: Vec<String> },
    /// Controller: the next frame is a blob with this sha256.
    Blob { sha256: String, kind: BlobKind },
    /// Controller: deploy a host's plan. `modules` names every module the
    /// plan uses; `assets` are the asset folders its nodes point to (already
    /// rewritten to the agent's `<cache>/agent/assets/<manifest hash>`).
    Deploy { plan: HostPlan, predict: bool, modules: Vec<ModuleRef>, assets: Vec<Manifest> },
    /// Agent: something happened while deploying.
    Event { event: Event },
    /// Agent, during a deploy: run a program on another host of the
    /// environment for a component of `root` (the `ssh` capability). The
    /// controller checks the root's grants and answers `RunResult`.
    Run { id: u64, root: String, host: String, program: Program },
    /// Controller: what the program of `Run` `id` did.
    RunResult { id: u64, result: Result<ProgramOutput, RemoteError> },
    /// Agent: the deploy ended (successfully or with a failed component).
    Done { outcome: HostOutcome },
    /// Agent: it cannot go on, and exits.
    Fatal { message: String },
}

/// What a blob is, which says where the agent keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobKind {
    /// A module: `<cache>/agent/modules/<sha256>.wasm`.
    Module,
    /// A file of an asset folder: `<cache>/agent/blobs/<sha256>`.
    Asset,
}

/// A module the plan uses, by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRef {
    /// For messages: `standard library module `files``, `components/hello`.
    pub name: String,
    pub sha256: String,
}

/// An asset folder: each file's path relative to the folder and sha256.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The folder's identity: sha256 of the manifest's JSON.
    pub fn hash(&self) -> String {
        sha256_hex(&serde_json::to_vec(&self.files).expect("a manifest serializes"))
    }
}

/// sha256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A frame as read.
#[derive(Debug)]
pub enum Frame {
    Message(Box<Message>),
    Blob(Vec<u8>),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the stream ended in the middle of a frame (after {got} of {expected} bytes)")]
    Truncated { expected: usize, got: usize },
    #[error(
        "a frame of {0} bytes is larger than the limit of {MAX_FRAME} bytes: the other side is not a batou-run of protocol {PROTOCOL}, or a file is too large to ship"
    )]
    TooLarge(usize),
    #[error("unknown frame type {0}: the other side speaks another protocol")]
    UnknownType(u8),
    #[error("a message is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes one message frame (not flushed).
pub fn write_message(out: &mut impl Write, message: &Message) -> Result<(), FrameError> {
    let json = serde_json::to_vec(message)?;
    write_frame(out, TYPE_MESSAGE, &json)
}

/// Writes one blob frame (not flushed).
pub fn write_blob(out: &mut impl Write, bytes: &[u8]) -> Result<(), FrameError> {
    write_frame(out, TYPE_BLOB, bytes)
}

fn write_frame(out: &mut impl Write, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(payload.len()));
    }
    out.write_all(&(payload.len() as u32).to_be_bytes())?;
    out.write_all(&[kind])?;
    out.write_all(payload)?;
    Ok(())
}

/// Reads one frame; `None` at a clean end of the stream (between frames).
pub fn read_frame(input: &mut impl Read) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; 5];
    let got = read_full(input, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < header.len() {
        return Err(FrameError::Truncated { expected: header.len(), got });
    }
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if header[4] != TYPE_MESSAGE && header[4] != TYPE_BLOB {
        return Err(FrameError::UnknownType(header[4]));
    }
    let mut payload = vec![0u8; len];
    let got = read_full(input, &mut payload)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len + header.len(), got: got + header.len() });
    }
    Ok(Some(match header[4] {
        TYPE_MESSAGE => Frame::Message(Box::new(serde_json::from_slice(&payload)?)),
        _ => Frame::Blob(payload),
    }))
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The explanation both sides give for a protocol mismatch.
pub fn mismatch(controller: u32, agent: u32, agent_version: Option<&str>) -> String {
    let agent_version = agent_version.map(|v| format!(" (batou-run {v})")).unwrap_or_default();
    format!(
        "protocol mismatch: the controller speaks agent protocol {controller}, the agent{agent_version} speaks protocol {agent}; \
         install the same batou-run version on the controller and the target"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: &[u8]) -> Message {
        match read_frame(&mut &bytes[..]).unwrap().unwrap() {
            Frame::Message(m) => *m,
            Frame::Blob(_) => panic!("a blob"),
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Message::Have { modules: vec!["ab".into()], assets: vec![] }).unwrap();
        write_blob(&mut buf, b"\x00\x01bytes").unwrap();
        assert_eq!(buf[4], TYPE_MESSAGE);
        let mut input = &buf[..];
        match read_frame(&mut input).unwrap().unwrap() {
            Frame::Message(m) => match *m {
                Message::Have { modules, assets } => {
                    assert_eq!(modules, ["ab"]);
                    assert!(assets.is_empty());
                }
                other => panic!("{other:?}"),
            },
            Frame::Blob(_) => panic!("a blob first"),
        }
        match read_frame(&mut input).unwrap().unwrap() {
            Frame::Blob(b) => assert_eq!(b, b"\x00\x01bytes"),
            Frame::Message(m) => panic!("{m:?}"),
        }
        assert!(read_frame(&mut input).unwrap().is_none(), "a clean end");
    }

    #[test]
    fn hello_of_the_controller_is_small() {
        let mut buf = Vec::new();
        let hello = Message::Hello { protocol: 1, version: None, arch: None, cache: None };
        write_message(&mut buf, &hello).unwrap();
        assert_eq!(&buf[5..], br#"{"type":"hello","protocol":1}"#);
        assert_eq!(u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize, buf.len() - 5);
        assert!(matches!(message(&buf), Message::Hello { protocol: 1, .. }));
    }

    #[test]
    fn oversize_frames_are_refused() {
        let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        buf.push(TYPE_BLOB);
        let err = read_frame(&mut &buf[..]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(n) if n == MAX_FRAME + 1), "{err}");
        assert!(err.to_string().contains("larger than the limit"), "{err}");
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut buf = Vec::new();
        write_blob(&mut buf, b"0123456789").unwrap();
        for cut in [3, 5, 9] {
            let err = read_frame(&mut &buf[..cut]).unwrap_err();
            assert!(matches!(err, FrameError::Truncated { got, .. } if got == cut), "{cut}: {err}");
        }
    }

    #[test]
    fn unknown_frame_types_are_errors() {
        let buf = [0, 0, 0, 0, 7];
        assert!(matches!(read_frame(&mut &buf[..]), Err(FrameError::UnknownType(7))));
    }

    #[test]
    fn manifests_hash_by_content() {
        let mut a = Manifest::default();
        a.files.insert("t.txt".into(), sha256_hex(b"x"));
        let mut b = a.clone();
        assert_eq!(a.hash(), b.hash());
        b.files.insert("u.txt".into(), sha256_hex(b"y"));
        assert_ne!(a.hash(), b.hash());
    }
}
