//! Stop requests: SIGINT (Ctrl-C), SIGTERM (a batch scheduler's preemption, `kill`) and
//! SIGHUP (a closed terminal) set a flag that a run checks between episodes, so it stops
//! at a safe point with a consistent record and says so, instead of dying mid-write.
//! A second signal restores the default action (the process ends at once).
use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal received, 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    if SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // A second signal: default action.
        // SAFETY: resetting a signal disposition and raising are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// Installs the handlers (no-op on non-Unix platforms).
pub fn install() {
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
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

    /// `Ctrl-C (SIGINT)`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        #[cfg(unix)]
        {
            match self.0 {
                libc::SIGINT => "Ctrl-C (SIGINT)",
                libc::SIGTERM => "SIGTERM",
                libc::SIGHUP => "SIGHUP",
                _ => "a signal",
            }
        }
        #[cfg(not(unix))]
        {
            "a signal"
        }
    }

    /// The shell's exit status for a process ended by this signal (128 + number).
    pub fn exit_code(self) -> i32 {
        128 + self.0
    }
}
