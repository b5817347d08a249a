//! Synchronisation primitives of section 12 (`lock rlock semaphore
//! bounded_semaphore event condition barrier`), shared across `fork()`.
//!
//! Every primitive lives in its own anonymous shared mapping (a `Segment`),
//! made when the script calls the constructor, so it is the same object in the
//! creating process and in every process forked after that. The handle a
//! script holds is a small local struct pointing into that memory.
//!
//! Two building blocks, used by every file of this folder:
//!
//! - `Lock`/`RLock` (and the lock of a shared value) are a `RobustMutex`:
//!   the kernel hands a dead holder's mutex to the next `acquire`.
//! - The others keep their state in a `Guarded<S>`: a short robust mutex that
//!   is never held across a wait, the state, and a futex word bumped on every
//!   change. Waiting is always "try under the mutex; if it would block, sleep
//!   one slice on the futex word; check interrupts and the deadline; retry"
//!   (`Guarded::wait_until`), the shape a reactor can later take over.
//!
//! Nothing here ever blocks without a deadline sliced by `shm::SLICE`, and
//! nothing here starts a thread.

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;

pub use lock::Lock;

use super::shm::{Deadline, Region, RobustMutex, futex_wait, futex_wake, my_pid};
use crate::value::{Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

pub const FUNCS: &[(&str, NativeFn)] = &[
    ("lock", lock::lock),
    ("rlock", lock::rlock),
    ("semaphore", semaphore::semaphore),
    ("bounded_semaphore", semaphore::bounded_semaphore),
    ("event", event::event),
    ("condition", condition::condition),
    ("barrier", barrier::barrier),
];

// ---------------------------------------------------------------------------
// Shared memory for one object

/// The mapping that holds one shared object. When the last handle in this
/// process goes away the mapping is unmapped here (other processes keep
/// theirs), except when this process still holds the robust mutex at
/// `user_mutex`: glibc links held robust mutexes into a per-thread list that
/// it walks on every lock and unlock, so that memory must stay mapped. It
/// leaks instead, and the lock stays held until this process exits, exactly
/// as if the handle were still alive.
pub struct Segment {
    region: ManuallyDrop<Region>,
    user_mutex: Option<usize>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some(at) = self.user_mutex {
            // SAFETY: `at` is the offset of a RobustMutex initialised in this
            // region when the segment was made (see `Shared::new`).
            let m = unsafe { &*self.region.as_ptr().add(at).cast::<RobustMutex>() };
            if m.holder() == my_pid() {
                return;
            }
        }
        // SAFETY: dropped once, here; no reference into it outlives the
        // segment (every `Shared` holds an `Rc<Segment>`).
        unsafe { ManuallyDrop::drop(&mut self.region) };
    }
}

/// A `T` in shared memory, kept mapped by the `Rc<Segment>` it holds. `T` is
/// always made of atomics, `UnsafeCell`s and pthread objects, which are
/// designed to be changed by other processes behind a shared reference.
pub struct Shared<T> {
    segment: Rc<Segment>,
    ptr: NonNull<T>,
    _t: PhantomData<T>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            segment: self.segment.clone(),
            ptr: self.ptr,
            _t: PhantomData,
        }
    }
}

impl<T> Shared<T> {
    /// Maps a segment for a `T` followed by `extra` bytes and initialises the
    /// `T` with `init`. `user_mutex` is the offset (from the start of `T`) of a
    /// robust mutex a script can hold, if there is one (see `Segment`).
    ///
    /// # Safety
    /// `init` must fully initialise the `T` it is given (the memory arrives
    /// zeroed), and `user_mutex` must name a RobustMutex that `init`
    /// initialises.
    pub unsafe fn new(
        what: &str,
        extra: usize,
        user_mutex: Option<usize>,
        init: impl FnOnce(*mut T),
    ) -> VmResult<Shared<T>> {
        let len = std::mem::size_of::<T>()
            .checked_add(extra)
            .ok_or_else(|| Exc::new("OverflowError", format!("{what}() is too large")))?;
        let region = Region::new(len.max(1), false).map_err(|e| {
            Exc::new(
                "IOError",
                format!("{what}(): cannot map shared memory: {e}"),
            )
        })?;
        let ptr = region.as_ptr().cast::<T>();
        // mmap returns page-aligned memory, enough for any T here
        debug_assert!(ptr.align_offset(std::mem::align_of::<T>()) == 0);
        init(ptr);
        let segment = Rc::new(Segment {
            region: ManuallyDrop::new(region),
            user_mutex,
        });
        Ok(Shared {
            segment,
            // a successful mmap is never null
            ptr: NonNull::new(ptr).ok_or_else(|| Exc::new("IOError", "mmap returned null"))?,
            _t: PhantomData,
        })
    }

    /// A part of this object (`f` returns a field of it), sharing the mapping.
    pub fn project<U>(&self, f: impl FnOnce(&T) -> &U) -> Shared<U> {
        let ptr = NonNull::from(f(self));
        Shared {
            segment: self.segment.clone(),
            ptr,
            _t: PhantomData,
        }
    }

    /// The bytes after the `T` (the `extra` of `new`).
    pub fn tail(&self) -> *mut u8 {
        // SAFETY: one past the T is inside the mapping (new mapped T + extra).
        unsafe { self.ptr.as_ptr().add(1).cast::<u8>() }
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised by `new`, mapped while `segment` lives.
        unsafe { self.ptr.as_ref() }
    }
}

/// Places a robust mutex in freshly mapped memory.
pub fn init_mutex(at: &mut RobustMutex) {
    // SAFETY: `at` is aligned, writable memory in a new mapping that no
    // process uses as a mutex yet.
    unsafe { RobustMutex::init(at) };
}

// ---------------------------------------------------------------------------
// State under a short mutex, with a futex word to wait on

/// State `S` shared by processes: changed only under `mutex`, which is held
/// for a few instructions and never while waiting. `seq` changes on every
/// change of the state that a waiter might care about; waiters sleep on it.
#[repr(C)]
pub struct Guarded<S> {
    mutex: RobustMutex,
    seq: AtomicU32,
    sleepers: AtomicU32,
    state: UnsafeCell<S>,
}

impl<S> Guarded<S> {
    /// Initialises a guarded state in new shared memory.
    ///
    /// # Safety
    /// `at` must point to zeroed, aligned, writable memory of a new mapping
    /// that no process uses yet (as `Shared::new` gives its `init`).
    pub unsafe fn init(at: *mut Guarded<S>, state: S) {
        // SAFETY: per the contract above; the fields are written before any use.
        unsafe {
            init_mutex(&mut (*at).mutex);
            (&raw mut (*at).state).write(UnsafeCell::new(state));
        }
    }

    /// Runs `f` on the state under the mutex. `f` must not call `with` on the
    /// same state (the mutex is not reentrant).
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        // A process killed inside a critical section of a few instructions
        // leaves at worst one count off; there is nothing better to do.
        let _ = self.mutex.lock_short();
        // SAFETY: the mutex gives this process exclusive access to the state.
        let r = f(unsafe { &mut *self.state.get() });
        let _ = self.mutex.unlock();
        r
    }

    /// Tells waiters the state changed: they wake and try again.
    pub fn changed(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.seq, i32::MAX);
        }
    }

    /// Waits until `attempt` (run under the mutex) returns `Some`; `Ok(None)`
    /// when the deadline passes first. Interrupts raise between slices.
    pub fn wait_until<T>(
        &self,
        vm: &mut Vm,
        deadline: Deadline,
        mut attempt: impl FnMut(&mut S) -> Option<T>,
    ) -> VmResult<Option<T>> {
        loop {
            let seen = self.seq.load(Ordering::SeqCst);
            if let Some(t) = self.with(&mut attempt) {
                return Ok(Some(t));
            }
            if deadline.expired() {
                return Ok(None);
            }
            crate::runtime::process::place_children(vm);
            self.sleep(seen, deadline);
            vm.check_interrupt()?;
        }
    }

    /// Sleeps one slice, or less if `seq` moves away from `seen`.
    fn sleep(&self, seen: u32, deadline: Deadline) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        futex_wait(&self.seq, seen, deadline.slice());
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the primitives

/// Makes a shared handle: a fresh id, the value, registered so that messages
/// naming the id resolve to it here and in processes forked later.
pub fn publish<T: Object>(vm: &mut Vm, make: impl FnOnce(u64) -> T) -> Value {
    let id = vm.new_handle_id();
    let v = Value::object(make(id));
    vm.register_handle(id, &v);
    v
}

/// A `timeout:` argument: nil for none, else a number of seconds.
pub fn timeout_arg(fname: &str, v: Option<Value>) -> VmResult<Option<f64>> {
    match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => match v {
            Value::Int(_) | Value::Float(_) => {
                let t = v.as_f64().unwrap_or(0.0);
                if t.is_nan() {
                    return Err(Exc::value_error(format!(
                        "{fname}(): timeout must be a number of seconds, not nan"
                    )));
                }
                Ok(Some(t))
            }
            other => Err(Exc::type_error(format!(
                "{fname}() argument `timeout` must be a number or nil, not {}",
                other.type_name()
            ))),
        },
    }
}

/// The deadline of an `acquire(block, timeout)` call. Like Python, a timeout
/// with `block: false` is a ValueError.
pub fn acquire_deadline(
    fname: &str,
    block: Option<Value>,
    timeout: Option<Value>,
) -> VmResult<Deadline> {
    let block = block.is_none_or(|b| b.truthy());
    let timeout = timeout_arg(fname, timeout)?;
    match (block, timeout) {
        (true, t) => Ok(Deadline::after(t)),
        (false, None) => Ok(Deadline::now()),
        (false, Some(_)) => Err(Exc::value_error(format!(
            "{fname}(): a timeout cannot be given with block: false"
        ))),
    }
}

/// Whether process `pid` has died. A child that died but was not reaped yet
/// still exists as a zombie; it counts as dead. A pid that was reused by a
/// new process looks alive (nothing can tell them apart).
pub fn process_dead(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only checks that the pid exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // "/proc/PID/stat" is "PID (COMMAND) STATE ..."; COMMAND may hold ')'.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X'))
}

/// Tells the user on stderr that `what` was taken over from a dead process:
/// `warning: lock recovered from process 1234, which died holding it`.
pub fn warn_recovered(vm: &mut Vm, what: &str, pid: i32) {
    let it = if what.ends_with('s') { "them" } else { "it" };
    let from = if pid > 0 {
        format!("process {pid}")
    } else {
        "a process".to_string()
    };
    vm.write_err(&format!(
        "warning: {what} recovered from {from}, which died holding {it}\n"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interpreter;

    #[test]
    fn every_handle_travels_by_id() {
        let mut interp = Interpreter::new();
        let made = interp
            .eval_value(
                "[lock(), rlock(), semaphore(2), bounded_semaphore(), event(), \
                 condition(), barrier(2), value(1), array(\"i\", 2), value(2).lock]",
            )
            .unwrap();
        let Value::List(items) = &made else {
            panic!("a list")
        };
        let vm = interp.vm();
        for item in items.borrow().iter() {
            let Value::Object(h) = item else {
                panic!("a handle")
            };
            assert!(h.0.shared_id().is_some(), "{}", h.0.type_name());
            let bytes = crate::wire::encode(vm, item).unwrap();
            let back = crate::wire::decode(vm, &bytes).unwrap();
            assert!(back.is_same(item), "{}", h.0.type_name());
        }
    }

    #[test]
    fn dead_and_zombie_processes_are_dead() {
        assert!(!process_dead(my_pid()));
        assert!(!process_dead(0));
        // SAFETY: the child exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leaving the forked test child without running anything.
            unsafe { libc::_exit(0) };
        }
        // not reaped yet: a zombie
        let mut tries = 0;
        while !process_dead(pid) && tries < 500 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            tries += 1;
        }
        assert!(process_dead(pid));
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(process_dead(pid));
    }

    #[test]
    fn my_pid_follows_fork() {
        let parent = my_pid();
        assert_eq!(parent, std::process::id() as i32);
        // SAFETY: the child only compares pids and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = my_pid() == std::process::id() as i32 && my_pid() != parent;
            // SAFETY: leaving the forked test child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
