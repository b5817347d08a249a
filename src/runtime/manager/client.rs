//! The client side of the manager protocol: one connection per (process,
//! server), opened on first use, and the round trip of one request.
//!
//! A request is one write; its reply one read, usually. The socket is in
//! blocking mode with send and receive timeouts of `shm::SLICE`, so a wait for
//! a reply (a `get` the server keeps until an item comes) returns every slice
//! to check for Ctrl-C. On Ctrl-C the client asks the server to cancel the
//! request and reads until it knows whether the request was served: if it
//! was, its result is returned and the interrupt is raised at the next check,
//! so an item taken from a queue is never lost.
//!
//! A forked child must not use its parent's connections (the replies would go
//! to whichever process reads first): the table is emptied in every child
//! (`forget_inherited`), and each connection also remembers its process.

use super::bell::{self, Bell};
use super::codec::{self, Reply};
use crate::runtime::shm::{SLICE, futex_wait};
use crate::value::{Exc, Value, VmResult};
use crate::vm::Vm;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// This process's connections to managers, by server address.
#[derive(Default)]
pub struct Clients {
    conns: FxHashMap<Rc<str>, Rc<RefCell<Conn>>>,
    /// The bells of the managers made by this process or before it was
    /// forked, by server address.
    bells: FxHashMap<Rc<str>, Rc<Bell>>,
    /// True in a manager's server process, which must never call itself.
    pub(crate) serving: bool,
}

/// Records the bell of a manager this process made.
pub(crate) fn add_bell(vm: &mut Vm, address: &Rc<str>, bell: Rc<Bell>) {
    vm.managers.bells.insert(address.clone(), bell);
}

/// One connection: its socket, the process that opened it, and buffers kept
/// between requests so that a round trip allocates nothing.
struct Conn {
    pid: u32,
    stream: UnixStream,
    out: Vec<u8>,
    input: Vec<u8>,
    /// Bytes of `input` holding data.
    filled: usize,
    /// Poll briefly for a reply before sleeping (more than one CPU).
    spin: bool,
    /// The manager's bell (bell.rs), when this process has it, and its count
    /// of writes to this connection's socket as last seen.
    bell: Option<Rc<Bell>>,
    rung: u32,
    /// This connection owns its slot's mailboxes (then `bell` is set).
    boxed: bool,
}

/// How long a cancelled request may take to be confirmed before the
/// connection is given up.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

pub(super) fn gone() -> Exc {
    Exc::new("ProcessError", "the manager has shut down")
}

fn corrupt() -> Exc {
    Exc::new("ProcessError", "the manager sent a corrupt reply")
}

/// Forgets the parent's connections in a forked child (closing its copies).
pub fn forget_inherited(vm: &mut Vm) {
    vm.managers.conns.clear();
}

/// Closes this process's connection to `address`, if any.
pub(super) fn disconnect(vm: &mut Vm, address: &str) {
    vm.managers.conns.remove(address);
}

/// Forgets a manager that was shut down: its connection and its bell.
pub(super) fn forget(vm: &mut Vm, address: &str) {
    disconnect(vm, address);
    vm.managers.bells.remove(address);
}

fn connection(vm: &mut Vm, address: &Rc<str>) -> VmResult<Rc<RefCell<Conn>>> {
    // cached: std::process::id() is a system call, once per request
    let pid = crate::runtime::shm::my_pid() as u32;
    if let Some(c) = vm.managers.conns.get(address) {
        if c.borrow().pid == pid {
            return Ok(c.clone());
        }
    }
    vm.managers.conns.remove(address);
    let bell = vm.managers.bells.get(address).cloned();
    // claimed before connecting, so that the server sees the claim when it
    // accepts the connection
    let boxed = bell.as_ref().is_some_and(|b| b.claim(pid as i32));
    let addr = SocketAddr::from_abstract_name(address.as_bytes()).map_err(|_| gone())?;
    let stream = loop {
        match UnixStream::connect_addr(&addr) {
            Ok(s) => break s,
            Err(e) if e.kind() == ErrorKind::Interrupted => vm.check_interrupt()?,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ECONNREFUSED) | Some(libc::ENOENT) => gone(),
                    _ => Exc::new(
                        "ProcessError",
                        format!("cannot connect to the manager: {e}"),
                    ),
                });
            }
        }
    };
    let _ = stream.set_read_timeout(Some(SLICE));
    let _ = stream.set_write_timeout(Some(SLICE));
    let conn = Rc::new(RefCell::new(Conn {
        pid,
        stream,
        out: Vec::new(),
        input: vec![0; 1 << 16],
        filled: 0,
        spin: crate::stdlib::os::cpu_count_now() > 1,
        bell,
        rung: 0,
        boxed,
    }));
    vm.managers.conns.insert(address.clone(), conn.clone());
    Ok(conn)
}

/// Sends a request to the server at `address` and returns its result: the
/// value, or the error the operation raised there (same kind and message).
pub(super) fn call(
    vm: &mut Vm,
    address: &Rc<str>,
    id: u64,
    name: &str,
    pos: &[Value],
    names: &[Rc<str>],
    named: &[Value],
) -> VmResult<Value> {
    if vm.managers.serving {
        return Err(Exc::new(
            "ProcessError",
            "a manager's server cannot use manager proxies (of any manager)",
        ));
    }
    let conn = connection(vm, address)?;
    let Ok(mut c) = conn.try_borrow_mut() else {
        return Err(Exc::new(
            "ProcessError",
            "the connection to the manager is busy",
        ));
    };
    let mut out = std::mem::take(&mut c.out);
    let encoded = codec::request(vm, &mut out, id, name, pos, names, named);
    let outcome = match encoded {
        Ok(()) => c.round_trip(vm, &out),
        Err(e) => Ok(Err(e)),
    };
    c.out = out;
    drop(c);
    match outcome {
        Ok(result) => result,
        Err(e) => {
            // the stream is in an unknown state: never use it again
            disconnect(vm, address);
            Err(e)
        }
    }
}

impl Conn {
    /// Writes the request and reads its reply. The outer error means the
    /// connection is unusable; the inner result is the operation's.
    fn round_trip(&mut self, vm: &mut Vm, request: &[u8]) -> VmResult<VmResult<Value>> {
        let boxes = self
            .bell
            .clone()
            .filter(|_| self.boxed && request.len() <= bell::BOX);
        if let Some(bell) = boxes {
            // the reply in the box, or (None) on the socket
            if let Some(result) = self.boxed_trip(vm, &bell, request)? {
                return Ok(result);
            }
        } else {
            if let Some(bell) = &self.bell {
                self.rung = bell.slot(self.pid as i32).wrote.load(Ordering::Acquire);
            }
            self.send(vm, request)?;
        }
        match self.receive(vm, None) {
            Ok(reply) => self.decode(vm, reply),
            Err(Wait::Interrupted(ki)) => self.cancel(vm, ki),
            Err(Wait::Failed(e)) => Err(e),
        }
    }

    fn send(&mut self, vm: &mut Vm, bytes: &[u8]) -> VmResult<()> {
        let mut done = 0;
        while done < bytes.len() {
            match self.stream.write(&bytes[done..]) {
                Ok(0) => return Err(gone()),
                Ok(n) => done += n,
                Err(e) if is_slice_end(&e) => vm.check_interrupt()?,
                Err(_) => return Err(gone()),
            }
        }
        Ok(())
    }

    /// Reads until a whole reply frame is in `input`; returns its length. With
    /// `limit`, gives up (as a failure) at that instant; without, returns
    /// `Interrupted` when Ctrl-C is pressed.
    fn receive(&mut self, vm: &mut Vm, limit: Option<Instant>) -> Result<usize, Wait> {
        loop {
            if let Some(len) = codec::payload_len(&self.input[..self.filled]) {
                if len > crate::wire::MAX_FRAME {
                    return Err(Wait::Failed(corrupt()));
                }
                if self.filled >= 4 + len {
                    return Ok(len);
                }
                if self.input.len() < 4 + len {
                    self.input.resize(4 + len, 0);
                }
            }
            match self.read_some() {
                Ok(0) => return Err(Wait::Failed(gone())),
                Ok(n) => self.filled += n,
                Err(e) if is_slice_end(&e) => match limit {
                    Some(l) if Instant::now() >= l => return Err(Wait::Failed(gone())),
                    Some(_) => {}
                    None => vm.check_interrupt().map_err(Wait::Interrupted)?,
                },
                Err(_) => return Err(Wait::Failed(gone())),
            }
        }
    }

    /// One read into `input` after `filled`. On machines with several CPUs
    /// it first looks for a short while (`SPIN`) without sleeping, yielding
    /// the CPU between looks: the server usually answers within
    /// microseconds, sooner than a sleep and a wake-up take. Then it waits
    /// in the socket, at most one slice.
    fn read_some(&mut self) -> std::io::Result<usize> {
        if let Some(bell) = self.bell.as_ref().filter(|_| self.spin) {
            // the server rings after writing: until then there is nothing
            // to read. Ringing or not, the read below then waits as usual.
            let slot = &bell.slot(self.pid as i32).wrote;
            let until = Instant::now() + crate::runtime::queue::SPIN;
            // the server may be waiting for this very CPU (three processes
            // on two CPUs, in the benchmark): each look yields it
            while slot.load(Ordering::Acquire) == self.rung {
                std::thread::yield_now();
                if Instant::now() >= until {
                    break;
                }
            }
            self.rung = slot.load(Ordering::Acquire);
            return self.stream.read(&mut self.input[self.filled..]);
        }
        if self.spin {
            let until = Instant::now() + crate::runtime::queue::SPIN;
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.stream);
            loop {
                let buf = &mut self.input[self.filled..];
                // SAFETY: `buf` is writable for its length during the call.
                let r = unsafe {
                    libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                };
                if r >= 0 {
                    return Ok(r as usize);
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::WouldBlock || Instant::now() >= until {
                    break;
                }
                std::thread::yield_now();
            }
        }
        self.stream.read(&mut self.input[self.filled..])
    }

    /// A round trip through the mailboxes (bell.rs): the request's result, or
    /// None when the server says the reply comes on the socket (then
    /// `receive` reads it as usual).
    fn boxed_trip(
        &mut self,
        vm: &mut Vm,
        bell: &Bell,
        request: &[u8],
    ) -> VmResult<Option<VmResult<Value>>> {
        let pid = self.pid as i32;
        let slot = bell.slot(pid);
        bell.put(pid, false, request);
        slot.req_len.store(request.len() as u32, Ordering::Relaxed);
        let seen = slot.rep.load(Ordering::Acquire);
        self.rung = slot.wrote.load(Ordering::Acquire);
        // the request, then whether the server sleeps: pairs with the
        // server, which says it sleeps, then looks at the boxes
        slot.req.fetch_add(1, Ordering::SeqCst);
        if bell.server_sleeping().load(Ordering::SeqCst) != 0 {
            // an empty frame on the socket wakes it
            self.send(vm, &[0; 4])?;
        }
        // the server serves a boxed request at once: this wait is short, and
        // a Ctrl-C meanwhile is raised at the next check (unless the server
        // does not answer for CANCEL_WAIT after it: the connection is then
        // given up, as a cancel that is not confirmed)
        let start = Instant::now();
        let until = start + crate::runtime::queue::SPIN;
        while slot.rep.load(Ordering::Acquire) == seen {
            if self.spin && Instant::now() < until {
                std::thread::yield_now();
                continue;
            }
            slot.sleeping.store(1, Ordering::SeqCst);
            if slot.rep.load(Ordering::SeqCst) == seen {
                futex_wait(&slot.rep, seen, SLICE);
            }
            slot.sleeping.store(0, Ordering::SeqCst);
            let stuck = vm.interrupt.load(Ordering::SeqCst) && start.elapsed() > CANCEL_WAIT;
            if slot.rep.load(Ordering::Acquire) == seen && (stuck || self.peer_closed()) {
                return Err(gone());
            }
        }
        let len = slot.rep_len.load(Ordering::Acquire);
        if len == bell::ON_SOCKET {
            return Ok(None);
        }
        let len = len as usize;
        if !(4..=bell::BOX).contains(&len) || self.filled != 0 {
            return Err(corrupt());
        }
        bell.take(pid, true, &mut self.input[..len]);
        if codec::payload_len(&self.input[..len]) != Some(len - 4) {
            return Err(corrupt());
        }
        self.filled = len;
        self.decode(vm, len - 4).map(Some)
    }

    /// True when the server closed its end (it ended).
    fn peer_closed(&self) -> bool {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.stream);
        let mut b = 0u8;
        // SAFETY: a one-byte peek into a local.
        let r = unsafe {
            libc::recv(
                fd,
                (&raw mut b).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        r == 0
    }

    /// Decodes the reply of length `len` at the front of `input` and removes it.
    fn decode(&mut self, vm: &mut Vm, len: usize) -> VmResult<VmResult<Value>> {
        let reply = codec::read_reply(vm, &self.input[4..4 + len]);
        self.input.copy_within(4 + len..self.filled, 0);
        self.filled -= 4 + len;
        if self.input.len() > 1 << 20 && self.filled < 1 << 16 {
            // a huge reply passed: do not keep its buffer
            self.input.truncate(1 << 16);
            self.input.shrink_to_fit();
        }
        match reply {
            Ok(Reply::Done(r)) => Ok(r),
            Ok(Reply::Cancelled) | Err(_) => Err(Exc::new(
                "ProcessError",
                "the manager sent an unexpected reply",
            )),
        }
    }

    /// Ctrl-C while waiting: asks the server to drop the request, then learns
    /// whether it had been served already (its reply comes first).
    fn cancel(&mut self, vm: &mut Vm, ki: Exc) -> VmResult<VmResult<Value>> {
        let mut frame = Vec::new();
        codec::request(vm, &mut frame, 0, "cancel", &[], &[], &[])?;
        // a second Ctrl-C must not cut this short: the stream would be lost
        let limit = Some(Instant::now() + CANCEL_WAIT);
        let interrupted = |_| ki.clone_exc();
        self.send(vm, &frame).map_err(interrupted)?;
        let first = self.receive(vm, limit).map_err(|_| ki.clone_exc())?;
        if self.input.get(4) == Some(&codec::CANCELLED) && first == 1 {
            self.decode_cancelled(first);
            return Ok(Err(ki));
        }
        // the request was served before the cancel arrived: keep its result,
        // and raise the interrupt at the next check
        let result = self.decode(vm, first)?;
        let ack = self.receive(vm, limit).map_err(|_| ki.clone_exc())?;
        self.decode_cancelled(ack);
        vm.interrupt.store(true, Ordering::SeqCst);
        Ok(result)
    }

    fn decode_cancelled(&mut self, len: usize) {
        self.input.copy_within(4 + len..self.filled, 0);
        self.filled -= 4 + len;
    }
}

/// Why a wait for a reply ended without one.
enum Wait {
    Interrupted(Exc),
    Failed(Exc),
}

/// A read or write that returned because the slice timeout passed or a
/// signal arrived: time to check for interrupts.
fn is_slice_end(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

trait CloneExc {
    fn clone_exc(&self) -> Exc;
}

impl CloneExc for Exc {
    fn clone_exc(&self) -> Exc {
        Exc::Error(self.error().clone())
    }
}
