//! `queue(maxsize = 0)` (section 11): a FIFO of messages shared by the process
//! that made it and every process forked after that.
//!
//! Layout: a one-page header `Region` and a data ring `Region` of up to 1 GiB,
//! reserved with `MAP_NORESERVE` so that only the pages in use cost memory.
//!
//! - The header holds a robust mutex, the queue's `State` (byte offsets of the
//!   ring's head and tail, which only grow; the item count; the count of
//!   unfinished tasks; how far consumed pages were given back; the closed
//!   flag), and futex words that waiters sleep on: `items_seq` (bumped by
//!   every put, getters wait on it), `space_seq` (bumped by every get, putters
//!   of a full queue wait on it) and `done_seq` (bumped when the last task is
//!   done, `join` waits on it). Beside each word, the number of processes
//!   sleeping on it: a put or get makes a wake syscall only when someone sleeps.
//! - The ring holds records: a u32 length, then the wire-encoded item, padded
//!   to 4 bytes. A record that does not fit before the end of the ring leaves
//!   a `WRAP` marker and starts again at offset 0. When a put finds the queue
//!   empty it also starts at offset 0, so a queue that keeps up with its
//!   producer stays in a few hot pages.
//!
//! Crash safety: every change is committed by one store. The state is kept
//! twice; an operation writes the new state into the spare copy and then flips
//! `current` to it. A process killed at any instruction, even in the middle of
//! copying a record (holding the mutex), leaves either the old state or the
//! new one: its half-written record lies past the committed tail and is never
//! read. The next process to take the mutex learns the holder died (robust
//! mutex), prints a warning, and goes on.
//!
//! This module must never block a put on an unbounded queue waiting for a
//! reader (only a ring holding 1 GiB of unread items makes a put wait), never
//! lose or duplicate an item, never start a thread, and never serialise or
//! deserialise while holding the mutex.

use super::shm::{Acquired, Deadline, Region, RobustMutex, futex_wait, futex_wake};
use crate::stdlib::given;
use crate::value::func::{want_f64, want_int};
use crate::value::{Args, Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use crate::wire;
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The largest ring; smaller ones are tried when the system refuses to
/// reserve this much address space.
const RING_MAX: usize = 1 << 30;
const RING_MIN: usize = 1 << 24;
/// A record's length word for "the next record is at offset 0".
const WRAP: u32 = u32::MAX;
/// Consumed pages are given back once the head moved this far past the last
/// point given back (one syscall per MiB, not per item).
const RELEASE_STEP: u64 = 1 << 20;
/// Ring offsets below this (or below a quarter of a smaller ring) are never
/// given back: a queue that keeps restarting at offset 0 keeps reusing them.
const HOT: usize = 1 << 20;
/// How long a put or get that would block polls the queue before sleeping on
/// the futex: a producer on another CPU usually delivers within this, and a
/// futex sleep and wake cost more. Only on machines with several CPUs.
const SPIN: Duration = Duration::from_micros(50);
/// How many times `lock` looks at a busy mutex before sleeping on it.
const LOCK_SPINS: u32 = 2000;
/// Items at most this long are copied out of the ring onto the stack.
const INLINE: usize = 96;

/// Everything an operation changes, committed at once (see the module notes).
#[derive(Clone, Copy, Default, Debug, PartialEq)]
#[repr(C)]
struct State {
    /// Ring offset (ever growing) of the oldest record.
    head: u64,
    /// Ring offset just past the newest complete record.
    tail: u64,
    /// Items in the queue.
    count: u64,
    /// Items put and not yet `task_done()`.
    unfinished: u64,
    /// Consumed pages before this offset were given back.
    released: u64,
    /// 1 after `close()`.
    closed: u64,
}

#[repr(C)]
struct Header {
    mutex: RobustMutex,
    /// Which of `states` is committed (0 or 1).
    current: AtomicU32,
    states: UnsafeCell<[State; 2]>,
    /// Changes on every put; getters wait on it.
    items: WaitWord,
    /// Changes on every get; putters of a full queue wait on it.
    space: WaitWord,
    /// Changes when the last unfinished task is done; `join` waits on it.
    done: WaitWord,
}

/// A futex word that processes sleep on until it changes. A sleeper
/// registers under the queue's mutex, and a change is made under it, so a
/// change never misses a sleeper.
#[repr(C)]
struct WaitWord {
    seq: AtomicU32,
    /// Processes registered as sleeping on `seq`. A stale count (a sleeper
    /// that was killed) only costs a spare wake.
    sleepers: AtomicU32,
    /// 1 when a wake was sent and no sleeper has got up since:
    /// waking again before then would be a wasted system call (a consumer
    /// draining a full queue would otherwise make one per item while the
    /// producer it woke is still getting up).
    woken: AtomicU32,
}

impl WaitWord {
    /// Records a change (holding the mutex); true when a sleeper should be
    /// woken with `wake_one` after unlocking.
    fn changed(&self) -> bool {
        // under the mutex: no other writer, so no locked instruction needed
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        self.wanted()
    }

    /// True (and now counted as woken) when a sleeper waits and no wake is
    /// under way (holding the mutex).
    fn wanted(&self) -> bool {
        if self.sleepers.load(Ordering::Relaxed) > 0 && self.woken.load(Ordering::Relaxed) == 0 {
            self.woken.store(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn wake_one(&self) {
        futex_wake(&self.seq, 1);
    }

    fn wake_all(&self) {
        futex_wake(&self.seq, i32::MAX);
    }
}

/// What one blocking call did so far.
#[derive(Default)]
struct Wait {
    /// It polled once already; further waits sleep.
    spun: bool,
}

/// The shared part of a queue: the same memory in every process that has it.
struct Shared {
    header: Region,
    ring: Region,
    ring_len: u64,
    /// 0 for unbounded.
    maxsize: u64,
    /// Spin before sleeping (more than one CPU).
    spin: bool,
    /// A deadline that has passed: `lock_slice` with it only tries.
    past: Deadline,
}

/// The mutex, held; released when dropped.
struct Locked<'a> {
    q: &'a Shared,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // cannot fail: this process holds the mutex (taken by `Shared::lock`)
        let _ = self.q.h().mutex.unlock();
    }
}

impl Locked<'_> {
    fn state(&self) -> State {
        let h = self.q.h();
        let i = h.current.load(Ordering::Relaxed) as usize & 1;
        // SAFETY: the mutex is held, so no other process writes the states.
        unsafe { (*h.states.get())[i] }
    }

    /// Makes `s` the queue's state with one store.
    fn commit(&self, s: State) {
        let h = self.q.h();
        let spare = (h.current.load(Ordering::Relaxed) as usize & 1) ^ 1;
        // SAFETY: the mutex is held; the spare copy is read by nobody until
        // the store below publishes it.
        unsafe { (*h.states.get())[spare] = s };
        h.current.store(spare as u32, Ordering::Release);
    }
}

/// Bytes of ring a record of `len` bytes takes; None when it could never fit.
fn record_len(len: usize, ring_len: u64) -> Option<u64> {
    let need = 4 + (len as u64).div_ceil(4) * 4;
    (need <= ring_len && len < WRAP as usize).then_some(need)
}

fn round_up(offset: u64, ring_len: u64) -> u64 {
    offset.div_ceil(ring_len) * ring_len
}

/// An item copied out of the ring: on the stack when small.
enum Item {
    Inline([u8; INLINE], usize),
    Heap(Vec<u8>),
}

impl Item {
    fn bytes(&self) -> &[u8] {
        match self {
            Item::Inline(buf, n) => &buf[..*n],
            Item::Heap(v) => v,
        }
    }
}

fn io_exc(fname: &str, e: io::Error) -> Exc {
    Exc::new("IOError", format!("{fname}(): {e}"))
}

impl Shared {
    fn new(maxsize: u64) -> io::Result<Shared> {
        Shared::with_ring(maxsize, RING_MAX)
    }

    /// A queue whose ring has at most `ring_len` bytes (a power of two).
    fn with_ring(maxsize: u64, mut ring_len: usize) -> io::Result<Shared> {
        let header = Region::new(4096, false)?;
        let ring = loop {
            match Region::new(ring_len, true) {
                Ok(r) => break r,
                Err(e) if ring_len <= RING_MIN => return Err(e),
                Err(_) => ring_len /= 2,
            }
        };
        const { assert!(std::mem::size_of::<Header>() <= 4096) };
        // SAFETY: a fresh zeroed page, aligned for the header, used by no
        // process yet; all-zero is a valid `State` and atomic.
        unsafe { RobustMutex::init(&raw mut (*header.as_ptr().cast::<Header>()).mutex) };
        Ok(Shared {
            header,
            ring,
            ring_len: ring_len as u64,
            maxsize,
            spin: crate::stdlib::os::cpu_count_now() > 1,
            past: Deadline::now(),
        })
    }

    fn h(&self) -> &Header {
        // SAFETY: the header region is one page holding an initialised
        // `Header` (see `new`) and lives as long as `self`; its fields are
        // atomics or behind `UnsafeCell` + the mutex.
        unsafe { &*self.header.as_ptr().cast::<Header>() }
    }

    /// Takes the mutex. It is only ever held for a short section (at most
    /// the copy of one item), so this waits for it whatever the operation's
    /// timeout, trying a few times before sleeping, and checking interrupts
    /// between slices.
    fn lock(&self, vm: &mut Vm, fname: &str) -> VmResult<Locked<'_>> {
        let m = &self.h().mutex;
        // test before test-and-set: watching the holder word costs no
        // locked instruction and no clock read
        let mut tries = if self.spin { LOCK_SPINS } else { 1 };
        loop {
            let wait = if tries > 0 {
                tries -= 1;
                if m.holder() != 0 {
                    std::hint::spin_loop();
                    continue;
                }
                self.past
            } else {
                Deadline::NEVER
            };
            match m.lock_slice(wait).map_err(|e| io_exc(fname, e))? {
                Some(Acquired::Clean) => return Ok(Locked { q: self }),
                Some(Acquired::FromDead(pid)) => {
                    vm.write_err(&format!(
                        "warning: {fname}(): process {pid} died while using the queue; \
                         its unfinished operation was discarded and the queue goes on\n"
                    ));
                    return Ok(Locked { q: self });
                }
                None if tries > 0 => std::hint::spin_loop(),
                None => vm.check_interrupt()?,
            }
        }
    }

    /// Called (holding the mutex) when an operation cannot go on yet: waits
    /// for `word` to change, by polling it briefly the first time (on
    /// machines with several CPUs) or by sleeping one slice on the futex.
    /// The caller then checks its deadline and tries again.
    fn wait(
        &self,
        vm: &mut Vm,
        g: Locked<'_>,
        word: &WaitWord,
        deadline: Deadline,
        w: &mut Wait,
    ) -> VmResult<()> {
        let seen = word.seq.load(Ordering::Relaxed);
        if self.spin && !w.spun {
            w.spun = true;
            drop(g);
            let until = Instant::now() + SPIN;
            while word.seq.load(Ordering::Relaxed) == seen {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                if Instant::now() >= until || deadline.expired() {
                    break;
                }
            }
            return Ok(());
        }
        // registered under the mutex, so a notifier (which also holds it)
        // cannot miss us
        word.sleepers.fetch_add(1, Ordering::Relaxed);
        drop(g);
        futex_wait(&word.seq, seen, deadline.slice());
        word.sleepers.fetch_sub(1, Ordering::Relaxed);
        // up again (woken or not): the next change may wake another sleeper.
        // Clearing this without the mutex can only cause a spare wake.
        word.woken.store(0, Ordering::Relaxed);
        vm.check_interrupt()
    }

    fn ring_ptr(&self, pos: usize, len: usize) -> *mut u8 {
        debug_assert!(pos + len <= self.ring_len as usize);
        // SAFETY: callers keep `pos + len` within the ring (checked above in
        // debug builds; record placement guarantees it).
        unsafe { self.ring.as_ptr().add(pos) }
    }

    fn read_u32(&self, pos: usize) -> u32 {
        // SAFETY: `pos` is a multiple of 4 below the ring's end (records are
        // 4-byte aligned), the ring is page aligned, the mutex is held.
        unsafe { self.ring_ptr(pos, 4).cast::<u32>().read() }
    }

    fn write_u32(&self, pos: usize, v: u32) {
        // SAFETY: as in read_u32.
        unsafe { self.ring_ptr(pos, 4).cast::<u32>().write(v) }
    }

    /// Gives back the pages of consumed records in `[s.released, to)`,
    /// except the hot first MiB and anything that is unread data again.
    fn release(&self, s: &State, to: u64) {
        let ring = self.ring_len;
        let from = s
            .released
            .max(s.tail.saturating_sub(ring))
            .max(to.saturating_sub(ring));
        if to <= from {
            return;
        }
        let a = (from % ring) as usize;
        let n = (to - from) as usize;
        let hot = HOT.min(ring as usize / 4);
        let give_back = |start: usize, end: usize| {
            let start = start.max(hot);
            if end > start {
                self.ring.release(start, end);
            }
        };
        if a + n <= ring as usize {
            give_back(a, a + n);
        } else {
            give_back(a, ring as usize);
            give_back(0, a + n - ring as usize);
        }
    }

    /// Appends one encoded item.
    fn put(&self, vm: &mut Vm, item: &[u8], block: bool, deadline: Deadline) -> VmResult<()> {
        let need = record_len(item.len(), self.ring_len).ok_or_else(|| {
            Exc::value_error(format!(
                "put(): an item of {} bytes does not fit in a queue (the limit is {} bytes)",
                item.len(),
                self.ring_len - 4
            ))
        })?;
        let h = self.h();
        let mut w = Wait::default();
        loop {
            let g = self.lock(vm, "put")?;
            let mut s = g.state();
            if s.closed != 0 {
                return Err(Exc::value_error("put() on a closed queue"));
            }
            let ring = self.ring_len;
            if s.count == 0 && s.tail % ring != 0 {
                // empty: start again at offset 0, where the pages are warm
                self.release(&s, s.head);
                let next = round_up(s.tail, ring);
                (s.head, s.tail, s.released) = (next, next, next);
            }
            let pos = (s.tail % ring) as usize;
            let (start, wrap) = if pos as u64 + need > ring {
                (round_up(s.tail, ring), true)
            } else {
                (s.tail, false)
            };
            let bounded_full = self.maxsize > 0 && s.count >= self.maxsize;
            if bounded_full || start + need - s.head > ring {
                if !block || deadline.expired() {
                    return Err(full());
                }
                self.wait(vm, g, &h.space, deadline, &mut w)?;
                continue;
            }
            if wrap {
                self.write_u32(pos, WRAP);
            }
            let at = (start % ring) as usize;
            self.write_u32(at, item.len() as u32);
            // SAFETY: the record lies within the ring (placement above) past
            // the committed tail, where no reader looks; the mutex is held.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    item.as_ptr(),
                    self.ring_ptr(at + 4, item.len()),
                    item.len(),
                )
            };
            s.tail = start + need;
            s.count += 1;
            s.unfinished += 1;
            g.commit(s);
            let wake_get = h.items.changed();
            // room left: pass the turn on to another waiting putter
            let wake_put = (self.maxsize == 0 || s.count < self.maxsize) && h.space.wanted();
            drop(g);
            if wake_get {
                h.items.wake_one();
            }
            if wake_put {
                h.space.wake_one();
            }
            return Ok(());
        }
    }

    /// Takes the oldest item.
    fn get(&self, vm: &mut Vm, block: bool, deadline: Deadline) -> VmResult<Item> {
        let h = self.h();
        let mut w = Wait::default();
        loop {
            let g = self.lock(vm, "get")?;
            let mut s = g.state();
            if s.count == 0 {
                if s.closed != 0 {
                    return Err(Exc::new(
                        "QueueEmpty",
                        "get(): the queue is closed and empty",
                    ));
                }
                if !block || deadline.expired() {
                    return Err(empty());
                }
                self.wait(vm, g, &h.items, deadline, &mut w)?;
                continue;
            }
            let ring = self.ring_len;
            let mut pos = (s.head % ring) as usize;
            let mut len = self.read_u32(pos);
            if len == WRAP {
                s.head = round_up(s.head, ring);
                pos = 0;
                len = self.read_u32(0);
            }
            let need = record_len(len as usize, ring).filter(|n| s.head + n <= s.tail);
            let Some(need) = need else {
                return Err(Exc::new(
                    "IOError",
                    "get(): the queue's shared memory is corrupt (a record runs past the tail)",
                ));
            };
            let len = len as usize;
            let src = self.ring_ptr(pos + 4, len);
            let item = if len <= INLINE {
                let mut buf = [0u8; INLINE];
                // SAFETY: `len` committed bytes at `src` (checked against the
                // tail above) into a buffer of at least `len`; mutex held.
                unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), len) };
                Item::Inline(buf, len)
            } else {
                // SAFETY: as above, into a fresh slice of exactly `len` bytes.
                Item::Heap(unsafe { std::slice::from_raw_parts(src, len) }.to_vec())
            };
            s.head += need;
            s.count -= 1;
            if s.head - s.released >= RELEASE_STEP {
                self.release(&s, s.head);
                s.released = s.head;
            }
            g.commit(s);
            let wake_put = h.space.changed();
            // items left: pass the turn on to another waiting getter
            let wake_get = s.count > 0 && h.items.wanted();
            drop(g);
            if wake_put {
                h.space.wake_one();
            }
            if wake_get {
                h.items.wake_one();
            }
            return Ok(item);
        }
    }

    /// Runs `f` on the state under the mutex; commits what it returns.
    fn update<T>(
        &self,
        vm: &mut Vm,
        fname: &str,
        f: impl FnOnce(State) -> VmResult<(T, Option<State>)>,
    ) -> VmResult<T> {
        let g = self.lock(vm, fname)?;
        let (out, new) = f(g.state())?;
        if let Some(s) = new {
            g.commit(s);
        }
        Ok(out)
    }

    fn close(&self, vm: &mut Vm) -> VmResult<()> {
        let h = self.h();
        self.update(vm, "close", |mut s| {
            s.closed = 1;
            h.items.changed();
            h.space.changed();
            Ok(((), Some(s)))
        })?;
        h.items.wake_all();
        h.space.wake_all();
        Ok(())
    }

    fn task_done(&self, vm: &mut Vm) -> VmResult<()> {
        let h = self.h();
        let last = self.update(vm, "task_done", |mut s| {
            if s.unfinished == 0 {
                return Err(Exc::value_error(
                    "task_done() called more times than there were items put",
                ));
            }
            s.unfinished -= 1;
            let last = s.unfinished == 0;
            if last {
                h.done.seq.fetch_add(1, Ordering::Relaxed);
            }
            Ok((last && h.done.sleepers.load(Ordering::Relaxed) > 0, Some(s)))
        })?;
        if last {
            h.done.wake_all();
        }
        Ok(())
    }

    /// Waits until every item put was `task_done()`; false on timeout.
    fn join(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        let h = self.h();
        // no polling first: joins are long waits
        let mut w = Wait { spun: true };
        loop {
            let g = self.lock(vm, "join")?;
            if g.state().unfinished == 0 {
                return Ok(true);
            }
            if deadline.expired() {
                return Ok(false);
            }
            self.wait(vm, g, &h.done, deadline, &mut w)?;
        }
    }

    fn state(&self, vm: &mut Vm, fname: &str) -> VmResult<State> {
        self.update(vm, fname, |s| Ok((s, None)))
    }
}

fn full() -> Exc {
    Exc::new("QueueFull", "the queue is full")
}

fn empty() -> Exc {
    Exc::new("QueueEmpty", "the queue is empty")
}

/// A `timeout:` argument: nil (wait forever) or a non-negative number of seconds.
pub fn timeout_arg(fname: &str, v: Option<Value>) -> VmResult<Option<f64>> {
    let Some(v) = given(v) else {
        return Ok(None);
    };
    let t = want_f64(fname, "timeout", &v)?;
    if t.is_nan() || t < 0.0 {
        return Err(Exc::value_error(format!(
            "{fname}(): timeout must be a non-negative number of seconds, not {t}"
        )));
    }
    Ok(Some(t))
}

/// The `Queue` handle a script holds.
pub struct Queue {
    shared: Shared,
    id: u64,
}

const QUEUE_METHODS: &[&str] = &[
    "put",
    "put_nowait",
    "get",
    "get_nowait",
    "qsize",
    "empty",
    "full",
    "close",
    "task_done",
    "join",
];

impl Queue {
    fn put(&self, vm: &mut Vm, x: Value, block: bool, timeout: Option<f64>) -> VmResult<Value> {
        let deadline = Deadline::after(timeout);
        let bytes = wire::encode(vm, &x)?;
        self.shared.put(vm, &bytes, block, deadline)?;
        Ok(Value::Nil)
    }

    fn get(&self, vm: &mut Vm, block: bool, timeout: Option<f64>) -> VmResult<Value> {
        let item = self.shared.get(vm, block, Deadline::after(timeout))?;
        wire::decode(vm, item.bytes())
    }
}

impl Object for Queue {
    fn type_name(&self) -> &'static str {
        "Queue"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        match self.shared.maxsize {
            0 => "<Queue>".to_string(),
            n => format!("<Queue maxsize={n}>"),
        }
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        match name {
            "maxsize" => Some(Ok(Value::Int(self.shared.maxsize as i64))),
            _ => None,
        }
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            // the common calls skip argument binding
            "put" if args.names.is_empty() && args.pos.len() == 1 => {
                self.put(vm, args.pos[0].clone(), true, None)
            }
            "get" if args.is_empty() => self.get(vm, true, None),
            "put" => (|| {
                let [x, block, timeout] = args.bind("put", ["x", "block", "timeout"], 1)?;
                let block = given(block).is_none_or(|b| b.truthy());
                let timeout = timeout_arg("put", timeout)?;
                self.put(vm, x.unwrap_or_default(), block, timeout)
            })(),
            "put_nowait" => (|| {
                let [x] = args.bind("put_nowait", ["x"], 1)?;
                self.put(vm, x.unwrap_or_default(), false, None)
            })(),
            "get" => (|| {
                let [block, timeout] = args.bind("get", ["block", "timeout"], 0)?;
                let block = given(block).is_none_or(|b| b.truthy());
                let timeout = timeout_arg("get", timeout)?;
                self.get(vm, block, timeout)
            })(),
            "get_nowait" => args
                .expect("get_nowait", 0, 0)
                .and_then(|_| self.get(vm, false, None)),
            "qsize" => args
                .expect("qsize", 0, 0)
                .and_then(|_| self.shared.state(vm, "qsize"))
                .map(|s| Value::Int(s.count as i64)),
            "empty" => args
                .expect("empty", 0, 0)
                .and_then(|_| self.shared.state(vm, "empty"))
                .map(|s| Value::Bool(s.count == 0)),
            "full" => args
                .expect("full", 0, 0)
                .and_then(|_| self.shared.state(vm, "full"))
                .map(|s| Value::Bool(self.shared.maxsize > 0 && s.count >= self.shared.maxsize)),
            "close" => args
                .expect("close", 0, 0)
                .and_then(|_| self.shared.close(vm))
                .map(|()| Value::Nil),
            "task_done" => args
                .expect("task_done", 0, 0)
                .and_then(|_| self.shared.task_done(vm))
                .map(|()| Value::Nil),
            "join" => (|| {
                let [timeout] = args.bind("join", ["timeout"], 0)?;
                let deadline = Deadline::after(timeout_arg("join", timeout)?);
                self.shared.join(vm, deadline).map(Value::Bool)
            })(),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        QUEUE_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `queue(maxsize = 0)`: unbounded when maxsize is 0 or less.
fn queue(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [maxsize] = args.bind("queue", ["maxsize"], 0)?;
    let maxsize = match given(maxsize) {
        Some(v) => want_int("queue", "maxsize", &v)?.max(0) as u64,
        None => 0,
    };
    let shared = Shared::new(maxsize)
        .map_err(|e| Exc::new("IOError", format!("queue(): cannot map shared memory: {e}")))?;
    let id = vm.new_handle_id();
    let q = Value::object(Queue { shared, id });
    vm.register_handle(id, &q);
    Ok(q)
}

pub const FUNCS: &[(&str, NativeFn)] = &[("queue", queue)];

/// An unbounded queue of byte messages for the runtime's own use (a pool's
/// task and result queues): the same shared ring, without wire encoding.
pub(crate) struct ByteQueue(Shared);

impl ByteQueue {
    pub(crate) fn new() -> io::Result<ByteQueue> {
        Shared::new(0).map(ByteQueue)
    }

    /// Appends a message (waits only if a gigabyte is already queued).
    pub(crate) fn put(&self, vm: &mut Vm, bytes: &[u8]) -> VmResult<()> {
        self.0.put(vm, bytes, true, Deadline::NEVER)
    }

    /// The oldest message, waiting until `deadline`; None when it passed.
    pub(crate) fn get(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<Option<Vec<u8>>> {
        match self.0.get(vm, true, deadline) {
            Ok(item) => Ok(Some(item.bytes().to_vec())),
            Err(e) if &*e.error().kind == "QueueEmpty" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Messages waiting.
    pub(crate) fn len(&self, vm: &mut Vm) -> VmResult<u64> {
        Ok(self.0.state(vm, "pool")?.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Captures what the VM writes to stderr.
    #[derive(Clone, Default)]
    struct Captured(Rc<RefCell<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn vm() -> (Vm, Captured) {
        let err = Captured::default();
        let vm = Vm::new(
            crate::vm::Config::default(),
            Box::new(io::sink()),
            Box::new(err.clone()),
        );
        (vm, err)
    }

    fn item(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    fn get_now(q: &Shared, vm: &mut Vm) -> VmResult<Vec<u8>> {
        q.get(vm, false, Deadline::now())
            .map(|i| i.bytes().to_vec())
    }

    #[test]
    fn records_wrap_around_a_small_ring_in_order() {
        let (mut vm, _) = vm();
        let q = Shared::with_ring(0, 1 << 16).unwrap();
        let mut expect = std::collections::VecDeque::new();
        let mut serial = 0u8;
        // keep a few items queued so that the offsets keep moving and wrap
        for round in 0..2000usize {
            let n = (round * 7919) % 9000;
            let it = item(n, serial);
            match q.put(&mut vm, &it, false, Deadline::now()) {
                Ok(()) => {
                    expect.push_back(it);
                    serial = serial.wrapping_add(1);
                }
                Err(e) => assert_eq!(e.kind(), "QueueFull"),
            }
            if expect.len() > 4 || round % 3 == 0 {
                if let Some(want) = expect.pop_front() {
                    assert_eq!(get_now(&q, &mut vm).ok().as_ref(), Some(&want));
                }
            }
        }
        while let Some(want) = expect.pop_front() {
            assert_eq!(get_now(&q, &mut vm).ok(), Some(want));
        }
        assert_eq!(
            get_now(&q, &mut vm)
                .err()
                .map(|e| e.kind().to_string())
                .as_deref(),
            Some("QueueEmpty")
        );
    }

    #[test]
    fn a_full_ring_refuses_and_an_oversized_item_is_a_value_error() {
        let (mut vm, _) = vm();
        let q = Shared::with_ring(0, 1 << 16).unwrap();
        let big = item(20_000, 1);
        let mut n = 0;
        while q.put(&mut vm, &big, false, Deadline::now()).is_ok() {
            n += 1;
        }
        assert_eq!(n, 3);
        let e = q
            .put(&mut vm, &item(1 << 16, 2), false, Deadline::now())
            .err()
            .unwrap();
        assert_eq!(e.kind(), "ValueError");
        for _ in 0..n {
            assert_eq!(get_now(&q, &mut vm).ok(), Some(big.clone()));
        }
    }

    #[test]
    fn consumed_pages_are_given_back() {
        let (mut vm, _) = vm();
        let q = Shared::new(0).unwrap();
        let big = vec![7u8; 4 << 20];
        q.put(&mut vm, &big, false, Deadline::now()).unwrap();
        let probe = 3 << 20;
        // SAFETY: inside the ring, read by this test only.
        let at = |pos: usize| unsafe { *q.ring.as_ptr().add(pos) };
        assert_eq!(at(probe), 7);
        assert_eq!(get_now(&q, &mut vm).ok().map(|b| b.len()), Some(big.len()));
        assert_eq!(at(probe), 0, "the page past the hot MiB was released");
        assert_eq!(at(HOT - 4096), 7, "the hot MiB is kept");
    }

    #[test]
    fn a_holder_killed_mid_put_leaves_the_queue_consistent() {
        let (mut vm, err) = vm();
        let q = Shared::new(0).unwrap();
        q.put(&mut vm, b"first", false, Deadline::now()).unwrap();
        vm.flush();
        // SAFETY: the child only touches the shared regions and _exits.
        match unsafe { libc::fork() } {
            0 => {
                let h = q.h();
                let _ = h.mutex.lock_short();
                // a put cut short: record bytes past the tail, the spare
                // state half written, `current` not flipped
                // SAFETY: the ring is mapped; this mimics a partial copy.
                unsafe { std::ptr::write_bytes(q.ring.as_ptr().add(12), 0xab, 4000) };
                // SAFETY: holding the mutex, as a real put would.
                unsafe {
                    let spare = (h.current.load(Ordering::Relaxed) as usize & 1) ^ 1;
                    (*h.states.get())[spare].tail = 999_999;
                }
                // SAFETY: dies holding the mutex, as a killed producer would.
                unsafe { libc::_exit(0) };
            }
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(get_now(&q, &mut vm).ok().as_deref(), Some(&b"first"[..]));
                vm.flush();
                let text = String::from_utf8_lossy(&err.0.borrow()).into_owned();
                assert!(text.contains(&format!("process {pid} died")), "{text}");
                assert_eq!(
                    get_now(&q, &mut vm)
                        .err()
                        .map(|e| e.kind().to_string())
                        .as_deref(),
                    Some("QueueEmpty")
                );
                q.put(&mut vm, b"second", false, Deadline::now()).unwrap();
                assert_eq!(get_now(&q, &mut vm).ok().as_deref(), Some(&b"second"[..]));
            }
        }
    }

    #[test]
    fn task_done_and_join_count_items() {
        let (mut vm, _) = vm();
        let q = Shared::new(0).unwrap();
        assert!(q.join(&mut vm, Deadline::now()).unwrap());
        q.put(&mut vm, b"a", false, Deadline::now()).unwrap();
        q.put(&mut vm, b"b", false, Deadline::now()).unwrap();
        get_now(&q, &mut vm).ok();
        q.task_done(&mut vm).ok();
        assert!(!q.join(&mut vm, Deadline::after(Some(0.01))).unwrap());
        q.task_done(&mut vm).ok();
        assert!(q.join(&mut vm, Deadline::now()).unwrap());
        assert_eq!(
            q.task_done(&mut vm)
                .err()
                .map(|e| e.kind().to_string())
                .as_deref(),
            Some("ValueError")
        );
    }

    #[test]
    fn close_refuses_puts_and_drains() {
        let (mut vm, _) = vm();
        let q = Shared::new(1).unwrap();
        q.put(&mut vm, b"a", false, Deadline::now()).unwrap();
        q.close(&mut vm).unwrap();
        let e = q.put(&mut vm, b"b", true, Deadline::NEVER).err().unwrap();
        assert_eq!(e.kind(), "ValueError");
        assert_eq!(get_now(&q, &mut vm).ok().as_deref(), Some(&b"a"[..]));
        // a blocking get on a closed, empty queue does not wait
        let e = q.get(&mut vm, true, Deadline::NEVER).err().unwrap();
        assert_eq!(e.kind(), "QueueEmpty");
    }
}
