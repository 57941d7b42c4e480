//! Only with the `count-allocations` feature (a measurement build, never the default): the
//! global allocator counts its allocations and reallocations and their bytes, and the process
//! prints the totals to stderr when it exits. `bench/allocations.sh` turns two runs' totals into
//! allocations per request.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `inner`, counting.
pub struct Counting<A> {
    inner: A,
    allocations: AtomicU64,
    bytes: AtomicU64,
}

impl<A> Counting<A> {
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn count(&self, size: usize) {
        self.allocations.fetch_add(1, Relaxed);
        self.bytes.fetch_add(size as u64, Relaxed);
    }

    /// The line printed at exit.
    pub fn summary(&self) -> String {
        format!(
            "allocations: {} ({} bytes)",
            self.allocations.load(Relaxed),
            self.bytes.load(Relaxed)
        )
    }
}

// SAFETY: every call is passed to `inner` unchanged; counting touches no memory it hands out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller's contract is `inner`'s.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: as above.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: as above.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
