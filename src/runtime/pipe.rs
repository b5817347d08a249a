//! `pipe(duplex: true)` (section 11): two `Connection`s joined by a Unix
//! socket pair (duplex) or by `pipe(2)` (one-way: `[reader, writer]`).
//!
//! Layout: each connection is one close-on-exec file descriptor. A message
//! is a frame in `wire`'s format: a u32 little-endian length (at most
//! `wire::MAX_FRAME`), then the wire-encoded value (or the raw bytes of
//! `send_bytes`). How the frame's bytes travel depends on the descriptor:
//!
//! - The socket pair is `SOCK_SEQPACKET`, which keeps the boundaries of what
//!   each send wrote. A frame goes as records of at most `RECORD` bytes: the
//!   first holds the length and the start of the payload, the others the
//!   rest. So a small message is one system call to send and one to
//!   receive (a stream socket needs two receives: the length, then exactly
//!   that much), and at that size a system call costs about as much as
//!   everything else a message's trip takes.
//! - A pipe is a byte stream: a receive reads exactly the length, then the
//!   payload.
//!
//! Either way a receive takes exactly one frame and never more, so that a
//! process forked between two receives holds no copy of someone else's
//! message, and two processes can take turns reading one end.
//!
//! Every read or write waits at most one slice, then checks for interrupts
//! and tries again: a socket waits inside the call (its send and receive
//! timeouts are one slice), a pipe is nonblocking and waits in `poll` (see
//! `make_fds`). Before sleeping, a receive polls for a short while on
//! machines with several CPUs (`SPIN`), yielding the CPU between tries. A reactor can take over either wait
//! by passing `MSG_DONTWAIT`. A peer that disappears gives EOFError
//! (reading) or IOError (writing), never a hang: writes to sockets use
//! `MSG_NOSIGNAL`, and the `proc` binary runs with SIGPIPE ignored (Rust's
//! runtime sets that before `main`), so a write to a pipe without readers
//! fails with EPIPE.

use super::queue::{SPIN, timeout_arg};
use super::reactor::{self, Pending, Wake};
use super::shm::{Deadline, SLICE};
use crate::stdlib::given;
use crate::value::{Args, Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use crate::wire;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The largest record of a socket pair: well under the default socket
/// buffer (about 200 KiB), which a record must fit in.
const RECORD: usize = 64 * 1024;

/// Which way a connection is used by an operation.
#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Read,
    Write,
}

/// One end of a pipe.
pub struct Connection {
    /// -1 once closed.
    fd: Cell<RawFd>,
    readable: bool,
    writable: bool,
    /// A `SOCK_SEQPACKET` socket (records) rather than a pipe (a stream).
    socket: bool,
    /// Poll briefly before sleeping (more than one CPU).
    spin: bool,
    /// Where a socket's first record of each message lands (`RECORD` bytes,
    /// made on first use); holds nothing between calls.
    scratch: RefCell<Vec<u8>>,
    id: u64,
}

const CONNECTION_METHODS: &[&str] = &[
    "send",
    "recv",
    "poll",
    "send_bytes",
    "recv_bytes",
    "close",
    "fileno",
    "enter",
    "exit",
];

/// The OS error text without Rust's " (os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// Sleeps until `fd` is ready for `events` (or hung up), at most `timeout`.
/// True when ready; false on timeout or a signal.
fn wait_fd(fd: RawFd, events: i16, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd and a timespec, both locals, for the call only.
    let r = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}

fn connection_of(v: &Value) -> Option<&Connection> {
    match v {
        Value::Object(h) => h.downcast::<Connection>(),
        _ => None,
    }
}

fn truncated(fname: &str) -> Exc {
    Exc::new(
        "EOFError",
        format!("{fname}(): the connection closed in the middle of a message"),
    )
}

fn corrupt(fname: &str, what: &str) -> Exc {
    Exc::new("IOError", format!("{fname}(): corrupt stream: {what}"))
}

fn frame_len(fname: &str, header: [u8; 4]) -> VmResult<usize> {
    let len = u32::from_le_bytes(header) as usize;
    if len > wire::MAX_FRAME {
        return Err(corrupt(
            fname,
            &format!(
                "a message of {len} bytes is over the limit of {} bytes",
                wire::MAX_FRAME
            ),
        ));
    }
    Ok(len)
}

impl Connection {
    fn new(fd: RawFd, readable: bool, writable: bool, socket: bool, id: u64) -> Connection {
        Connection {
            fd: Cell::new(fd),
            readable,
            writable,
            socket,
            spin: crate::stdlib::os::cpu_count_now() > 1,
            scratch: RefCell::new(Vec::new()),
            id,
        }
    }

    /// The descriptor for `fname`, or the IOError for using this end that way.
    fn fd_for(&self, fname: &str, dir: Option<Dir>) -> VmResult<RawFd> {
        let fd = self.fd.get();
        if fd < 0 {
            return Err(Exc::new(
                "IOError",
                format!("{fname}() on a closed connection"),
            ));
        }
        match dir {
            Some(Dir::Read) if !self.readable => Err(Exc::new(
                "IOError",
                format!("{fname}() on the write end of a one-way pipe"),
            )),
            Some(Dir::Write) if !self.writable => Err(Exc::new(
                "IOError",
                format!("{fname}() on the read end of a one-way pipe"),
            )),
            _ => Ok(fd),
        }
    }

    fn io_error(fname: &str, e: &io::Error) -> Exc {
        Exc::new("IOError", format!("{fname}(): {}", os_text(e)))
    }

    /// One write of `parts` (gathered), waiting in slices while the other
    /// end's buffer is full. Returns how much was written: all of it for a
    /// socket (a record goes whole), maybe less for a pipe.
    fn write_some(&self, vm: &mut Vm, fname: &str, fd: RawFd, parts: &[&[u8]]) -> VmResult<usize> {
        // at most two parts (a header and a payload): no allocation
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2];
        let mut n = 0;
        for p in parts.iter().filter(|p| !p.is_empty()).take(2) {
            iov[n] = libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            };
            n += 1;
        }
        debug_assert!(parts.iter().filter(|p| !p.is_empty()).count() <= 2);
        let iov = &iov[..n];
        loop {
            let r = if self.socket {
                // SAFETY: an all-zero msghdr is valid; it points at `iov`,
                // whose buffers outlive the call and are only read.
                unsafe {
                    let mut msg: libc::msghdr = std::mem::zeroed();
                    msg.msg_iov = iov.as_ptr().cast_mut();
                    msg.msg_iovlen = iov.len() as _;
                    // waits at most one slice (SO_SNDTIMEO)
                    libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
                }
            } else {
                // SAFETY: `iov` describes live buffers, only read.
                unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) }
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    if !self.socket {
                        wait_fd(fd, libc::POLLOUT, SLICE).map_err(|e| Self::io_error(fname, &e))?;
                    }
                    vm.check_interrupt()?;
                }
                Some(libc::EINTR) => vm.check_interrupt()?,
                Some(libc::EPIPE | libc::ECONNRESET) => {
                    return Err(Exc::new(
                        "IOError",
                        format!(
                            "{fname}(): broken pipe: the other end of the connection is closed"
                        ),
                    ));
                }
                _ => return Err(Self::io_error(fname, &e)),
            }
        }
    }

    /// One read into the `len` bytes at `buf`, waiting in slices until there
    /// is something; 0 at the end of the stream. For a socket, one record,
    /// and its full length even when that is more than `len` (the rest is
    /// lost: the caller reports a corrupt stream). On a machine with several
    /// CPUs it first polls for a short while (`SPIN`): an answer from a
    /// process on another CPU usually comes sooner than the kernel can put
    /// this process to sleep and wake it again.
    fn read_some(
        &self,
        vm: &mut Vm,
        fname: &str,
        fd: RawFd,
        buf: *mut u8,
        len: usize,
    ) -> VmResult<usize> {
        let mut spin_until = None;
        let mut spinning = self.spin;
        loop {
            // SAFETY: callers pass `len` writable bytes at `buf`. A socket
            // waits in the call for at most one slice (SO_RCVTIMEO) unless
            // told not to; a pipe never waits (O_NONBLOCK).
            let r = unsafe {
                if self.socket {
                    let mut flags = libc::MSG_TRUNC;
                    if spinning {
                        flags |= libc::MSG_DONTWAIT;
                    }
                    libc::recv(fd, buf.cast(), len, flags)
                } else {
                    libc::read(fd, buf.cast(), len)
                }
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) if spinning => {
                    if spin_until.is_none() {
                        crate::runtime::process::place_children(vm);
                    }
                    let until = *spin_until.get_or_insert_with(|| Instant::now() + SPIN);
                    if Instant::now() >= until {
                        spinning = false;
                    }
                    // Let the peer run if it waits for this CPU: two
                    // processes that talk often end up on one CPU, and
                    // polling without yielding kept the answer from being
                    // written for the whole SPIN (a round trip took 200 us
                    // instead of 6 on a 2-CPU machine). With nothing else to
                    // run here, this returns at once and the poll goes on.
                    std::thread::yield_now();
                }
                Some(libc::EAGAIN) => {
                    if !self.socket {
                        wait_fd(fd, libc::POLLIN, SLICE).map_err(|e| Self::io_error(fname, &e))?;
                    }
                    vm.check_interrupt()?;
                }
                Some(libc::EINTR) => vm.check_interrupt()?,
                // the peer died with unread data: the same as its end closing
                Some(libc::ECONNRESET) => return Ok(0),
                _ => return Err(Self::io_error(fname, &e)),
            }
        }
    }

    /// Appends to `body` until it holds `len` bytes, reading from `fd` in
    /// pieces of at most `RECORD` bytes (for a socket: exactly the records
    /// the sender made). The buffer grows as data arrives, so that a
    /// corrupt length does not claim a gigabyte up front.
    fn read_rest(
        &self,
        vm: &mut Vm,
        fname: &str,
        fd: RawFd,
        body: &mut Vec<u8>,
        len: usize,
    ) -> VmResult<()> {
        while body.len() < len {
            let remaining = len - body.len();
            let want = remaining.min(RECORD);
            if body.capacity() - body.len() < want {
                // double, but never past what is left
                body.reserve(want.max(remaining.min(body.len())));
            }
            let at = body.len();
            // SAFETY: `reserve` made room for `want` more bytes after `at`.
            let n = self.read_some(vm, fname, fd, unsafe { body.as_mut_ptr().add(at) }, want)?;
            if n == 0 {
                return Err(truncated(fname));
            }
            if n > want || (self.socket && n != want) {
                return Err(corrupt(fname, "a record of unexpected length"));
            }
            // SAFETY: the read initialised `n <= want` bytes after `at`.
            unsafe { body.set_len(at + n) };
        }
        Ok(())
    }

    /// Receives exactly one frame and passes its payload to `f` (a small
    /// message straight from the scratch buffer).
    fn with_frame<T>(
        &self,
        vm: &mut Vm,
        fname: &str,
        f: impl FnOnce(&mut Vm, &[u8]) -> VmResult<T>,
    ) -> VmResult<T> {
        let fd = self.fd_for(fname, Some(Dir::Read))?;
        let closed = || {
            Exc::new(
                "EOFError",
                format!("{fname}(): the other end of the connection is closed"),
            )
        };
        if !self.socket {
            let mut header = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                // SAFETY: the rest of `header` is writable.
                let n = self.read_some(
                    vm,
                    fname,
                    fd,
                    unsafe { header.as_mut_ptr().add(got) },
                    4 - got,
                )?;
                match n {
                    0 if got == 0 => return Err(closed()),
                    0 => return Err(truncated(fname)),
                    n => got += n,
                }
            }
            let len = frame_len(fname, header)?;
            let mut body = Vec::new();
            self.read_rest(vm, fname, fd, &mut body, len)?;
            return f(vm, &body);
        }
        // taken out while in use, so that nothing here can find it borrowed
        let mut first = self.scratch.take();
        first.clear();
        first.reserve(RECORD);
        // SAFETY: `first` has room for RECORD bytes.
        let n = self.read_some(vm, fname, fd, first.as_mut_ptr(), RECORD)?;
        if n == 0 {
            return Err(closed());
        }
        if !(4..=RECORD).contains(&n) {
            return Err(corrupt(fname, "a record of unexpected length"));
        }
        // SAFETY: the receive initialised `n` bytes.
        unsafe { first.set_len(n) };
        let len = frame_len(fname, [first[0], first[1], first[2], first[3]])?;
        let out = if 4 + len == n {
            f(vm, &first[4..])
        } else if 4 + len < n || n < RECORD {
            return Err(corrupt(fname, "a record of unexpected length"));
        } else {
            let mut body = Vec::with_capacity(len.min(1 << 20));
            body.extend_from_slice(&first[4..]);
            self.read_rest(vm, fname, fd, &mut body, len)?;
            f(vm, &body)
        };
        self.scratch.replace(first);
        out
    }

    /// Sends one frame: for a socket, as records of at most `RECORD` bytes;
    /// for a pipe, in as many writes as it takes.
    fn send_frame(&self, vm: &mut Vm, fname: &str, payload: &[u8]) -> VmResult<()> {
        let fd = self.fd_for(fname, Some(Dir::Write))?;
        if payload.len() > wire::MAX_FRAME {
            return Err(Exc::value_error(format!(
                "{fname}(): a message of {} bytes is over the limit of {} bytes",
                payload.len(),
                wire::MAX_FRAME
            )));
        }
        let header = (payload.len() as u32).to_le_bytes();
        if self.socket {
            let (start, rest) = payload.split_at(payload.len().min(RECORD - 4));
            self.write_some(vm, fname, fd, &[&header, start])?;
            for record in rest.chunks(RECORD) {
                self.write_some(vm, fname, fd, &[record])?;
            }
            return Ok(());
        }
        let mut done = 0;
        while done < 4 + payload.len() {
            done += if done < 4 {
                self.write_some(vm, fname, fd, &[&header[done..], payload])?
            } else {
                self.write_some(vm, fname, fd, &[&payload[done - 4..]])?
            };
        }
        Ok(())
    }

    fn send(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [x] = args.bind("send", ["x"], 1)?;
        self.fd_for("send", Some(Dir::Write))?;
        let payload = wire::encode(vm, &x.unwrap_or_default())?;
        self.send_frame(vm, "send", &payload)?;
        Ok(Value::Nil)
    }

    fn send_bytes(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [b] = args.bind("send_bytes", ["b"], 1)?;
        match b.unwrap_or_default() {
            Value::Bytes(b) => self.send_frame(vm, "send_bytes", &b)?,
            other => {
                return Err(Exc::type_error(format!(
                    "send_bytes() argument `b` must be bytes, not {}",
                    other.type_name()
                )));
            }
        }
        Ok(Value::Nil)
    }

    fn recv(&self, vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
        args.expect("recv", 0, 0)?;
        if vm.tasks_active() {
            return self.when_readable(vm, this, "recv", |c, vm| {
                c.with_frame(vm, "recv", wire::decode)
            });
        }
        self.with_frame(vm, "recv", wire::decode)
    }

    fn recv_bytes(&self, vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
        args.expect("recv_bytes", 0, 0)?;
        let read = |c: &Connection, vm: &mut Vm| {
            c.with_frame(vm, "recv_bytes", |_, b| Ok(Value::bytes(b.to_vec())))
        };
        if vm.tasks_active() {
            return self.when_readable(vm, this, "recv_bytes", read);
        }
        read(self, vm)
    }

    /// While tasks exist: lets other tasks run until the connection has
    /// something to read (or its other end closed), then reads with `read`.
    fn when_readable(
        &self,
        vm: &mut Vm,
        this: &Value,
        fname: &str,
        read: fn(&Connection, &mut Vm) -> VmResult<Value>,
    ) -> VmResult<Value> {
        let fd = self.fd_for(fname, Some(Dir::Read))?;
        let c = this.clone();
        vm.block(Pending::new(
            Wake::Fd(fd, libc::POLLIN),
            None,
            move |vm, _| {
                let Some(me) = connection_of(&c) else {
                    return Err(Exc::type_error("not a connection"));
                };
                let fd = me.fd.get();
                if fd >= 0 && !reactor::fd_ready(fd, libc::POLLIN) {
                    return Ok(None);
                }
                read(me, vm).map(Some)
            },
        ))
    }

    /// `poll(timeout: 0)`: true when a message (or the end of the stream) is
    /// waiting; `timeout: nil` waits until one is.
    fn poll(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [timeout] = args.bind("poll", ["timeout"], 0)?;
        let fd = self.fd_for("poll", Some(Dir::Read))?;
        let seconds = match timeout {
            None => Some(0.0),
            Some(Value::Nil) => None,
            t => timeout_arg("poll", t)?,
        };
        let deadline = Deadline::after(seconds);
        if vm.tasks_active() && !deadline.expired() {
            let deadline = reactor::deadline_after(seconds);
            return vm.block(Pending::new(
                Wake::Fd(fd, libc::POLLIN),
                deadline,
                move |_, expired| {
                    let ready = reactor::fd_ready(fd, libc::POLLIN);
                    Ok((ready || expired).then_some(Value::Bool(ready)))
                },
            ));
        }
        loop {
            let ready = wait_fd(fd, libc::POLLIN, deadline.slice())
                .map_err(|e| Self::io_error("poll", &e))?;
            if ready {
                return Ok(Value::Bool(true));
            }
            vm.check_interrupt()?;
            if deadline.expired() {
                return Ok(Value::Bool(false));
            }
        }
    }

    fn close(&self) {
        let fd = self.fd.replace(-1);
        if fd >= 0 {
            // SAFETY: this connection owns `fd` (made by `pipe`) and forgets
            // it above, so it is closed once.
            unsafe { libc::close(fd) };
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

impl Object for Connection {
    fn type_name(&self) -> &'static str {
        "Connection"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let fd = self.fd.get();
        if fd < 0 {
            return "<Connection (closed)>".to_string();
        }
        let way = match (self.readable, self.writable) {
            (true, true) => "read/write",
            (true, false) => "read",
            _ => "write",
        };
        format!("<Connection fd {fd} ({way})>")
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "closed" => Value::Bool(self.fd.get() < 0),
            "readable" => Value::Bool(self.readable),
            "writable" => Value::Bool(self.writable),
            _ => return None,
        }))
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "send" => self.send(vm, args),
            "recv" => self.recv(vm, this, args),
            "poll" => self.poll(vm, args),
            "send_bytes" => self.send_bytes(vm, args),
            "recv_bytes" => self.recv_bytes(vm, this, args),
            "fileno" => args
                .expect("fileno", 0, 0)
                .and_then(|_| self.fd_for("fileno", None))
                .map(|fd| Value::Int(fd as i64)),
            "close" => args.expect("close", 0, 0).map(|_| {
                self.close();
                Value::Nil
            }),
            "enter" => args.expect("enter", 0, 0).map(|_| this.clone()),
            // exit(err): close, and let any error go on
            "exit" => args.expect("exit", 0, 1).map(|_| {
                self.close();
                Value::Nil
            }),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        CONNECTION_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Two connected descriptors: a socket pair, or a pipe's `(reader, writer)`.
///
/// A socket pair is left blocking, with send and receive timeouts of one
/// slice: a receive that has to wait does it inside the one `recv` call (a
/// system call costs about as much as the rest of a small message's trip),
/// and still comes back every slice to check for interrupts. A pipe has no
/// such timeouts, so it is nonblocking and waits in `poll`.
fn make_fds(duplex: bool) -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors the calls return.
    let r = unsafe {
        if duplex {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } else {
            libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC)
        }
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if duplex {
        let slice = libc::timeval {
            tv_sec: 0,
            tv_usec: SLICE.as_micros() as libc::suseconds_t,
        };
        // room for a few records in flight, whatever the system default
        let buffer: libc::c_int = 4 * RECORD as libc::c_int;
        let options: [(libc::c_int, *const libc::c_void, usize); 3] = [
            (
                libc::SO_RCVTIMEO,
                (&raw const slice).cast(),
                size_of_val(&slice),
            ),
            (
                libc::SO_SNDTIMEO,
                (&raw const slice).cast(),
                size_of_val(&slice),
            ),
            (
                libc::SO_SNDBUF,
                (&raw const buffer).cast(),
                size_of_val(&buffer),
            ),
        ];
        for fd in fds {
            for (opt, value, size) in options {
                // SAFETY: a valid socket and a value of the size given.
                let r = unsafe {
                    libc::setsockopt(fd, libc::SOL_SOCKET, opt, value, size as libc::socklen_t)
                };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    // SAFETY: closing the two descriptors made above.
                    unsafe {
                        libc::close(fds[0]);
                        libc::close(fds[1]);
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok((fds[0], fds[1]))
}

/// `pipe(duplex: true)`: `[a, b]`, both ends readable and writable; with
/// `duplex: false`, `[reader, writer]`.
fn pipe(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [duplex] = args.bind("pipe", ["duplex"], 0)?;
    let duplex = given(duplex).is_none_or(|d| d.truthy());
    let (a, b) =
        make_fds(duplex).map_err(|e| Exc::new("IOError", format!("pipe(): {}", os_text(&e))))?;
    let mut ends = Vec::with_capacity(2);
    for (fd, readable, writable) in [(a, true, duplex), (b, duplex, true)] {
        let id = vm.new_handle_id();
        let conn = Value::object(Connection::new(fd, readable, writable, duplex, id));
        vm.register_handle(id, &conn);
        ends.push(conn);
    }
    Ok(Value::list(ends))
}

pub const FUNCS: &[(&str, NativeFn)] = &[("pipe", pipe)];
