//! The memory one runtime may use: a Workers isolate's 128 MiB. With QuickJS's own limit, an
//! allocation over it fails and QuickJS throws `InternalError: out of memory`, unless that error
//! cannot be allocated either, when it throws `null` and the user sees an error named "null".
//! This allocator enforces the limit itself and keeps a small reserve for the error: once an
//! allocation has failed, small ones may use the reserve until the runtime is back under the
//! limit.
//!
//! It also counts the runtimes alive: when the last one is gone, the memory they freed is handed
//! back to the system (see [`release_freed_memory`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use rquickjs::allocator::{Allocator, RustAllocator};

/// What one runtime may allocate.
pub(super) const MEMORY_LIMIT: usize = 128 * 1024 * 1024;

/// Room past the limit for the error of a failed allocation (the error object, its message and
/// its stack trace).
const RESERVE: usize = 1024 * 1024;

/// The largest allocation the reserve serves: an error is made of small pieces.
const SMALL: usize = 64 * 1024;

pub(super) struct LimitedAllocator {
    limit: usize,
    used: usize,
    /// An allocation failed and the runtime has not been back under the limit since.
    failing: bool,
}

impl LimitedAllocator {
    pub fn new(limit: usize) -> Self {
        LIVE_RUNTIMES.fetch_add(1, Ordering::AcqRel);
        LimitedAllocator { limit, used: 0, failing: false }
    }

    /// Whether `more` bytes may be allocated now; a refusal starts the reserve.
    fn admits(&mut self, more: usize) -> bool {
        let after = self.used.saturating_add(more);
        if after <= self.limit || (self.failing && more <= SMALL && after <= self.limit + RESERVE) {
            return true;
        }
        self.failing = true;
        false
    }

    fn counted(&mut self, allocated: *mut u8) -> *mut u8 {
        if !allocated.is_null() {
            // SAFETY: `allocated` was just returned by `RustAllocator`.
            self.used += unsafe { RustAllocator::usable_size(allocated) };
        }
        allocated
    }

    fn released(&mut self, size: usize) {
        self.used = self.used.saturating_sub(size);
        if self.used <= self.limit {
            self.failing = false;
        }
    }
}

/// A runtime's allocator is dropped after everything the runtime allocated was freed.
impl Drop for LimitedAllocator {
    fn drop(&mut self) {
        if LIVE_RUNTIMES.fetch_sub(1, Ordering::AcqRel) == 1 {
            release_freed_memory();
        }
    }
}

/// The runtimes whose allocator is alive.
static LIVE_RUNTIMES: AtomicUsize = AtomicUsize::new(0);

/// How long no runtime must have lived before freed memory is handed back: a run that ends and
/// one that starts at once (the next instance, the next request) should not pay for it.
const QUIET: Duration = Duration::from_millis(250);

/// Asks for the memory freed by runtimes to go back to the system, once no runtime has lived for
/// [`QUIET`]. glibc keeps the pages of what was freed for reuse; after a burst of 100 runs they
/// were two thirds of the process (about 65 MiB, 24 once trimmed). The work is done by a thread
/// of its own, started on first need, so no caller waits for it.
fn release_freed_memory() {
    static WAKE: OnceLock<Option<mpsc::SyncSender<()>>> = OnceLock::new();
    let wake = WAKE.get_or_init(|| {
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let started = std::thread::Builder::new().name("stepflare-trim".into()).spawn(move || {
            while woken.recv().is_ok() {
                std::thread::sleep(QUIET);
                while woken.try_recv().is_ok() {}
                if LIVE_RUNTIMES.load(Ordering::Acquire) == 0 {
                    trim();
                }
            }
        });
        // Without the thread the memory stays with the process, as it would anyway.
        started.ok().map(|_| wake)
    });
    if let Some(wake) = wake {
        // A wake-up already pending covers this one.
        let _ = wake.try_send(());
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free pages of glibc's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

// SAFETY: every pointer comes from `RustAllocator`, which meets the trait's rules; this type
// only refuses some allocations and counts the sizes of the others.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admits(size) {
            return std::ptr::null_mut();
        }
        let allocated = RustAllocator.alloc(size);
        self.counted(allocated)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        match count.checked_mul(size) {
            Some(total) if self.admits(total) => {
                let allocated = RustAllocator.calloc(count, size);
                self.counted(allocated)
            }
            _ => std::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller passes a pointer this allocator returned.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        // SAFETY: as above.
        unsafe { RustAllocator.dealloc(ptr) };
        self.released(size);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: the caller passes a pointer this allocator returned.
        let old_size = unsafe { RustAllocator::usable_size(ptr) };
        if new_size == 0 {
            // SAFETY: as above.
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        if new_size > old_size && !self.admits(new_size - old_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above; on failure the old block stays valid and counted.
        let moved = unsafe { RustAllocator.realloc(ptr, new_size) };
        if moved.is_null() {
            return moved;
        }
        self.released(old_size);
        self.counted(moved)
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a pointer this allocator returned.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_over_the_limit_fail_and_then_small_ones_may_use_the_reserve() {
        let mut memory = LimitedAllocator::new(1024);
        let big = memory.alloc(1000);
        assert!(!big.is_null());
        assert!(memory.alloc(100).is_null(), "over the limit");
        let error = memory.alloc(200);
        assert!(!error.is_null(), "the reserve serves the error of the failed allocation");
        assert!(memory.alloc(RESERVE).is_null(), "the reserve is not for large allocations");
        unsafe {
            memory.dealloc(error);
            memory.dealloc(big);
        }
        assert_eq!(memory.used, 0);
        assert!(!memory.failing, "back under the limit");
        let again = memory.alloc(100);
        assert!(!again.is_null());
        assert!(memory.alloc(1000).is_null());
        unsafe { memory.dealloc(again) };
    }

    #[test]
    fn reallocation_counts_the_difference_and_respects_the_limit() {
        let mut memory = LimitedAllocator::new(4096);
        let block = memory.alloc(1000);
        let grown = unsafe { memory.realloc(block, 3000) };
        assert!(!grown.is_null());
        assert!(memory.used >= 3000 && memory.used < 3100, "{}", memory.used);
        assert!(unsafe { memory.realloc(grown, 8000) }.is_null(), "over the limit");
        assert!(memory.used >= 3000, "a failed reallocation keeps the old block counted");
        let shrunk = unsafe { memory.realloc(grown, 100) };
        assert!(memory.used < 200, "{}", memory.used);
        unsafe { memory.dealloc(shrunk) };
        assert_eq!(memory.used, 0);
    }
}
