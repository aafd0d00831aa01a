//! A global allocator that records the largest single request. A test binary installs it
//! with `#[global_allocator] static GLOBAL: Counting = Counting;` and checks with
//! [`assert_allocation_sane`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// No reader may request more than this in one allocation while reading inputs of at
/// most a few hundred KiB.
pub const ALLOC_CAP: usize = 64 << 20;

/// The counting allocator (forwards to the system allocator).
pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// The largest single allocation so far (0 unless [`Counting`] is the global allocator).
pub fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// Panics when an allocation of [`ALLOC_CAP`] bytes or more was requested.
pub fn assert_allocation_sane(what: &str) {
    let largest = largest();
    assert!(
        largest < ALLOC_CAP,
        "{what}: a single allocation of {largest} bytes (cap {ALLOC_CAP})"
    );
}
