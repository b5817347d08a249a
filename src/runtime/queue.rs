//! `queue(maxsize = 0)` (section 11): a FIFO of messages shared by the process
//! that made it and every process forked after that.
//!
//! Layout: a one-page header `Region` and a data ring `Region` of up to 1 GiB,
//! reserved with `MAP_NORESERVE` so that only the pages in use cost memory.
//!
//! - The ring holds records: a u32 length, then the wire-encoded item, padded
//!   to 4 bytes. A record that does not fit before the end of the ring leaves
//!   a `WRAP` marker and starts again at offset 0. Offsets into the ring
//!   (`head`, `tail`) only grow; the position is the offset modulo the size.
//! - The header has two sides, each with its own robust mutex, as in Michael
//!   and Scott's two-lock queue: putters take the put side's (and own the tail
//!   and the count of items put), getters the get side's (and own the head,
//!   the count of items got, the count of `task_done()` calls, and how far
//!   consumed pages were given back). A producer and a consumer never wait
//!   for each other's mutex. Each side publishes its state for the other to
//!   read without locking (`Versioned`), and each process remembers the other
//!   side's state as last seen: a putter only looks again when the queue
//!   seems full, a getter when it seems empty. Since both sides only move
//!   forward, an old view is always a safe one.
//! - Futex words that waiters sleep on: `items` (changed by every put, getters
//!   wait on it), `space` (changed by every get, putters of a full queue wait
//!   on it) and `done` (changed when the last task is done, `join` waits on
//!   it). Beside each word, the number of processes sleeping on it: a put or
//!   get makes a wake system call only when someone sleeps.
//!
//! Crash safety: every change is committed by one store. Each side's state
//! is kept twice; an operation writes the new state into the spare copy and
//! then moves the version on to it. A process killed at any instruction, even
//! while copying a record into the ring, leaves either the old state or the
//! new one: its half-written record lies past the committed tail and is never
//! read. The next process to take that side's mutex learns the holder died
//! (robust mutex), prints a warning, and goes on.
//!
//! This module must never block a put on an unbounded queue waiting for a
//! reader (only a ring holding 1 GiB of unread items makes a put wait), never
//! lose or duplicate an item, never start a thread, and never serialise or
//! deserialise while holding a mutex.

use super::reactor::{self, Pending};
use super::shm::{Acquired, Deadline, Region, RobustMutex, futex_wait, futex_wake};
use crate::stdlib::given;
use crate::value::func::{want_f64, want_int};
use crate::value::{Args, Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use crate::wire;
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

/// The largest ring; smaller ones are tried when the system refuses to
/// reserve this much address space.
const RING_MAX: usize = 1 << 30;
const RING_MIN: usize = 1 << 24;
/// A record's length word for "the next record is at offset 0".
const WRAP: u32 = u32::MAX;
/// Consumed pages are given back once the head moved this far past the last
/// point given back (one system call per MiB, not per item).
const RELEASE_STEP: u64 = 1 << 20;
/// How long a put or get that would block polls the queue (or a `recv` its
/// connection) before sleeping: a process on another CPU usually delivers
/// within this, and a sleep and wake-up cost more. Only on machines with
/// several CPUs.
pub const SPIN: Duration = Duration::from_micros(50);
/// How many looks at the other side a poll makes between yields of the CPU.
const YIELD_EVERY: u32 = 8;
/// How many times `lock` looks at a busy mutex before sleeping on it.
const LOCK_SPINS: u32 = 2000;
/// How many items a getter that found the queue empty waits for while it
/// polls and putters keep adding; how many free places a putter that found
/// a bounded queue full waits for (at most an eighth of `maxsize`).
const BATCH: u64 = 64;
/// A `Queue`'s buffer for the item being got is given back after an item
/// longer than this.
const KEEP: usize = 1 << 16;

/// `N` numbers that one side commits together and the other side reads
/// without its mutex: two copies, and a version whose parity names the
/// committed one.
#[repr(C)]
struct Versioned<const N: usize> {
    ver: AtomicU64,
    slots: [[AtomicU64; N]; 2],
}

impl<const N: usize> Versioned<N> {
    /// The committed numbers, read by any process at any time (retried when
    /// a commit overwrote the copy being read).
    fn read(&self) -> [u64; N] {
        loop {
            let v = self.ver.load(Ordering::Acquire);
            let slot = &self.slots[(v & 1) as usize];
            let vals = std::array::from_fn(|i| slot[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.ver.load(Ordering::Relaxed) == v {
                return vals;
            }
        }
    }

    /// Makes `vals` the committed numbers with one store. Only the holder of
    /// the side's mutex commits.
    fn commit(&self, vals: [u64; N]) {
        let v = self.ver.load(Ordering::Relaxed);
        // a reader that sees any of the stores below also sees the version
        // move past the copy it was reading
        fence(Ordering::Release);
        let slot = &self.slots[((v + 1) & 1) as usize];
        for (word, val) in slot.iter().zip(vals) {
            word.store(val, Ordering::Relaxed);
        }
        self.ver.store(v + 1, Ordering::Release);
    }
}

/// What putters own.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct PutState {
    /// Ring offset just past the newest complete record.
    tail: u64,
    /// Items put so far.
    puts: u64,
}

impl PutState {
    fn from([tail, puts]: [u64; 2]) -> PutState {
        PutState { tail, puts }
    }
    fn to(self) -> [u64; 2] {
        [self.tail, self.puts]
    }
}

/// What getters own.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct GetState {
    /// Ring offset of the oldest record.
    head: u64,
    /// Items got so far.
    gets: u64,
    /// `task_done()` calls so far.
    dones: u64,
    /// Consumed pages before this offset were given back.
    released: u64,
}

impl GetState {
    fn from([head, gets, dones, released]: [u64; 4]) -> GetState {
        GetState {
            head,
            gets,
            dones,
            released,
        }
    }
    fn to(self) -> [u64; 4] {
        [self.head, self.gets, self.dones, self.released]
    }
}

/// A cache line (or more) of its own, so that writing what is in it does
/// not take the line away from a process reading something else.
#[repr(C, align(64))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One side of the queue. The state (which the other side reads) and the
/// mutex (which only this side takes, nearly always) are on separate lines.
#[repr(C)]
struct Side<const N: usize> {
    state: Line<Versioned<N>>,
    mutex: Line<RobustMutex>,
    /// Put side only: 1 after `close()` (changed under the put mutex).
    closed: AtomicU32,
}

/// A futex word that processes sleep on until it changes, on a cache line
/// of its own.
#[repr(C, align(64))]
struct WaitWord {
    seq: AtomicU32,
    /// Processes registered as sleeping on `seq`. A stale count (a sleeper
    /// that was killed) only costs a spare wake.
    sleepers: AtomicU32,
    /// 1 when a wake was sent and no sleeper has got up or lain down since:
    /// waking again before then would be a wasted system call (a consumer
    /// draining a full queue would otherwise make one per item while the
    /// producer it woke is still getting up).
    woken: AtomicU32,
}

impl WaitWord {
    /// Records a change (by the side that owns this word, holding its
    /// mutex, after committing its new state); true when a sleeper should be
    /// woken with `wake_one`. The word itself only moves when someone
    /// sleeps: with nobody registered, nothing is written, so a busy queue
    /// does not take this cache line away from the other side on every item.
    fn changed(&self) -> bool {
        // the state, then the sleepers: pairs with `Shared::wait`, which
        // registers, then looks at the state. One of the two sees the other.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // a sleeper that read `seq` before this does not fall asleep
        self.seq.fetch_add(1, Ordering::SeqCst);
        self.wanted()
    }

    /// True (and now counted as woken) when a sleeper waits and no wake is
    /// under way.
    fn wanted(&self) -> bool {
        self.sleepers.load(Ordering::Relaxed) > 0
            && self
                .woken
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
    }

    fn wake_one(&self) {
        futex_wake(&self.seq, 1);
    }

    fn wake_all(&self) {
        futex_wake(&self.seq, i32::MAX);
    }
}

#[repr(C)]
struct Header {
    put: Side<2>,
    get: Side<4>,
    items: WaitWord,
    space: WaitWord,
    done: WaitWord,
}

/// What a waiting operation's look at the other side found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    /// It cannot go on.
    Blocked,
    /// It could go on; a second look soon tells whether the other side is
    /// still adding.
    Again,
    /// It could go on, but the other side is still adding to a batch.
    Gathering,
    /// Go on.
    Clear,
}

/// A wait for a batch: it lasts while the other side's count keeps moving
/// between looks, so that a lone item (or the last of a burst) is taken a
/// short look after it came.
#[derive(Default)]
struct Gather {
    last: Cell<Option<u64>>,
}

impl Gather {
    /// The look of an operation that could go on now, given the other side's
    /// count and whether a batch is there: while polling, short of a batch,
    /// a second look right after the first way clear, then `Gathering` while
    /// the count moves.
    fn until(&self, polling: bool, count: u64, enough: bool) -> Look {
        if !polling || enough {
            return Look::Clear;
        }
        match self.last.replace(Some(count)) {
            None => Look::Again,
            Some(c) if c != count => Look::Gathering,
            Some(_) => Look::Clear,
        }
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
    /// The get side as this process last saw it (a putter's view).
    seen_get: Cell<GetState>,
    /// The put side as this process last saw it (a getter's view).
    seen_put: Cell<PutState>,
}

/// A side's mutex, held; released when dropped.
struct Locked<'a> {
    mutex: &'a RobustMutex,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // cannot fail: this process holds the mutex (taken by `Shared::lock`)
        let _ = self.mutex.unlock();
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
        let h = header.as_ptr().cast::<Header>();
        // SAFETY: a fresh zeroed page, aligned for the header, used by no
        // process yet; all-zero is a valid state and valid atomics.
        unsafe {
            RobustMutex::init(&raw mut (*h).put.mutex.0);
            RobustMutex::init(&raw mut (*h).get.mutex.0);
        }
        Ok(Shared {
            header,
            ring,
            ring_len: ring_len as u64,
            maxsize,
            spin: crate::stdlib::os::cpu_count_now() > 1,
            past: Deadline::now(),
            seen_get: Cell::new(GetState::default()),
            seen_put: Cell::new(PutState::default()),
        })
    }

    fn h(&self) -> &Header {
        // SAFETY: the header region is one page holding an initialised
        // `Header` (see `with_ring`) and lives as long as `self`; all its
        // fields are atomics or mutexes.
        unsafe { &*self.header.as_ptr().cast::<Header>() }
    }

    /// The put side's state, read afresh (and remembered).
    fn look_put(&self) -> PutState {
        let p = PutState::from(self.h().put.state.read());
        self.seen_put.set(p);
        p
    }

    /// The get side's state, read afresh (and remembered).
    fn look_get(&self) -> GetState {
        let g = GetState::from(self.h().get.state.read());
        self.seen_get.set(g);
        g
    }

    /// Takes a side's mutex. It is only ever held for a short section (at
    /// most the copy of one item), so this waits for it whatever the
    /// operation's timeout, watching it a while before sleeping, and checking
    /// interrupts between slices.
    fn lock<'a>(&self, vm: &mut Vm, fname: &str, m: &'a RobustMutex) -> VmResult<Locked<'a>> {
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
                Some(Acquired::Clean) => return Ok(Locked { mutex: m }),
                Some(Acquired::FromDead(pid)) => {
                    vm.write_err(&format!(
                        "warning: {fname}(): process {pid} died while using the queue; \
                         its unfinished operation was discarded and the queue goes on\n"
                    ));
                    return Ok(Locked { mutex: m });
                }
                None if tries > 0 => std::hint::spin_loop(),
                None => vm.check_interrupt()?,
            }
        }
    }

    /// Called (holding a side's mutex, as `g`) when an operation cannot go
    /// on yet: waits for the other side to move, which `look` (reading the
    /// other side's state) tells. The first time, it polls that for a short
    /// while (on machines with several CPUs), asking `look(true)`, which may
    /// ask for a batch while the other side is still adding to it. Then it
    /// sleeps one slice on `word`'s futex, unless `look(false)`, asked once
    /// more after registering as a sleeper, says the way is already clear.
    /// The caller then checks its deadline and tries again.
    fn wait(
        &self,
        vm: &mut Vm,
        g: Locked<'_>,
        word: &WaitWord,
        deadline: Deadline,
        w: &mut Wait,
        look: impl Fn(bool) -> Look,
    ) -> VmResult<()> {
        crate::runtime::process::place_children(vm);
        if self.spin && !w.spun {
            w.spun = true;
            drop(g);
            let until = Instant::now() + SPIN;
            let mut looks = 0u32;
            loop {
                // a gathering wait looks less often: each look takes the
                // other side's cache line while it is adding to the batch
                let pause = match look(true) {
                    Look::Clear => break,
                    Look::Blocked => 16,
                    Look::Again => 2,
                    Look::Gathering => 128,
                };
                for _ in 0..pause {
                    std::hint::spin_loop();
                }
                // the other side may be waiting for this very CPU (two
                // processes that talk often end up on one): let it run now
                // and then. With nothing else to run here, this returns at
                // once.
                looks += 1;
                if looks % YIELD_EVERY == 0 {
                    std::thread::yield_now();
                }
                if Instant::now() >= until || deadline.expired() {
                    break;
                }
            }
            return Ok(());
        }
        // register, then look again: a change made before we registered is
        // seen by the look, one made after sees us (see `changed`) and moves
        // `seq` past `seen`. A new sleeper must be woken by the next change
        // even if an earlier wake is still under way (or was sent to a
        // sleeper that was killed and never got up to clear the flag).
        word.sleepers.fetch_add(1, Ordering::SeqCst);
        word.woken.store(0, Ordering::SeqCst);
        let seen = word.seq.load(Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if look(false) == Look::Blocked {
            drop(g);
            futex_wait(&word.seq, seen, deadline.slice());
        } else {
            drop(g);
        }
        word.sleepers.fetch_sub(1, Ordering::Relaxed);
        // up again (woken or not): the next change may wake another sleeper.
        // Clearing this too eagerly can only cause a spare wake.
        word.woken.store(0, Ordering::SeqCst);
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
        // 4-byte aligned), the ring is page aligned, and the word belongs to
        // a committed record (or marker) that no putter writes any more.
        unsafe { self.ring_ptr(pos, 4).cast::<u32>().read() }
    }

    fn write_u32(&self, pos: usize, v: u32) {
        // SAFETY: as in read_u32, for a word past the committed tail that
        // only the holder of the put mutex writes.
        unsafe { self.ring_ptr(pos, 4).cast::<u32>().write(v) }
    }

    /// Gives back the pages of the consumed records in `[from, to)` (ring
    /// offsets) except any position that could hold data again. Called
    /// holding both mutexes, so `tail` is exact and no put is copying.
    fn release(&self, from: u64, to: u64, tail: u64) {
        let ring = self.ring_len;
        // positions before `tail - ring` hold records not yet got
        let from = from
            .max(tail.saturating_sub(ring))
            .max(to.saturating_sub(ring));
        if to <= from {
            return;
        }
        let a = (from % ring) as usize;
        let n = (to - from) as usize;
        if a + n <= ring as usize {
            self.ring.release(a, a + n);
        } else {
            self.ring.release(a, ring as usize);
            self.ring.release(0, a + n - ring as usize);
        }
    }

    /// Where a record of `need` bytes goes after `p.tail`: its offset, and
    /// whether a wrap marker goes at the old position. None when there is
    /// no room as far as `seen` (the get side as seen) tells. (`seen` may be
    /// newer than `p`, when a waiting putter looks again without the mutex.)
    fn place(&self, p: PutState, need: u64, seen: GetState) -> Option<(u64, bool)> {
        let ring = self.ring_len;
        let pos = p.tail % ring;
        let (start, wrap) = if pos + need > ring {
            (round_up(p.tail, ring), true)
        } else {
            (p.tail, false)
        };
        let bounded_full = self.maxsize > 0 && p.puts.saturating_sub(seen.gets) >= self.maxsize;
        (!bounded_full && start + need <= seen.head + ring).then_some((start, wrap))
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
            let g = self.lock(vm, "put", &h.put.mutex)?;
            if h.put.closed.load(Ordering::Relaxed) != 0 {
                return Err(Exc::value_error("put() on a closed queue"));
            }
            let mut p = PutState::from(h.put.state.read());
            let placed = self
                .place(p, need, self.seen_get.get())
                .or_else(|| self.place(p, need, self.look_get()));
            let Some((start, wrap)) = placed else {
                if !block || deadline.expired() {
                    return Err(full());
                }
                // a putter that found the queue full polls until there is
                // room for a batch, while getters keep making room: putting
                // into each place as it opens would take the get side's cache
                // line from the getter per item
                let batch = (self.maxsize / 8).clamp(1, BATCH);
                let gather = Gather::default();
                let look = |polling: bool| {
                    let seen = self.look_get();
                    if self.place(p, need, seen).is_none() {
                        return Look::Blocked;
                    }
                    let more = PutState {
                        puts: p.puts + batch - 1,
                        ..p
                    };
                    gather.until(polling, seen.gets, self.place(more, need, seen).is_some())
                };
                self.wait(vm, g, &h.space, deadline, &mut w, look)?;
                continue;
            };
            let ring = self.ring_len;
            if wrap {
                self.write_u32((p.tail % ring) as usize, WRAP);
            }
            let at = (start % ring) as usize;
            self.write_u32(at, item.len() as u32);
            // SAFETY: the record lies within the ring (`place`) past the
            // committed tail, where no getter looks; the put mutex is held.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    item.as_ptr(),
                    self.ring_ptr(at + 4, item.len()),
                    item.len(),
                )
            };
            p.tail = start + need;
            p.puts += 1;
            h.put.state.commit(p.to());
            let wake_get = h.items.changed();
            // room left: pass the turn on to another waiting putter
            let wake_put = h.space.sleepers.load(Ordering::Relaxed) > 0
                && self.place(p, 4, self.seen_get.get()).is_some()
                && h.space.wanted();
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
    /// Takes the oldest item into `out`.
    fn get(&self, vm: &mut Vm, block: bool, deadline: Deadline, out: &mut Vec<u8>) -> VmResult<()> {
        self.get_with(vm, block, deadline, &|_| {}, out)
    }

    /// `get`, calling `on_take` with the item while it is being taken (under
    /// the get mutex, before the queue moves past it): a process killed at
    /// any point has either not taken the item or has run `on_take`.
    fn get_with(
        &self,
        vm: &mut Vm,
        block: bool,
        deadline: Deadline,
        on_take: &dyn Fn(&[u8]),
        out: &mut Vec<u8>,
    ) -> VmResult<()> {
        let h = self.h();
        let mut w = Wait::default();
        loop {
            let g = self.lock(vm, "get", &h.get.mutex)?;
            let mut s = GetState::from(h.get.state.read());
            let mut tail = self.seen_put.get().tail;
            if s.head >= tail {
                tail = self.look_put().tail;
            }
            if s.head >= tail {
                if h.put.closed.load(Ordering::Acquire) != 0 && s.head >= self.look_put().tail {
                    return Err(Exc::new(
                        "QueueEmpty",
                        "get(): the queue is closed and empty",
                    ));
                }
                if !block || deadline.expired() {
                    return Err(empty());
                }
                // a getter that found the queue empty polls until a batch
                // is there, while putters keep adding: taking each item as it
                // comes would take the put side's cache line per item
                let (head, gets) = (s.head, s.gets);
                let gather = Gather::default();
                let look = |polling: bool| {
                    let p = self.look_put();
                    if head >= p.tail {
                        return if self.closed() {
                            Look::Clear
                        } else {
                            Look::Blocked
                        };
                    }
                    gather.until(polling, p.puts, p.puts - gets >= BATCH)
                };
                self.wait(vm, g, &h.items, deadline, &mut w, look)?;
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
            let need = record_len(len as usize, ring).filter(|n| s.head + n <= tail);
            let Some(need) = need else {
                return Err(Exc::new(
                    "IOError",
                    "get(): the queue's shared memory is corrupt (a record runs past the tail)",
                ));
            };
            let len = len as usize;
            let src = self.ring_ptr(pos + 4, len);
            out.clear();
            // SAFETY: `len` committed bytes at `src` (checked against the
            // tail above); the get mutex is held, so no other getter frees
            // them.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(src, len) });
            s.head += need;
            s.gets += 1;
            if s.head - s.released >= RELEASE_STEP {
                // both mutexes (always in this order), so that no put is
                // copying into what is given back
                let pg = self.lock(vm, "get", &h.put.mutex)?;
                let exact = PutState::from(h.put.state.read());
                self.release(s.released, s.head, exact.tail);
                drop(pg);
                s.released = s.head;
            }
            on_take(out);
            h.get.state.commit(s.to());
            let wake_put = h.space.changed();
            // items left: pass the turn on to another waiting getter
            let wake_get = s.head < tail && h.items.wanted();
            drop(g);
            if wake_put {
                h.space.wake_one();
            }
            if wake_get {
                h.items.wake_one();
            }
            return Ok(());
        }
    }

    fn close(&self, vm: &mut Vm) -> VmResult<()> {
        let h = self.h();
        let g = self.lock(vm, "close", &h.put.mutex)?;
        h.put.closed.store(1, Ordering::SeqCst);
        // every waiter learns it, registered or about to be: getters find
        // the queue closed and empty, putters fail at once
        h.items.seq.fetch_add(1, Ordering::SeqCst);
        drop(g);
        h.items.wake_all();
        h.space.seq.fetch_add(1, Ordering::SeqCst);
        h.space.wake_all();
        Ok(())
    }

    fn task_done(&self, vm: &mut Vm) -> VmResult<()> {
        let h = self.h();
        let g = self.lock(vm, "task_done", &h.get.mutex)?;
        let mut s = GetState::from(h.get.state.read());
        if s.dones >= self.look_put().puts {
            return Err(Exc::value_error(
                "task_done() called more times than there were items put",
            ));
        }
        s.dones += 1;
        h.get.state.commit(s.to());
        let last = s.dones == self.seen_put.get().puts;
        let wake = last && {
            let seq = h.done.seq.load(Ordering::Relaxed);
            h.done.seq.store(seq.wrapping_add(1), Ordering::Release);
            fence(Ordering::SeqCst);
            h.done.sleepers.load(Ordering::Relaxed) > 0
        };
        drop(g);
        if wake {
            h.done.wake_all();
        }
        Ok(())
    }

    /// Items put and not yet `task_done()`: the get side first, so the two
    /// reads never show more done than put.
    fn unfinished(&self) -> u64 {
        let dones = self.look_get().dones;
        self.look_put().puts.saturating_sub(dones)
    }

    /// Waits until every item put was `task_done()`; false on timeout.
    fn join(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        let h = self.h();
        // no polling first: joins are long waits
        let mut w = Wait { spun: true };
        loop {
            if self.unfinished() == 0 {
                return Ok(true);
            }
            if deadline.expired() {
                return Ok(false);
            }
            let g = self.lock(vm, "join", &h.get.mutex)?;
            let busy = |_| {
                if self.unfinished() > 0 {
                    Look::Blocked
                } else {
                    Look::Clear
                }
            };
            self.wait(vm, g, &h.done, deadline, &mut w, busy)?;
        }
    }

    /// True once `close()` was called (by any process).
    fn closed(&self) -> bool {
        self.h().put.closed.load(Ordering::Acquire) != 0
    }

    /// Items in the queue now.
    fn count(&self) -> u64 {
        let gets = self.look_get().gets;
        self.look_put().puts.saturating_sub(gets)
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
    /// Where the item being got is copied to be decoded (kept between gets).
    scratch: Cell<Vec<u8>>,
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
    fn put(
        &self,
        vm: &mut Vm,
        this: &Value,
        x: Value,
        block: bool,
        timeout: Option<f64>,
    ) -> VmResult<Value> {
        let deadline = Deadline::after(timeout);
        let bytes = wire::encode(vm, &x)?;
        if block && vm.tasks_active() {
            // other tasks run while this one waits for room (reactor.rs)
            let deadline = reactor::deadline_after(timeout);
            let wait = Pending::retry_on(this, deadline, move |me: &Queue, vm, expired| {
                match me.shared.put(vm, &bytes, false, Deadline::now()) {
                    Ok(()) => Ok(Some(Value::Nil)),
                    Err(e) if e.kind() == "QueueFull" && !expired => Ok(None),
                    Err(e) => Err(e),
                }
            });
            return vm.block(wait);
        }
        self.shared.put(vm, &bytes, block, deadline)?;
        Ok(Value::Nil)
    }

    fn get(&self, vm: &mut Vm, this: &Value, block: bool, timeout: Option<f64>) -> VmResult<Value> {
        if block && vm.tasks_active() {
            // other tasks run while this one waits for an item (reactor.rs)
            let deadline = reactor::deadline_after(timeout);
            let wait = Pending::retry_on(this, deadline, |me: &Queue, vm, expired| {
                match me.get_decoded(vm, false, Deadline::now()) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.kind() == "QueueEmpty" && !expired && !me.shared.closed() => {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            });
            return vm.block(wait);
        }
        self.get_decoded(vm, block, Deadline::after(timeout))
    }

    /// Takes the oldest item and decodes it.
    fn get_decoded(&self, vm: &mut Vm, block: bool, deadline: Deadline) -> VmResult<Value> {
        let mut buf = self.scratch.take();
        let r = self
            .shared
            .get(vm, block, deadline, &mut buf)
            .and_then(|()| wire::decode(vm, &buf));
        if buf.capacity() <= KEEP {
            self.scratch.set(buf);
        }
        r
    }

    /// `join(timeout)`: waits until every item put was `task_done()`.
    fn join(&self, vm: &mut Vm, this: &Value, timeout: Option<f64>) -> VmResult<Value> {
        if vm.tasks_active() {
            let deadline = reactor::deadline_after(timeout);
            let wait = Pending::retry_on(this, deadline, |me: &Queue, _, expired| {
                Ok(match me.shared.unfinished() {
                    0 => Some(Value::Bool(true)),
                    _ if expired => Some(Value::Bool(false)),
                    _ => None,
                })
            });
            return vm.block(wait);
        }
        self.shared
            .join(vm, Deadline::after(timeout))
            .map(Value::Bool)
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
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            // the common calls skip argument binding
            "put" if args.names.is_empty() && args.pos.len() == 1 => {
                self.put(vm, this, args.pos[0].clone(), true, None)
            }
            "get" if args.is_empty() => self.get(vm, this, true, None),
            "put" => (|| {
                let [x, block, timeout] = args.bind("put", ["x", "block", "timeout"], 1)?;
                let block = given(block).is_none_or(|b| b.truthy());
                let timeout = timeout_arg("put", timeout)?;
                self.put(vm, this, x.unwrap_or_default(), block, timeout)
            })(),
            "put_nowait" => (|| {
                let [x] = args.bind("put_nowait", ["x"], 1)?;
                self.put(vm, this, x.unwrap_or_default(), false, None)
            })(),
            "get" => (|| {
                let [block, timeout] = args.bind("get", ["block", "timeout"], 0)?;
                let block = given(block).is_none_or(|b| b.truthy());
                let timeout = timeout_arg("get", timeout)?;
                self.get(vm, this, block, timeout)
            })(),
            "get_nowait" => args
                .expect("get_nowait", 0, 0)
                .and_then(|_| self.get(vm, this, false, None)),
            "qsize" => args
                .expect("qsize", 0, 0)
                .map(|_| Value::Int(self.shared.count() as i64)),
            "empty" => args
                .expect("empty", 0, 0)
                .map(|_| Value::Bool(self.shared.count() == 0)),
            "full" => args.expect("full", 0, 0).map(|_| {
                let max = self.shared.maxsize;
                Value::Bool(max > 0 && self.shared.count() >= max)
            }),
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
                let timeout = timeout_arg("join", timeout)?;
                self.join(vm, this, timeout)
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
    let q = Value::object(Queue {
        shared,
        id,
        scratch: Cell::default(),
    });
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
        self.get_with(vm, deadline, &|_| {})
    }

    /// `get`, with `on_take` run on the message before it leaves the queue
    /// (see `Shared::get_with`).
    pub(crate) fn get_with(
        &self,
        vm: &mut Vm,
        deadline: Deadline,
        on_take: &dyn Fn(&[u8]),
    ) -> VmResult<Option<Vec<u8>>> {
        let mut msg = Vec::new();
        match self.0.get_with(vm, true, deadline, on_take, &mut msg) {
            Ok(()) => Ok(Some(msg)),
            Err(e) if &*e.error().kind == "QueueEmpty" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> u64 {
        self.0.count()
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
        let mut out = Vec::new();
        q.get(vm, false, Deadline::now(), &mut out).map(|()| out)
    }

    #[test]
    fn a_poll_gathers_a_batch_only_while_the_other_side_keeps_adding() {
        // asleep, or with a batch there: go
        assert!(Gather::default().until(false, 1, false) == Look::Clear);
        assert!(Gather::default().until(true, 1, true) == Look::Clear);
        // a lone item: one look again, then go
        let g = Gather::default();
        assert!(g.until(true, 1, false) == Look::Again);
        assert!(g.until(true, 1, false) == Look::Clear);
        // a stream: gather while the count moves, go when it stops
        let g = Gather::default();
        assert!(g.until(true, 1, false) == Look::Again);
        assert!(g.until(true, 5, false) == Look::Gathering);
        assert!(g.until(true, 9, false) == Look::Gathering);
        assert!(g.until(true, 9, false) == Look::Clear);
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
        q.put(&mut vm, &big, false, Deadline::now()).unwrap();
        let probe = 3 << 20;
        // SAFETY: inside the ring, read by this test only.
        let at = |pos: usize| unsafe { *q.ring.as_ptr().add(pos) };
        assert_eq!(at(probe), 7);
        assert_eq!(get_now(&q, &mut vm).ok().map(|b| b.len()), Some(big.len()));
        assert_eq!(at(probe), 0, "the consumed item's pages were released");
        assert_eq!(at(probe + (4 << 20)), 7, "the next item's are kept");
        assert_eq!(get_now(&q, &mut vm).ok(), Some(big));
    }

    #[test]
    fn a_page_given_back_never_holds_unread_data() {
        // a full small ring: the positions just consumed are where the
        // next puts go, and the release must not zero what they wrote
        let (mut vm, _) = vm();
        let q = Shared::with_ring(0, 1 << 20).unwrap();
        let mut expect = std::collections::VecDeque::new();
        for round in 0..400u32 {
            let it = item(60_000 + (round as usize % 7) * 1000, round as u8);
            while q.put(&mut vm, &it, false, Deadline::now()).is_err() {
                let want = expect.pop_front().unwrap();
                assert_eq!(get_now(&q, &mut vm).ok(), Some(want), "round {round}");
            }
            expect.push_back(it);
        }
        while let Some(want) = expect.pop_front() {
            assert_eq!(get_now(&q, &mut vm).ok(), Some(want));
        }
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
                let _ = h.put.mutex.lock_short();
                // a put cut short: record bytes past the tail, the spare
                // copy of the state half written, the version not moved on
                // SAFETY: the ring is mapped; this mimics a partial copy.
                unsafe { std::ptr::write_bytes(q.ring.as_ptr().add(12), 0xab, 4000) };
                let v = h.put.state.ver.load(Ordering::Relaxed);
                h.put.state.slots[((v + 1) & 1) as usize][0].store(999_999, Ordering::Relaxed);
                // SAFETY: dies holding the mutex, as a killed producer would.
                unsafe { libc::_exit(0) };
            }
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(get_now(&q, &mut vm).ok().as_deref(), Some(&b"first"[..]));
                assert_eq!(
                    get_now(&q, &mut vm)
                        .err()
                        .map(|e| e.kind().to_string())
                        .as_deref(),
                    Some("QueueEmpty")
                );
                // the next put takes the dead producer's mutex
                q.put(&mut vm, b"second", false, Deadline::now()).unwrap();
                vm.flush();
                let text = String::from_utf8_lossy(&err.0.borrow()).into_owned();
                assert!(text.contains(&format!("process {pid} died")), "{text}");
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
        let e = q
            .get(&mut vm, true, Deadline::NEVER, &mut Vec::new())
            .err()
            .unwrap();
        assert_eq!(e.kind(), "QueueEmpty");
    }
}
