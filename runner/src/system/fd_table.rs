//! Sizes this process's file descriptor table once, at start, while it
//! has one thread.
//!
//! A deploy holds an open folder per root that is verified ahead (its
//! sandbox), so 500 roots open about 500 descriptors at once. Linux
//! grows the table by doubling it, and when the process has more than one
//! thread each growth waits for an RCU grace period: four growths from 64
//! to 1024 slots stalled the threads that configure roots for 10 to 16 ms
//! each, about a quarter of a 500-root deploy. Growing it before any other
//! thread runs costs no wait; the table is never made smaller.

/// The slots reserved: enough for a few thousand roots on one host, and
/// 32 KiB of pointers.
const SLOTS: u64 = 4096;

/// Grows the table to [`SLOTS`] (or to the open-files limit, if lower) by
/// duplicating a standard descriptor to the highest slot and closing the
/// copy. Never replaces an open descriptor; does nothing when none of
/// stdin, stdout and stderr is open or the limit is low. Call it before
/// any thread is started.
pub fn reserve() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let highest = limit.rlim_cur.min(SLOTS).saturating_sub(1);
    if highest < 128 {
        return;
    }
    for fd in [2, 1, 0] {
        // SAFETY: F_DUPFD_CLOEXEC takes the lowest free descriptor at or
        // above `highest`: none that is open is touched.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, highest as libc::c_int) };
        if copy >= 0 {
            // SAFETY: `copy` was just made here and nothing else holds it.
            unsafe { libc::close(copy) };
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    /// The table's size, as the kernel reports it.
    fn fd_size() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
        line["FDSize:".len()..].trim().parse().unwrap()
    }

    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn the_table_is_grown_and_nothing_is_left_open() {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        let open = open_descriptors();
        super::reserve();
        assert_eq!(open_descriptors(), open);
        let wanted = limit.rlim_cur.min(super::SLOTS);
        // Below that, `reserve` leaves the table as it is.
        if wanted > 128 {
            assert!(fd_size() >= wanted, "FDSize {} after reserve, {wanted} wanted", fd_size());
        }
    }
}
