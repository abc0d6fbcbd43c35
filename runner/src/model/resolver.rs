//! batou's resolver: configure roots until every `require` has its
//! values and no provided value changes any more (a fixpoint), then order
//! the roots so providers deploy before the components that require them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::configure::ConfigureFailure;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::plan::Node;
use crate::plan::require::RequireAnswers;

/// A root component on a host.
#[derive(Debug, Clone)]
pub struct RootId {
    pub host: String,
    pub name: String,
}

impl RootId {
    fn label(&self) -> String {
        format!("{}:{}", self.host, self.name)
    }
}

/// Configures one root given the values provided so far.
pub trait ConfigureRoot {
    fn configure(&mut self, root: usize, answers: Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure>;

    /// Configures several roots, each with its own answers, and returns
    /// the results in the same order. A configurer that can run roots at
    /// once (on every core) does so here.
    fn configure_batch(&mut self, batch: Vec<(usize, Arc<dyn RequireAnswers>)>) -> Vec<Result<Node, ConfigureFailure>> {
        batch.into_iter().map(|(r, answers)| self.configure(r, answers)).collect()
    }
}

/// The keys a configure result read through `require`: a result computed
/// before one of them changed is stale. None: not known (a configure that
/// stopped part way may have read others), so any change makes it stale.
fn keys_read(result: &Result<Node, ConfigureFailure>) -> Option<BTreeSet<String>> {
    match result {
        Ok(node) => Some(node.all_required().into_iter().map(|q| q.key.clone()).collect()),
        Err(_) => None,
    }
}

/// Values provided by each root, by key.
type Provided = BTreeMap<String, Vec<(usize, String, Value)>>;

/// The provided values as one root sees them.
struct Snapshot {
    host: String,
    provided: Arc<Provided>,
}

impl RequireAnswers for Snapshot {
    fn answer(&self, key: &str, host_only: bool) -> Option<Vec<Value>> {
        let values = self.provided.get(key).map(|v| v.as_slice()).unwrap_or_default();
        Some(values.iter().filter(|(_, host, _)| !host_only || *host == self.host).map(|(_, _, v)| v.clone()).collect())
    }
}

/// The resolver's result: configured roots in deploy order, and the
/// edges of that order.
pub struct Resolved {
    /// `(index into the roots, its tree)`, providers first.
    pub roots: Vec<(usize, Node)>,
    /// `(before, after)`: root `after` deploys once root `before` has (the
    /// provider before the requirer; the other way for a `reverse` require).
    pub edges: Vec<(usize, usize)>,
}

/// Configures every root to a fixpoint and returns them in deploy order.
#[cfg(test)]
pub fn resolve(roots: &[RootId], configurer: &mut impl ConfigureRoot) -> Result<Vec<(usize, Node)>, Diagnostics> {
    resolve_graph(roots, configurer).map(|r| r.roots)
}

/// Configures every root to a fixpoint and returns them in deploy order,
/// with the dependencies between them. Every problem found is reported,
/// not just the first.
pub fn resolve_graph(roots: &[RootId], configurer: &mut impl ConfigureRoot) -> Result<Resolved, Diagnostics> {
    let n = roots.len();
    let mut errors = Diagnostics::default();
    let mut nodes: Vec<Option<Node>> = vec![None; n];
    let mut provided: Arc<Provided> = Arc::new(BTreeMap::new());
    let mut pending: BTreeSet<usize> = (0..n).collect();
    let mut unsatisfied: BTreeMap<usize, (String, Vec<(String, bool)>)> = BTreeMap::new();
    // As in batou, a root whose configure failed is tried again while
    // values change: it may only have needed values that came later.
    let mut failed: BTreeMap<usize, (String, String, Option<String>)> = BTreeMap::new();
    let max_rounds = n + 10;
    let mut round = 0;

    while !pending.is_empty() {
        round += 1;
        if round > max_rounds {
            let names: Vec<String> = pending.iter().map(|&r| roots[r].label()).collect();
            errors.push(
                Diagnostic::new(format!(
                    "configure does not converge: the values provided by {} keep changing after {max_rounds} rounds",
                    names.join(", ")
                ))
                .hint("a provided value must not depend on itself through require; break the loop"),
            );
            break;
        }
        let mut progress = false;
        // The round's roots are configured at once against the values
        // provided so far, then taken in order as if one after the other:
        // a root whose result read a value that a root before it in this
        // round changed is configured again right there, with the new
        // values. So the result is the one-at-a-time result (batou's),
        // whatever ran in parallel.
        let round_roots: Vec<usize> = pending.iter().copied().collect();
        let batch = round_roots
            .iter()
            .map(|&r| {
                let answers: Arc<dyn RequireAnswers> =
                    Arc::new(Snapshot { host: roots[r].host.clone(), provided: provided.clone() });
                (r, answers)
            })
            .collect();
        let started = std::time::Instant::now();
        let early = configurer.configure_batch(batch);
        tracing::info!(ms = started.elapsed().as_secs_f64() * 1e3, round, "configured a round");
        let mut changed_in_round: BTreeSet<String> = BTreeSet::new();
        for (r, result) in round_roots.into_iter().zip(early) {
            let stale = !changed_in_round.is_empty()
                && keys_read(&result).is_none_or(|keys| keys.iter().any(|k| changed_in_round.contains(k)));
            let result = if stale {
                let answers = Arc::new(Snapshot { host: roots[r].host.clone(), provided: provided.clone() });
                configurer.configure(r, answers)
            } else {
                result
            };
            match result {
                Ok(node) => {
                    pending.remove(&r);
                    unsatisfied.remove(&r);
                    failed.remove(&r);
                    progress = true;
                    let changed = set_provided(&mut provided, roots, r, node.all_provided());
                    nodes[r] = Some(node);
                    requeue_dependants(&nodes, r, &changed, &mut pending);
                    changed_in_round.extend(changed);
                }
                Err(ConfigureFailure::Unsatisfied { path, keys, provided: partial }) => {
                    failed.remove(&r);
                    nodes[r] = None;
                    unsatisfied.insert(r, (path, keys));
                    let changed = set_provided(&mut provided, roots, r, partial);
                    progress |= !changed.is_empty();
                    requeue_dependants(&nodes, r, &changed, &mut pending);
                    changed_in_round.extend(changed);
                }
                Err(ConfigureFailure::Failed { path, message, at }) => {
                    unsatisfied.remove(&r);
                    nodes[r] = None;
                    failed.insert(r, (path, message, at));
                }
            }
        }
        if !progress {
            break;
        }
    }

    for (r, (path, message, at)) in &failed {
        let mut diagnostic =
            Diagnostic::new(message.clone()).on_host(roots[*r].host.clone()).in_component(path.clone());
        if let Some(at) = at {
            diagnostic = diagnostic.at(at.clone());
        }
        errors.push(diagnostic);
    }
    for (r, (path, keys)) in &unsatisfied {
        let host = &roots[*r].host;
        for (key, host_only) in keys {
            let elsewhere: BTreeSet<&str> =
                provided.get(key).into_iter().flatten().map(|(_, h, _)| h.as_str()).filter(|h| h != host).collect();
            let diagnostic = if *host_only {
                let hint = if elsewhere.is_empty() {
                    format!("add a component on {host} that provides `{key}`, or require it with strict = false")
                } else {
                    let hosts: Vec<&str> = elsewhere.into_iter().collect();
                    format!(
                        "`{key}` is provided on {}; require it without host_only, or provide it on {host} too",
                        hosts.join(", ")
                    )
                };
                Diagnostic::new(format!("requires `{key}` from its own host, but no component on {host} provides it"))
                    .hint(hint)
            } else {
                Diagnostic::new(format!("requires `{key}`, but no component provides it"))
                    .hint(format!("add a component that provides `{key}`, or require it with strict = false"))
            };
            errors.push(diagnostic.on_host(host.clone()).in_component(path.clone()));
        }
    }

    // A provided value nobody can see a require for is most likely a typo
    // in a key (or a host_only require on another host). As in batou, this
    // is reported even when another root failed to configure.
    {
        let requires: Vec<(&str, &str, bool)> =
            nodes
                .iter()
                .enumerate()
                .filter_map(|(s, n)| n.as_ref().map(|n| (s, n)))
                .flat_map(|(s, n)| {
                    n.all_required().into_iter().map(move |q| (q.key.as_str(), roots[s].host.as_str(), q.host_only))
                })
                .chain(unsatisfied.iter().flat_map(|(r, (_, keys))| {
                    keys.iter().map(move |(k, h)| (k.as_str(), roots[*r].host.as_str(), *h))
                }))
                .collect();
        for (key, providers) in provided.iter() {
            for (p, host, _) in providers {
                let seen = requires.iter().any(|(k, h, host_only)| k == key && (!host_only || h == host));
                if !seen {
                    errors.push(
                        Diagnostic::new(format!("provides `{key}`, but no component requires it"))
                            .on_host(host.clone())
                            .in_component(roots[*p].name.clone())
                            .hint(format!(
                                "remove the provide, or require `{key}` where it is needed (check the spelling)"
                            )),
                    );
                }
            }
        }
    }

    // Providers deploy before the components that require their values
    // (after them, for a `reverse` require).
    let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (s, node) in nodes.iter().enumerate() {
        let Some(node) = node else { continue };
        for q in node.all_required() {
            for (p, host, _) in provided.get(&q.key).map(|v| v.as_slice()).unwrap_or_default() {
                if *p == s || (q.host_only && *host != roots[s].host) {
                    continue;
                }
                edges.insert(if q.reverse { (s, *p) } else { (*p, s) });
            }
        }
    }
    let order = match topological_order(n, &edges) {
        Ok(order) => order,
        Err(cycle) => {
            let names: Vec<String> = cycle.iter().map(|&r| roots[r].label()).collect();
            errors.push(
                Diagnostic::new(format!("dependency cycle: {}", names.join(" > ")))
                    .hint("each arrow is a provided value required by the next root; use reverse = true on one require, or move the value"),
            );
            (0..n).collect()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let roots = order.into_iter().filter_map(|r| nodes[r].take().map(|node| (r, node))).collect();
    Ok(Resolved { roots, edges: edges.into_iter().collect() })
}

/// Replaces the values root `r` provides; returns the keys whose values
/// changed.
fn set_provided(
    provided: &mut Arc<Provided>,
    roots: &[RootId],
    r: usize,
    new: Vec<(String, Value)>,
) -> BTreeSet<String> {
    let old: Vec<(String, Value)> = provided
        .iter()
        .flat_map(|(k, vs)| vs.iter().filter(|(p, _, _)| *p == r).map(move |(_, _, v)| (k.clone(), v.clone())))
        .collect();
    let mut sorted_new = new.clone();
    sorted_new.sort_by(|a, b| a.0.cmp(&b.0));
    if sorted_new == old {
        return BTreeSet::new();
    }
    let changed: BTreeSet<String> = old.iter().chain(new.iter()).map(|(k, _)| k.clone()).collect();
    let map = Arc::make_mut(provided);
    for values in map.values_mut() {
        values.retain(|(p, _, _)| *p != r);
    }
    for (key, value) in new {
        let values = map.entry(key).or_default();
        values.push((r, roots[r].host.clone(), value));
        values.sort_by_key(|(p, _, _)| *p);
    }
    map.retain(|_, v| !v.is_empty());
    changed
}

/// Whoever required a changed key must configure again.
fn requeue_dependants(nodes: &[Option<Node>], r: usize, changed: &BTreeSet<String>, pending: &mut BTreeSet<usize>) {
    if changed.is_empty() {
        return;
    }
    for (s, node) in nodes.iter().enumerate() {
        if s != r && node.as_ref().is_some_and(|nd| nd.all_required().iter().any(|q| changed.contains(&q.key))) {
            pending.insert(s);
        }
    }
}

/// Kahn's algorithm, preferring the environment's order among ready
/// roots. On a cycle, returns one cycle's roots (first repeated at the end).
fn topological_order(n: usize, edges: &BTreeSet<(usize, usize)>) -> Result<Vec<usize>, Vec<usize>> {
    let mut indegree = vec![0; n];
    for &(_, to) in edges {
        indegree[to] += 1;
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&r| indegree[r] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(r) = ready.pop_first() {
        order.push(r);
        for &(from, to) in edges.range((r, 0)..(r + 1, 0)) {
            debug_assert_eq!(from, r);
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.insert(to);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk backwards along edges among the leftovers until a root repeats.
    let left: BTreeSet<usize> = (0..n).filter(|r| indegree[*r] > 0).collect();
    let mut path = vec![*left.first().expect("leftovers exist")];
    loop {
        let current = *path.last().expect("non-empty");
        let prev = edges
            .iter()
            .find(|(from, to)| *to == current && left.contains(from))
            .map(|(from, _)| *from)
            .expect("a leftover has a leftover predecessor");
        if let Some(pos) = path.iter().position(|&r| r == prev) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        path.push(prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::require::RequireRecord;
    use serde_json::json;

    /// A root that provides fixed values (or values derived from what it
    /// requires) and requires keys, like the `graph` test fixture.
    #[derive(Clone, Default)]
    struct Fake {
        provides: Vec<(&'static str, Value)>,
        requires: Vec<(&'static str, bool /*strict*/, bool /*reverse*/)>,
        /// Provide `key` = 1 + the sum of what `from` gave.
        counter: Option<(&'static str, &'static str)>,
        /// Fail (not unsatisfied) while this non-strict require is empty,
        /// like a component that checks what it received.
        fail_without: Option<&'static str>,
    }

    struct Fakes(Vec<Fake>, usize);

    impl ConfigureRoot for Fakes {
        fn configure(&mut self, root: usize, answers: Arc<dyn RequireAnswers>) -> Result<Node, ConfigureFailure> {
            self.1 += 1;
            let fake = &self.0[root];
            let mut required = Vec::new();
            for (key, strict, reverse) in &fake.requires {
                let values = answers.answer(key, false).unwrap();
                if *strict && values.is_empty() {
                    // Like batou, configure goes on: its own values count.
                    let provided = fake.provides.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                    let keys = vec![(key.to_string(), false)];
                    return Err(ConfigureFailure::Unsatisfied { path: format!("r{root}"), keys, provided });
                }
                required.push(RequireRecord {
                    key: key.to_string(),
                    host_only: false,
                    strict: *strict,
                    reverse: *reverse,
                    values,
                });
            }
            if let Some(key) = fake.fail_without {
                if required.iter().any(|q| q.key == key && q.values.is_empty()) {
                    return Err(ConfigureFailure::Failed {
                        path: format!("r{root}"),
                        message: format!("need {key}"),
                        at: None,
                    });
                }
            }
            let mut provided: Vec<(String, Value)> =
                fake.provides.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            if let Some((key, from)) = fake.counter {
                let sum: i64 = required
                    .iter()
                    .filter(|q| q.key == from)
                    .flat_map(|q| q.values.iter())
                    .map(|v| v.as_i64().unwrap())
                    .sum();
                provided.push((key.to_string(), json!(sum + 1)));
            }
            Ok(Node {
                kind: "node".into(),
                name: format!("r{root}"),
                path: format!("r{root}"),
                module: String::new(),
                attributes: json!({}),
                assets: None,
                assets_name: None,
                required,
                provided,
                children: vec![],
            })
        }
    }

    fn ids(n: usize) -> Vec<RootId> {
        (0..n).map(|i| RootId { host: "h".into(), name: format!("r{i}") }).collect()
    }

    fn order(fakes: Vec<Fake>) -> Result<Vec<usize>, String> {
        let n = fakes.len();
        resolve(&ids(n), &mut Fakes(fakes, 0))
            .map(|v| v.into_iter().map(|(r, _)| r).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn providers_deploy_first_and_late_values_are_resolved() {
        // r0 requires what r1 provides: r0 is unsatisfied in round one.
        let fakes = vec![
            Fake { requires: vec![("db", true, false)], ..Default::default() },
            Fake { provides: vec![("db", json!("pg"))], ..Default::default() },
        ];
        assert_eq!(order(fakes).unwrap(), [1, 0]);
    }

    #[test]
    fn a_failed_configure_is_tried_again_when_values_arrive() {
        // r0 fails until r1 (later in the environment) provides `b`.
        let fakes = vec![
            Fake { requires: vec![("b", false, false)], fail_without: Some("b"), ..Default::default() },
            Fake { provides: vec![("b", json!(1))], ..Default::default() },
        ];
        assert_eq!(order(fakes).unwrap(), [1, 0]);
        let fakes = vec![Fake { requires: vec![("b", false, false)], fail_without: Some("b"), ..Default::default() }];
        assert!(order(fakes).unwrap_err().contains("h: r0: need b"));
    }

    #[test]
    fn reverse_require_deploys_the_requirer_first() {
        let fakes = vec![
            Fake { provides: vec![("x", json!(1))], ..Default::default() },
            Fake { requires: vec![("x", true, true)], ..Default::default() },
        ];
        assert_eq!(order(fakes).unwrap(), [1, 0]);
    }

    #[test]
    fn dependants_are_reconfigured_until_a_fixpoint() {
        // r0 provides a value derived from r1's, which r1 gives only after r0 ran.
        let fakes = vec![
            Fake { requires: vec![("b", false, false)], counter: Some(("a", "b")), ..Default::default() },
            Fake { provides: vec![("b", json!(41))], requires: vec![("a", true, true)], ..Default::default() },
        ];
        let mut f = Fakes(fakes, 0);
        let result = resolve(&ids(2), &mut f).unwrap();
        let r0 = &result.iter().find(|(r, _)| *r == 0).unwrap().1;
        assert_eq!(r0.provided, vec![("a".to_string(), json!(42))]);
        assert!(f.1 >= 3, "r0 must have been configured again, configures: {}", f.1);
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let fakes = vec![
            Fake { provides: vec![("a", json!(1))], requires: vec![("b", false, false)], ..Default::default() },
            Fake { provides: vec![("b", json!(1))], requires: vec![("a", false, false)], ..Default::default() },
        ];
        let err = order(fakes).unwrap_err();
        assert!(
            err.contains("dependency cycle: h:r0 > h:r1 > h:r0")
                || err.contains("dependency cycle: h:r1 > h:r0 > h:r1"),
            "{err}"
        );
    }

    #[test]
    fn strict_requires_of_each_other_are_a_cycle_not_unsatisfied() {
        let fakes = vec![
            Fake { provides: vec![("a", json!(1))], requires: vec![("b", true, false)], ..Default::default() },
            Fake { provides: vec![("b", json!(1))], requires: vec![("a", true, false)], ..Default::default() },
        ];
        let err = order(fakes).unwrap_err();
        assert!(err.contains("dependency cycle"), "{err}");
        assert!(!err.contains("no component provides"), "{err}");
    }

    #[test]
    fn unsatisfied_and_unused_are_reported_together() {
        let fakes = vec![
            Fake { requires: vec![("missing", true, false)], ..Default::default() },
            Fake { provides: vec![("orphan", json!(1))], ..Default::default() },
        ];
        let err = order(fakes).unwrap_err();
        assert!(err.contains("h: r0: requires `missing`, but no component provides it"), "{err}");
        assert!(err.contains("h: r1: provides `orphan`, but no component requires it"), "{err}");
    }

    #[test]
    fn non_converging_values_are_an_error() {
        // Each provides 1 + what the other provides: it never settles.
        let fakes = vec![
            Fake { requires: vec![("b", false, false)], counter: Some(("a", "b")), ..Default::default() },
            Fake { requires: vec![("a", false, true)], counter: Some(("b", "a")), ..Default::default() },
        ];
        let err = order(fakes).unwrap_err();
        assert!(err.contains("does not converge"), "{err}");
    }
}
