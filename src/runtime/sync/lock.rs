//! `lock()` and `rlock()`: a `RobustMutex` in shared memory.
//!
//! Layout: a Lock is one `RobustMutex` (the lock of a shared value or array is
//! the mutex at the start of that object's memory); an RLock is a
//! `RobustMutex` plus the recursion count, which only the holder touches.
//!
//! The mutex belongs to the process that locked it: only that process can
//! release it (another process gets a ValueError), and when that process
//! dies the kernel marks the mutex so that the next `acquire` gets it and
//! prints a warning naming the dead pid. An uncontended acquire and release
//! are a few atomic operations (glibc's robust mutex fast path); a contended
//! acquire spins briefly, then sleeps in the kernel one slice at a time.

use super::{Shared, acquire_deadline, init_mutex, publish, warn_recovered};
use crate::runtime::reactor::Pending;
use crate::runtime::shm::{Acquired, Deadline, RobustMutex, my_pid};
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a contended acquire looks at the lock before sleeping in the
/// kernel. A lock held by another process is usually held for a few hundred
/// nanoseconds, and once a waiter sleeps every release is a system call.
const SPIN: Duration = Duration::from_millis(1);
/// Between looks a waiter pauses, twice as long each time up to this many
/// `spin_loop` hints (a few microseconds). Looking less often leaves the
/// mutex's cache line to the holder: two processes taking turns through a
/// short critical section (benches/proc/lock_counter.proc) did 4.2-5.2M
/// increments/s, against 3.0-4.5M with a waiter that looked all the time.
const BACKOFF_MAX: u32 = 2048;
/// Every this many longest pauses, a waiting acquire yields the CPU: when the
/// holder waits for this very CPU (two processes taking turns often share
/// one), it can only let go once the waiter steps aside. Yielding with
/// nothing else to run returns at once.
const YIELD_EVERY: u32 = 8;

/// Takes `m` before `deadline`. `what` names the primitive in warnings and
/// errors. Uninterruptible takes (re-taking a Condition's lock after a wait)
/// never give up and leave a pending interrupt for the next check.
fn take(
    vm: &mut Vm,
    m: &RobustMutex,
    deadline: Deadline,
    what: &str,
    interruptible: bool,
) -> VmResult<bool> {
    let mut spinning = !deadline.expired();
    // when looking stops: set at the first failed try (an uncontended
    // acquire does not read the clock), never past the deadline
    let mut spin_until = None;
    loop {
        let slice = if spinning { past() } else { deadline };
        match m.lock_slice(slice) {
            Ok(Some(Acquired::Clean)) => return Ok(true),
            Ok(Some(Acquired::FromDead(pid))) => {
                warn_recovered(vm, what, pid);
                return Ok(true);
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // this process holds it: nothing but the deadline ends the wait
                spinning = false;
                std::thread::sleep(deadline.slice());
            }
            Err(e) => return Err(Exc::new("IOError", format!("{what}: {e}"))),
        }
        if spinning {
            if spin_until.is_none() {
                crate::runtime::process::place_children(vm);
            }
            let until = *spin_until.get_or_insert_with(|| {
                let spin = Instant::now() + SPIN;
                deadline.instant().map_or(spin, |d| d.min(spin))
            });
            // wait for the holder to let go, reading only: a failed trylock
            // writes to the mutex's cache line and slows the holder down
            let mut pause = 1;
            let mut rounds = 0u32;
            loop {
                for _ in 0..pause {
                    std::hint::spin_loop();
                }
                if m.holder() == 0 {
                    break;
                }
                if pause < BACKOFF_MAX {
                    pause *= 2;
                    continue;
                }
                rounds += 1;
                if rounds % YIELD_EVERY == 0 {
                    std::thread::yield_now();
                }
                if Instant::now() >= until {
                    spinning = false;
                    break;
                }
            }
            continue;
        }
        if interruptible {
            if deadline.expired() {
                return Ok(false);
            }
            vm.check_interrupt()?;
        }
    }
}

/// One try at `m`, without waiting: true when taken.
fn try_take(vm: &mut Vm, m: &RobustMutex, what: &str) -> bool {
    match m.lock_slice(past()) {
        Ok(Some(Acquired::Clean)) => true,
        Ok(Some(Acquired::FromDead(pid))) => {
            warn_recovered(vm, what, pid);
            true
        }
        Ok(None) | Err(_) => false,
    }
}

/// A deadline that has passed: `lock_slice(past())` tries without waiting.
/// Made once, because reading the clock costs more than an uncontended lock.
fn past() -> Deadline {
    static PAST: OnceLock<Deadline> = OnceLock::new();
    *PAST.get_or_init(Deadline::now)
}

/// The deadline of `acquire(block: true, timeout: nil)`, read quickly when no
/// argument is given (the common case, on the hot path).
pub fn acquire_args(args: Args) -> VmResult<Deadline> {
    if args.is_empty() {
        return Ok(Deadline::NEVER);
    }
    let [block, timeout] = args.bind("acquire", ["block", "timeout"], 0)?;
    acquire_deadline("acquire", block, timeout)
}

/// The ValueError for releasing a lock this process does not hold.
fn not_held(kind: &str, holder: i32) -> Exc {
    if holder == 0 {
        Exc::value_error(format!("release() of an unlocked {kind}"))
    } else {
        Exc::value_error(format!(
            "release() of a {kind} held by process {holder}: only the process that acquired it can release it"
        ))
    }
}

// ---------------------------------------------------------------------------
// Lock

pub struct Lock {
    m: Shared<RobustMutex>,
    id: u64,
}

const LOCK_METHODS: &[&str] = &["acquire", "release", "locked", "enter", "exit"];

impl Lock {
    /// A Lock handle for a mutex already placed in shared memory (the lock of
    /// a shared value or array).
    pub fn handle(vm: &mut Vm, m: Shared<RobustMutex>) -> Value {
        publish(vm, |id| Lock { m, id })
    }

    pub fn held_here(&self) -> bool {
        self.m.holder() == my_pid()
    }

    pub fn acquire(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        take(vm, &self.m, deadline, "lock", true)
    }

    /// `acquire()` from a script: while tasks exist, a lock held by another
    /// task (or process) lets the other tasks run until it is free, tried
    /// after each round of tasks and every few milliseconds (reactor.rs).
    fn acquire_method(&self, vm: &mut Vm, this: &Value, deadline: Deadline) -> VmResult<Value> {
        if !vm.tasks_active() {
            return self.acquire(vm, deadline).map(Value::Bool);
        }
        let wait = Pending::retry_on(this, deadline.instant(), |me: &Lock, vm, expired| {
            if take(vm, &me.m, past(), "lock", true)? {
                return Ok(Some(Value::Bool(true)));
            }
            Ok(expired.then_some(Value::Bool(false)))
        });
        vm.block(wait)
    }

    pub fn release(&self) -> VmResult<()> {
        // Checked first: unlocking a mutex of another process would fail, but
        // only after briefly clearing its holder pid.
        if !self.held_here() {
            return Err(not_held("Lock", self.m.holder()));
        }
        self.m
            .unlock()
            .map_err(|e| Exc::new("IOError", format!("lock: {e}")))
    }
}

impl Object for Lock {
    fn type_name(&self) -> &'static str {
        "Lock"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let state = if self.m.holder() != 0 {
            "locked"
        } else {
            "unlocked"
        };
        format!("<Lock {state}>")
    }

    fn enter_now(&self, vm: &mut Vm) -> bool {
        // one try; when held (by another process or this one), the ordinary
        // acquire waits (or raises)
        try_take(vm, &self.m, "lock")
    }

    fn exit_now(&self, _vm: &mut Vm) -> Option<VmResult<()>> {
        Some(self.release())
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        // `with` blocks first: they are the hot path
        Some(match name {
            "enter" => args
                .expect("enter", 0, 0)
                .and_then(|_| self.acquire_method(vm, this, Deadline::NEVER)),
            "exit" => args
                .expect("exit", 0, 1)
                .and_then(|_| self.release())
                .map(|_| Value::Nil),
            "acquire" => acquire_args(args).and_then(|d| self.acquire_method(vm, this, d)),
            "release" => args
                .expect("release", 0, 0)
                .and_then(|_| self.release())
                .map(|_| Value::Nil),
            "locked" => args
                .expect("locked", 0, 0)
                .map(|_| Value::Bool(self.m.holder() != 0)),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        LOCK_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Maps a fresh robust mutex.
pub fn new_mutex(what: &str) -> VmResult<Shared<RobustMutex>> {
    // SAFETY: init_mutex initialises the whole RobustMutex, which is the
    // user mutex at offset 0.
    unsafe { Shared::new(what, 0, Some(0), |m: *mut RobustMutex| init_mutex(&mut *m)) }
}

/// `lock()`
pub fn lock(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("lock", 0, 0)?;
    let m = new_mutex("lock")?;
    Ok(Lock::handle(vm, m))
}

// ---------------------------------------------------------------------------
// RLock

#[repr(C)]
pub struct RLockCell {
    m: RobustMutex,
    /// How many times the holder acquired it; meaningful only while held.
    count: AtomicU64,
}

pub struct RLock {
    cell: Shared<RLockCell>,
    id: u64,
}

impl RLock {
    pub fn make(vm: &mut Vm) -> VmResult<Value> {
        // SAFETY: the mutex is initialised and the count is zero (zeroed
        // memory); the user mutex is the first field.
        let cell = unsafe {
            Shared::new("rlock", 0, Some(0), |c: *mut RLockCell| {
                init_mutex(&mut (*c).m)
            })?
        };
        Ok(publish(vm, |id| RLock { cell, id }))
    }

    pub fn held_here(&self) -> bool {
        self.cell.m.holder() == my_pid()
    }

    pub fn acquire(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        self.enter(|m| take(vm, m, deadline, "rlock", true))
    }

    /// Acquires again when this process holds it, else takes the mutex
    /// with `grab`, and counts the acquire.
    fn enter(&self, grab: impl FnOnce(&RobustMutex) -> VmResult<bool>) -> VmResult<bool> {
        if self.held_here() {
            self.cell.count.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        let got = grab(&self.cell.m)?;
        if got {
            self.cell.count.store(1, Ordering::Relaxed);
        }
        Ok(got)
    }

    pub fn release(&self) -> VmResult<()> {
        if !self.held_here() {
            return Err(not_held("RLock", self.cell.m.holder()));
        }
        let left = self.cell.count.load(Ordering::Relaxed).saturating_sub(1);
        self.cell.count.store(left, Ordering::Relaxed);
        if left == 0 {
            self.cell
                .m
                .unlock()
                .map_err(|e| Exc::new("IOError", format!("rlock: {e}")))?;
        }
        Ok(())
    }
}

impl Object for RLock {
    fn type_name(&self) -> &'static str {
        "RLock"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        if self.cell.m.holder() == 0 {
            "<RLock unlocked>".to_string()
        } else {
            let count = self.cell.count.load(Ordering::Relaxed);
            format!("<RLock locked, count {count}>")
        }
    }

    fn enter_now(&self, vm: &mut Vm) -> bool {
        // one try; when held by another process, the ordinary acquire waits
        matches!(self.enter(|m| Ok(try_take(vm, m, "rlock"))), Ok(true))
    }

    fn exit_now(&self, _vm: &mut Vm) -> Option<VmResult<()>> {
        Some(self.release())
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "acquire" => acquire_args(args)
                .and_then(|d| self.acquire(vm, d))
                .map(Value::Bool),
            "release" => args
                .expect("release", 0, 0)
                .and_then(|_| self.release())
                .map(|_| Value::Nil),
            "locked" => args
                .expect("locked", 0, 0)
                .map(|_| Value::Bool(self.cell.m.holder() != 0)),
            "enter" => args
                .expect("enter", 0, 0)
                .and_then(|_| self.acquire(vm, Deadline::NEVER))
                .map(Value::Bool),
            "exit" => args
                .expect("exit", 0, 1)
                .and_then(|_| self.release())
                .map(|_| Value::Nil),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        LOCK_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `rlock()`
pub fn rlock(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("rlock", 0, 0)?;
    RLock::make(vm)
}

// ---------------------------------------------------------------------------
// What a Condition needs of its lock

/// A Lock or RLock, as the lock of a Condition.
pub enum AnyLock<'a> {
    Lock(&'a Lock),
    RLock(&'a RLock),
}

impl AnyLock<'_> {
    pub fn of(v: &Value) -> Option<AnyLock<'_>> {
        let Value::Object(h) = v else {
            return None;
        };
        if let Some(l) = h.downcast::<Lock>() {
            Some(AnyLock::Lock(l))
        } else {
            h.downcast::<RLock>().map(AnyLock::RLock)
        }
    }

    pub fn held_here(&self) -> bool {
        match self {
            AnyLock::Lock(l) => l.held_here(),
            AnyLock::RLock(r) => r.held_here(),
        }
    }

    pub fn acquire(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        match self {
            AnyLock::Lock(l) => l.acquire(vm, deadline),
            AnyLock::RLock(r) => r.acquire(vm, deadline),
        }
    }

    pub fn release(&self) -> VmResult<()> {
        match self {
            AnyLock::Lock(l) => l.release(),
            AnyLock::RLock(r) => r.release(),
        }
    }

    /// Releases the lock completely (all recursion levels of an RLock) before
    /// a Condition wait; returns what `restore` needs.
    pub fn release_all(&self) -> VmResult<u64> {
        match self {
            AnyLock::Lock(l) => l.release().map(|_| 1),
            AnyLock::RLock(r) => {
                let count = r.cell.count.load(Ordering::Relaxed);
                r.cell.count.store(1, Ordering::Relaxed);
                r.release().map(|_| count)
            }
        }
    }

    /// Takes the lock back after a Condition wait, whatever happens: without a
    /// deadline and leaving interrupts pending (as Python does).
    pub fn restore(&self, vm: &mut Vm, saved: u64) -> VmResult<()> {
        match self {
            AnyLock::Lock(l) => take(vm, &l.m, Deadline::NEVER, "lock", false).map(|_| ()),
            AnyLock::RLock(r) => {
                take(vm, &r.cell.m, Deadline::NEVER, "rlock", false)?;
                r.cell.count.store(saved, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}
