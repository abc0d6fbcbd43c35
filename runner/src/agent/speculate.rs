//! Verifying roots ahead of their turn. A root whose components all say
//! `up-to-date` before anything in this deploy changed needs nothing
//! more: when its turn comes and still nothing changed, what it said
//! then is what it would say now. So those verifies run early, on every
//! core, and in-process right after the controller's configure, whose
//! instances they reuse (configure does not run a second time).
//!
//! A root that wants a change, that failed, or whose turn comes after
//! something changed is deployed the ordinary way, in order, with the
//! components the plan's configure made: every root's are kept until its
//! turn ([`Speculations::insert`]), so that configure runs once per root
//! in the process that made the plan, whatever changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{Agent, Configured, Event, HostOutcome};
use crate::plan::grants::{Grant, Grants};
use crate::system::sandbox::{Sandbox, SharedHandles};

/// What verify of a root's components said, ahead of its turn.
pub struct Speculated {
    /// The events the root's deploy sent (configure's log lines, verify's).
    pub events: Vec<Event>,
    /// What its sandbox refused, and the grants it used: taken when verify
    /// ended, on the thread that verified, not at the root's turn.
    pub denied: Vec<(String, String, String)>,
    pub used: BTreeSet<(String, Grant)>,
    pub outcome: HostOutcome,
}

/// The roots verified ahead or kept configured for their turn, by host and
/// root, and whether anything has changed since (on any host: with
/// `connect = "local"` every host is this machine).
#[derive(Default)]
pub struct Speculations {
    roots: Mutex<HashMap<(String, String), Planned>>,
    changed_since: AtomicBool,
    /// The hosts to deploy (`--host`); none: all of them.
    hosts: Vec<String>,
    /// The folders found in each folder holding workdirs (none when it is
    /// a symlink): every root's workdir is in the same `work/`, listed once
    /// per deploy instead of looked at once per root.
    workdirs: Mutex<HashMap<PathBuf, Arc<HashSet<OsString>>>>,
    /// Handles on granted folders, opened once for all roots verified
    /// ahead: nothing this deploy does changes the host before they are.
    handles: Arc<SharedHandles>,
}

/// A root as the plan's configure left it.
struct Planned {
    /// What its verify ahead said (none: its workdir is still to be made).
    verified: Option<Speculated>,
    /// Its components, kept for its turn if the process had room
    /// ([`crate::wasm::room_to_keep`]): its turn then verifies and updates
    /// them without configuring them again. A turn that takes the verify
    /// ahead leaves them here: the process ends without dropping them.
    kept: Option<Configured>,
}

/// What a root's turn takes from the plan's configure.
pub(super) enum Taken {
    /// Its verify ahead, which still holds.
    Verified(Speculated),
    /// Its components, configured for the plan.
    Kept(Configured),
    /// Nothing: its turn configures it.
    Nothing,
}

impl Speculations {
    /// For a deploy of `hosts` (`--host`; empty: every host), with room
    /// for `roots` (sized once: growing it copied every entry, twice over
    /// for 500 roots, into memory not yet touched).
    pub fn for_hosts(hosts: &[String], roots: usize) -> Speculations {
        Speculations { hosts: hosts.to_vec(), roots: Mutex::new(HashMap::with_capacity(roots)), ..Default::default() }
    }

    /// Whether roots of `host` are verified ahead and kept: not those of
    /// a host this deploy leaves alone.
    pub fn wants(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h == host)
    }

    /// What the plan's (last) configure of a root left for its turn: its
    /// verify ahead, if its workdir exists, and its components, kept
    /// while the process has room for their stores and memory; a root
    /// beyond that is configured again at its turn (and its components
    /// dropped now).
    pub fn insert(&self, host: &str, root: &str, verified: Option<Speculated>, configured: Configured) {
        let (kept, dropped) = match crate::wasm::room_to_keep() {
            true => (Some(configured), None),
            false => (None, Some(configured)),
        };
        let earlier = self.lock().insert((host.to_string(), root.to_string()), Planned { verified, kept });
        // Dropping components runs their module's code: not under the lock.
        if let Some(dropped) = dropped {
            dropped.discard();
        }
        if let Some(kept) = earlier.and_then(|e| e.kept) {
            kept.discard();
        }
    }

    /// Verified ahead.
    pub fn len(&self) -> usize {
        self.lock().values().filter(|a| a.verified.is_some()).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Planned>> {
        self.roots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a root's turn takes: its early verify, if it still holds (it
    /// found nothing to change, or this is a predict, it did not fail, and
    /// nothing has changed since), else its kept components.
    pub(super) fn take(&self, host: &str, root: &str, predict: bool) -> Taken {
        let mut roots = self.lock();
        let Some(planned) = roots.get_mut(&(host.to_string(), root.to_string())) else { return Taken::Nothing };
        if let Some(verified) = planned.verified.take_if(|s| self.holds(s, predict)) {
            return Taken::Verified(verified);
        }
        planned.verified = None;
        planned.kept.take().map_or(Taken::Nothing, Taken::Kept)
    }

    /// Whether the root's turn will do without configuring it (a verify
    /// ahead that would hold now, or its kept components).
    pub(super) fn configured_for_turn(&self, host: &str, root: &str, predict: bool) -> bool {
        self.lock()
            .get(&(host.to_string(), root.to_string()))
            .is_some_and(|a| a.kept.is_some() || a.verified.as_ref().is_some_and(|s| self.holds(s, predict)))
    }

    fn holds(&self, s: &Speculated, predict: bool) -> bool {
        !s.outcome.failed && (predict || (s.outcome.changed == 0 && !self.changed()))
    }

    /// Something on the machine changed: early verifies no longer hold.
    pub(super) fn something_changed(&self) {
        self.changed_since.store(true, Ordering::SeqCst);
    }

    fn changed(&self) -> bool {
        self.changed_since.load(Ordering::SeqCst)
    }

    /// The sandbox a root deploys in, as its turn would make it, if its
    /// workdir exists already: a root whose workdir is still to be made is
    /// not verified early (its deploy makes the folder, a change). A
    /// workdir that is a symlink, or in one, is left to the root's turn,
    /// which refuses it (`prepare_workdir`).
    pub fn existing_sandbox(&self, grants: &Grants, workdir: &Path) -> Option<Sandbox> {
        let workdir = crate::system::on_this_host(workdir).ok()?;
        let (parent, name) = (workdir.parent()?, workdir.file_name()?);
        if !self.folders_in(parent).contains(name) {
            return None;
        }
        Sandbox::sharing(grants, &workdir, &self.handles).ok()
    }

    /// The names of the folders in `parent` (not symlinks to folders); none
    /// when `parent` is a symlink, or cannot be listed.
    fn folders_in(&self, parent: &Path) -> Arc<HashSet<OsString>> {
        let mut known = self.workdirs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(folders) = known.get(parent) {
            return folders.clone();
        }
        let plain = std::fs::symlink_metadata(parent).is_ok_and(|m| !m.file_type().is_symlink());
        // An entry's type comes with the listing (a `stat` only where the
        // file system does not say), and is that of the entry itself.
        let folders: HashSet<OsString> = match std::fs::read_dir(parent) {
            Ok(entries) if plain => {
                entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.file_name()).collect()
            }
            _ => HashSet::new(),
        };
        let folders = Arc::new(folders);
        known.insert(parent.to_path_buf(), folders.clone());
        folders
    }
}

impl Agent<'_> {
    /// Deploys a configured root in predict mode, keeping its events: a
    /// root's early verify.
    pub fn speculate(
        runtime: &crate::wasm::Runtime,
        modules: &crate::sources::Modules,
        run: impl FnOnce(&mut Agent<'_>, &mut HostOutcome),
        sandbox: Arc<Sandbox>,
    ) -> Speculated {
        let mut events = Vec::new();
        let mut sink = |e: Event| events.push(e);
        let mut outcome = HostOutcome::default();
        {
            let remote = Arc::new(crate::system::remote::ThisMachine);
            let mut agent = Agent::new(runtime, modules, remote, true, &mut sink);
            run(&mut agent, &mut outcome);
        }
        outcome.failed |= events.iter().any(|e| matches!(e, Event::Failed { .. }));
        Speculated { events, denied: sandbox.take_denied(), used: sandbox.used(), outcome }
    }
}
