//! A manager's server process: it owns every managed object and performs
//! every operation on them, so each operation is atomic from any process.
//!
//! The server is single-threaded: one `poll(2)` loop over the listening
//! socket and every client connection. Sockets are non-blocking; each
//! connection has an input buffer (requests are cut into frames there) and an
//! output buffer (replies wait there until the socket takes them). An
//! operation that would block (`get` on an empty queue, `put` on a full one,
//! `acquire` of a held lock) never blocks the loop: it becomes a `Waiter`,
//! answered when another request makes it possible or when its deadline
//! passes. A connection that closes (its process ended or died) loses its
//! waiters, and the locks it held are released with a warning on stderr.
//!
//! Dicts and lists are plain `map`/`list` values of this process, changed by
//! the same methods a script's own maps and lists use, so their behaviour and
//! error messages are exactly those of section 9.
//!
//! This code runs in the forked server only. It never returns into the
//! script: `run` ends with `_exit`.

use super::bell::{self, Bell};
use super::codec::{self, Request};
use crate::value::{Args, Exc, Key, MapData, Value, VmResult};
use crate::vm::Vm;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Serves until the process is killed: by its owner's `shutdown()` or end,
/// or by the death of its parent (`PR_SET_PDEATHSIG`).
pub(super) fn run(vm: &mut Vm, listener: UnixListener, bell: &Bell) -> ! {
    // SAFETY: setting a signal disposition; Ctrl-C reaches the whole
    // foreground group, but the server must outlive it until its owner ends
    // it (as Python's manager server does).
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    vm.managers.serving = true;
    close_inherited_fds(listener.as_raw_fd());
    if listener.set_nonblocking(true).is_err() {
        // SAFETY: ending the server process at once.
        unsafe { libc::_exit(1) }
    }
    let mut server = Server {
        listener,
        clients: FxHashMap::default(),
        next_client: 1,
        objects: FxHashMap::default(),
        next_object: 1,
        waiters: Vec::new(),
        scratch: vec![0; 1 << 16],
        spin: crate::stdlib::os::cpu_count_now() > 1,
        bell,
    };
    server.serve(vm);
    vm.flush();
    // SAFETY: _exit ends the server without running the script's destructors
    // or atexit handlers, which belong to the process it was forked from.
    unsafe { libc::_exit(0) }
}

/// Closes every file descriptor but stdin, stdout, stderr and `keep`: the
/// server must not hold copies of the script's pipes and sockets (a pipe's
/// reader would never see its end of file while the server held a writer).
fn close_inherited_fds(keep: i32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: closing descriptors this process inherited and will not use
        // (the one the directory listing used is already closed: EBADF).
        unsafe {
            libc::close(fd);
        }
    }
}

/// One managed object.
enum Obj {
    /// A `map` value.
    Dict(Value),
    /// A `list` value.
    List(Value),
    Namespace(MapData),
    Value(Value),
    Queue {
        items: VecDeque<Value>,
        /// 0: unbounded.
        maxsize: usize,
    },
    Lock {
        /// The connection holding it.
        holder: Option<u64>,
    },
}

/// A request that could not be served yet.
struct Waiter {
    client: u64,
    object: u64,
    what: Wait,
    deadline: Option<Instant>,
}

enum Wait {
    Get,
    Put(Value),
    Acquire,
}

struct Client {
    stream: UnixStream,
    /// The peer's pid, for warnings.
    pid: i32,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Locks it holds.
    held: Vec<u64>,
    /// It owns its slot's mailboxes (bell.rs), and the count of requests
    /// in its box as last served.
    boxed: bool,
    req_seen: u32,
}

struct Server<'a> {
    listener: UnixListener,
    clients: FxHashMap<u64, Client>,
    next_client: u64,
    objects: FxHashMap<u64, Obj>,
    next_object: u64,
    /// In arrival order; at most one per client.
    waiters: Vec<Waiter>,
    /// Where reads land before they are appended to a client's input.
    scratch: Vec<u8>,
    /// Poll briefly before sleeping (more than one CPU).
    spin: bool,
    /// Shared with the clients forked after the manager was made (bell.rs):
    /// their mailboxes, and counters rung after each write to a socket.
    bell: &'a Bell,
}

fn queue_empty() -> Exc {
    Exc::new("QueueEmpty", "the queue is empty")
}

fn queue_full() -> Exc {
    Exc::new("QueueFull", "the queue is full")
}

/// The deadline of a blocking operation: `nil` waits for ever, a number
/// `<= 0` does not wait (`None` inside `Some`: "now").
fn deadline(timeout: Option<&Value>) -> Option<Option<Instant>> {
    match timeout {
        None | Some(Value::Nil) => Some(None),
        Some(t) => match t.as_f64() {
            Some(s) if s > 0.0 => {
                let d = std::time::Duration::try_from_secs_f64(s.min(1e9)).ok()?;
                Some(Instant::now().checked_add(d))
            }
            _ => None,
        },
    }
}

/// `poll(fds, timeout)`, looking first for a short while (`SPIN`, on machines
/// with several CPUs) without sleeping, yielding the CPU between looks: a
/// client that just got its reply usually sends its next request within
/// microseconds, sooner than a sleep and a wake-up take. A request in a
/// mailbox (`boxed()`) ends the wait at once (returning 0). Before sleeping,
/// the server says so in the bell, then looks at the boxes once more: a
/// client that writes a request after that sees it and wakes the server.
fn poll_briefly_then_wait(
    fds: &mut [PollFd],
    timeout: PollTimeout,
    spin: bool,
    bell: &Bell,
    boxed: impl Fn() -> bool,
) -> nix::Result<i32> {
    if spin {
        let until = Instant::now() + crate::runtime::queue::SPIN;
        loop {
            let n = nix::poll::poll(fds, PollTimeout::ZERO)?;
            if n > 0 || Instant::now() >= until {
                return Ok(n);
            }
            if boxed() {
                return Ok(0);
            }
            std::thread::yield_now();
        }
    }
    bell.server_sleeping().store(1, Ordering::SeqCst);
    let r = if boxed() {
        Ok(0)
    } else {
        nix::poll::poll(fds, timeout)
    };
    bell.server_sleeping().store(0, Ordering::SeqCst);
    r
}

/// True when a client that owns its mailboxes wrote a request not yet served.
fn boxed_pending(clients: &FxHashMap<u64, Client>, bell: &Bell) -> bool {
    clients
        .values()
        .any(|c| c.boxed && bell.slot(c.pid).req.load(Ordering::SeqCst) != c.req_seen)
}

impl Server<'_> {
    fn serve(&mut self, vm: &mut Vm) {
        let mut ready: Vec<(u64, PollFlags)> = Vec::new();
        let mut rounds = 0u32;
        loop {
            ready.clear();
            if self.serve_boxes(vm) {
                self.expire(vm);
                self.flush_all(vm);
                // while the boxes keep the server busy, the sockets (new
                // clients, closed ones, requests too long for a box) are
                // polled every few rounds only
                rounds = rounds.wrapping_add(1);
                if rounds % 8 != 0 {
                    continue;
                }
            }
            let ids: Vec<u64> = self.clients.keys().copied().collect();
            let timeout = self.poll_timeout();
            let listening = {
                let mut fds = Vec::with_capacity(ids.len() + 1);
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                for id in &ids {
                    let c = &self.clients[id];
                    let mut flags = PollFlags::POLLIN;
                    if !c.output.is_empty() {
                        flags |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(c.stream.as_fd(), flags));
                }
                let (clients, bell) = (&self.clients, self.bell);
                let boxed = || boxed_pending(clients, bell);
                match poll_briefly_then_wait(&mut fds, timeout, self.spin, bell, boxed) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    // cannot wait any more: nothing sensible is left to do
                    Err(_) => return,
                }
                let revents = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
                for (id, fd) in ids.iter().zip(&fds[1..]) {
                    let r = revents(fd);
                    if !r.is_empty() {
                        ready.push((*id, r));
                    }
                }
                revents(&fds[0]).contains(PollFlags::POLLIN)
            };
            if listening {
                self.accept();
            }
            for &(id, flags) in &ready {
                if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    self.read_client(vm, id);
                }
            }
            self.expire(vm);
            self.flush_all(vm);
        }
    }

    /// Milliseconds until the nearest waiter's deadline (rounded up).
    fn poll_timeout(&self) -> PollTimeout {
        let Some(next) = self.waiters.iter().filter_map(|w| w.deadline).min() else {
            return PollTimeout::NONE;
        };
        let left = next.saturating_duration_since(Instant::now());
        let ms = left.as_micros().div_ceil(1000).min(60_000) as u16;
        PollTimeout::from(ms)
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let pid = nix::sys::socket::getsockopt(
                        &stream,
                        nix::sys::socket::sockopt::PeerCredentials,
                    )
                    .map(|c| c.pid())
                    .unwrap_or(0);
                    let id = self.next_client;
                    self.next_client += 1;
                    self.clients.insert(
                        id,
                        Client {
                            stream,
                            pid,
                            input: Vec::new(),
                            output: Vec::new(),
                            held: Vec::new(),
                            // the client claimed its slot before connecting
                            // (and reset its count); a second connection of
                            // one process never uses the boxes
                            boxed: self.bell.slot(pid).owner.load(Ordering::SeqCst) == pid
                                && !self.clients.values().any(|c| c.pid == pid),
                            req_seen: 0,
                        },
                    );
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: all accepted; other errors (EMFILE...): try later
                Err(_) => return,
            }
        }
    }

    /// Reads what a client sent and serves every complete request in it.
    fn read_client(&mut self, vm: &mut Vm, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let mut closed = false;
        loop {
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    c.input.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            self.disconnect(vm, id);
            return;
        }
        let input = std::mem::take(&mut c.input);
        let mut at = 0;
        while let Some(len) = codec::payload_len(&input[at..]) {
            if len > crate::wire::MAX_FRAME {
                // not one of our clients: drop it
                self.disconnect(vm, id);
                return;
            }
            if input.len() - at - 4 < len {
                break;
            }
            if len > 0 {
                // (an empty frame only wakes the server: bell.rs)
                self.handle(vm, id, &input[at + 4..at + 4 + len]);
            }
            at += 4 + len;
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.input = input;
            c.input.drain(..at);
        }
    }

    /// Serves the requests waiting in mailboxes; true if there were any.
    fn serve_boxes(&mut self, vm: &mut Vm) -> bool {
        let bell = self.bell;
        let pending: Vec<u64> = self
            .clients
            .iter_mut()
            .filter(|(_, c)| c.boxed)
            .filter_map(|(id, c)| {
                let req = bell.slot(c.pid).req.load(Ordering::Acquire);
                (req != c.req_seen).then(|| {
                    c.req_seen = req;
                    *id
                })
            })
            .collect();
        for &id in &pending {
            let Some(pid) = self.clients.get(&id).map(|c| c.pid) else {
                continue;
            };
            let len = bell.slot(pid).req_len.load(Ordering::Acquire) as usize;
            let mut frame = vec![0; len.min(bell::BOX)];
            bell.take(pid, false, &mut frame);
            if frame.len() < 4 || codec::payload_len(&frame) != Some(frame.len() - 4) {
                // not one of our clients: drop it
                self.disconnect(vm, id);
                continue;
            }
            self.handle_boxed(vm, id, pid, &frame[4..]);
        }
        !pending.is_empty()
    }

    /// Serves a request that came in a mailbox: its reply goes in the reply
    /// box, or (too long, or the request waits) on the socket, which the
    /// delivery says.
    fn handle_boxed(&mut self, vm: &mut Vm, client: u64, pid: i32, payload: &[u8]) {
        let mut frame = Vec::new();
        let len = match self.serve_request(vm, client, payload) {
            Some(r) => {
                codec::reply(vm, &mut frame, &r);
                if frame.len() <= bell::BOX {
                    self.bell.put(pid, true, &frame);
                    frame.len() as u32
                } else {
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.output.extend_from_slice(&frame);
                    }
                    bell::ON_SOCKET
                }
            }
            None => bell::ON_SOCKET,
        };
        self.bell.slot(pid).rep_len.store(len, Ordering::Release);
        self.bell.deliver(pid);
    }

    /// Serves one request; the reply goes to the client's output.
    fn handle(&mut self, vm: &mut Vm, client: u64, payload: &[u8]) {
        if let Some(r) = self.serve_request(vm, client, payload) {
            self.reply(vm, client, &r);
        }
    }

    /// The result of the request in `payload`; None when it waits, or when
    /// it was a cancel (whose answer is then in the client's output).
    fn serve_request(
        &mut self,
        vm: &mut Vm,
        client: u64,
        payload: &[u8],
    ) -> Option<VmResult<Value>> {
        match codec::read_request(vm, payload) {
            Ok(req) if req.id == 0 && req.name == "cancel" => {
                self.waiters.retain(|w| w.client != client);
                if let Some(c) = self.clients.get_mut(&client) {
                    codec::cancelled(&mut c.output);
                }
                None
            }
            Ok(req) => self.dispatch(vm, client, req),
            Err(e) => Some(Err(e)),
        }
    }

    fn reply(&mut self, vm: &mut Vm, client: u64, result: &VmResult<Value>) {
        if let Some(c) = self.clients.get_mut(&client) {
            let mut out = std::mem::take(&mut c.output);
            codec::reply(vm, &mut out, result);
            if let Some(c) = self.clients.get_mut(&client) {
                c.output = out;
            }
        }
    }

    /// The result of a request, or `None` when it waits.
    fn dispatch(&mut self, vm: &mut Vm, client: u64, req: Request) -> Option<VmResult<Value>> {
        if req.id == 0 {
            return Some(self.manager_op(req));
        }
        let Some(obj) = self.objects.get_mut(&req.id) else {
            return Some(Err(Exc::new(
                "ProcessError",
                "the manager has no such object",
            )));
        };
        let args = Args {
            pos: &req.pos,
            names: &req.names,
            named: &req.named,
        };
        let arg = |i: usize| req.pos.get(i).cloned().unwrap_or_default();
        match obj {
            Obj::Dict(v) | Obj::List(v) => {
                let v = v.clone();
                Some(container_op(vm, &v, req.name, args))
            }
            Obj::Namespace(fields) => Some(namespace_op(fields, req.name, &req.pos)),
            Obj::Value(v) => Some(match req.name {
                "get" => Ok(v.clone()),
                "set" => {
                    *v = arg(0);
                    Ok(Value::Nil)
                }
                other => Err(no_method("ValueProxy", other)),
            }),
            Obj::Queue { items, maxsize } => {
                let full = *maxsize > 0 && items.len() >= *maxsize;
                match req.name {
                    "qsize" => Some(Ok(Value::Int(items.len() as i64))),
                    "empty" => Some(Ok(Value::Bool(items.is_empty()))),
                    "full" => Some(Ok(Value::Bool(full))),
                    "put" if !full => {
                        items.push_back(arg(0));
                        self.settle(vm, req.id);
                        Some(Ok(Value::Nil))
                    }
                    "put" => self.wait(client, req.id, Wait::Put(arg(0)), req.pos.get(1)),
                    "get" => match items.pop_front() {
                        Some(item) => {
                            self.settle(vm, req.id);
                            Some(Ok(item))
                        }
                        None => self.wait(client, req.id, Wait::Get, req.pos.first()),
                    },
                    other => Some(Err(no_method("QueueProxy", other))),
                }
            }
            Obj::Lock { holder } => match req.name {
                "locked" => Some(Ok(Value::Bool(holder.is_some()))),
                "acquire" if holder.is_none() => {
                    *holder = Some(client);
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.held.push(req.id);
                    }
                    Some(Ok(Value::Bool(true)))
                }
                "acquire" => self.wait(client, req.id, Wait::Acquire, req.pos.first()),
                "release" => match *holder {
                    Some(h) if h == client => {
                        *holder = None;
                        if let Some(c) = self.clients.get_mut(&client) {
                            c.held.retain(|&l| l != req.id);
                        }
                        self.settle(vm, req.id);
                        Some(Ok(Value::Nil))
                    }
                    Some(h) => {
                        let pid = self.clients.get(&h).map(|c| c.pid).unwrap_or(0);
                        Some(Err(Exc::value_error(format!(
                            "release() of a lock held by another process (pid {pid})"
                        ))))
                    }
                    None => Some(Err(Exc::value_error("release() of an unlocked lock"))),
                },
                other => Some(Err(no_method("LockProxy", other))),
            },
        }
    }

    /// `create`.
    fn manager_op(&mut self, req: Request) -> VmResult<Value> {
        match req.name {
            "create" => {
                let init = req.pos.get(1).cloned().unwrap_or_default();
                let obj = match req.pos.first().and_then(|k| k.as_str()) {
                    Some("dict") => Obj::Dict(match init {
                        m @ Value::Map(_) => m,
                        _ => Value::map(MapData::default()),
                    }),
                    Some("list") => Obj::List(match init {
                        l @ Value::List(_) => l,
                        _ => Value::list(Vec::new()),
                    }),
                    Some("namespace") => Obj::Namespace(MapData::default()),
                    Some("value") => Obj::Value(init),
                    Some("queue") => Obj::Queue {
                        items: VecDeque::new(),
                        maxsize: init.as_int().unwrap_or(0).max(0) as usize,
                    },
                    Some("lock") => Obj::Lock { holder: None },
                    _ => return Err(Exc::value_error("unknown kind of managed object")),
                };
                let id = self.next_object;
                self.next_object += 1;
                self.objects.insert(id, obj);
                Ok(Value::Int(id as i64))
            }
            other => Err(no_method("Manager", other)),
        }
    }

    /// Parks a blocking request, or answers at once when it may not wait.
    fn wait(
        &mut self,
        client: u64,
        object: u64,
        what: Wait,
        timeout: Option<&Value>,
    ) -> Option<VmResult<Value>> {
        let Some(deadline) = deadline(timeout) else {
            return Some(match what {
                Wait::Get => Err(queue_empty()),
                Wait::Put(_) => Err(queue_full()),
                Wait::Acquire => Ok(Value::Bool(false)),
            });
        };
        self.waiters.push(Waiter {
            client,
            object,
            what,
            deadline,
        });
        None
    }

    /// Serves the waiters of `object` that its new state allows, in order.
    fn settle(&mut self, vm: &mut Vm, object: u64) {
        let mut progress = true;
        while progress {
            progress = false;
            let mut i = 0;
            while i < self.waiters.len() {
                if self.waiters[i].object != object {
                    i += 1;
                    continue;
                }
                let Some(result) = self.try_serve(object, i) else {
                    i += 1;
                    continue;
                };
                let w = self.waiters.remove(i);
                self.reply(vm, w.client, &result);
                progress = true;
            }
        }
    }

    /// Serves waiter `i` if the object's state allows it now.
    fn try_serve(&mut self, object: u64, i: usize) -> Option<VmResult<Value>> {
        let client = self.waiters[i].client;
        match (self.objects.get_mut(&object)?, &mut self.waiters[i].what) {
            (Obj::Queue { items, .. }, Wait::Get) => items.pop_front().map(Ok),
            (Obj::Queue { items, maxsize }, Wait::Put(v)) => {
                if *maxsize > 0 && items.len() >= *maxsize {
                    return None;
                }
                items.push_back(std::mem::take(v));
                Some(Ok(Value::Nil))
            }
            (Obj::Lock { holder }, Wait::Acquire) if holder.is_none() => {
                *holder = Some(client);
                if let Some(c) = self.clients.get_mut(&client) {
                    c.held.push(object);
                }
                Some(Ok(Value::Bool(true)))
            }
            _ => None,
        }
    }

    /// Answers the waiters whose deadline has passed.
    fn expire(&mut self, vm: &mut Vm) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].deadline.is_some_and(|d| d <= now) {
                let w = self.waiters.remove(i);
                let result = match w.what {
                    Wait::Get => Err(queue_empty()),
                    Wait::Put(_) => Err(queue_full()),
                    Wait::Acquire => Ok(Value::Bool(false)),
                };
                self.reply(vm, w.client, &result);
            } else {
                i += 1;
            }
        }
    }

    /// Writes what each client's socket takes of its pending replies.
    fn flush_all(&mut self, vm: &mut Vm) {
        let mut lost = Vec::new();
        for (id, c) in self.clients.iter_mut() {
            let mut done = 0;
            while done < c.output.len() {
                match c.stream.write(&c.output[done..]) {
                    Ok(n) => done += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        lost.push(*id);
                        break;
                    }
                }
            }
            c.output.drain(..done);
            if done > 0 {
                self.bell.ring(c.pid);
            }
        }
        for id in lost {
            self.disconnect(vm, id);
        }
    }

    /// Forgets a client whose connection closed: its waiters go, its locks are
    /// released (with a warning: the process died holding them).
    fn disconnect(&mut self, vm: &mut Vm, id: u64) {
        let Some(c) = self.clients.remove(&id) else {
            return;
        };
        if c.boxed {
            self.bell.release(c.pid);
        }
        self.waiters.retain(|w| w.client != id);
        for lock in c.held {
            if let Some(Obj::Lock { holder }) = self.objects.get_mut(&lock) {
                if *holder == Some(id) {
                    *holder = None;
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: process {} ended while holding a manager lock; the lock is released",
                        c.pid
                    );
                    self.settle(vm, lock);
                }
            }
        }
    }
}

fn no_method(type_name: &str, name: &str) -> Exc {
    Exc::new(
        "AttributeError",
        format!("{type_name} has no method `{name}`"),
    )
}

/// An operation on a managed dict or list, done with the ordinary `map` and
/// `list` methods on the server's own value.
fn container_op(vm: &mut Vm, target: &Value, name: &str, args: Args) -> VmResult<Value> {
    let arg = |i: usize| args.pos.get(i).cloned().unwrap_or_default();
    let is_list = matches!(target, Value::List(_));
    match name {
        "get_item" => vm.get_index(target, &arg(0)),
        "set_item" => vm.set_index(target, &arg(0), arg(1)).map(|_| Value::Nil),
        "len" => Ok(Value::Int(
            crate::vm::ops::length(target).unwrap_or(0) as i64
        )),
        "get_slice" if is_list => crate::vm::ops::slice(target, &arg(0), &arg(1), &arg(2)),
        // a snapshot: the keys of a map, the items of a list
        "iter" => match target {
            Value::Map(m) => Ok(Value::list(
                m.borrow().keys().map(|k| k.value().clone()).collect(),
            )),
            Value::List(l) => Ok(Value::list(l.borrow().clone())),
            _ => Ok(Value::list(Vec::new())),
        },
        _ => {
            let (table, type_name) = if is_list {
                (crate::stdlib::list::METHODS, "ListProxy")
            } else {
                (crate::stdlib::map::METHODS, "DictProxy")
            };
            let Some((_, f)) = table.iter().find(|(n, _)| *n == name) else {
                return Err(no_method(type_name, name));
            };
            let result = f(vm, target, args);
            // `sort(key: f)` runs script code here, which may print
            vm.flush();
            result
        }
    }
}

/// `get_attr`, `set_attr` and `items` (for printing) of a namespace.
fn namespace_op(fields: &mut MapData, name: &str, pos: &[Value]) -> VmResult<Value> {
    let arg = |i: usize| pos.get(i).cloned().unwrap_or_default();
    let attr = arg(0);
    let Some(attr_name) = attr.as_str() else {
        if name == "items" {
            return Ok(Value::list(
                fields
                    .iter()
                    .map(|(k, v)| Value::list(vec![k.value().clone(), v.clone()]))
                    .collect(),
            ));
        }
        return Err(Exc::type_error("attribute names are strings"));
    };
    match name {
        "get_attr" => fields.get(&Key::str(attr_name)).cloned().ok_or_else(|| {
            Exc::new(
                "AttributeError",
                format!("Namespace has no attribute `{attr_name}`"),
            )
        }),
        "set_attr" => {
            fields.insert(Key::str(attr_name), arg(1));
            Ok(Value::Nil)
        }
        other => Err(no_method("Namespace", other)),
    }
}
