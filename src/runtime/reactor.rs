//! The reactor: the one place where the process waits while tasks exist.
//!
//! A blocked task (or the code running the scheduler inline, see `vm/task.rs`)
//! describes what it waits for as a `Pending`: how it can be woken (`Wake`),
//! an optional deadline, and an `attempt` that finishes the operation once it
//! can. The scheduler gathers every pending wait into one `poll(2)` call
//! whose timeout is the nearest deadline.
//!
//! Waits on file descriptors (pipes, sockets, a child's result pipe) are
//! woken by the kernel. Waits on futex words in shared memory (queues,
//! events, pool results) cannot be polled: they are `Wake::Retry`, and the
//! scheduler tries them again after every round of tasks and, when nothing
//! else happens, at least every `RETRY_MAX` (backing off from `RETRY_MIN`).
//! So a task waiting for another process's `put` sees it within a few
//! milliseconds, and one waiting for a task of its own process at once.
//!
//! With no task besides the main script, nothing comes here: every primitive
//! keeps its own direct blocking path (futex waits, spinning), as fast as it
//! was before tasks existed.
//!
//! This module must never block for longer than the slice it is given.

use crate::value::{Exc, Object, Value, VmResult};
use crate::vm::Vm;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// First retry interval of a `Wake::Retry` wait with nothing else going on.
pub const RETRY_MIN: Duration = Duration::from_micros(200);
/// Longest retry interval: the worst extra latency of a futex-based wait
/// while other tasks exist.
pub const RETRY_MAX: Duration = Duration::from_millis(5);
/// Longest single poll, so that interrupts (Ctrl-C) are seen.
pub const POLL_MAX: Duration = Duration::from_millis(100);

/// How a waiting task can become ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Only its deadline (`sleep`).
    Timer,
    /// At once, after the other ready tasks (`pause`).
    Yield,
    /// When the file descriptor is ready for `events` (POLLIN, POLLOUT).
    Fd(RawFd, i16),
    /// Something another process changes without a pollable signal: tried
    /// again after each round and at short intervals.
    Retry,
    /// Something only tasks of this process change (a task finishing): tried
    /// again after each round of tasks.
    Local,
}

/// Finishes a waiting operation: `Some(value)` when it is done, `None` while it
/// must wait more. Called with `expired = true` once the deadline has passed,
/// when it must finish (with its timeout result or error).
pub type Attempt = Box<dyn FnMut(&mut Vm, bool) -> VmResult<Option<Value>>>;

/// A wait in progress.
pub struct Pending {
    pub wake: Wake,
    pub deadline: Option<Instant>,
    pub attempt: Attempt,
}

impl Pending {
    pub fn new(
        wake: Wake,
        deadline: Option<Instant>,
        attempt: impl FnMut(&mut Vm, bool) -> VmResult<Option<Value>> + 'static,
    ) -> Pending {
        Pending {
            wake,
            deadline,
            attempt: Box::new(attempt),
        }
    }

    /// A `Wake::Retry` wait made by a method of the object `this` (a `T`):
    /// `attempt` is given the object itself at every try.
    pub fn retry_on<T: Object>(
        this: &Value,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&T, &mut Vm, bool) -> VmResult<Option<Value>> + 'static,
    ) -> Pending {
        let this = this.clone();
        Pending::new(Wake::Retry, deadline, move |vm, expired| {
            let me = match &this {
                Value::Object(h) => h.downcast::<T>(),
                _ => None,
            };
            // `this` is the receiver of the method that made the wait, so
            // it is a `T`; the error is there only to avoid a panic
            let me = me.ok_or_else(|| Exc::type_error("a wait on an object of another type"))?;
            attempt(me, vm, expired)
        })
    }

    /// A wait that only a deadline ends, with the result nil (`sleep`).
    pub fn timer(deadline: Instant) -> Pending {
        Pending::new(Wake::Timer, Some(deadline), |_, expired| {
            Ok(expired.then_some(Value::Nil))
        })
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

/// A deadline `timeout` seconds from now (None: no deadline).
pub fn deadline_after(timeout: Option<f64>) -> Option<Instant> {
    let t = timeout?;
    let now = Instant::now();
    let d = if t.is_finite() && t > 0.0 {
        Duration::from_secs_f64(t.min(1e9))
    } else {
        Duration::ZERO
    };
    Some(now.checked_add(d).unwrap_or(now))
}

/// Waits until one of `fds` is ready or `timeout` passes; returns how many
/// are ready (their `revents` set). An interrupted wait counts as a timeout.
pub fn poll_fds(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid slice of pollfd for the length given, and the
    // timespec is a local; both live for the whole call.
    let r = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(r as usize)
}

/// True when `fd` is ready for `events` now (without waiting).
pub fn fd_ready(fd: RawFd, events: i16) -> bool {
    let mut p = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    matches!(poll_fds(&mut p, Duration::ZERO), Ok(n) if n > 0)
}
