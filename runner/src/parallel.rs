//! Running independent jobs on every core, with results in the jobs'
//! order (so what is shown does not depend on which core was first).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads independent work uses: every core the process may
/// run on, or `BATOU_RUN_THREADS` (1 runs everything on this thread, for
/// comparing in a benchmark).
///
/// Found once per process: the standard library's answer reads the
/// cgroup's CPU quota from files each time (tenths of a millisecond).
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("BATOU_RUN_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    })
}

/// `f` of every item, on up to `threads()` threads; the results in the
/// items' order. Each thread takes the next item when it is free, so a
/// slow item does not hold a thread's share back.
///
/// The calling thread is one of them: it would only wait otherwise, and
/// its memory is warm (what it freed, its allocator's pages), where a
/// new thread's first allocations fault in fresh pages.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    results.into_iter().map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every item ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_items_order_whatever_thread_ran_them() {
        let items: Vec<u64> = (0..200).collect();
        // Uneven work, so that threads finish out of order.
        let out = map(&items, |&i| {
            std::thread::sleep(std::time::Duration::from_micros((i * 37) % 300));
            (i, std::thread::current().id())
        });
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), items);
        if threads() > 1 {
            let ids: std::collections::BTreeSet<String> = out.iter().map(|(_, t)| format!("{t:?}")).collect();
            assert!(ids.len() > 1, "all work ran on one thread");
        }
    }

    #[test]
    fn no_items_no_threads() {
        let out: Vec<u8> = map(&[] as &[u8], |_| panic!("not called"));
        assert!(out.is_empty());
    }
}
