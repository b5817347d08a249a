//! Shared memory between a manager's server and the processes forked after
//! the manager was made: per client a slot with counters and two mailboxes,
//! so that a request and its reply usually travel without a system call.
//!
//! A client's slot is the one of its pid modulo `SLOTS`. The client claims it
//! (`owner`) before it connects; a client that cannot (another live client
//! has it) or that has no bell (it got a proxy in a message) talks over its
//! socket only, as do requests too long for a mailbox.
//!
//! The protocol, for a client that owns its slot:
//! - Request: the client writes the frame into its request box, then moves
//!   `req`. If the server says it sleeps (`server_sleeping`), the client also
//!   writes an empty frame on its socket to wake it.
//! - Reply: the server serves a boxed request at once and writes exactly one
//!   delivery into the reply box: the reply frame, or word (`rep_len` =
//!   `ON_SOCKET`) that the reply comes on the socket (it is too long, or the
//!   request waits: a `get` on an empty queue). Then it moves `rep`, and
//!   wakes the client with a futex if it said it sleeps.
//! - A client has one request out at a time, so a box is never overwritten
//!   before it is read. A reply on the socket is read (and a Ctrl-C while
//!   waiting for it is handled) exactly as without the bell.
//!
//! The server gives a slot up (`owner` = 0) when its client's connection
//! closes. The counters are only ever used as atomics; a box's bytes are
//! written by one side and read by the other only in its turn. A client
//! killed while writing its box never moved `req`, so nothing reads it.

use crate::runtime::shm::Region;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

pub(crate) const SLOTS: usize = 256;
/// One slot: a line of counters, then the request box and the reply box.
const STRIDE: usize = 8192;
const LINE: usize = 64;
/// The longest frame a mailbox holds.
pub(crate) const BOX: usize = (STRIDE - LINE) / 2;
/// `rep_len` of a delivery saying "the reply comes on the socket".
pub(crate) const ON_SOCKET: u32 = u32::MAX;

/// The counters at the start of a slot.
#[repr(C)]
pub(crate) struct Slot {
    /// Deliveries written by the server into the reply box.
    pub rep: AtomicU32,
    /// Moved by the server after every write to the client's socket: a
    /// client waiting for a reply on its socket watches this.
    pub wrote: AtomicU32,
    /// Requests written by the client into its box.
    pub req: AtomicU32,
    /// The pid of the client that uses the boxes, 0 when free.
    pub owner: AtomicI32,
    pub req_len: AtomicU32,
    pub rep_len: AtomicU32,
    /// 1 while the client sleeps on `rep`.
    pub sleeping: AtomicU32,
}

pub(crate) struct Bell(Region);

impl Bell {
    pub(crate) fn new() -> std::io::Result<Bell> {
        // only the slots in use are ever backed by memory
        Region::new(SLOTS * STRIDE + LINE, true).map(Bell)
    }

    fn at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset < SLOTS * STRIDE + LINE);
        // SAFETY: every caller's offset lies within the region (checked in
        // debug builds), which lives as long as `self`.
        unsafe { self.0.as_ptr().add(offset) }
    }

    fn base(pid: i32) -> usize {
        (pid as u32 as usize % SLOTS) * STRIDE
    }

    /// The slot of the client with this pid.
    pub(crate) fn slot(&self, pid: i32) -> &Slot {
        const { assert!(std::mem::size_of::<Slot>() <= LINE) };
        // SAFETY: a slot starts at a multiple of STRIDE (aligned), is zeroed
        // memory when new (a valid `Slot` of atomics), and lives as long as
        // the region.
        unsafe { &*self.at(Self::base(pid)).cast::<Slot>() }
    }

    /// 1 while the server sleeps in `poll` (after the slots).
    pub(crate) fn server_sleeping(&self) -> &AtomicU32 {
        // SAFETY: the line after the last slot, aligned, atomics only.
        unsafe { &*self.at(SLOTS * STRIDE).cast::<AtomicU32>() }
    }

    /// The request box (`reply` false) or reply box of a slot.
    fn mailbox(&self, pid: i32, reply: bool) -> *mut u8 {
        self.at(Self::base(pid) + LINE + if reply { BOX } else { 0 })
    }

    /// Copies `frame` (at most `BOX` bytes) into a box. Only the box's writer
    /// calls this, and only while the reader is not reading it (the protocol
    /// above).
    pub(crate) fn put(&self, pid: i32, reply: bool, frame: &[u8]) {
        assert!(frame.len() <= BOX);
        // SAFETY: the box has BOX bytes; see the protocol for exclusivity.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), self.mailbox(pid, reply), frame.len())
        }
    }

    /// Copies the first `out.len()` bytes (at most `BOX`) of a box.
    pub(crate) fn take(&self, pid: i32, reply: bool, out: &mut [u8]) {
        assert!(out.len() <= BOX);
        // SAFETY: as in `put`, for reading.
        unsafe {
            std::ptr::copy_nonoverlapping(self.mailbox(pid, reply), out.as_mut_ptr(), out.len())
        }
    }

    /// Claims the slot for the client with this pid, before it connects:
    /// true when it was free (the boxes are then this client's).
    pub(crate) fn claim(&self, pid: i32) -> bool {
        let slot = self.slot(pid);
        let fresh = slot
            .owner
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if fresh {
            slot.req.store(0, Ordering::SeqCst);
        }
        fresh
    }

    /// Gives the slot up (by the server, when its client's connection closed).
    pub(crate) fn release(&self, pid: i32) {
        let _ = self
            .slot(pid)
            .owner
            .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Tells a client that a delivery is in its reply box (`rep_len` set).
    pub(crate) fn deliver(&self, pid: i32) {
        let slot = self.slot(pid);
        slot.rep.fetch_add(1, Ordering::SeqCst);
        if slot.sleeping.load(Ordering::SeqCst) != 0 {
            crate::runtime::shm::futex_wake(&slot.rep, 1);
        }
    }

    /// Called by the server after writing to the socket of the client with
    /// this pid.
    pub(crate) fn ring(&self, pid: i32) {
        self.slot(pid).wrote.fetch_add(1, Ordering::Release);
    }
}
