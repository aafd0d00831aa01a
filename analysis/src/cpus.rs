//! CPU cores shared between reawaken runs on one machine.
//!
//! libtorch's OpenMP threads spin while they wait for each other. Two runs that each start
//! one thread per core therefore do not share the machine, they fight over it: measured
//! on a 2-core machine, two default probes started at once took ~7x longer each than one
//! alone. Each core has a slot file (`$TMPDIR/reawaken-cpus/slot-K`, locked with
//! `flock`, so a slot is freed the moment its holder ends, however it ends):
//!
//! A run takes the free slots it needs (its thread count when given, as `OMP_NUM_THREADS`
//! or by a sweep; else every core) and uses one thread per slot it got (at least one):
//! a second run started beside a first that holds every core runs on one thread instead
//! of spinning against it (measured: the two together 14.5 s instead of 60 s; one alone
//! 8 s). The count is recorded in the run's record; a resumed run keeps it.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Slots held by this process until dropped.
#[derive(Debug)]
pub struct CpuLease {
    slots: Vec<File>,
}

impl CpuLease {
    /// How many slots (cores) are held.
    pub fn held(&self) -> usize {
        self.slots.len()
    }
}

/// The folder of slot files.
pub fn slot_dir() -> PathBuf {
    std::env::temp_dir().join("reawaken-cpus")
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Opens slot `k` (creating it, writable by every user).
fn open_slot(k: usize) -> Option<File> {
    let dir = slot_dir();
    if std::fs::create_dir(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
        }
    }
    let path = dir.join(format!("slot-{k}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
    }
    Some(file)
}

/// Tries to lock `file` without waiting; on success writes this process's pid into it.
fn try_take(file: &mut File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return false;
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
    }
    true
}

/// The pids written in the slot files `0..n` (the holders, as far as they said).
pub fn holders(n: usize) -> Vec<u32> {
    let mut pids: Vec<u32> = (0..n)
        .filter_map(|k| std::fs::read_to_string(slot_dir().join(format!("slot-{k}"))).ok())
        .filter_map(|t| t.trim().parse().ok())
        .filter(|&p| p != std::process::id())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Takes up to `n` free slots without waiting (a run whose thread count was given).
/// Slots that cannot be created (a read-only temporary folder) are simply not held.
pub fn take_free(n: usize) -> CpuLease {
    let slots = (0..cores())
        .filter_map(open_slot)
        .filter_map(|mut f| try_take(&mut f).then_some(f))
        .take(n)
        .collect();
    CpuLease { slots }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_held_by_one_run_is_not_free_for_the_next() {
        // flock is per open file description: a second open in this process conflicts
        // with the first like another process would. Other tests may hold slots too, so
        // only what this test holds is counted.
        let first = take_free(cores());
        let second = take_free(cores());
        assert!(first.held() + second.held() <= cores());
        let held_by_first = first.held();
        drop(first);
        let third = take_free(cores());
        assert!(third.held() >= held_by_first.min(cores() - second.held()));
    }
}
