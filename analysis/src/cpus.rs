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
//!
//! Processes that are not reawaken runs hold no slot, so a run also looks at what the
//! machine is doing when it starts ([`CpuTimes`], [`others_busy`]): the cores that other
//! processes kept busy while it set itself up are not counted as free. Beside a numpy
//! loop on a 2-core machine the default probe then runs one thread (measured: 11.6 s
//! instead of 43 s; 7.8 s alone). The choice is made once: a run's thread count changes
//! its numbers in the last bits, so it stays the same until the run ends.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// A reading of the CPU time spent on the cores this process may run on (by everyone)
/// and by this process, in clock ticks (Linux `/proc/stat`, `/proc/self/stat`).
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    at: Instant,
    cores_busy: u64,
    own: u64,
}

impl CpuTimes {
    /// Reads the counters now; `None` where `/proc` is not there (not Linux).
    pub fn read() -> Option<CpuTimes> {
        let at = Instant::now();
        let allowed = allowed_cpus();
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut cores_busy = 0u64;
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            let Some(cpu) = fields
                .next()
                .and_then(|n| n.strip_prefix("cpu"))
                .and_then(|k| k.parse::<usize>().ok())
            else {
                continue;
            };
            if !allowed.as_ref().is_none_or(|a| a.contains(&cpu)) {
                continue;
            }
            let ticks: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
            // user, nice, system, (idle, iowait,) irq, softirq; steal is not a process here.
            cores_busy += [0, 1, 2, 5, 6]
                .iter()
                .filter_map(|&i| ticks.get(i))
                .sum::<u64>();
        }
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after_name = &own_stat[own_stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14 and 15 of proc(5), utime and stime; `fields[0]` is field 3.
        let own = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(CpuTimes {
            at,
            cores_busy,
            own,
        })
    }

    /// How many cores other processes kept busy between `earlier` and this reading, on
    /// average (1.0 = one core all the time).
    pub fn others_busy_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let secs = self.at.checked_duration_since(earlier.at)?.as_secs_f64();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if secs <= 0.0 || hz <= 0 {
            return None;
        }
        let all = self.cores_busy.saturating_sub(earlier.cores_busy) as f64;
        let own = self.own.saturating_sub(earlier.own) as f64;
        Some(((all - own) / hz as f64 / secs).max(0.0))
    }
}

/// The CPUs this process may run on (its affinity mask), `None` if unknown.
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed cpu_set_t is valid, sched_getaffinity fills it for this process.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            Some(
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|&k| libc::CPU_ISSET(k, &set))
                    .collect(),
            )
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The cores other processes keep busy, measured from `since` (read when the run began
/// setting itself up) to now over at least `window` (waiting out the rest): a CPU-bound
/// process counts about 1.0 per thread, a machine with nothing else running about 0.
pub fn others_busy(since: &CpuTimes, window: Duration) -> Option<f64> {
    if let Some(rest) = window.checked_sub(since.at.elapsed()) {
        std::thread::sleep(rest);
    }
    CpuTimes::read()?.others_busy_since(since)
}

/// The variable of libgomp (the OpenMP runtime libtorch uses) that sets how long a
/// waiting thread spins before it sleeps, and the value `reawaken-llm` runs with unless
/// the user chose (`OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` set). libgomp's own default,
/// 300 000 spins (milliseconds), is what makes a run collapse when another CPU-bound
/// process starts after it: each thread that is ahead burns its core waiting for one the
/// other process has taken (docs/llm-probe.md, "Several runs at once"). 10 000 spins
/// cover the gaps between libtorch's back-to-back kernels and hand the core over soon
/// after. How long threads wait does not change what they compute: records are
/// byte-identical.
pub const OPENMP_SPIN: (&str, &str) = ("GOMP_SPINCOUNT", "10000");

/// The variables that choose how OpenMP threads wait.
const OPENMP_WAIT_VARS: [&str; 2] = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"];

/// The OpenMP wait settings in this process's environment (what libgomp read when it
/// was loaded), by variable.
pub fn openmp_wait_env() -> std::collections::BTreeMap<String, String> {
    OPENMP_WAIT_VARS
        .iter()
        .filter_map(|&k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect()
}

/// [`OPENMP_SPIN`] when this process's environment chooses no OpenMP wait setting: what
/// to add to the environment of a process that loads libtorch.
pub fn openmp_spin_to_set() -> Option<(&'static str, &'static str)> {
    openmp_wait_env().is_empty().then_some(OPENMP_SPIN)
}

/// The cores left to this process when other processes keep `others_busy` of them busy
/// (rounded to the nearest core, at least one).
pub fn free_cores(others_busy: f64) -> usize {
    let free = (cores() as f64 - others_busy).round();
    if free >= 1.0 {
        free as usize
    } else {
        1
    }
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

    #[test]
    fn a_busy_thread_elsewhere_is_seen_and_this_process_is_not() {
        let Some(start) = CpuTimes::read() else {
            return; // no /proc
        };
        // This process's own work is not "other processes".
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let own_only = others_busy(&start, Duration::ZERO).unwrap();
        // A child process that spins is.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let before = CpuTimes::read().unwrap();
        let with_child = others_busy(&before, Duration::from_millis(400)).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        // Other tests of this binary run in threads of this process (its own time).
        assert!(
            with_child >= 0.6,
            "a spinning child counted as {with_child} cores"
        );
        assert!(
            own_only < with_child,
            "own work counted: {own_only} vs {with_child}"
        );
        assert_eq!(free_cores(cores() as f64 + 3.0), 1);
        assert_eq!(free_cores(0.0), cores());
    }
}
