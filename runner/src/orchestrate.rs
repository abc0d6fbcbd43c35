//! Deploys a plan's hosts, up to `jobs` of them at once, each through a
//! [`Target`] of its own that lives in one worker thread per host.
//!
//! The plan gives each host's roots in deploy order and, per root, the
//! roots it waits for (`RootPlan::waits_for`). A scheduler on the calling
//! thread hands each host the longest run of its next roots whose roots on
//! other hosts have settled (deployed, failed or skipped), and waits for
//! results. A host whose root fails stops; a root that waits for a failed
//! or skipped root is skipped, on any host; hosts that do not depend on a
//! failure finish. Because the resolver's order is topological across
//! hosts, the earliest root still pending can always go: no deadlock,
//! whatever `jobs` is.

use std::collections::HashMap;
use std::sync::mpsc;

use crate::agent::{Event, HostOutcome, Uploaded};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::output::Output;
use crate::plan::{HostPlan, Plan, RootRef};
use crate::progress::{self, HostLine};
use crate::target::{Target, TargetError};

/// Makes the target of one host, inside that host's worker thread.
pub type MakeTarget<'a> = dyn Fn(&HostPlan) -> Result<Box<dyn Target + 'a>, TargetError> + Sync + 'a;

pub struct Options<'s> {
    /// Hosts deployed at once, at least 1.
    pub jobs: usize,
    pub predict: bool,
    /// Whether a host is deployed; the roots of the others count as
    /// deployed.
    pub selected: &'s (dyn Fn(&str) -> bool + Sync),
}

/// What became of the deploy.
#[derive(Debug, Default)]
pub struct Report {
    pub changed: usize,
    /// Components of the hosts deployed.
    pub components: usize,
    pub hosts: usize,
    pub uploaded: Uploaded,
    pub failed: Vec<RootRef>,
    pub skipped: Vec<(RootRef, String)>,
    /// Hosts where a root failed or the target could not be driven.
    pub failed_hosts: Vec<String>,
    /// Hosts that did not fail but skipped roots.
    pub skipped_hosts: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.failed_hosts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    Done,
    Failed,
    Skipped,
}

/// A batch a worker finished.
struct Finished {
    host: usize,
    roots: Vec<usize>,
    result: Result<HostOutcome, TargetError>,
    /// The root of the first `failed` event, and of the last event seen.
    failed_at: Option<usize>,
    last_seen: Option<usize>,
    /// Changes the events reported (for a target that failed before it
    /// could say how many).
    changed: usize,
}

pub fn deploy(plan: &Plan, options: &Options, make_target: &MakeTarget<'_>, out: &Output) -> Report {
    let hosts = &plan.hosts;
    let mut state: Vec<Vec<State>> = hosts
        .iter()
        .map(|h| {
            let initial = if (options.selected)(&h.host.name) { State::Pending } else { State::Done };
            vec![initial; h.roots.len()]
        })
        .collect();
    let index: HashMap<RootRef, (usize, usize)> = hosts
        .iter()
        .enumerate()
        .flat_map(|(h, hp)| {
            hp.roots
                .iter()
                .enumerate()
                .map(move |(i, r)| (RootRef { host: hp.host.name.clone(), root: r.name.clone() }, (h, i)))
        })
        .collect();
    let mut report = Report::default();
    for h in hosts.iter().filter(|h| (options.selected)(&h.host.name)) {
        report.hosts += 1;
        report.components += h.roots.iter().map(|r| r.node.count()).sum::<usize>();
    }
    let mut next = vec![0usize; hosts.len()];
    let mut busy = vec![false; hosts.len()];
    let mut running = 0;
    let jobs = options.jobs.max(1);
    let group_events = jobs > 1;
    // A line per host on a terminal while several deploy.
    let many = hosts.iter().filter(|h| (options.selected)(&h.host.name)).count() > 1;
    let lines: Vec<HostLine> = hosts
        .iter()
        .map(|h| {
            if many && (options.selected)(&h.host.name) {
                let line = progress::host_line(&h.host.name);
                line.set("waiting");
                line
            } else {
                HostLine::default()
            }
        })
        .collect();
    let lines = &lines;

    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<Finished>();
        let mut workers: Vec<Option<mpsc::Sender<Vec<usize>>>> = (0..hosts.len()).map(|_| None).collect();
        loop {
            // Hand out work, hosts in the environment's order, until
            // nothing more can go (a skip may let another host go).
            let mut progress = true;
            while progress {
                progress = false;
                for h in 0..hosts.len() {
                    if busy[h] || running >= jobs {
                        continue;
                    }
                    let batch = loop {
                        let (start, end) = (next[h], ready_prefix(hosts, &index, &state, h, next[h]));
                        if start == end {
                            break Vec::new();
                        }
                        let mut batch = Vec::new();
                        for i in start..end {
                            match skip_reason(&hosts[h].roots[i].waits_for, &index, &state) {
                                Some(reason) => {
                                    skip(&mut report, &mut state, hosts, h, i, reason, out);
                                    progress = true;
                                }
                                None => batch.push(i),
                            }
                        }
                        next[h] = end;
                        if !batch.is_empty() {
                            break batch;
                        }
                    };
                    if batch.is_empty() {
                        continue;
                    }
                    let sender = workers[h].get_or_insert_with(|| {
                        let (tx, rx) = mpsc::channel::<Vec<usize>>();
                        let done = done_tx.clone();
                        let host_plan = &hosts[h];
                        let predict = options.predict;
                        let line = &lines[h];
                        scope.spawn(move || {
                            worker(h, host_plan, rx, done, make_target, predict, group_events, out, line)
                        });
                        tx
                    });
                    sender.send(batch).expect("the worker lives until its sender is dropped");
                    busy[h] = true;
                    running += 1;
                    progress = true;
                }
            }
            if running == 0 {
                let stuck: Vec<(usize, usize)> = (0..hosts.len())
                    .flat_map(|h| (0..hosts[h].roots.len()).map(move |i| (h, i)))
                    .filter(|&(h, i)| state[h][i] == State::Pending)
                    .collect();
                // Cannot happen with a topological plan; never hang.
                for (h, i) in stuck {
                    skip(&mut report, &mut state, hosts, h, i, "waits for a root that never deployed".into(), out);
                }
                break;
            }
            let finished = done_rx.recv().expect("a busy worker reports");
            running -= 1;
            let h = finished.host;
            busy[h] = false;
            settle(&mut report, &mut state, &mut next, hosts, finished, out);
            show_host(&lines[h], &state[h], false);
        }
        for (line, state) in lines.iter().zip(&state) {
            show_host(line, state, true);
        }
        // Dropping the senders ends the workers.
        drop(workers);
    });
    report
}

/// The end of the longest run of host `h`'s roots from `start` whose roots
/// on other hosts have settled.
fn ready_prefix(
    hosts: &[HostPlan],
    index: &HashMap<RootRef, (usize, usize)>,
    state: &[Vec<State>],
    h: usize,
    start: usize,
) -> usize {
    let roots = &hosts[h].roots;
    let mut end = start;
    while end < roots.len() && state[h][end] == State::Pending {
        let ready = roots[end].waits_for.iter().all(|dep| match index.get(dep) {
            Some(&(dh, di)) => dh == h || state[dh][di] != State::Pending,
            None => true,
        });
        if !ready {
            break;
        }
        end += 1;
    }
    end
}

fn skip_reason(
    waits_for: &[RootRef],
    index: &HashMap<RootRef, (usize, usize)>,
    state: &[Vec<State>],
) -> Option<String> {
    waits_for.iter().find_map(|dep| match index.get(dep).map(|&(h, i)| &state[h][i]) {
        Some(State::Failed) => Some(format!("waits for {dep}, which failed")),
        Some(State::Skipped) => Some(format!("waits for {dep}, which was skipped")),
        _ => None,
    })
}

fn skip(
    report: &mut Report,
    state: &mut [Vec<State>],
    hosts: &[HostPlan],
    h: usize,
    i: usize,
    reason: String,
    out: &Output,
) {
    state[h][i] = State::Skipped;
    let root = RootRef { host: hosts[h].host.name.clone(), root: hosts[h].roots[i].name.clone() };
    out.skipped(&root.host, &root.root, &reason);
    report.skipped.push((root, reason));
    let host = &hosts[h].host.name;
    if !report.failed_hosts.contains(host) && !report.skipped_hosts.contains(host) {
        report.skipped_hosts.push(host.clone());
    }
}

/// Records a finished batch; a failure stops its host.
fn settle(
    report: &mut Report,
    state: &mut [Vec<State>],
    next: &mut [usize],
    hosts: &[HostPlan],
    finished: Finished,
    out: &Output,
) {
    let h = finished.host;
    let failed_at = match finished.result {
        Ok(outcome) => {
            report.changed += outcome.changed;
            report.uploaded.modules += outcome.uploaded.modules;
            report.uploaded.assets += outcome.uploaded.assets;
            report.uploaded.bytes += outcome.uploaded.bytes;
            report.uploaded.agent_bytes += outcome.uploaded.agent_bytes;
            outcome.failed.then(|| finished.failed_at.unwrap_or(finished.roots[0]))
        }
        Err(e) => {
            // What was printed as changed was changed (or began to be),
            // whatever became of the agent afterwards.
            report.changed += finished.changed;
            out.diagnostics(&Diagnostics::from(Diagnostic::new(e.to_string())));
            Some(finished.failed_at.or(finished.last_seen).unwrap_or(finished.roots[0]))
        }
    };
    let Some(failed) = failed_at else {
        for i in finished.roots {
            state[h][i] = State::Done;
        }
        return;
    };
    for &i in finished.roots.iter().filter(|&&i| i < failed) {
        state[h][i] = State::Done;
    }
    state[h][failed] = State::Failed;
    let host = &hosts[h].host.name;
    let failed_root = RootRef { host: host.clone(), root: hosts[h].roots[failed].name.clone() };
    report.skipped_hosts.retain(|x| x != host);
    report.failed_hosts.push(host.clone());
    let reason = format!("not deployed: {host} stopped after {failed_root} failed");
    report.failed.push(failed_root);
    for i in failed + 1..hosts[h].roots.len() {
        if state[h][i] == State::Pending {
            skip(report, state, hosts, h, i, reason.clone(), out);
        }
    }
    next[h] = hosts[h].roots.len();
}

/// A host's line after one of its batches (or, `at_end`, after all):
/// waiting for other hosts, or how it ended.
fn show_host(line: &HostLine, state: &[State], at_end: bool) {
    let count = |s: State| state.iter().filter(|x| **x == s).count();
    let (done, failed, skipped) = (count(State::Done), count(State::Failed), count(State::Skipped));
    if failed > 0 {
        line.finish(format!("FAILED ({done} of {} roots deployed)", state.len()));
    } else if count(State::Pending) == 0 || at_end {
        let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
        line.finish(format!("done ({done} of {} roots{skipped})", state.len()));
    } else {
        line.set(format!("waiting for other hosts ({done} of {} roots deployed)", state.len()));
    }
}

/// One host's worker: makes the host's target on its first batch and
/// deploys each batch it is given through it.
#[allow(clippy::too_many_arguments)]
fn worker<'a>(
    h: usize,
    plan: &HostPlan,
    batches: mpsc::Receiver<Vec<usize>>,
    done: mpsc::Sender<Finished>,
    make_target: &MakeTarget<'a>,
    predict: bool,
    group_events: bool,
    out: &Output,
    line: &HostLine,
) {
    let mut target: Option<Box<dyn Target + 'a>> = None;
    for roots in batches {
        let by_name = roots.iter().map(|&i| (plan.roots[i].name.as_str(), i)).collect();
        line.set(if target.is_none() { "connecting".to_string() } else { "deploying".to_string() });
        let mut sink = Sink {
            by_name,
            line,
            of: plan.roots.len(),
            out,
            group: group_events,
            held: Vec::new(),
            failed_at: None,
            last_seen: None,
            changed: 0,
            last_changed: None,
        };
        let result = match &mut target {
            Some(t) => Ok(t),
            None => make_target(plan).map(|t| target.insert(t)),
        }
        .and_then(|t| {
            // A host without waits on other hosts deploys all its roots
            // in one run: its plan as it is, not a copy.
            if roots.iter().copied().eq(0..plan.roots.len()) {
                return t.deploy(plan, predict, &mut |e| sink.take(e));
            }
            let part = HostPlan {
                host: plan.host.clone(),
                roots: roots.iter().map(|&i| plan.roots[i].clone()).collect(),
                secret_files: plan.secret_files.clone(),
                masked: plan.masked.clone(),
            };
            t.deploy(&part, predict, &mut |e| sink.take(e))
        });
        sink.flush();
        let (failed_at, last_seen, changed) = (sink.failed_at, sink.last_seen, sink.changed);
        if done.send(Finished { host: h, roots, result, failed_at, last_seen, changed }).is_err() {
            return;
        }
    }
}

/// Prints a worker's events, keeping a `changed` line and its diffs
/// together when hosts deploy at once, and notes which root they are from.
struct Sink<'s> {
    /// The batch's roots by name: every event names its root first.
    by_name: std::collections::HashMap<&'s str, usize>,
    /// The host's line, and how many roots the host has.
    line: &'s HostLine,
    of: usize,
    out: &'s Output,
    group: bool,
    held: Vec<Event>,
    failed_at: Option<usize>,
    last_seen: Option<usize>,
    /// `changed` events, less those whose update then failed.
    changed: usize,
    last_changed: Option<String>,
}

impl Sink<'_> {
    fn take(&mut self, event: Event) {
        match &event {
            Event::Changed { component, .. } => {
                self.changed += 1;
                self.last_changed = Some(component.clone());
            }
            Event::Failed { component, .. } if self.last_changed.as_ref() == Some(component) => {
                self.changed -= 1;
                self.last_changed = None;
            }
            _ => {}
        }
        let (component, failed) = match &event {
            Event::Changed { component, .. }
            | Event::Diff { component, .. }
            | Event::Log { component, .. }
            | Event::Denied { component, .. }
            | Event::Grants { root: component, .. } => (component, false),
            Event::Failed { component, .. } => (component, true),
        };
        // `root` or `root > kind('name') > ...`.
        let root_name = component.split(" > ").next().unwrap_or(component);
        let root = self.by_name.get(root_name).copied();
        if let Some(i) = root.filter(|i| self.last_seen != Some(*i)) {
            self.line.set(format!("deploying root {} of {}: {root_name}", i + 1, self.of));
        }
        if root.is_some() {
            self.last_seen = root;
            if failed && self.failed_at.is_none() {
                self.failed_at = root;
            }
        }
        if !self.group {
            self.out.event(&event);
            return;
        }
        match event {
            Event::Diff { .. } if !self.held.is_empty() => self.held.push(event),
            Event::Changed { .. } => {
                self.flush();
                self.held.push(event);
            }
            _ => {
                self.flush();
                self.out.event(&event);
            }
        }
    }

    fn flush(&mut self) {
        if !self.held.is_empty() {
            self.out.events(&std::mem::take(&mut self.held));
        }
    }
}
