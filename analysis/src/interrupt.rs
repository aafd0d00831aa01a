//! Stop requests: SIGINT (Ctrl-C), SIGTERM (a batch scheduler's preemption, `kill`),
//! SIGUSR1 (Slurm's warning before the time limit, `sbatch --signal=B:USR1@…`) and
//! SIGHUP (a closed terminal) set a flag that a run checks between episodes, so it stops
//! at a safe point with a consistent record and says so, instead of dying mid-write.
//! A second signal more than [`REPEAT_GRACE_MS`] after the first restores the default
//! action (the process ends at once); one arriving sooner is the same request delivered
//! twice (a batch scheduler signals every process of a job, and a sweep runner forwards
//! the signal to its runs as well) and is ignored.
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The first signal received, 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// When the first signal arrived (monotonic clock, ms).
static FIRST_AT_MS: AtomicU64 = AtomicU64::new(0);

/// A repeated stop signal within this many milliseconds of the first is not an
/// escalation but the same request delivered twice.
pub const REPEAT_GRACE_MS: u64 = 1000;

/// The monotonic clock in ms (`clock_gettime` is async-signal-safe).
#[cfg(unix)]
fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec; clock_gettime is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    let now = monotonic_ms();
    if SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        FIRST_AT_MS.store(now, Ordering::SeqCst);
    } else if now.saturating_sub(FIRST_AT_MS.load(Ordering::SeqCst)) >= REPEAT_GRACE_MS {
        // A second signal: default action.
        // SAFETY: resetting a signal disposition and raising are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// The signals that request a stop.
#[cfg(unix)]
pub const STOP_SIGNALS: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP];

/// Installs the handlers (no-op on non-Unix platforms).
pub fn install() {
    #[cfg(unix)]
    for sig in STOP_SIGNALS {
        // SAFETY: the handler only touches an atomic and async-signal-safe libc calls.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether a stop was requested since [`install`].
pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The signal that requested the stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop(i32);

impl Stop {
    /// The first signal received, if any.
    pub fn received() -> Option<Stop> {
        match SIGNAL.load(Ordering::SeqCst) {
            0 => None,
            s => Some(Stop(s)),
        }
    }

    /// `Ctrl-C (SIGINT)`, `SIGTERM`, `SIGHUP`, `SIGUSR1 (…)`.
    pub fn name(self) -> &'static str {
        #[cfg(unix)]
        {
            match self.0 {
                libc::SIGINT => "Ctrl-C (SIGINT)",
                libc::SIGTERM => "SIGTERM",
                libc::SIGHUP => "SIGHUP",
                libc::SIGUSR1 => "SIGUSR1 (the batch scheduler's time-limit warning)",
                _ => "a signal",
            }
        }
        #[cfg(not(unix))]
        {
            "a signal"
        }
    }

    /// The signal's number (to pass the same request on to a child process).
    pub fn signal(self) -> i32 {
        self.0
    }

    /// Whether this is the batch scheduler's warning before the time limit (SIGUSR1):
    /// the task should be requeued to continue, not abandoned.
    pub fn is_time_limit(self) -> bool {
        #[cfg(unix)]
        {
            self.0 == libc::SIGUSR1
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    /// The shell's exit status for a process ended by this signal (128 + number).
    pub fn exit_code(self) -> i32 {
        128 + self.0
    }
}
