//! The agent's side of the protocol: answer `Hello` and `Have`, store
//! uploaded blobs, and deploy a plan streaming its events.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::protocol::{
    BlobKind, Frame, FrameError, Manifest, Message, ModuleRef, PROTOCOL, mismatch, read_frame, write_message,
};
use super::store::{Store, StoreError};
use super::{Agent, Event};
use crate::plan::HostPlan;
use crate::plan::grants::Grants;
use crate::plan::program::{Program, ProgramOutput, RemoteError};
use crate::sources::Modules;
use crate::system::remote::RemoteCommands;
use crate::wasm::Runtime;

/// Why the agent stopped; it is also sent as `Fatal` when the stream allows.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Mismatch(String),
    #[error(
        "the controller sent {got} where {expected} was expected: it is not a batou-run controller of protocol {PROTOCOL}"
    )]
    Unexpected { expected: &'static str, got: String },
    #[error("the controller closed the connection before saying hello")]
    NoHello,
    #[error("cannot prepare the modules: {0}")]
    Modules(String),
}

/// The agent's two streams. The deploy's events and the `ssh`
/// capability's requests to the controller share them.
pub struct Wire {
    input: Box<dyn Read + Send>,
    output: Box<dyn Write + Send>,
}

/// Serves one controller until it closes the stream. An error is also
/// sent to the controller as `Fatal`, when the stream still allows.
pub fn serve(
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
    cache: &Path,
) -> Result<(), ServeError> {
    let wire = Arc::new(Mutex::new(Wire { input: Box::new(input), output: Box::new(output) }));
    let result = serve_wire(&wire, cache);
    if let Err(e) = &result {
        let mut w = wire.lock().expect("not poisoned");
        let _ = send(&mut w.output, &Message::Fatal { message: e.to_string() });
    }
    result
}

fn serve_wire(wire: &Arc<Mutex<Wire>>, cache: &Path) -> Result<(), ServeError> {
    let lock = || wire.lock().expect("not poisoned");
    let store = Store::open(cache)?;
    let protocol = match read_message(&mut lock().input)? {
        Some(Message::Hello { protocol, .. }) => protocol,
        Some(other) => return Err(unexpected("hello", &other)),
        None => return Err(ServeError::NoHello),
    };
    let cache = cache.canonicalize().unwrap_or_else(|_| cache.to_path_buf());
    let hello = Message::Hello {
        protocol: PROTOCOL,
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        arch: Some(format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)),
        cache: Some(cache.clone()),
    };
    send(&mut lock().output, &hello)?;
    if protocol != PROTOCOL {
        return Err(ServeError::Mismatch(mismatch(protocol, PROTOCOL, Some(env!("CARGO_PKG_VERSION")))));
    }
    tracing::debug!(cache = %cache.display(), "agent: hello");
    let mut runtime = None;
    loop {
        let message = read_message(&mut lock().input)?;
        let Some(message) = message else { break };
        match message {
            Message::Have { modules, assets } => {
                let missing = Message::Missing {
                    modules: modules.into_iter().filter(|m| !store.has(BlobKind::Module, m)).collect(),
                    assets: assets.into_iter().filter(|a| !store.has(BlobKind::Asset, a)).collect(),
                };
                send(&mut lock().output, &missing)?;
            }
            Message::Blob { sha256, kind } => match read_frame(&mut lock().input)? {
                Some(Frame::Blob(bytes)) => store.put(kind, &sha256, &bytes)?,
                Some(Frame::Message(m)) => return Err(unexpected("the blob's bytes", &m)),
                None => return Err(FrameError::Truncated { expected: 1, got: 0 }.into()),
            },
            Message::Deploy { plan, predict, modules, assets } => {
                if runtime.is_none() {
                    runtime = Some(Runtime::new(cache.clone()).map_err(|e| ServeError::Modules(format!("{e:#}")))?);
                }
                let runtime = runtime.as_ref().expect("just made");
                deploy(wire, &store, runtime, &plan, predict, &modules, &assets)?;
            }
            other => return Err(unexpected("have, blob or deploy", &other)),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn deploy(
    wire: &Arc<Mutex<Wire>>,
    store: &Store,
    runtime: &Runtime,
    plan: &HostPlan,
    predict: bool,
    modules: &[ModuleRef],
    assets: &[Manifest],
) -> Result<(), ServeError> {
    for manifest in assets {
        store.materialise(manifest)?;
    }
    let modules = load_modules(store, runtime, modules)?;
    let mut failed_write: Option<FrameError> = None;
    let mut sink = |event: Event| {
        if failed_write.is_none() {
            let mut w = wire.lock().expect("not poisoned");
            failed_write = send(&mut w.output, &Message::Event { event }).err();
        }
    };
    let remote = Arc::new(ViaController { wire: wire.clone(), next: Default::default() });
    let outcome = Agent::new(runtime, &modules, remote, predict, &mut sink).deploy_host(plan);
    if let Some(e) = failed_write {
        return Err(e.into());
    }
    let mut w = wire.lock().expect("not poisoned");
    send(&mut w.output, &Message::Done { outcome })?;
    Ok(())
}

/// `ssh.run` on an agent: the controller holds the connections to the
/// other hosts, so the agent asks it and waits for the answer.
struct ViaController {
    wire: Arc<Mutex<Wire>>,
    next: std::sync::atomic::AtomicU64,
}

impl RemoteCommands for ViaController {
    fn run(&self, grants: &Grants, host: &str, program: &Program) -> Result<ProgramOutput, RemoteError> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut w = self.wire.lock().expect("not poisoned");
        let request = Message::Run { id, root: grants.root.clone(), host: host.to_string(), program: program.clone() };
        let lost = |e: &dyn std::fmt::Display| RemoteError::Failed(format!("lost the controller: {e}"));
        send(&mut w.output, &request).map_err(|e| lost(&e))?;
        match read_frame(&mut w.input) {
            Ok(Some(Frame::Message(m))) => match *m {
                Message::RunResult { id: answered, result } if answered == id => result,
                other => Err(RemoteError::Failed(format!(
                    "the controller answered {} to a command for host `{host}`",
                    message_type(&other)
                ))),
            },
            Ok(Some(Frame::Blob(_))) => Err(RemoteError::Failed("the controller sent a blob, not an answer".into())),
            Ok(None) => Err(lost(&"it closed the connection")),
            Err(e) => Err(lost(&e)),
        }
    }
}

fn load_modules(store: &Store, runtime: &Runtime, refs: &[ModuleRef]) -> Result<Modules, ServeError> {
    let mut inputs = Vec::new();
    for m in refs {
        inputs.push(crate::sources::ModuleInput::new(m.name.clone(), store.module(&m.sha256)?, None));
    }
    crate::sources::from_inputs(runtime, inputs).map_err(|d| ServeError::Modules(d.to_string()))
}

fn read_message(input: &mut impl Read) -> Result<Option<Message>, ServeError> {
    match read_frame(input)? {
        None => Ok(None),
        Some(Frame::Message(m)) => Ok(Some(*m)),
        Some(Frame::Blob(b)) => {
            Err(ServeError::Unexpected { expected: "a message", got: format!("a blob of {} bytes", b.len()) })
        }
    }
}

/// Writes and flushes one message.
pub fn send(output: &mut impl Write, message: &Message) -> Result<(), FrameError> {
    write_message(output, message)?;
    output.flush()?;
    Ok(())
}

fn unexpected(expected: &'static str, got: &Message) -> ServeError {
    ServeError::Unexpected { expected, got: message_type(got) }
}

/// A message's type, as `` `deploy` ``, for messages.
fn message_type(message: &Message) -> String {
    serde_json::to_value(message)
        .ok()
        .and_then(|v| v.get("type").and_then(|m| m.as_str()).map(|s| format!("`{s}`")))
        .unwrap_or_else(|| "a message".to_string())
}
