//! Work spread over the machine's cores, for the commands that are not training runs:
//! the figures' loading and drawing, the toy's record.
//!
//! A thread is started with [`spawn_beside`], on another core than the thread that
//! starts it. Left to the scheduler, a new thread may wait on its creator's core while the
//! creator computes: on the 2-core VM this was measured on (`examples/spawn_bench.rs`), a
//! thread spawned beside a busy one started after 1.7 ms and two 3 ms jobs on two threads
//! took 4.8 ms; spawned beside, 0.1 ms and 3.2 ms.

/// `f` of every item, on as many threads as there are cores (at most one per item), in
/// the items' order. (A panic in `f` is resumed on this thread.)
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let n = items.len();
    let queue: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = queue.get(k).and_then(|q| q.lock().ok()?.take()) else {
            return;
        };
        let result = f(item);
        if let Ok(mut slot) = slots[k].lock() {
            *slot = Some(result);
        }
    };
    let threads = crate::cpus::cores().min(n);
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| spawn_beside(s, work)).collect();
        work();
        for h in helpers {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
    // Every item was taken exactly once and no `f` panicked (above): every slot is filled.
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expect("parallel::map: every item is mapped exactly once")
        })
        .collect()
}

/// `scope.spawn(f)`, with the new thread started on another core than the calling
/// thread's (when this process may use another). The caller yields its core once right
/// after the spawn, so that a thread the kernel queued behind it runs at once; the thread
/// first restricts itself to the other cores (the kernel moves it there), then takes the
/// whole mask back, so the scheduler is free to move it afterwards. The caller does not
/// move: moving it instead (to create the thread from the other core) made it wait up to
/// 0.9 ms for that core whenever a thread was running there.
pub fn spawn_beside<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    #[cfg(target_os = "linux")]
    if let Some(masks) = affinity::Masks::elsewhere() {
        let handle = scope.spawn(move || {
            if affinity::set(&masks.others) {
                let restored = affinity::set(&masks.whole);
                debug_assert!(restored, "a mask that held this thread before");
            }
            f()
        });
        std::thread::yield_now();
        return handle;
    }
    scope.spawn(f)
}

#[cfg(target_os = "linux")]
mod affinity {
    /// The calling thread's affinity mask, and the same without its current core.
    #[derive(Clone, Copy)]
    pub(super) struct Masks {
        pub(super) whole: libc::cpu_set_t,
        pub(super) others: libc::cpu_set_t,
    }

    impl Masks {
        /// `None` when the process may use no other core or the mask cannot be read.
        pub(super) fn elsewhere() -> Option<Masks> {
            // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it for this
            // thread; sched_getcpu has no precondition.
            let (whole, here) = unsafe {
                let mut mask: libc::cpu_set_t = std::mem::zeroed();
                if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask)
                    != 0
                {
                    return None;
                }
                (mask, usize::try_from(libc::sched_getcpu()).ok()?)
            };
            let mut others = whole;
            // SAFETY: `here` < CPU_SETSIZE (a CPU number sched_getcpu returned).
            unsafe { libc::CPU_CLR(here, &mut others) };
            // SAFETY: a valid set.
            (unsafe { libc::CPU_COUNT(&others) } > 0).then_some(Masks { whole, others })
        }
    }

    /// Sets the calling thread's affinity mask; whether it could.
    pub(super) fn set(mask: &libc::cpu_set_t) -> bool {
        // SAFETY: a valid set of the size given.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask) == 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The thread runs on a core other than the caller's (where the process may use
    /// another) and with the caller's whole mask. Without the move, a thread whose creator
    /// waits for it often starts on the creator's core (9 times in 20 when measured). A
    /// caller moved by the scheduler between reading its core and the spawn can make one
    /// round miss, hence 16 of 20.
    #[cfg(target_os = "linux")]
    #[test]
    fn spawned_beside_starts_elsewhere_and_leaves_the_mask_as_it_was() {
        let mask = || crate::cpus::allowed_cpus().expect("the affinity mask");
        let before = mask();
        let mut elsewhere = 0;
        for _ in 0..20 {
            // SAFETY: no precondition.
            let here = unsafe { libc::sched_getcpu() };
            let (started_on, its_mask) = std::thread::scope(|s| {
                // SAFETY: no precondition.
                let h = spawn_beside(s, || (unsafe { libc::sched_getcpu() }, mask()));
                h.join().unwrap()
            });
            assert_eq!(its_mask, before, "the thread has the whole mask back");
            elsewhere += usize::from(started_on != here);
        }
        if before.len() > 1 {
            assert!(
                elsewhere >= 16,
                "started on another core {elsewhere} times in 20"
            );
        } else {
            assert_eq!(elsewhere, 0);
        }
    }

    #[test]
    fn maps_every_item_once_in_order() {
        let calls = AtomicUsize::new(0);
        let out = map((0..100u64).collect(), |i| {
            calls.fetch_add(1, Ordering::Relaxed);
            i * i
        });
        assert_eq!(out, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::Relaxed), 100);
        assert!(map(Vec::<u8>::new(), |i| i).is_empty());
    }
}
