//! `pipe(duplex: true)` (section 11): two `Connection`s joined by a
//! `socketpair(AF_UNIX, SOCK_STREAM)` (duplex) or by `pipe(2)` (one-way:
//! `[reader, writer]`).
//!
//! Layout: each connection is one close-on-exec file descriptor. A message is a frame in `wire`'s format: a u32 little-endian
//! length (at most `wire::MAX_FRAME`), then the wire-encoded value (or the raw
//! bytes of `send_bytes`). A send writes the length and the payload with one
//! gather write; a receive reads exactly one frame (the length, then the
//! payload), never more, so that a process forked between two receives does
//! not hold a copy of someone else's message.
//!
//! Every read or write waits at most one slice, then checks for interrupts
//! and tries again: a socket waits inside the call (its send and receive
//! timeouts are one slice: one system call per read in the common case), a
//! pipe is nonblocking and waits in `poll` (see `make_fds`). A reactor can
//! take over either wait by passing `MSG_DONTWAIT`. A peer that disappears gives EOFError (reading) or IOError
//! (writing), never a hang: writes to sockets use `MSG_NOSIGNAL`, and the
//! `proc` binary runs with SIGPIPE ignored (Rust's runtime sets that before
//! `main`), so a write to a pipe without readers fails with EPIPE.

use super::queue::timeout_arg;
use super::shm::Deadline;
use crate::stdlib::given;
use crate::value::{Args, Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use crate::wire;
use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

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
    /// A socket (send with MSG_NOSIGNAL) rather than a pipe.
    socket: bool,
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

impl Connection {
    fn new(fd: RawFd, readable: bool, writable: bool, socket: bool, id: u64) -> Connection {
        Connection {
            fd: Cell::new(fd),
            readable,
            writable,
            socket,
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

    /// Writes all of `parts` (one frame), waiting in slices while the other
    /// end's buffer is full.
    fn write_all(&self, vm: &mut Vm, fname: &str, parts: [&[u8]; 2]) -> VmResult<()> {
        let fd = self.fd_for(fname, Some(Dir::Write))?;
        let total = parts[0].len() + parts[1].len();
        let mut done = 0;
        while done < total {
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; 2];
            let mut n_iov = 0;
            let mut skip = done;
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                iov[n_iov] = libc::iovec {
                    iov_base: p[skip..].as_ptr() as *mut libc::c_void,
                    iov_len: p.len() - skip,
                };
                n_iov += 1;
                skip = 0;
            }
            let r = if self.socket {
                // SAFETY: an all-zero msghdr is valid; it points at `iov`,
                // whose buffers outlive the call and are only read.
                unsafe {
                    let mut msg: libc::msghdr = std::mem::zeroed();
                    msg.msg_iov = iov.as_mut_ptr();
                    msg.msg_iovlen = n_iov as _;
                    // waits at most one slice (SO_SNDTIMEO)
                    libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
                }
            } else {
                // SAFETY: `iov` describes `n_iov` live buffers, only read.
                unsafe { libc::writev(fd, iov.as_ptr(), n_iov as i32) }
            };
            if r >= 0 {
                done += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    if !self.socket {
                        wait_fd(fd, libc::POLLOUT, super::shm::SLICE)
                            .map_err(|e| Self::io_error(fname, &e))?;
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
        Ok(())
    }

    /// Reads some bytes into `buf`, waiting in slices until there are any;
    /// 0 at the end of the stream.
    fn read_some(&self, vm: &mut Vm, fname: &str, fd: RawFd, buf: &mut [u8]) -> VmResult<usize> {
        loop {
            // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
            // A socket waits in the call for at most one slice
            // (SO_RCVTIMEO); a pipe returns EAGAIN at once (O_NONBLOCK).
            let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    if !self.socket {
                        wait_fd(fd, libc::POLLIN, super::shm::SLICE)
                            .map_err(|e| Self::io_error(fname, &e))?;
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

    fn truncated(fname: &str) -> Exc {
        Exc::new(
            "EOFError",
            format!("{fname}(): the connection closed in the middle of a message"),
        )
    }

    /// Reads exactly one frame's payload.
    fn read_frame(&self, vm: &mut Vm, fname: &str) -> VmResult<Vec<u8>> {
        let fd = self.fd_for(fname, Some(Dir::Read))?;
        let mut header = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.read_some(vm, fname, fd, &mut header[got..])? {
                0 if got == 0 => {
                    return Err(Exc::new(
                        "EOFError",
                        format!("{fname}(): the other end of the connection is closed"),
                    ));
                }
                0 => return Err(Self::truncated(fname)),
                n => got += n,
            }
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > wire::MAX_FRAME {
            return Err(Exc::new(
                "IOError",
                format!(
                    "{fname}(): corrupt stream: a message of {len} bytes is over the limit of {} bytes",
                    wire::MAX_FRAME
                ),
            ));
        }
        // grow as the data arrives, so that a corrupt length does not make
        // us claim a gigabyte up front
        let mut body = Vec::new();
        let mut got = 0;
        while got < len {
            if got == body.len() {
                let grow = (len - got).min(body.len().max(1 << 16));
                body.resize(got + grow, 0);
            }
            match self.read_some(vm, fname, fd, &mut body[got..])? {
                0 => return Err(Self::truncated(fname)),
                n => got += n,
            }
        }
        Ok(body)
    }

    fn send_frame(&self, vm: &mut Vm, fname: &str, payload: &[u8]) -> VmResult<()> {
        self.fd_for(fname, Some(Dir::Write))?;
        if payload.len() > wire::MAX_FRAME {
            return Err(Exc::value_error(format!(
                "{fname}(): a message of {} bytes is over the limit of {} bytes",
                payload.len(),
                wire::MAX_FRAME
            )));
        }
        let header = (payload.len() as u32).to_le_bytes();
        self.write_all(vm, fname, [&header, payload])
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

    fn recv(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        args.expect("recv", 0, 0)?;
        let payload = self.read_frame(vm, "recv")?;
        wire::decode(vm, &payload)
    }

    fn recv_bytes(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        args.expect("recv_bytes", 0, 0)?;
        Ok(Value::bytes(self.read_frame(vm, "recv_bytes")?))
    }

    /// `poll(timeout: 0)`: true when a message (or the end of the stream) is
    /// waiting; `timeout: nil` waits until one is.
    fn poll(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [timeout] = args.bind("poll", ["timeout"], 0)?;
        let fd = self.fd_for("poll", Some(Dir::Read))?;
        let deadline = match timeout {
            None => Deadline::now(),
            Some(Value::Nil) => Deadline::NEVER,
            t => Deadline::after(timeout_arg("poll", t)?),
        };
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
            "recv" => self.recv(vm, args),
            "poll" => self.poll(vm, args),
            "send_bytes" => self.send_bytes(vm, args),
            "recv_bytes" => self.recv_bytes(vm, args),
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
/// slice: a `recv` that has to wait does it inside the one `read` call (a
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
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
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
            tv_usec: super::shm::SLICE.as_micros() as libc::suseconds_t,
        };
        for fd in fds {
            for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
                // SAFETY: a valid socket and a timeval of the size given.
                let r = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        opt,
                        (&raw const slice).cast(),
                        std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                    )
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
