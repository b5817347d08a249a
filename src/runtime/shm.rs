//! Shared memory and the two waiting primitives every cross-process object is
//! built from (section 12, architecture notes of section 18):
//!
//! - `Region`: an anonymous `MAP_SHARED` mapping. Made before a fork, it is the
//!   same memory at the same address in the parent and every child forked
//!   after it.
//! - `RobustMutex`: a process-shared robust pthread mutex. When its holder dies
//!   the next `lock` gets it anyway and learns the dead holder's pid.
//! - `futex_wait`/`futex_wake` on a 32-bit word in a region: how a process
//!   sleeps until another changes the word, without a background thread.
//!
//! Every wait takes a `Deadline` and returns in slices of at most `SLICE` so
//! that the caller can honour interrupts (`Vm::check_interrupt`).

use std::io;
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// This process's pid, without a system call: cached, and forgotten in the
/// child at every `fork()` (a `pthread_atfork` handler), so that taking an
/// uncontended lock costs a few atomic operations and no `getpid()`.
pub fn my_pid() -> i32 {
    static PID: AtomicI32 = AtomicI32::new(0);
    static HOOK: Once = Once::new();
    extern "C" fn forget_pid() {
        PID.store(0, Ordering::Relaxed);
    }
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    // SAFETY: registers a handler that only stores to an atomic, which is
    // async-signal-safe as a fork child handler must be.
    HOOK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_pid));
    });
    let pid = std::process::id() as i32;
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The longest a single wait sleeps before returning to let the caller check
/// for interrupts.
pub const SLICE: Duration = Duration::from_millis(50);

/// An anonymous shared mapping, unmapped when dropped (in each process that has
/// a copy; the memory lives while any process maps it).
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

impl Region {
    /// Maps `len` zeroed bytes. With `reserve_only`, pages are only backed by
    /// memory once touched (`MAP_NORESERVE`): for large rings that are mostly
    /// empty.
    pub fn new(len: usize, reserve_only: bool) -> io::Result<Region> {
        let mut flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
        if reserve_only {
            flags |= libc::MAP_NORESERVE;
        }
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            ptr: NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?,
            len,
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Gives the pages of `[from, to)` (rounded inward to whole pages) back to
    /// the system; they read as zeroes afterwards. For rings whose consumed
    /// part should not keep holding memory.
    pub fn release(&self, from: usize, to: usize) {
        let page = 4096;
        let start = from.div_ceil(page) * page;
        let end = (to.min(self.len) / page) * page;
        if end > start {
            // SAFETY: the range lies inside this mapping; MADV_REMOVE only
            // zeroes shared pages, it never unmaps them.
            unsafe {
                libc::madvise(
                    self.ptr.as_ptr().add(start).cast(),
                    end - start,
                    libc::MADV_REMOVE,
                );
            }
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and no
        // reference into it outlives the Region (objects borrow through it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// When a wait gives up. `None` waits forever (in slices).
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub const NEVER: Deadline = Deadline(None);

    /// A deadline `timeout` seconds from now; `None` for no timeout. Negative
    /// or NaN timeouts mean "do not wait".
    pub fn after(timeout: Option<f64>) -> Deadline {
        match timeout {
            None => Deadline(None),
            Some(t) => {
                let d = if t.is_finite() && t > 0.0 {
                    Duration::from_secs_f64(t.min(1e9))
                } else if t == f64::INFINITY {
                    return Deadline(None);
                } else {
                    Duration::ZERO
                };
                Deadline(Instant::now().checked_add(d))
            }
        }
    }

    pub fn now() -> Deadline {
        Deadline(Some(Instant::now()))
    }

    pub fn expired(&self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }

    /// How long the next sleep may last: at most `SLICE`, at most the time left.
    pub fn slice(&self) -> Duration {
        match self.0 {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        }
    }

    pub fn instant(&self) -> Option<Instant> {
        self.0
    }
}

/// Sleeps while `*word == expected`, for at most `timeout`. Returns on a wake,
/// a change, a signal or the timeout; the caller re-checks its condition.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call;
    // FUTEX_WAIT (not PRIVATE) works across processes sharing the page.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// Wakes up to `n` processes sleeping in `futex_wait` on `word`.
pub fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: as in futex_wait; waking has no memory effects.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// A robust, process-shared mutex, placed in a `Region`. It records its
/// holder's pid so that a recovered lock can name the process that died.
#[repr(C)]
pub struct RobustMutex {
    raw: libc::pthread_mutex_t,
    holder: AtomicI32,
}

/// How a successful `lock` went.
#[derive(Debug, PartialEq, Eq)]
pub enum Acquired {
    Clean,
    /// The previous holder (this pid, 0 if unknown) died holding it; whatever
    /// it protected may be half-updated.
    FromDead(i32),
}

impl RobustMutex {
    /// Initialises a mutex in place.
    ///
    /// # Safety
    /// `at` must point to writable, suitably aligned memory of
    /// `size_of::<RobustMutex>()` bytes (in a `Region`) that no process is
    /// using as a mutex yet.
    pub unsafe fn init(at: *mut RobustMutex) {
        // SAFETY: per the contract above; the attr is local and destroyed.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_ERRORCHECK);
            libc::pthread_mutex_init(&raw mut (*at).raw, &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            (*at).holder = AtomicI32::new(0);
        }
    }

    fn raw(&self) -> *mut libc::pthread_mutex_t {
        (&raw const self.raw).cast_mut()
    }

    /// Takes the mutex, waiting at most one slice of `deadline`. `Ok(None)`
    /// means not yet: check interrupts and the deadline, then call again.
    pub fn lock_slice(&self, deadline: Deadline) -> io::Result<Option<Acquired>> {
        // SAFETY: the mutex was initialised by `init` in shared memory that
        // outlives `self`.
        let r = unsafe { libc::pthread_mutex_trylock(self.raw()) };
        let r = if r == libc::EBUSY {
            let wait = deadline.slice();
            if wait.is_zero() {
                return Ok(None);
            }
            let mut now: libc::timespec = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: plain clock read into a local.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
            let mut nsec = now.tv_nsec + wait.subsec_nanos() as libc::c_long;
            let mut sec = now.tv_sec + wait.as_secs() as libc::time_t;
            if nsec >= 1_000_000_000 {
                nsec -= 1_000_000_000;
                sec += 1;
            }
            let until = libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            };
            // SAFETY: as above.
            unsafe { libc::pthread_mutex_timedlock(self.raw(), &until) }
        } else {
            r
        };
        match r {
            0 => {
                self.holder.store(my_pid(), Ordering::Relaxed);
                Ok(Some(Acquired::Clean))
            }
            libc::EOWNERDEAD => {
                let dead = self.holder.load(Ordering::Relaxed);
                // SAFETY: we hold the mutex; marking it consistent is what
                // the protocol asks of the new owner.
                unsafe { libc::pthread_mutex_consistent(self.raw()) };
                self.holder.store(my_pid(), Ordering::Relaxed);
                Ok(Some(Acquired::FromDead(dead)))
            }
            libc::ETIMEDOUT | libc::EBUSY | libc::EINTR => Ok(None),
            libc::EDEADLK => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "this process already holds the lock",
            )),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Takes the mutex for a short critical section, without a deadline and
    /// without checking interrupts (the holder never waits while holding it).
    pub fn lock_short(&self) -> Acquired {
        loop {
            match self.lock_slice(Deadline::NEVER) {
                Ok(Some(a)) => return a,
                Ok(None) => continue,
                // only EDEADLK is possible for a correctly placed mutex, and
                // internal critical sections never nest
                Err(_) => return Acquired::Clean,
            }
        }
    }

    /// Releases the mutex; an error when this thread does not hold it.
    pub fn unlock(&self) -> io::Result<()> {
        // only the holder writes `holder` while the mutex is held, so a load
        // and a store do what a swap would, without a locked instruction
        let prev = self.holder.load(Ordering::Relaxed);
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: initialised mutex; ERRORCHECK makes a foreign unlock EPERM.
        let r = unsafe { libc::pthread_mutex_unlock(self.raw()) };
        if r != 0 {
            self.holder.store(prev, Ordering::Relaxed);
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(())
    }

    /// The pid holding the mutex, 0 when free (advisory: may change at once).
    pub fn holder(&self) -> i32 {
        self.holder.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutex_recovers_from_a_dead_holder() {
        let region = Region::new(4096, false).unwrap();
        let m = region.as_ptr().cast::<RobustMutex>();
        // SAFETY: fresh zeroed page, aligned, used only as this mutex.
        unsafe { RobustMutex::init(m) };
        // SAFETY: initialised above; lives as long as `region`.
        let m = unsafe { &*m };
        // SAFETY: the child only locks the mutex and exits.
        match unsafe { libc::fork() } {
            0 => {
                let _ = m.lock_short();
                unsafe { libc::_exit(0) };
            }
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                let got = m.lock_slice(Deadline::after(Some(1.0))).unwrap();
                assert_eq!(got, Some(Acquired::FromDead(pid)));
                m.unlock().unwrap();
                assert_eq!(
                    m.lock_slice(Deadline::now()).unwrap(),
                    Some(Acquired::Clean)
                );
                m.unlock().unwrap();
            }
        }
    }

    #[test]
    fn futex_wait_times_out_and_sees_changes() {
        let region = Region::new(4096, false).unwrap();
        // SAFETY: aligned u32 in a live mapping.
        let w = unsafe { &*region.as_ptr().cast::<AtomicU32>() };
        let t = Instant::now();
        futex_wait(w, 0, Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(15));
        w.store(1, Ordering::SeqCst);
        let t = Instant::now();
        futex_wait(w, 0, Duration::from_secs(5)); // value differs: returns at once
        assert!(t.elapsed() < Duration::from_secs(1));
        futex_wake(w, 1);
    }
}
