//! A second thread for one stream (`std` only).
//!
//! At H = 1024 one LSTM step streams 8 MiB of weights, more than one
//! core's L2; two cores, each holding its half of every matrix, stream from
//! two caches at once. The step is too short (≈ 100–400 µs) for a thread
//! pool's queue, so the helper is one persistent thread that spins on an
//! atomic generation counter, runs the job it was handed, and publishes its
//! completion; after about 50 µs without work it sleeps in short naps, so
//! an idle helper costs little CPU (the first step after a pause pays a
//! nap's latency).
//!
//! The job borrows the caller's data: [`Helper::join`] does not return until
//! the helper has finished with it, which is what makes the lifetime erasure
//! below sound.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;

/// A job for the helper, lifetime-erased (see [`Helper::join`]).
type Job = *mut (dyn FnMut() + Send);

struct Shared {
    /// Incremented by the caller for each job.
    posted: AtomicU64,
    /// Set by the helper to the generation it finished.
    finished: AtomicU64,
    /// The last job panicked (reported as an error, never unwound across).
    panicked: AtomicBool,
    stop: AtomicBool,
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written by the caller only while the helper is idle
// (after `finished` caught up with `posted`) and read by the helper only
// after it sees a new `posted`; the atomics order the two.
unsafe impl Sync for Shared {}
// SAFETY: as above; the job itself is `Send`.
unsafe impl Send for Shared {}

/// One helper thread that runs half of each step.
pub struct Helper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for Helper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Helper").finish_non_exhaustive()
    }
}

impl Helper {
    /// Starts the helper thread.
    pub fn new() -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            posted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("irnn-helper".into())
            .spawn(move || serve(&worker))
            .map_err(|_| Error::InvalidParameter {
                what: "could not start the helper thread",
            })?;
        Ok(Helper {
            shared,
            thread: Some(thread),
        })
    }

    /// Runs `helper` on the helper thread and `main` on this one, and
    /// returns when both are done.
    pub fn join(
        &self,
        helper: &mut (dyn FnMut() + Send),
        main: impl FnOnce(),
    ) -> Result<(), Error> {
        let s = &*self.shared;
        // SAFETY: the pointer outlives its use: this function waits below
        // until the helper has finished the job, and the helper never keeps
        // it. Erasing the lifetime is what lets the job borrow the caller's
        // buffers.
        let job: Job =
            unsafe { core::mem::transmute::<*mut (dyn FnMut() + Send + '_), Job>(helper) };
        // SAFETY: the helper is idle (every posted job has finished), so
        // nothing reads the cell while it is written.
        unsafe { *s.job.get() = Some(job) };
        let generation = s.posted.fetch_add(1, Ordering::Release) + 1;
        // Waits for the helper when dropped — also if `main` panics, so the
        // job's borrows never outlive this call.
        let wait = WaitFor { s, generation };
        main();
        drop(wait);
        if s.panicked.swap(false, Ordering::AcqRel) {
            return Err(Error::InvalidParameter {
                what: "the helper thread's half of the step failed",
            });
        }
        Ok(())
    }
}

/// Spins (yielding now and then) until the helper has finished `generation`.
struct WaitFor<'a> {
    s: &'a Shared,
    generation: u64,
}

impl Drop for WaitFor<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.s.finished.load(Ordering::Acquire) != self.generation {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1 << 12) {
                std::thread::yield_now();
            } else {
                core::hint::spin_loop();
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The helper's loop: wait for a new generation, run its job, publish.
fn serve(s: &Shared) {
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        let generation = loop {
            let g = s.posted.load(Ordering::Acquire);
            if g != seen {
                break g;
            }
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1 << 10) && start.elapsed() > Duration::from_micros(50) {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                core::hint::spin_loop();
            }
        };
        // SAFETY: the caller wrote the job before publishing `generation`
        // and waits for `finished` before touching it again.
        if let Some(job) = unsafe { *s.job.get() } {
            // SAFETY: the job is alive until `finished` is published.
            let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)() })).is_ok();
            if !ok {
                s.panicked.store(true, Ordering::Release);
            }
        }
        seen = generation;
        s.finished.store(generation, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_halves_run_every_time_and_a_panic_is_an_error() {
        let helper = Helper::new().unwrap();
        let mut a = vec![0u64; 1000];
        let mut b = vec![0u64; 1000];
        for round in 1..=500u64 {
            let mut fill_b = || b.iter_mut().for_each(|v| *v += round);
            helper
                .join(&mut fill_b, || a.iter_mut().for_each(|v| *v += round))
                .unwrap();
            // After a pause the helper naps; it must still pick the job up.
            if round % 100 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let total = 500 * 501 / 2;
        assert!(a.iter().chain(&b).all(|&v| v == total));
        let mut boom = || panic!("helper job fails");
        assert!(helper.join(&mut boom, || {}).is_err());
        let mut fine = || {};
        assert!(helper.join(&mut fine, || {}).is_ok());
        // A panic on the caller's side unwinds only after the helper is done
        // with the borrowed job.
        let mut slow = || std::thread::sleep(Duration::from_millis(5));
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let _ = helper.join(&mut slow, || panic!("caller's half fails"));
        }));
        assert!(caught.is_err());
        assert_eq!(
            helper.shared.finished.load(Ordering::Acquire),
            helper.shared.posted.load(Ordering::Acquire)
        );
    }
}
