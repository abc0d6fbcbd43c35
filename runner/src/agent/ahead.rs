//! Configuring a host's roots ahead of their turn. Configure reads nothing
//! on the host (files, commands, SSH and downloads are refused to it) and must give
//! the tree the plan recorded, so a root's configure may run while the
//! roots before it verify and update: on a second thread, in order, a few
//! roots ahead. Its turn then only verifies and updates.
//!
//! What the deploy shows is unchanged: a root's log lines from configure
//! are sent at its turn, and the workdir is made at its turn. This is an
//! agent's work (a process of its own, on an SSH host): in the process
//! that made the plan, a root whose verify ahead ([`super::speculate`])
//! is expected to hold, or whose components the plan's configure kept,
//! is not configured again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};

use super::speculate::Speculations;
use super::{Configured, configure_root};
use crate::model::configure::Configurator;
use crate::plan::HostPlan;
use crate::plan::host::HostInfo;
use crate::system::on_this_host;
use crate::system::sandbox::Sandbox;
use crate::wasm::state::SecretFiles;

/// Roots of a host configured and waiting for their turn, at most: each
/// holds its stores (pooling-allocator slots) until then.
const AHEAD: usize = 4;

/// The same for all hosts of this process together (local hosts deploying
/// at once, `-j`): the pooling allocator has `POOL_SLOTS`, and a root
/// holds a store per module and level of nesting. A root that finds no
/// place is configured at its turn.
const AHEAD_IN_ALL: usize = 8;

/// Roots configured ahead in this process now.
static AHEAD_NOW: AtomicUsize = AtomicUsize::new(0);

/// A root configured ahead, and the sandbox its components were given.
pub(super) struct Ahead {
    pub sandbox: Arc<Sandbox>,
    pub configured: Configured,
    /// Its place among the `AHEAD`, given back when it is dropped.
    _place: Place,
}

impl Ahead {
    /// Frees what a root configured ahead holds, when its turn does not
    /// use it.
    pub fn discard(self) {
        self.configured.discard();
    }
}

/// How many roots wait configured, and whether the deploy still takes
/// them.
#[derive(Default)]
struct Places {
    state: Mutex<PlacesState>,
    changed: Condvar,
}

#[derive(Default)]
struct PlacesState {
    taken: usize,
    closed: bool,
    /// The configuring thread waits for a place: only then is it woken.
    waiting: bool,
}

/// What the configuring thread gets when it asks for a place.
enum Taken {
    Place(Place),
    /// The process has `AHEAD_IN_ALL` roots configured ahead already.
    Busy,
    /// The deploy takes no more roots.
    Closed,
}

impl Places {
    /// Waits for a free place among the host's; then takes one among the
    /// process's, if there is one.
    fn take(self: &Arc<Self>) -> Taken {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.closed {
                return Taken::Closed;
            }
            if state.taken < AHEAD {
                break;
            }
            state.waiting = true;
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting = false;
        }
        let in_all =
            AHEAD_NOW.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < AHEAD_IN_ALL).then_some(n + 1));
        if in_all.is_err() {
            return Taken::Busy;
        }
        state.taken += 1;
        Taken::Place(Place(self.clone()))
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.changed.notify_all();
    }
}

struct Place(Arc<Places>);

impl Drop for Place {
    fn drop(&mut self) {
        AHEAD_NOW.fetch_sub(1, Ordering::AcqRel);
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.taken -= 1;
        // Woken when half the places are free, not at each one: it then
        // configures two roots in a row, and the deploy's thread makes
        // half as many wake-ups (a system call each).
        if state.waiting && state.taken <= AHEAD / 2 {
            self.0.changed.notify_all();
        }
    }
}

/// The deploy's end of the roots configured ahead: one message per root,
/// in order. Dropping it stops the thread that configures.
pub(super) struct Receiving {
    rx: Receiver<Option<Ahead>>,
    places: Arc<Places>,
}

impl Receiving {
    /// The next root's message: configured ahead, or not.
    pub fn next(&self) -> Option<Ahead> {
        self.rx.recv().ok().flatten()
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.places.close();
    }
}

/// The two ends: the sender goes to [`configure_ahead`].
pub(super) fn channel() -> (Sending, Receiving) {
    let (tx, rx) = std::sync::mpsc::channel();
    let places = Arc::new(Places::default());
    (Sending { tx, places: places.clone() }, Receiving { rx, places })
}

pub(super) struct Sending {
    tx: Sender<Option<Ahead>>,
    places: Arc<Places>,
}

/// Sends one message per root of `plan`, in order: the root configured, or
/// nothing when its turn will do without (a verify ahead expected to
/// hold), should make the sandbox itself (to report why it cannot), or
/// the process has as many roots configured ahead as it may.
/// Stops after a root whose configure failed (the deploy stops there), or
/// when the receiver is gone.
pub(super) fn configure_ahead(
    configurator: &Configurator<'_>,
    host: &Arc<HostInfo>,
    plan: &HostPlan,
    secret_files: &BTreeMap<String, Arc<Vec<u8>>>,
    speculated: Option<&Speculations>,
    predict: bool,
    sending: Sending,
) {
    let Sending { tx, places } = sending;
    for root in &plan.roots {
        // A root passed over is sent at once: the deploy does not wait for
        // the configure of a later root to learn it.
        // Nor is a root the plan's configure kept for its turn.
        if speculated.is_some_and(|s| s.configured_for_turn(&host.name, &root.name, predict)) {
            if tx.send(None).is_err() {
                return;
            }
            continue;
        }
        let sandbox = on_this_host(&root.workdir).ok().and_then(|workdir| Sandbox::new(&root.grants, &workdir).ok());
        let place = match places.take() {
            Taken::Closed => return,
            Taken::Place(place) => Some(place),
            Taken::Busy => None,
        };
        let (Some(sandbox), Some(place)) = (sandbox.map(Arc::new), place) else {
            if tx.send(None).is_err() {
                return;
            }
            continue;
        };
        let secrets = Arc::new(SecretFiles::granted(&root.grants, secret_files));
        let configured = configure_root(configurator, host, root, &sandbox, secrets);
        let failed = configured.live.is_err();
        if tx.send(Some(Ahead { sandbox, configured, _place: place })).is_err() || failed {
            return;
        }
    }
}
