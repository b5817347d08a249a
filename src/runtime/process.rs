//! Processes (section 10): `spawn CALL`, `Process(...)` and its subclasses,
//! `current_process()`, and the bookkeeping that makes sure no child is lost:
//! every child started here is joined (or, for daemons, terminated) when the
//! program ends, and dies with its parent (`PR_SET_PDEATHSIG`).
//!
//! A child reports back through a pipe made just before the fork: it writes
//! one wire frame (`["ok", value]` or `["error", text]`) and exits; the pipe's
//! end of file is how the parent learns the child is gone, which is a readiness
//! a poll loop can wait on. The parent reads the frame, then reaps the child.
//!
//! `Process` is a class with native methods, so scripts can extend it; its
//! state lives in the instance (`Instance::native`), and its attributes (`pid`,
//! `exitcode`...) are read from that state so they are always current.

use crate::runtime::reactor::{self, Pending, Wake};
use crate::runtime::shm::{Deadline, SLICE};
use crate::stdlib::os::require_processes;
use crate::value::func::{NativeKind, want_str};
use crate::value::{Args, Class, Exc, Instance, NativeState, Value, VmResult};
use crate::vm::Vm;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustc_hash::FxHashMap;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

/// Per-process bookkeeping, kept in the VM.
#[derive(Default)]
pub struct Runtime {
    /// `""` in the main process, `"1"`, `"1:2"`... in children: the suffix of
    /// default names of the processes this one starts.
    identity: String,
    /// Processes created by this process so far (for default names).
    count: u32,
    /// Children started by this process and not yet reaped.
    children: Vec<Rc<ProcState>>,
    /// Children forked since this process last waited for another one: they
    /// may still share its CPU (`place_children`). The latest `MAX_UNPLACED`.
    unplaced: Vec<i32>,
    /// The running process's own `Process` object (`current_process()`).
    current: Option<Value>,
    /// In a child: the write end of the pipe its result goes back through.
    result_fd: Option<OwnedFd>,
    /// The `Process` class, for `current_process()` in the main process.
    class: Option<Rc<Class>>,
    /// The interned name `run` (looked up by every child).
    run: Option<crate::vm::symbol::Sym>,
    /// Pools this process created (terminated at the end if still open).
    pub(crate) pools: Vec<std::rc::Weak<crate::runtime::pool::PoolInner>>,
}

/// The state of one `Process` object.
pub struct ProcState {
    name: RefCell<String>,
    /// `"3"` for the third process this one created, `"1:3"` in child 1:
    /// the suffix of the names of the processes the child itself creates.
    identity: String,
    daemon: Cell<bool>,
    target: RefCell<Value>,
    args: RefCell<Vec<Value>>,
    kwargs: RefCell<Vec<(Rc<str>, Value)>>,
    /// 0 until started.
    pid: Cell<i32>,
    /// The exit status once reaped (minus the signal number for a signal).
    status: Cell<Option<i32>>,
    /// The read end of the result pipe, until its end of file.
    reader: RefCell<Option<OwnedFd>>,
    /// Bytes of the result frame read so far.
    buf: RefCell<Vec<u8>>,
    result: RefCell<Value>,
    error: RefCell<Option<String>>,
    /// True for the object describing the running process itself.
    is_self: Cell<bool>,
}

impl ProcState {
    fn new(name: String, identity: String) -> ProcState {
        ProcState {
            name: RefCell::new(name),
            identity,
            daemon: Cell::new(false),
            target: RefCell::new(Value::Nil),
            args: RefCell::new(Vec::new()),
            kwargs: RefCell::new(Vec::new()),
            pid: Cell::new(0),
            status: Cell::new(None),
            reader: RefCell::new(None),
            buf: RefCell::new(Vec::new()),
            result: RefCell::new(Value::Nil),
            error: RefCell::new(None),
            is_self: Cell::new(false),
        }
    }

    fn started(&self) -> bool {
        self.pid.get() != 0
    }

    /// Reaps the child if it has exited (without waiting, unless `block`).
    /// Returns true once it is known to have ended.
    fn poll_exit(&self, block: bool) -> bool {
        if self.status.get().is_some() {
            return true;
        }
        if !self.started() || self.is_self.get() {
            return false;
        }
        let flags = if block {
            None
        } else {
            Some(WaitPidFlag::WNOHANG)
        };
        loop {
            match nix::sys::wait::waitpid(Pid::from_raw(self.pid.get()), flags) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.status.set(Some(code));
                    return true;
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.status.set(Some(-(sig as i32)));
                    return true;
                }
                Ok(WaitStatus::StillAlive) => return false,
                Ok(_) => {
                    if !block {
                        return false;
                    }
                }
                Err(Errno::EINTR) => {}
                // not our child any more (reaped elsewhere, e.g. by a raw
                // waitpid): nothing more can be learned
                Err(_) => {
                    self.status.set(Some(self.status.get().unwrap_or(0)));
                    return true;
                }
            }
        }
    }

    /// Reads what the result pipe has; true once the whole result frame has
    /// come (the child's last act before `_exit`) or at the pipe's end of
    /// file (the child died without reporting).
    fn read_available(&self) -> bool {
        let mut reader = self.reader.borrow_mut();
        let Some(fd) = reader.as_ref() else {
            return true;
        };
        // small: after a fork every page the parent touches for the first
        // time costs a copy-on-write fault (a 64 KiB buffer was 16 of them
        // per spawn); a big result just takes more reads
        let mut chunk = [0u8; 512];
        let done = loop {
            match nix::unistd::read(fd, &mut chunk) {
                Ok(0) => break true,
                Ok(n) => {
                    let mut buf = self.buf.borrow_mut();
                    buf.extend_from_slice(&chunk[..n]);
                    if crate::wire::frame_len(&buf).is_some_and(|len| buf.len() >= len) {
                        break true;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return false,
                Err(_) => break true,
            }
        };
        *reader = None;
        done
    }

    /// Turns the result frame into `result`/`error` once the pipe is closed.
    fn take_result(&self, vm: &mut Vm) -> VmResult<()> {
        let bytes = std::mem::take(&mut *self.buf.borrow_mut());
        if bytes.len() < 4 {
            return Ok(()); // the child died before reporting
        }
        let mut r = &bytes[..];
        let frame = match crate::wire::read_frame(&mut r) {
            Ok(Some(f)) => f,
            _ => return Ok(()),
        };
        let v = crate::wire::decode(vm, &frame)?;
        if let Value::List(l) = &v {
            let l = l.borrow();
            match (
                l.first().and_then(|t| t.as_str().map(str::to_string)),
                l.get(1),
            ) {
                (Some(tag), Some(x)) if tag == "ok" => *self.result.borrow_mut() = x.clone(),
                (Some(tag), Some(x)) if tag == "error" => {
                    *self.error.borrow_mut() = x.as_str().map(str::to_string)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Waits for the child to end (at most until `deadline`); true if it did.
    ///
    /// Sleeps on the child's exit (a pidfd), not on its result pipe. The
    /// result is the child's last write before `_exit`; a parent woken by it
    /// would be moved to another CPU while this one finishes the exit, and
    /// find its memory cold there. Woken by the exit, it resumes where it
    /// slept. A result bigger than the pipe holds blocks the child until it
    /// is read, so the sleeps grow from 1 ms to `SLICE`, and once part of a
    /// result has come the pipe is watched too.
    fn wait(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        // opened at the first sleep: a child already reaped (its result read
        // whole) needs none, and its pid may be another process's by now
        let mut exit = None;
        let mut nap = Duration::from_millis(1);
        loop {
            if self.read_available() {
                break;
            }
            if deadline.expired() {
                return Ok(false);
            }
            let mut slice = deadline.slice();
            let exit = exit.get_or_insert_with(|| pidfd(self.pid.get()));
            let reader = self.reader.borrow();
            let (Some(pipe), Some(exit)) = (reader.as_ref(), exit.as_ref()) else {
                if let Some(pipe) = reader.as_ref() {
                    poll_in([pipe.as_fd()], slice);
                }
                drop(reader);
                vm.check_interrupt()?;
                continue;
            };
            slice = slice.min(nap);
            nap = (nap * 2).min(SLICE);
            let partial = !self.buf.borrow().is_empty();
            let ended = if partial {
                poll_in([exit.as_fd(), pipe.as_fd()], slice)[0]
            } else {
                poll_in([exit.as_fd()], slice)[0]
            };
            drop(reader);
            if ended {
                // what the pipe holds is all there will be
                self.read_available();
                *self.reader.borrow_mut() = None;
                break;
            }
            vm.check_interrupt()?;
        }
        // the child has exited, or sent its result and is exiting
        self.poll_exit(true);
        self.take_result(vm)?;
        Ok(true)
    }
}

impl NativeState for ProcState {
    fn get_attr(&self, _vm: &mut Vm, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "name" => Value::str(&self.name.borrow()),
            "daemon" => Value::Bool(self.daemon.get()),
            "pid" => match self.pid.get() {
                0 => Value::Nil,
                p => Value::Int(p as i64),
            },
            "exitcode" => {
                self.poll_exit(false);
                match self.status.get() {
                    Some(s) => Value::Int(s as i64),
                    None => Value::Nil,
                }
            }
            "error" => match &*self.error.borrow() {
                Some(e) => Value::str(e),
                None => Value::Nil,
            },
            _ => return None,
        }))
    }

    fn set_attr(&self, _vm: &mut Vm, name: &str, value: &Value) -> Option<VmResult<()>> {
        Some(match name {
            "name" => match value.as_str() {
                Some(s) => {
                    *self.name.borrow_mut() = s.to_string();
                    Ok(())
                }
                None => Err(Exc::type_error("a process name must be a str")),
            },
            "daemon" => {
                if self.started() {
                    Err(Exc::new(
                        "ProcessError",
                        "daemon cannot be changed once the process has started",
                    ))
                } else {
                    self.daemon.set(value.truthy());
                    Ok(())
                }
            }
            "pid" | "exitcode" | "error" => Err(Exc::new(
                "AttributeError",
                format!("`{name}` of a Process is read-only"),
            )),
            _ => return None,
        })
    }

    fn attr_names(&self) -> &'static [&'static str] {
        &["name", "daemon", "pid", "exitcode", "error"]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// The process state of `this` (a Process or a subclass instance), created
/// with default values if `init` was not called.
fn state(vm: &mut Vm, this: &Value) -> VmResult<Rc<ProcState>> {
    let Value::Instance(inst) = this else {
        return Err(Exc::type_error("not a Process"));
    };
    if let Some(st) = inst.native_state::<ProcState>() {
        return Ok(st);
    }
    let st = Rc::new(new_state(vm, &inst.class.name, None));
    *inst.native.borrow_mut() = Some(st.clone());
    Ok(st)
}

/// A new process's state, numbered after the ones this process made before:
/// named `Class-N` (`Class-1:N` in child 1) unless given a name.
fn new_state(vm: &mut Vm, class: &str, name: Option<String>) -> ProcState {
    let rt = &mut vm.procs;
    rt.count += 1;
    let identity = if rt.identity.is_empty() {
        rt.count.to_string()
    } else {
        format!("{}:{}", rt.identity, rt.count)
    };
    let name = name.unwrap_or_else(|| format!("{class}-{identity}"));
    ProcState::new(name, identity)
}

/// `Process(target: nil, args: [], kwargs: {}, name: nil, daemon: false)`
fn init(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [target, pargs, kwargs, name, daemon] =
        args.bind("Process", ["target", "args", "kwargs", "name", "daemon"], 0)?;
    let Value::Instance(inst) = this else {
        return Err(Exc::type_error("Process.init needs a Process"));
    };
    let name = match crate::stdlib::given(name) {
        Some(n) => Some(want_str("Process", "name", &n)?.to_string()),
        None => None,
    };
    let st = new_state(vm, &inst.class.name, name);
    if let Some(t) = crate::stdlib::given(target) {
        *st.target.borrow_mut() = t;
    }
    if let Some(a) = crate::stdlib::given(pargs) {
        *st.args.borrow_mut() = vm.collect(&a)?;
    }
    if let Some(k) = crate::stdlib::given(kwargs) {
        let Value::Map(m) = &k else {
            return Err(Exc::type_error(format!(
                "Process() argument `kwargs` must be a map, not {}",
                k.type_name()
            )));
        };
        let mut named = Vec::new();
        for (key, v) in m.borrow().iter() {
            let Some(s) = key.value().as_str() else {
                return Err(Exc::type_error("Process() kwargs keys must be str"));
            };
            named.push((Rc::from(s), v.clone()));
        }
        *st.kwargs.borrow_mut() = named;
    }
    st.daemon.set(daemon.is_some_and(|d| d.truthy()));
    *inst.native.borrow_mut() = Some(Rc::new(st));
    Ok(Value::Nil)
}

/// `p.run()`: what the child does; by default calls the target.
fn run(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("run", 0, 0)?;
    let st = state(vm, this)?;
    let target = st.target.borrow().clone();
    if matches!(target, Value::Nil) {
        return Ok(Value::Nil);
    }
    let pos = st.args.borrow().clone();
    let kw = st.kwargs.borrow().clone();
    let names: Vec<Rc<str>> = kw.iter().map(|(k, _)| k.clone()).collect();
    let named: Vec<Value> = kw.into_iter().map(|(_, v)| v).collect();
    vm.call_args(
        &target,
        Args {
            pos: &pos,
            names: &names,
            named: &named,
        },
    )
}

/// `p.start()`: forks; the child runs `p.run()` and never returns here.
fn start(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("start", 0, 0)?;
    require_processes(vm, "Process.start")?;
    let st = state(vm, this)?;
    if st.started() || st.is_self.get() {
        return Err(Exc::new(
            "ProcessError",
            "a process can only be started once",
        ));
    }
    // reap children that ended without being joined, so none stays a zombie
    // while the program runs (their results wait in their pipes)
    for c in &vm.procs.children {
        c.poll_exit(false);
    }
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
        Exc::new(
            "ProcessError",
            format!("cannot start a process: {}", e.desc()),
        )
    })?;
    let parent = std::process::id() as i32;
    let pid = fork_raw(vm, "Process.start")?;
    if pid == 0 {
        drop(reader);
        set_death_signal(parent);
        vm.procs.identity = st.identity.clone();
        vm.procs.count = 0;
        vm.procs.result_fd = Some(writer);
        st.pid.set(std::process::id() as i32);
        st.is_self.set(true);
        vm.procs.current = Some(this.clone());
        child_main(vm, this, &st);
    }
    drop(writer);
    // reading never blocks: the join loop polls
    let _ = nix::fcntl::fcntl(
        &reader,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    st.pid.set(pid);
    *st.reader.borrow_mut() = Some(reader);
    vm.procs.children.push(st);
    Ok(Value::Nil)
}

/// The child's life after `start`: run, report, exit. Never returns.
fn child_main(vm: &mut Vm, this: &Value, st: &Rc<ProcState>) -> ! {
    let run = match vm.procs.run {
        Some(s) => s,
        None => vm.interner.intern("run"),
    };
    let outcome = match vm.get_attr(this, run) {
        Ok(m) => vm.call(&m, &[]),
        Err(e) => Err(e),
    };
    let (code, report) = match outcome {
        Ok(v) => match crate::wire::encode(vm, &Value::list(vec![Value::str("ok"), v])) {
            Ok(bytes) => (0, Some(bytes)),
            Err(e) => {
                let e = Exc::new(
                    &e.error().kind,
                    format!("cannot send the result back: {}", e.error().message),
                );
                (1, error_report(vm, st, &e))
            }
        },
        Err(e) => match e.error().exit_code {
            Some(code) => (code, None),
            None if &*e.error().kind == "KeyboardInterrupt" => {
                // Ctrl-C reached the whole group: the parent reports it; end quietly
                finish(vm);
                die_by_sigint();
            }
            None => (1, error_report(vm, st, &e)),
        },
    };
    finish(vm);
    // the report is the last act before `_exit`: a joining parent sleeps
    // until the exit and reads it then (`ProcState::wait`)
    if let (Some(bytes), Some(fd)) = (report, vm.procs.result_fd.take()) {
        // so that the pipe holds the result whole and this exits at once
        // (up to 1 MiB, the usual limit; the parent reads a bigger one
        // while it is written)
        let whole = bytes.len() + 4;
        if whole > 1 << 16 {
            let size = whole.min(1 << 20) as libc::c_int;
            let _ = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size));
        }
        let mut f = std::fs::File::from(fd);
        let _ = crate::wire::write_frame(&mut f, &bytes);
        std::mem::forget(f); // closed by _exit
    }
    // SAFETY: _exit ends the process at once, without running the parent's
    // Rust destructors or atexit handlers that this copy must not run.
    unsafe { libc::_exit(code) }
}

/// Prints a child's uncaught error (section 10) and returns the report for
/// the parent's `p.error`.
fn error_report(vm: &mut Vm, st: &ProcState, e: &Exc) -> Option<Vec<u8>> {
    let err = e.error();
    let diag = crate::error::runtime_diagnostic(err);
    let header = format!(
        "Process {} (pid {}):\n",
        st.name.borrow(),
        std::process::id()
    );
    vm.write_err(&header);
    vm.write_err(&diag.to_string());
    vm.flush();
    let text = format!("{}: {}", err.kind, err.message);
    crate::wire::encode(
        vm,
        &Value::list(vec![Value::str("error"), Value::string(text)]),
    )
    .ok()
}

/// Ends the process the way a Ctrl-C does, so the parent sees `-2`.
fn die_by_sigint() -> ! {
    // SAFETY: resetting a signal to its default and raising it; the process
    // ends here.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
        libc::_exit(130)
    }
}

/// Asks the kernel to send SIGTERM to this (child) process when its parent
/// dies, and handles the race where the parent died before the request.
pub(crate) fn set_death_signal(parent: i32) {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    if nix::unistd::getppid().as_raw() != parent {
        // SAFETY: ending the orphaned child at once.
        unsafe { libc::_exit(1) }
    }
}

/// Forks with everything a child of the runtime needs: output flushed before,
/// and in the child a fresh random seed and none of the parent's children.
/// Returns 0 in the child, the child's pid in the parent.
pub fn fork_raw(vm: &mut Vm, fname: &str) -> VmResult<i32> {
    crate::stdlib::os::require_processes(vm, fname)?;
    if has_other_threads() {
        return Err(Exc::new(
            "NotSupported",
            format!(
                "{fname}() is not possible while the host process has other threads (fork would copy only this one): use Interpreter::into_server before starting threads (docs/embedding.md)"
            ),
        ));
    }
    vm.flush();
    let held = HereOnly::narrow();
    // SAFETY: the process has a single thread (checked above), so the child
    // gets a consistent copy of every lock and allocation.
    let forked = unsafe { nix::unistd::fork() };
    if let Some(held) = held {
        held.restore();
    }
    match forked {
        Ok(nix::unistd::ForkResult::Child) => {
            after_fork_in_child(vm);
            Ok(0)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let unplaced = &mut vm.procs.unplaced;
            if unplaced.len() == MAX_UNPLACED {
                unplaced.remove(0);
            }
            unplaced.push(child.as_raw());
            Ok(child.as_raw())
        }
        Err(e) => Err(Exc::new(
            "ProcessError",
            format!("{fname}(): cannot fork: {}", e.desc()),
        )),
    }
}

/// A descriptor that polls readable once process `pid` (our child) has
/// exited; None where the kernel has no pidfd_open (before Linux 5.3).
fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; a new descriptor is ours to own.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        (fd >= 0).then(|| OwnedFd::from_raw_fd(fd as i32))
    }
}

/// Polls `fds` for input (or their end) for at most `timeout`; which are ready.
fn poll_in<const N: usize>(fds: [BorrowedFd<'_>; N], timeout: Duration) -> [bool; N] {
    let mut polled = fds.map(|fd| nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN));
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    let _ = nix::poll::poll(&mut polled, nix::poll::PollTimeout::from(ms));
    polled.map(|p| p.revents().is_some_and(|r| !r.is_empty()))
}

/// Called when this process starts waiting for another one (on a queue, a
/// lock, a pipe...): the children it started and that may still share its
/// CPU are moved to another (`spread`), so that the two run side by side.
/// A child that its parent only joins stays where it started, which is
/// what makes a short `spawn` + `join` cheap.
pub(crate) fn place_children(vm: &mut Vm) {
    if vm.procs.unplaced.is_empty() {
        return;
    }
    for pid in std::mem::take(&mut vm.procs.unplaced) {
        if running_child(pid) {
            spread(pid);
        }
    }
}

/// How many recent children `place_children` remembers; older ones have
/// had time to be moved by the scheduler.
const MAX_UNPLACED: usize = 16;

/// True while `pid` is a running child of this process (not yet reaped, so
/// the pid cannot belong to another process).
fn running_child(pid: i32) -> bool {
    // SAFETY: waitid only writes into the local siginfo; WNOWAIT leaves the
    // child's state for whoever reaps it.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() == 0
    }
}

/// Moves a child to another CPU than this process's (the next one it may
/// use). A child started on its parent's CPU (see `HereOnly`) and talking
/// with it is moved by Linux only after tens of milliseconds, so a producer
/// and its consumer would share one CPU while the other idles. The child may
/// run anywhere it could before: its CPU mask is restored at once, and the
/// scheduler moves it as it likes from there.
pub(crate) fn spread(child: i32) {
    // SAFETY: plain system calls on a local CPU set and our own child's pid.
    unsafe {
        let mut mask: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut mask) != 0 || libc::CPU_COUNT(&mask) < 2 {
            return;
        }
        let here = libc::sched_getcpu();
        let n = libc::CPU_SETSIZE;
        let Some(there) = (1..n)
            .map(|i| (here + i).rem_euclid(n))
            .find(|&c| libc::CPU_ISSET(c as usize, &mask))
        else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(there as usize, &mut one);
        if libc::sched_setaffinity(child, size, &one) == 0 {
            libc::sched_setaffinity(child, size, &mask);
        }
    }
}

/// The CPUs a process may use, while `fork` narrows them to the one it runs
/// on: a new child starts on its parent's CPU. Linux may start it on
/// another, idle one; waking an idle CPU, and later the parent from it,
/// doubles the cost of a short child that the parent waits for. A child
/// that runs alongside its parent is moved away by the scheduler as usual,
/// or at once by `place_children` when the parent starts waiting on it.
struct HereOnly(libc::cpu_set_t);

impl HereOnly {
    /// None when this process may use one CPU only (nothing to narrow).
    fn narrow() -> Option<HereOnly> {
        // SAFETY: plain system calls on local CPU sets.
        unsafe {
            let mut mask: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut mask) != 0 || libc::CPU_COUNT(&mask) < 2 {
                return None;
            }
            let here = libc::sched_getcpu();
            if here < 0 {
                return None;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(here as usize, &mut one);
            (libc::sched_setaffinity(0, size, &one) == 0).then_some(HereOnly(mask))
        }
    }

    /// Gives this process (parent or child) its CPUs back; it stays where it
    /// runs.
    fn restore(self) {
        // SAFETY: a plain system call on a CPU set we own.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0);
        }
    }
}

/// True when this process has more than one thread (then fork is unsafe).
/// One `stat` call: the link count of `/proc/self/task` is 2 plus the
/// number of threads (reading `/proc/self/stat` took ten calls per fork).
fn has_other_threads() -> bool {
    match nix::sys::stat::stat("/proc/self/task") {
        Ok(st) => st.st_nlink > 3,
        Err(_) => false,
    }
}

fn after_fork_in_child(vm: &mut Vm) {
    vm.rng = vm.rng.for_child(std::process::id());
    // the parent's tasks stay in the parent
    vm.forget_tasks();
    // the parent's children are not ours: forget them (closing our copies of
    // their pipes) without waiting for them
    for c in std::mem::take(&mut vm.procs.children) {
        c.reader.borrow_mut().take();
        c.status.set(Some(c.status.get().unwrap_or(0)));
    }
    vm.procs.unplaced.clear();
    // nor is the parent's result pipe, if the parent is itself a child
    vm.procs.result_fd = None;
    vm.procs.pools.clear();
    // nor are its connections to managers (replies would go astray)
    crate::runtime::manager::forget_inherited(vm);
}

/// Records a helper process the runtime started (a manager's server) as a
/// daemon child of this process: like a daemon `Process`, it is terminated
/// and reaped when this process ends. Returns its record, for `end_helper`.
pub(crate) fn adopt_helper(vm: &mut Vm, pid: i32, name: &str) -> Rc<ProcState> {
    let st = Rc::new(ProcState::new(name.to_string(), String::new()));
    st.pid.set(pid);
    st.daemon.set(true);
    vm.procs.children.push(st.clone());
    st
}

/// Ends a helper recorded by `adopt_helper` now: kills and reaps it (it holds
/// no state worth a graceful end). Does nothing if it has been reaped, or in
/// a forked copy of the process that started it.
pub(crate) fn end_helper(st: &ProcState) {
    if st.poll_exit(false) {
        return;
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(st.pid.get()), Signal::SIGKILL);
    st.poll_exit(true);
}

/// At the end of a program (or of a child): joins the non-daemon children,
/// then terminates and reaps the daemon ones. Errors are ignored.
pub fn finish(vm: &mut Vm) {
    // the main script has ended: so have its tasks
    vm.end_tasks();
    vm.flush();
    crate::runtime::pool::finish_all(vm);
    let children = std::mem::take(&mut vm.procs.children);
    for c in children.iter().filter(|c| !c.daemon.get()) {
        let _ = c.wait(vm, Deadline::NEVER);
    }
    for c in children.iter().filter(|c| c.daemon.get()) {
        if !c.poll_exit(false) {
            let _ = nix::sys::signal::kill(Pid::from_raw(c.pid.get()), Signal::SIGTERM);
        }
        c.reader.borrow_mut().take();
        c.poll_exit(true);
    }
    vm.flush();
}

/// A child of this process as the REPL's `:procs` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildRow {
    pub pid: i32,
    pub name: String,
    pub daemon: bool,
    /// `running`, `exited 0`, `killed by signal 15`; `busy` or `idle` for a
    /// pool worker.
    pub state: String,
}

/// This process's children that have not been joined: the processes it
/// started, the runtime's live helpers (a manager's server) and its pools'
/// workers. Reaps the ended ones without waiting (as `start` does); their
/// results stay for `join`.
pub fn child_rows(vm: &Vm) -> Vec<ChildRow> {
    let mut rows: Vec<ChildRow> = vm
        .procs
        .children
        .iter()
        .filter(|c| c.started() && !c.is_self.get())
        // an ended helper, or a child whose result was read, is done with
        .filter(|c| !c.poll_exit(false) || c.reader.borrow().is_some())
        .map(|c| {
            let state = if c.poll_exit(false) {
                match c.status.get().unwrap_or(0) {
                    s if s < 0 => format!("killed by signal {}", -s),
                    s => format!("exited {s}"),
                }
            } else {
                "running".to_string()
            };
            ChildRow {
                pid: c.pid.get(),
                name: c.name.borrow().clone(),
                daemon: c.daemon.get(),
                state,
            }
        })
        .collect();
    rows.extend(crate::runtime::pool::worker_rows(vm));
    rows
}

/// Forgets children that have been reaped.
fn prune(vm: &mut Vm) {
    vm.procs
        .children
        .retain(|c| c.status.get().is_none() || c.reader.borrow().is_some());
}

fn join(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [timeout] = args.bind("join", ["timeout"], 0)?;
    let st = state(vm, this)?;
    if st.is_self.get() {
        return Err(Exc::new("ProcessError", "a process cannot join itself"));
    }
    if !st.started() {
        return Err(Exc::new("ProcessError", "can only join a started process"));
    }
    let timeout = match crate::stdlib::given(timeout) {
        Some(t) => Some(crate::value::func::want_f64("join", "timeout", &t)?),
        None => None,
    };
    vm.flush();
    if vm.tasks_active() {
        // other tasks run until the child's result pipe closes (reactor.rs)
        let wake = match st.reader.borrow().as_ref() {
            Some(fd) => Wake::Fd(fd.as_raw_fd(), libc::POLLIN),
            None => Wake::Local,
        };
        let st = st.clone();
        let wait = Pending::new(
            wake,
            reactor::deadline_after(timeout),
            move |vm, expired| {
                if !st.read_available() {
                    return Ok(expired.then_some(Value::Nil));
                }
                st.poll_exit(true);
                st.take_result(vm)?;
                prune(vm);
                Ok(Some(st.result.borrow().clone()))
            },
        );
        return vm.block(wait);
    }
    if st.wait(vm, Deadline::after(timeout))? {
        prune(vm);
        Ok(st.result.borrow().clone())
    } else {
        Ok(Value::Nil)
    }
}

fn is_alive(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("is_alive", 0, 0)?;
    let st = state(vm, this)?;
    if st.is_self.get() {
        return Ok(Value::Bool(true));
    }
    Ok(Value::Bool(st.started() && !st.poll_exit(false)))
}

fn signal(vm: &mut Vm, this: &Value, sig: Signal) -> VmResult<Value> {
    let st = state(vm, this)?;
    if st.started() && !st.is_self.get() && !st.poll_exit(false) {
        let _ = nix::sys::signal::kill(Pid::from_raw(st.pid.get()), sig);
    }
    Ok(Value::Nil)
}

fn terminate(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("terminate", 0, 0)?;
    signal(vm, this, Signal::SIGTERM)
}

fn kill(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("kill", 0, 0)?;
    signal(vm, this, Signal::SIGKILL)
}

fn str_(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("str", 0, 0)?;
    let st = state(vm, this)?;
    let class = match this {
        Value::Instance(i) => i.class.name.to_string(),
        _ => "Process".into(),
    };
    let state = if st.is_self.get() {
        "current".to_string()
    } else if !st.started() {
        "initial".to_string()
    } else if st.poll_exit(false) {
        format!("stopped exitcode={}", st.status.get().unwrap_or(0))
    } else {
        "started".to_string()
    };
    let pid = match st.pid.get() {
        0 => String::new(),
        p => format!(" pid={p}"),
    };
    Ok(Value::string(format!(
        "<{class} name={}{pid} {state}>",
        crate::value::format::quote_str(&st.name.borrow())
    )))
}

/// `current_process()`: the running process's Process object.
fn current_process(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("current_process", 0, 0)?;
    if let Some(p) = &vm.procs.current {
        return Ok(p.clone());
    }
    let class = vm
        .procs
        .class
        .clone()
        .ok_or_else(|| Exc::type_error("no Process class"))?;
    let st = ProcState::new("MainProcess".into(), String::new());
    st.pid.set(std::process::id() as i32);
    st.is_self.set(true);
    let inst = Instance::new(class);
    *inst.native.borrow_mut() = Some(Rc::new(st));
    let v = Value::Instance(Rc::new(inst));
    vm.procs.current = Some(v.clone());
    Ok(v)
}

/// The running process's name (`MainProcess`, `Process-1`, `PoolWorker-2`...).
pub(crate) fn current_name(vm: &mut Vm) -> String {
    match &vm.procs.current {
        Some(Value::Instance(inst)) => inst
            .native_state::<ProcState>()
            .map_or_else(String::new, |st| st.name.borrow().clone()),
        _ => "MainProcess".to_string(),
    }
}

/// In a freshly forked runtime child (a pool worker, a manager server):
/// makes `current_process()` report `name`, and numbers the processes the
/// child itself creates after it.
pub(crate) fn become_child(vm: &mut Vm, name: &str) {
    let identity = name.rsplit('-').next().unwrap_or("").to_string();
    vm.procs.identity = identity.clone();
    vm.procs.count = 0;
    let st = ProcState::new(name.to_string(), identity);
    st.pid.set(std::process::id() as i32);
    st.is_self.set(true);
    if let Some(class) = vm.procs.class.clone() {
        let inst = Instance::new(class);
        *inst.native.borrow_mut() = Some(Rc::new(st));
        vm.procs.current = Some(Value::Instance(Rc::new(inst)));
    }
}

/// `spawn f(a, b)`: `#spawn(f, a, b)` makes a Process with that target and
/// starts it.
fn spawn(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let Some((target, pos)) = args.pos.split_first() else {
        return Err(Exc::type_error("spawn needs a call"));
    };
    require_processes(vm, "spawn")?;
    let class = vm
        .procs
        .class
        .clone()
        .ok_or_else(|| Exc::type_error("no Process class"))?;
    let st = new_state(vm, "Process", None);
    *st.target.borrow_mut() = target.clone();
    *st.args.borrow_mut() = pos.to_vec();
    *st.kwargs.borrow_mut() = args
        .names
        .iter()
        .cloned()
        .zip(args.named.iter().cloned())
        .collect();
    let inst = Instance::new(class);
    *inst.native.borrow_mut() = Some(Rc::new(st));
    let p = Value::Instance(Rc::new(inst));
    start(vm, &p, Args::new(&[]))?;
    Ok(p)
}

const METHODS: &[(&str, crate::value::MethodFn)] = &[
    ("init", init),
    ("run", run),
    ("start", start),
    ("join", join),
    ("is_alive", is_alive),
    ("terminate", terminate),
    ("kill", kill),
    ("str", str_),
];

/// Defines `Process`, `current_process` and the entry point of `spawn`.
pub fn install(vm: &mut Vm) {
    let mut own = FxHashMap::default();
    for (name, f) in METHODS {
        let sym = vm.interner.intern(name);
        own.insert(
            sym,
            Value::Native(Rc::new(crate::value::Native {
                name: Rc::from(*name),
                kind: NativeKind::Method(*f),
            })),
        );
    }
    let class = Rc::new(Class::new(Rc::from("Process"), None, own));
    vm.procs.run = Some(vm.interner.intern("run"));
    vm.procs.class = Some(class.clone());
    vm.globals.define_builtin("Process", Value::Class(class));
    vm.globals.define_builtin(
        "current_process",
        crate::stdlib::native("current_process", current_process),
    );
    vm.globals
        .define_builtin("#spawn", crate::stdlib::native("#spawn", spawn));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_child_not_yet_reaped_is_placed() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into `fds`.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [r, w] = fds;
        // SAFETY: the child only closes, reads and exits (calls that are
        // safe after fork in a threaded test process).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut b = [0u8; 1];
            // SAFETY: as above; the read waits for the parent's close.
            unsafe {
                libc::close(w);
                libc::read(r, b.as_mut_ptr().cast(), 1);
                libc::_exit(0)
            }
        }
        assert!(pid > 0);
        assert!(running_child(pid), "a running child");
        // SAFETY: closing our descriptors; waiting for our own child without
        // reaping it (WNOWAIT), then reaping it.
        unsafe {
            libc::close(r);
            libc::close(w);
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            );
            assert!(!running_child(pid), "an ended child, not yet reaped");
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        assert!(
            !running_child(pid),
            "a reaped child: its pid may be another's"
        );
    }
}
