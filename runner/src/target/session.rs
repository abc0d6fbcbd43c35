//! The controller's side of the agent protocol over any pair of streams:
//! hello, ship what the agent is missing, deploy, forward events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::TargetError;
use super::assets::{Folder, scan};
use crate::agent::protocol::{
    BlobKind, Frame, FrameError, Message, ModuleRef, PROTOCOL, mismatch, read_frame, write_blob, write_message,
};
use crate::agent::{Event, HostOutcome, Uploaded};
use crate::plan::grants::Grants;
use crate::plan::program::RemoteError;
use crate::plan::{HostPlan, Node};
use crate::sources::Modules;
use crate::system::remote::RemoteCommands;

/// One conversation with an agent, for one host.
pub struct Session<'a, R: Read, W: Write> {
    pub host: String,
    pub input: R,
    pub output: W,
    pub modules: &'a Modules,
    /// Runs the `ssh` capability's commands the agent asks for.
    remote: Arc<dyn RemoteCommands>,
    /// The path of the last component the agent reported, for the error
    /// when it dies.
    last: Option<String>,
}

impl<'a, R: Read, W: Write> Session<'a, R, W> {
    /// A session reading the agent's messages from `input` and writing to
    /// `output`.
    pub fn new(host: String, input: R, output: W, modules: &'a Modules, remote: Arc<dyn RemoteCommands>) -> Self {
        Session { host, input, output, modules, remote, last: None }
    }

    /// Deploys `plan` through the agent.
    pub fn deploy(
        &mut self,
        plan: &HostPlan,
        predict: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<HostOutcome, TargetError> {
        let cache = self.hello()?;
        let remote_assets = cache.join("agent").join("assets");
        let (modules, module_bytes) = self.modules_of(plan)?;
        let mut plan = plan.clone();
        let folders = self.ship_assets(&mut plan, &remote_assets)?;

        let mut asset_files: BTreeMap<String, PathBuf> = BTreeMap::new();
        for folder in &folders {
            asset_files.extend(folder.files.iter().cloned());
        }
        let have = Message::Have {
            modules: modules.iter().map(|m| m.sha256.clone()).collect(),
            assets: asset_files.keys().cloned().collect(),
        };
        self.send(&have)?;
        let (missing_modules, missing_assets) = match self.receive("missing")? {
            Message::Missing { modules, assets } => (modules, assets),
            other => return Err(self.unexpected("missing", &other)),
        };
        let mut uploaded = Uploaded::default();
        for sha in &missing_modules {
            let Some(bytes) = module_bytes.get(sha) else {
                return Err(TargetError::UnknownModule { host: self.host.clone(), sha256: sha.clone() });
            };
            self.upload(BlobKind::Module, sha, bytes)?;
            uploaded.modules += 1;
            uploaded.bytes += bytes.len() as u64;
        }
        for sha in &missing_assets {
            let Some(path) = asset_files.get(sha) else {
                return Err(
                    self.unexpected_text("missing", format!("a request for asset {sha}, which was not offered"))
                );
            };
            let bytes = std::fs::read(path).map_err(|source| TargetError::Assets {
                host: self.host.clone(),
                path: path.clone(),
                source,
            })?;
            self.upload(BlobKind::Asset, sha, &bytes)?;
            uploaded.assets += 1;
            uploaded.bytes += bytes.len() as u64;
        }
        tracing::info!(
            host = %self.host, modules = uploaded.modules, assets = uploaded.assets, bytes = uploaded.bytes, "uploaded"
        );
        let assets = folders.into_iter().map(|f| f.manifest).collect();
        let grants: BTreeMap<String, Grants> = plan.roots.iter().map(|r| (r.name.clone(), r.grants.clone())).collect();
        self.send(&Message::Deploy { plan, predict, modules, assets })?;
        loop {
            match self.receive("an event or done")? {
                Message::Event { event } => {
                    self.last = Some(event_component(&event).to_string());
                    sink(event);
                }
                Message::Run { id, root, host, program } => {
                    // The grants are checked here too: the controller
                    // holds the connections, and the plan says what was
                    // granted.
                    let result = match grants.get(&root) {
                        Some(grants) => self.remote.run(grants, &host, &program),
                        None => Err(RemoteError::Denied(format!("`{root}` is not a root deployed on this host"))),
                    };
                    self.send(&Message::RunResult { id, result })?;
                }
                Message::Done { mut outcome } => {
                    outcome.uploaded = uploaded;
                    return Ok(outcome);
                }
                other => return Err(self.unexpected("an event or done", &other)),
            }
        }
    }

    /// Says hello and checks the agent's answer; returns its cache folder.
    fn hello(&mut self) -> Result<PathBuf, TargetError> {
        self.send(&Message::Hello { protocol: PROTOCOL, version: None, arch: None, cache: None })?;
        match self.receive("hello")? {
            Message::Hello { protocol, version, .. } if protocol != PROTOCOL => Err(TargetError::Mismatch {
                host: self.host.clone(),
                message: mismatch(PROTOCOL, protocol, version.as_deref()),
            }),
            Message::Hello { cache: Some(cache), version, arch, .. } => {
                tracing::debug!(host = %self.host, ?version, ?arch, "agent said hello");
                Ok(cache)
            }
            other => Err(self.unexpected("hello with its cache folder", &other)),
        }
    }

    /// The modules the plan uses, and their bytes by hash.
    fn modules_of(&self, plan: &HostPlan) -> Result<(Vec<ModuleRef>, BTreeMap<String, &'a [u8]>), TargetError> {
        let mut hashes = BTreeSet::new();
        for root in &plan.roots {
            root.node.walk(&mut |n| {
                hashes.insert(n.module.clone());
            });
        }
        let mut refs = Vec::new();
        let mut bytes = BTreeMap::new();
        // In the controller's order, so that kinds register the same way.
        for (i, m) in self.modules.loaded.iter().enumerate() {
            if hashes.remove(&m.hash) {
                refs.push(ModuleRef { name: m.name.clone(), sha256: m.hash.clone() });
                bytes.insert(m.hash.clone(), self.modules.wasm[i].as_ref());
            }
        }
        if let Some(sha256) = hashes.into_iter().next() {
            return Err(TargetError::UnknownModule { host: self.host.clone(), sha256 });
        }
        Ok((refs, bytes))
    }

    /// Scans every asset folder of the plan and points its nodes to the
    /// folders the agent will materialise.
    fn ship_assets(&self, plan: &mut HostPlan, remote: &std::path::Path) -> Result<Vec<Folder>, TargetError> {
        let mut remote_of: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        let mut folders = Vec::new();
        for root in &plan.roots {
            let mut dirs = Vec::new();
            root.node.walk(&mut |n| dirs.extend(n.assets.clone()));
            for dir in dirs {
                if remote_of.contains_key(&dir) {
                    continue;
                }
                let folder = scan(&dir).map_err(|source| TargetError::Assets {
                    host: self.host.clone(),
                    path: dir.clone(),
                    source,
                })?;
                remote_of.insert(dir, remote.join(folder.manifest.hash()));
                if !folders.iter().any(|f: &Folder| f.manifest == folder.manifest) {
                    folders.push(folder);
                }
            }
        }
        for root in &mut plan.roots {
            rewrite_assets(&mut root.node, &remote_of);
        }
        Ok(folders)
    }

    fn upload(&mut self, kind: BlobKind, sha: &str, bytes: &[u8]) -> Result<(), TargetError> {
        let message = Message::Blob { sha256: sha.to_string(), kind };
        let result = write_message(&mut self.output, &message).and_then(|()| write_blob(&mut self.output, bytes));
        result.map_err(|e| self.write_failed(e))
    }

    fn send(&mut self, message: &Message) -> Result<(), TargetError> {
        let result = write_message(&mut self.output, message).and_then(|()| Ok(self.output.flush()?));
        result.map_err(|e| self.write_failed(e))
    }

    /// A write failed: the agent has probably said why before it went.
    fn write_failed(&mut self, error: FrameError) -> TargetError {
        match read_frame(&mut self.input) {
            Ok(Some(Frame::Message(m))) => match *m {
                Message::Fatal { message } => TargetError::Agent { host: self.host.clone(), message },
                other => self.unexpected("nothing", &other),
            },
            _ => self.died(error.to_string()),
        }
    }

    fn receive(&mut self, expected: &'static str) -> Result<Message, TargetError> {
        match read_frame(&mut self.input) {
            Ok(Some(Frame::Message(m))) => match *m {
                Message::Fatal { message } => Err(TargetError::Agent { host: self.host.clone(), message }),
                m => Ok(m),
            },
            Ok(Some(Frame::Blob(b))) => Err(self.unexpected_text(expected, format!("a blob of {} bytes", b.len()))),
            Ok(None) => Err(self.died(format!("its output ended while waiting for {expected}"))),
            Err(FrameError::Truncated { .. }) => Err(self.died("its output ended in the middle of a message".into())),
            Err(source) => Err(TargetError::Frame { host: self.host.clone(), source }),
        }
    }

    fn died(&self, detail: String) -> TargetError {
        let last = match &self.last {
            Some(path) => format!("`{path}`"),
            None => "none".to_string(),
        };
        TargetError::Died { host: self.host.clone(), detail, last }
    }

    fn unexpected(&self, expected: &'static str, got: &Message) -> TargetError {
        let got = serde_json::to_value(got)
            .ok()
            .and_then(|v| v.get("type").and_then(|m| m.as_str()).map(|s| format!("`{s}`")))
            .unwrap_or_else(|| "a message".into());
        self.unexpected_text(expected, got)
    }

    fn unexpected_text(&self, expected: &'static str, got: String) -> TargetError {
        TargetError::Unexpected { host: self.host.clone(), expected, got }
    }
}

fn rewrite_assets(node: &mut Node, remote_of: &BTreeMap<PathBuf, PathBuf>) {
    if let Some(dir) = &node.assets {
        node.assets = remote_of.get(dir).cloned();
    }
    for child in &mut node.children {
        rewrite_assets(child, remote_of);
    }
}

fn event_component(event: &Event) -> &str {
    match event {
        Event::Changed { component, .. }
        | Event::Diff { component, .. }
        | Event::Log { component, .. }
        | Event::Failed { component, .. }
        | Event::Denied { component, .. }
        | Event::Grants { root: component, .. } => component,
    }
}
