//! Ctrl-C (SIGINT) → a flag the probe checks between episodes, so that an interrupted run
//! stops at a safe point with a consistent record instead of dying mid-write.
//! A second Ctrl-C restores the default behaviour (immediate exit).
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_sigint(_sig: libc::c_int) {
    if FLAG.swap(true, Ordering::SeqCst) {
        // Second Ctrl-C: default action.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
    }
}

/// Installs the SIGINT handler (no-op on non-Unix platforms).
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only touches an atomic and async-signal-safe libc calls.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

/// Whether Ctrl-C was pressed since `install`.
pub fn requested() -> bool {
    FLAG.load(Ordering::SeqCst)
}
