//! Process pools (section 14): `pool(n)` pre-forks `n` workers named
//! `PoolWorker-N` that pull tasks from one shared queue and push results to
//! another (both `queue::ByteQueue`, in shared memory, so neither side ever
//! waits on the other's reading).
//!
//! Each worker has a slot in a small shared table where it writes the id of
//! the task it is running; when a worker dies (killed, crashed, `exit()`),
//! the parent finds that id there, fails that one task with `WorkerDied`, and
//! starts a replacement. Results are collected, and callbacks run, in the
//! parent whenever it waits on the pool (`get`, `map`, `join`, iterating an
//! `imap`) or sleeps, in completion order.
//!
//! Task messages are encoded for the workers' `Horizon`: functions that
//! existed when the pool was made go by number, globals they name by slot;
//! anything newer travels as code and values.

use crate::runtime::queue::ByteQueue;
use crate::runtime::reactor::{self, Wake};
use crate::runtime::shm::{Deadline, Region};
use crate::stdlib::given;
use crate::stdlib::os::require_processes;
use crate::value::func::{want_f64, want_int};
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;
use crate::wire::{self, Horizon};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a task calls its function.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `f(*args, **kwargs)` once.
    Apply = 0,
    /// `[f(x) for x in chunk]`.
    Map = 1,
    /// `[f(*x) for x in chunk]`.
    Star = 2,
}

/// The outcome of a task or a whole job, once known.
#[derive(Clone)]
enum Outcome {
    Ok(Value),
    Err(Rc<str>, String),
}

/// The state behind an `AsyncResult`.
struct ResultState {
    outcome: RefCell<Option<Outcome>>,
    callback: Option<Value>,
    error_callback: Option<Value>,
}

/// A `map`/`imap` job: its chunks' results, in order.
struct Job {
    chunks: Vec<Option<Vec<Value>>>,
    /// Chunks whose results came back, in completion order (for imap_unordered).
    arrived: VecDeque<usize>,
    done: usize,
    /// The error of each failed chunk (imap raises it when it reaches that chunk).
    errors: Vec<Option<(Rc<str>, String)>>,
    /// The AsyncResult of map_async, completed when every chunk is in.
    result: Option<Rc<ResultState>>,
    total_items: usize,
    items_done: usize,
    progress: bool,
}

enum Pending {
    Apply(Rc<ResultState>),
    Chunk(Rc<RefCell<Job>>, usize),
}

struct Worker {
    pid: i32,
    slot: usize,
    name: String,
}

/// A pool, shared by its handle and its AsyncResults and iterators.
pub struct PoolInner {
    tasks: ByteQueue,
    results: ByteQueue,
    /// One u64 per worker slot: the task it runs (0 when idle).
    slots: Region,
    nslots: usize,
    workers: RefCell<Vec<Worker>>,
    pending: RefCell<FxHashMap<u64, Pending>>,
    next_id: Cell<u64>,
    horizon: Horizon,
    owner: u32,
    names: Cell<u32>,
    initializer: Value,
    initargs: Vec<Value>,
    maxtasks: Option<u64>,
    closed: Cell<bool>,
    terminated: Cell<bool>,
    /// Stop messages queued after close (one per worker that will need it).
    stops: Cell<usize>,
    /// A callback is running: others wait their turn in `deferred`.
    in_callback: Cell<bool>,
    deferred: RefCell<VecDeque<(Rc<ResultState>, Outcome)>>,
}

/// The `Pool` handle.
pub struct Pool(Rc<PoolInner>);

fn slot_word(p: &PoolInner, i: usize) -> &AtomicU64 {
    debug_assert!(i < p.nslots);
    // SAFETY: the region holds `nslots` aligned u64 words, shared by the
    // workers; `i` is a slot index below `nslots`.
    unsafe { &*(p.slots.as_ptr() as *const AtomicU64).add(i) }
}

fn pool_closed() -> Exc {
    Exc::value_error("the pool is closed: no new tasks")
}

impl PoolInner {
    fn check_owner(&self) -> VmResult<()> {
        if std::process::id() != self.owner {
            return Err(Exc::new(
                "ProcessError",
                "a pool can only be used by the process that created it",
            ));
        }
        Ok(())
    }

    /// Forks a worker into free slot `slot`.
    fn start_worker(self: &Rc<Self>, vm: &mut Vm, slot: usize) -> VmResult<()> {
        self.names.set(self.names.get() + 1);
        let name = format!("PoolWorker-{}", self.names.get());
        slot_word(self, slot).store(0, Ordering::SeqCst);
        let parent = std::process::id() as i32;
        let pid = crate::runtime::process::fork_raw(vm, "pool")?;
        if pid == 0 {
            crate::runtime::process::set_death_signal(parent);
            // Ctrl-C is the parent's to handle; workers end when it stops them
            // SAFETY: ignoring a signal has no memory effects.
            unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
            crate::runtime::process::become_child(vm, &name);
            let code = worker_main(vm, self, slot);
            vm.flush();
            // SAFETY: ending the worker without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        crate::runtime::process::spread(pid);
        self.workers.borrow_mut().push(Worker { pid, slot, name });
        Ok(())
    }

    fn submit(
        self: &Rc<Self>,
        vm: &mut Vm,
        mode: Mode,
        f: &Value,
        args: Value,
        kwargs: Value,
        pending: Pending,
    ) -> VmResult<()> {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let msg = Value::list(vec![Value::Int(mode as i64), f.clone(), args, kwargs]);
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&id.to_le_bytes());
        wire::encode_for_into(vm, &msg, &self.horizon, &mut bytes)?;
        self.tasks.put(vm, &bytes)?;
        self.pending.borrow_mut().insert(id, pending);
        Ok(())
    }

    /// Collects results (and runs callbacks) until `done()` says so or the
    /// deadline passes; also notices dead workers. Returns whether done.
    fn serve(
        self: &Rc<Self>,
        vm: &mut Vm,
        deadline: Deadline,
        done: &dyn Fn() -> bool,
    ) -> VmResult<bool> {
        // With no task out, only a worker's exit can end the wait (`join`
        // after `close`), and an exit puts nothing in the results queue: look
        // for it after a short sleep, then longer ones, instead of a whole
        // slice (which made every `with pool(n)` block last 50 ms more).
        let mut idle = std::time::Duration::from_micros(100);
        loop {
            // everything already there first, without waiting
            while let Some(msg) = self.results.get(vm, Deadline::now())? {
                self.deliver(vm, &msg)?;
            }
            if done() {
                return Ok(true);
            }
            self.check_workers(vm)?;
            if done() {
                return Ok(true);
            }
            if deadline.expired() {
                return Ok(false);
            }
            if self.pending.borrow().is_empty() && self.workers.borrow().is_empty() {
                // nothing can arrive any more (a terminated pool, say)
                return Ok(done());
            }
            if vm.tasks_active() {
                // other tasks run meanwhile; results are looked at again
                // within a few milliseconds (reactor.rs)
                vm.idle(deadline.slice())?;
                vm.check_interrupt()?;
                continue;
            }
            let mut wait = deadline.slice();
            if self.pending.borrow().is_empty() {
                wait = wait.min(idle);
                idle *= 2;
            }
            let slice = Deadline::after(Some(wait.as_secs_f64()));
            if let Some(msg) = self.results.get(vm, slice)? {
                self.deliver(vm, &msg)?;
            }
            vm.check_interrupt()?;
        }
    }

    /// Handles one result message from a worker.
    fn deliver(self: &Rc<Self>, vm: &mut Vm, msg: &[u8]) -> VmResult<()> {
        if msg.len() < 9 {
            return Ok(());
        }
        let id = u64::from_le_bytes(msg[..8].try_into().expect("8 bytes"));
        let ok = msg[8] == 1;
        let outcome = match wire::decode(vm, &msg[9..]) {
            Ok(v) if ok => Outcome::Ok(v),
            Ok(v) => {
                let (kind, message) = match &v {
                    Value::List(l) => {
                        let l = l.borrow();
                        (
                            l.first().and_then(|k| k.as_str().map(Rc::from)),
                            l.get(1).and_then(|m| m.as_str().map(str::to_string)),
                        )
                    }
                    _ => (None, None),
                };
                Outcome::Err(
                    kind.unwrap_or_else(|| Rc::from("Error")),
                    message.unwrap_or_default(),
                )
            }
            Err(e) => Outcome::Err(e.error().kind.clone(), e.error().message.clone()),
        };
        self.complete(vm, id, outcome)
    }

    fn complete(self: &Rc<Self>, vm: &mut Vm, id: u64, outcome: Outcome) -> VmResult<()> {
        let Some(p) = self.pending.borrow_mut().remove(&id) else {
            return Ok(());
        };
        match p {
            Pending::Apply(r) => self.finish_result(vm, &r, outcome),
            Pending::Chunk(job, index) => {
                let finished = {
                    let mut j = job.borrow_mut();
                    match outcome {
                        Outcome::Ok(Value::List(items)) => {
                            // freshly decoded: usually nobody else holds it
                            let items = match Rc::try_unwrap(items) {
                                Ok(cell) => cell.into_inner(),
                                Err(shared) => shared.borrow().clone(),
                            };
                            j.items_done += items.len();
                            j.chunks[index] = Some(items);
                        }
                        Outcome::Ok(_) => j.chunks[index] = Some(Vec::new()),
                        Outcome::Err(kind, message) => {
                            j.errors[index] = Some((kind, message));
                            j.chunks[index] = Some(Vec::new());
                        }
                    }
                    j.done += 1;
                    j.arrived.push_back(index);
                    if j.progress {
                        draw_progress(vm, j.items_done, j.total_items);
                    }
                    j.done == j.chunks.len()
                };
                if finished {
                    let r = job.borrow().result.clone();
                    if let Some(r) = r {
                        let outcome = job_outcome(&mut job.borrow_mut());
                        self.finish_result(vm, &r, outcome)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Reaps workers that ended: fails the task each was running, and
    /// starts replacements while there is work.
    fn check_workers(self: &Rc<Self>, vm: &mut Vm) -> VmResult<()> {
        let mut dead = Vec::new();
        self.workers.borrow_mut().retain(|w| {
            match nix::sys::wait::waitpid(Pid::from_raw(w.pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    dead.push((w.slot, code));
                    false
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    dead.push((w.slot, -(sig as i32)));
                    false
                }
                Ok(_) => true,
                Err(_) => {
                    dead.push((w.slot, 0));
                    false
                }
            }
        });
        for (slot, status) in dead {
            let task = slot_word(self, slot).swap(0, Ordering::SeqCst);
            // a result may have been sent just before the end
            while let Some(msg) = self.results.get(vm, Deadline::now())? {
                self.deliver(vm, &msg)?;
            }
            if task != 0 && self.pending.borrow().contains_key(&task) {
                let outcome = Outcome::Err(
                    Rc::from("WorkerDied"),
                    format!("the pool worker running this task died (exit status {status})"),
                );
                self.complete(vm, task, outcome)?;
            }
            if self.terminated.get() {
                continue;
            }
            let queued = self.tasks.len() as usize;
            let more_work = queued > self.stops.get();
            if !self.closed.get() || more_work || status != 0 {
                if self.closed.get() {
                    // the replacement needs a stop message of its own
                    self.tasks.put(vm, &0u64.to_le_bytes())?;
                    self.stops.set(self.stops.get() + 1);
                }
                self.start_worker(vm, slot)?;
            }
        }
        Ok(())
    }

    fn close(&self, vm: &mut Vm) -> VmResult<()> {
        if self.closed.get() {
            return Ok(());
        }
        self.closed.set(true);
        let n = self.workers.borrow().len();
        for _ in 0..n {
            self.tasks.put(vm, &0u64.to_le_bytes())?;
        }
        self.stops.set(self.stops.get() + n);
        Ok(())
    }

    fn terminate(self: &Rc<Self>, vm: &mut Vm) {
        if self.terminated.get() {
            return;
        }
        self.terminated.set(true);
        self.closed.set(true);
        let workers = std::mem::take(&mut *self.workers.borrow_mut());
        for w in &workers {
            let _ = nix::sys::signal::kill(Pid::from_raw(w.pid), Signal::SIGKILL);
        }
        for w in &workers {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(w.pid), None);
        }
        let ids: Vec<u64> = self.pending.borrow().keys().copied().collect();
        for id in ids {
            let _ = self.complete(
                vm,
                id,
                Outcome::Err(Rc::from("ProcessError"), "the pool was terminated".into()),
            );
        }
    }

    fn join(self: &Rc<Self>, vm: &mut Vm) -> VmResult<()> {
        if !self.closed.get() {
            return Err(Exc::value_error(
                "join() needs close() or terminate() first",
            ));
        }
        let me = self.clone();
        self.serve(vm, Deadline::NEVER, &|| me.workers.borrow().is_empty())?;
        Ok(())
    }
}

impl Drop for PoolInner {
    /// A pool nobody can reach any more (no handle, AsyncResult or iterator)
    /// cannot be closed or joined: its workers are stopped, as Python's
    /// finaliser does.
    fn drop(&mut self) {
        if self.terminated.get() || std::process::id() != self.owner {
            return;
        }
        let workers = std::mem::take(&mut *self.workers.borrow_mut());
        for w in &workers {
            let _ = nix::sys::signal::kill(Pid::from_raw(w.pid), Signal::SIGKILL);
        }
        for w in &workers {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(w.pid), None);
        }
    }
}

/// The outcome of a finished map job: its first error, or every chunk's
/// results in order, moved out of the job (which nothing reads afterwards:
/// only `imap` iterators read chunks, and they never ask for this).
fn job_outcome(j: &mut Job) -> Outcome {
    match j.errors.iter().flatten().next() {
        Some((k, m)) => Outcome::Err(k.clone(), m.clone()),
        None => {
            let mut all = Vec::with_capacity(j.total_items);
            for chunk in &mut j.chunks {
                all.append(&mut chunk.take().unwrap_or_default());
            }
            Outcome::Ok(Value::list(all))
        }
    }
}

impl PoolInner {
    /// Records an outcome and runs the matching callback, one callback at a
    /// time: a result that arrives while a callback runs (it may sleep or
    /// wait on the pool) is recorded at once, its callback runs afterwards.
    fn finish_result(&self, vm: &mut Vm, r: &Rc<ResultState>, outcome: Outcome) -> VmResult<()> {
        *r.outcome.borrow_mut() = Some(outcome.clone());
        if r.callback.is_none() && r.error_callback.is_none() {
            return Ok(());
        }
        self.deferred.borrow_mut().push_back((r.clone(), outcome));
        if self.in_callback.get() {
            return Ok(());
        }
        self.in_callback.set(true);
        let mut result = Ok(());
        loop {
            let next = self.deferred.borrow_mut().pop_front();
            let Some((r, outcome)) = next else {
                break;
            };
            if let Err(e) = run_callback(vm, &r, outcome) {
                result = Err(e);
                break;
            }
        }
        self.in_callback.set(false);
        result
    }
}

fn run_callback(vm: &mut Vm, r: &Rc<ResultState>, outcome: Outcome) -> VmResult<()> {
    match outcome {
        Outcome::Ok(v) => {
            if let Some(cb) = &r.callback {
                vm.call(cb, &[v])?;
            }
        }
        Outcome::Err(kind, message) => {
            if let Some(cb) = &r.error_callback {
                let e = Value::Error(Rc::new(crate::value::ErrorValue::new(&kind, message)));
                vm.call(cb, &[e])?;
            }
        }
    }
    Ok(())
}

/// Draws `[#####-----] done/total` on stderr when it is a terminal.
fn draw_progress(vm: &mut Vm, done: usize, total: usize) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || total == 0 {
        return;
    }
    let width = 30;
    let filled = done * width / total;
    let bar = format!(
        "\r[{}{}] {done}/{total}{}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        if done >= total { "\n" } else { "" }
    );
    vm.write_err(&bar);
    vm.err.flush();
}

/// A worker's life: take tasks until a stop message (or maxtasksperchild).
fn worker_main(vm: &mut Vm, pool: &Rc<PoolInner>, slot: usize) -> i32 {
    if !matches!(pool.initializer, Value::Nil) {
        let init = pool.initializer.clone();
        let args = pool.initargs.clone();
        if let Err(e) = vm.call(&init, &args) {
            if let Some(code) = e.error().exit_code {
                return code;
            }
            report_error(vm, &e);
        }
    }
    let mut done = 0u64;
    loop {
        // the task's id goes into this worker's slot while the task is being
        // taken, so a worker killed at any moment cannot lose a task
        let take = |m: &[u8]| {
            if let Some(id) = m.get(..8) {
                let id = u64::from_le_bytes(id.try_into().unwrap_or([0; 8]));
                slot_word(pool, slot).store(id, Ordering::SeqCst);
            }
        };
        let msg = match pool.tasks.get_with(vm, Deadline::NEVER, &take) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(_) => return 1,
        };
        if msg.len() < 8 {
            continue;
        }
        let id = u64::from_le_bytes(msg[..8].try_into().expect("8 bytes"));
        if id == 0 {
            return 0; // stop
        }
        let outcome = run_task(vm, &msg[8..]);
        // the reply: the task id, 1 and the value, or 0 and the error
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&id.to_le_bytes());
        bytes.push(1);
        let failed = match outcome {
            Ok(v) => wire::encode_for_into(vm, &v, &Horizon::NONE, &mut bytes).err(),
            Err(e) => {
                if let Some(code) = e.error().exit_code {
                    // exit() in a task ends the worker; the parent sees it die
                    return code;
                }
                Some(e)
            }
        };
        if let Some(e) = failed {
            bytes.truncate(8);
            bytes.push(0);
            bytes.extend_from_slice(&error_bytes(vm, &e));
        }
        if pool.results.put(vm, &bytes).is_err() {
            return 1;
        }
        slot_word(pool, slot).store(0, Ordering::SeqCst);
        vm.flush();
        done += 1;
        if pool.maxtasks.is_some_and(|m| done >= m) {
            return 0;
        }
    }
}

fn report_error(vm: &mut Vm, e: &Exc) {
    let diag = crate::error::runtime_diagnostic(e.error());
    let name = crate::runtime::process::current_name(vm);
    vm.write_err(&format!("Process {name} (pid {}):\n", std::process::id()));
    vm.write_err(&diag.to_string());
    vm.flush();
}

fn error_bytes(vm: &mut Vm, e: &Exc) -> Vec<u8> {
    let err = e.error();
    let v = Value::list(vec![
        Value::str(&err.kind),
        Value::string(err.message.clone()),
    ]);
    wire::encode(vm, &v).unwrap_or_default()
}

fn run_task(vm: &mut Vm, body: &[u8]) -> VmResult<Value> {
    let msg = wire::decode(vm, body)?;
    let Value::List(parts) = &msg else {
        return Err(Exc::value_error("malformed pool task"));
    };
    let parts = parts.borrow().clone();
    let [mode, f, args, kwargs] = parts.as_slice() else {
        return Err(Exc::value_error("malformed pool task"));
    };
    let mode = mode.as_int().unwrap_or(0);
    let items = vm.collect(args)?;
    match mode {
        0 => {
            let (names, named) = kwargs_of(kwargs)?;
            vm.call_args(
                f,
                Args {
                    pos: &items,
                    names: &names,
                    named: &named,
                },
            )
        }
        1 => {
            let mut out = Vec::with_capacity(items.len());
            vm.call_each(f, items, &mut out)?;
            Ok(Value::list(out))
        }
        _ => {
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                let a = vm.collect(&x)?;
                out.push(vm.call(f, &a)?);
            }
            Ok(Value::list(out))
        }
    }
}

fn kwargs_of(kwargs: &Value) -> VmResult<(Vec<Rc<str>>, Vec<Value>)> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    if let Value::Map(m) = kwargs {
        for (k, v) in m.borrow().iter() {
            let Some(s) = k.value().as_str() else {
                return Err(Exc::type_error("kwargs keys must be str"));
            };
            names.push(Rc::from(s));
            values.push(v.clone());
        }
    }
    Ok((names, values))
}

/// `pool(processes = cpu_count(), initializer: nil, initargs: [], maxtasksperchild: nil)`
fn pool(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [n, initializer, initargs, maxtasks] = args.bind(
        "pool",
        ["processes", "initializer", "initargs", "maxtasksperchild"],
        0,
    )?;
    require_processes(vm, "pool")?;
    let n = match given(n) {
        Some(v) => want_int("pool", "processes", &v)?,
        None => crate::stdlib::os::cpu_count_now() as i64,
    };
    if n < 1 {
        return Err(Exc::value_error(format!(
            "pool(): processes must be at least 1, not {n}"
        )));
    }
    if n > 1024 {
        return Err(Exc::value_error("pool(): at most 1024 processes"));
    }
    let maxtasks = match given(maxtasks) {
        Some(v) => {
            let m = want_int("pool", "maxtasksperchild", &v)?;
            if m < 1 {
                return Err(Exc::value_error(
                    "pool(): maxtasksperchild must be at least 1",
                ));
            }
            Some(m as u64)
        }
        None => None,
    };
    let initargs = match given(initargs) {
        Some(a) => vm.collect(&a)?,
        None => Vec::new(),
    };
    let io = |e: std::io::Error| Exc::new("ProcessError", format!("pool(): {e}"));
    let nslots = n as usize;
    let inner = Rc::new(PoolInner {
        tasks: ByteQueue::new().map_err(io)?,
        results: ByteQueue::new().map_err(io)?,
        slots: Region::new((nslots * 8).max(8), false).map_err(io)?,
        nslots,
        workers: RefCell::new(Vec::new()),
        pending: RefCell::new(FxHashMap::default()),
        next_id: Cell::new(0),
        horizon: Horizon::now(vm),
        owner: std::process::id(),
        names: Cell::new(0),
        initializer: given(initializer).unwrap_or_default(),
        initargs,
        maxtasks,
        closed: Cell::new(false),
        terminated: Cell::new(false),
        stops: Cell::new(0),
        in_callback: Cell::new(false),
        deferred: RefCell::new(VecDeque::new()),
    });
    for slot in 0..nslots {
        if let Err(e) = inner.start_worker(vm, slot) {
            inner.terminate(vm);
            return Err(e);
        }
    }
    vm.procs.pools.push(Rc::downgrade(&inner));
    Ok(Value::object(Pool(inner)))
}

/// Terminates every pool still open (the end of the program) and forgets
/// dropped ones.
pub fn finish_all(vm: &mut Vm) {
    let pools = std::mem::take(&mut vm.procs.pools);
    for p in pools.iter().filter_map(Weak::upgrade) {
        if p.owner == std::process::id() {
            p.terminate(vm);
        }
    }
}

/// The workers of this process's open pools, for the REPL's `:procs`: a
/// worker is `busy` while its slot names a task. Nothing is reaped here (the
/// pool notices dead workers itself).
pub fn worker_rows(vm: &Vm) -> Vec<crate::runtime::process::ChildRow> {
    let mut rows = Vec::new();
    for p in vm.procs.pools.iter().filter_map(Weak::upgrade) {
        if p.owner != std::process::id() || p.terminated.get() {
            continue;
        }
        for w in p.workers.borrow().iter() {
            let busy = slot_word(&p, w.slot).load(Ordering::SeqCst) != 0;
            rows.push(crate::runtime::process::ChildRow {
                pid: w.pid,
                name: w.name.clone(),
                daemon: true,
                state: if busy { "busy" } else { "idle" }.to_string(),
            });
        }
    }
    rows
}

/// Collects finished results and runs callbacks of every pool (called while
/// the script sleeps).
pub fn serve_all(vm: &mut Vm) -> VmResult<()> {
    if vm.procs.pools.is_empty() {
        return Ok(());
    }
    vm.procs.pools.retain(|p| p.strong_count() > 0);
    let pools: Vec<Rc<PoolInner>> = vm.procs.pools.iter().filter_map(Weak::upgrade).collect();
    for p in pools {
        if p.owner == std::process::id() && !p.terminated.get() {
            p.serve(vm, Deadline::now(), &|| false)?;
        }
    }
    Ok(())
}

/// What a map runs over: a range is cut into sub-ranges, which travel as
/// three numbers instead of a list.
enum Items {
    List(Vec<Value>),
    Range(crate::value::Range),
}

impl Items {
    fn of(vm: &mut Vm, xs: &Value) -> VmResult<Items> {
        Ok(match xs {
            Value::Range(r) => Items::Range(crate::value::Range {
                start: r.start,
                stop: r.stop,
                step: r.step,
            }),
            other => Items::List(vm.collect(other)?),
        })
    }

    fn len(&self) -> usize {
        match self {
            Items::List(l) => l.len(),
            Items::Range(r) => r.len().max(0) as usize,
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items `[from, from + n)` as a list or a range.
    fn chunk(&self, from: usize, n: usize) -> Value {
        match self {
            Items::List(l) => Value::list(l[from..(from + n).min(l.len())].to_vec()),
            Items::Range(r) => {
                let start = r.nth(from as i64);
                let count = n.min(self.len() - from) as i64;
                Value::Range(Rc::new(crate::value::Range {
                    start,
                    stop: start.saturating_add(count.saturating_mul(r.step)),
                    step: r.step,
                }))
            }
        }
    }
}

fn map_args(
    vm: &mut Vm,
    args: &Args,
    fname: &str,
) -> VmResult<(Value, Items, Option<usize>, bool)> {
    let [f, xs, chunksize, progress] = args.bind(fname, ["f", "xs", "chunksize", "progress"], 2)?;
    let f = f.unwrap_or_default();
    let xs = Items::of(vm, &xs.unwrap_or_default())?;
    let chunksize = chunksize_arg(fname, chunksize)?;
    Ok((f, xs, chunksize, progress.is_some_and(|p| p.truthy())))
}

/// The `chunksize` argument of the map family: absent, or at least 1 (as
/// Python's `Pool` requires).
fn chunksize_arg(fname: &str, chunksize: Option<Value>) -> VmResult<Option<usize>> {
    match given(chunksize) {
        Some(c) => {
            let c = want_int(fname, "chunksize", &c)?;
            if c < 1 {
                return Err(Exc::value_error(format!(
                    "{fname}(): chunksize must be at least 1"
                )));
            }
            Ok(Some(c as usize))
        }
        None => Ok(None),
    }
}

impl Pool {
    /// Submits one call; `fname` (`apply` or `apply_async`) names the method
    /// in errors.
    fn apply_async(&self, vm: &mut Vm, fname: &str, args: Args) -> VmResult<Rc<ResultState>> {
        let [f, fargs, kwargs, callback, error_callback] = args.bind(
            fname,
            ["f", "args", "kwargs", "callback", "error_callback"],
            1,
        )?;
        let p = &self.0;
        p.check_owner()?;
        if p.closed.get() {
            return Err(pool_closed());
        }
        let f = f.unwrap_or_default();
        let fargs = Value::list(match given(fargs) {
            Some(a) => vm.collect(&a)?,
            None => Vec::new(),
        });
        let kwargs = match given(kwargs) {
            Some(k @ Value::Map(_)) => k,
            Some(other) => {
                return Err(Exc::type_error(format!(
                    "{fname}(): kwargs must be a map, not {}",
                    other.type_name()
                )));
            }
            // nothing to send (the worker treats nil as no named arguments)
            None => Value::Nil,
        };
        let r = Rc::new(ResultState {
            outcome: RefCell::new(None),
            callback: given(callback),
            error_callback: given(error_callback),
        });
        p.submit(
            vm,
            Mode::Apply,
            &f,
            fargs,
            kwargs,
            Pending::Apply(r.clone()),
        )?;
        Ok(r)
    }

    /// Splits `xs` into chunks and submits them; returns the job.
    fn start_job(
        &self,
        vm: &mut Vm,
        mode: Mode,
        f: &Value,
        xs: Items,
        size: usize,
        progress: bool,
    ) -> VmResult<Rc<RefCell<Job>>> {
        let p = &self.0;
        p.check_owner()?;
        if p.closed.get() {
            return Err(pool_closed());
        }
        let size = size.max(1);
        let total = xs.len();
        let nchunks = total.div_ceil(size);
        let job = Rc::new(RefCell::new(Job {
            chunks: vec![None; nchunks],
            arrived: VecDeque::new(),
            done: 0,
            errors: vec![None; nchunks],
            result: None,
            total_items: total,
            items_done: 0,
            progress,
        }));
        for i in 0..nchunks {
            p.submit(
                vm,
                mode,
                f,
                xs.chunk(i * size, size),
                Value::Nil,
                Pending::Chunk(job.clone(), i),
            )?;
        }
        Ok(job)
    }

    fn default_chunk(&self, n: usize) -> usize {
        // as Python: about four chunks per worker
        n.div_ceil(self.0.nslots * 4).max(1)
    }

    fn run_job(&self, vm: &mut Vm, job: &Rc<RefCell<Job>>) -> VmResult<Value> {
        let j = job.clone();
        self.0.serve(vm, Deadline::NEVER, &|| {
            let j = j.borrow();
            j.done == j.chunks.len()
        })?;
        let outcome = job_outcome(&mut job.borrow_mut());
        match outcome {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(kind, message) => Err(Exc::new(&kind, message)),
        }
    }
}

impl Object for Pool {
    fn type_name(&self) -> &'static str {
        "Pool"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let state = if self.0.terminated.get() {
            "terminated"
        } else if self.0.closed.get() {
            "closed"
        } else {
            "running"
        };
        format!("<Pool processes={} {state}>", self.0.nslots)
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        if !self.method_names().contains(&name) && name != "enter" && name != "exit" {
            return None;
        }
        Some(self.call(vm, this, name, args))
    }

    fn method_names(&self) -> &'static [&'static str] {
        &[
            "apply",
            "apply_async",
            "map",
            "map_async",
            "imap",
            "imap_unordered",
            "starmap",
            "starmap_async",
            "close",
            "join",
            "terminate",
        ]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Pool {
    fn call(&self, vm: &mut Vm, this: &Value, name: &str, args: Args) -> VmResult<Value> {
        match name {
            "apply_async" => {
                let r = self.apply_async(vm, name, args)?;
                Ok(async_result(&self.0, r))
            }
            "apply" => {
                let r = self.apply_async(vm, name, args)?;
                wait_result(vm, &self.0, &r, Deadline::NEVER)?;
                take_outcome(&r)
            }
            "map" | "starmap" => {
                let (f, xs, chunksize, progress) = map_args(vm, &args, name)?;
                let mode = if name == "map" { Mode::Map } else { Mode::Star };
                let size = chunksize.unwrap_or_else(|| self.default_chunk(xs.len()));
                let job = self.start_job(vm, mode, &f, xs, size, progress)?;
                self.run_job(vm, &job)
            }
            "map_async" | "starmap_async" => {
                let [f, xs, chunksize, callback, error_callback] = args.bind(
                    name,
                    ["f", "xs", "chunksize", "callback", "error_callback"],
                    2,
                )?;
                let f = f.unwrap_or_default();
                let xs = Items::of(vm, &xs.unwrap_or_default())?;
                let chunksize = chunksize_arg(name, chunksize)?;
                let mode = if name == "map_async" {
                    Mode::Map
                } else {
                    Mode::Star
                };
                let size = chunksize.unwrap_or_else(|| self.default_chunk(xs.len()));
                let empty = xs.is_empty();
                let job = self.start_job(vm, mode, &f, xs, size, false)?;
                let r = Rc::new(ResultState {
                    outcome: RefCell::new(None),
                    callback: given(callback),
                    error_callback: given(error_callback),
                });
                if empty {
                    self.0
                        .finish_result(vm, &r, Outcome::Ok(Value::list(Vec::new())))?;
                } else {
                    job.borrow_mut().result = Some(r.clone());
                }
                Ok(async_result(&self.0, r))
            }
            "imap" | "imap_unordered" => {
                let (f, xs, chunksize, progress) = map_args(vm, &args, name)?;
                let job =
                    self.start_job(vm, Mode::Map, &f, xs, chunksize.unwrap_or(1), progress)?;
                Ok(Value::object(MapIter {
                    pool: self.0.clone(),
                    job,
                    ordered: name == "imap",
                    next_chunk: Cell::new(0),
                    buffer: RefCell::new(VecDeque::new()),
                }))
            }
            "close" => {
                args.expect("close", 0, 0)?;
                self.0.check_owner()?;
                self.0.close(vm)?;
                Ok(Value::Nil)
            }
            "join" => {
                args.expect("join", 0, 0)?;
                self.0.check_owner()?;
                self.0.join(vm)?;
                Ok(Value::Nil)
            }
            "terminate" => {
                args.expect("terminate", 0, 0)?;
                self.0.check_owner()?;
                self.0.terminate(vm);
                Ok(Value::Nil)
            }
            "enter" => Ok(this.clone()),
            "exit" => {
                self.0.check_owner()?;
                let failed = args.pos.first().is_some_and(|e| !matches!(e, Value::Nil));
                if failed {
                    // the block is ending by an error (Ctrl-C, say): waiting for
                    // the rest of the work would only delay it
                    self.0.terminate(vm);
                } else if !self.0.terminated.get() {
                    self.0.close(vm)?;
                    self.0.join(vm)?;
                }
                Ok(Value::Nil)
            }
            _ => Err(Exc::new(
                "AttributeError",
                format!("Pool has no method `{name}`"),
            )),
        }
    }
}

/// `AsyncResult`
struct AsyncResult {
    pool: Rc<PoolInner>,
    state: Rc<ResultState>,
}

fn async_result(pool: &Rc<PoolInner>, state: Rc<ResultState>) -> Value {
    Value::object(AsyncResult {
        pool: pool.clone(),
        state,
    })
}

fn wait_result(
    vm: &mut Vm,
    pool: &Rc<PoolInner>,
    r: &Rc<ResultState>,
    deadline: Deadline,
) -> VmResult<bool> {
    let r2 = r.clone();
    pool.serve(vm, deadline, &|| r2.outcome.borrow().is_some())
}

fn take_outcome(r: &ResultState) -> VmResult<Value> {
    match r.outcome.borrow().clone() {
        Some(Outcome::Ok(v)) => Ok(v),
        Some(Outcome::Err(kind, message)) => Err(Exc::new(&kind, message)),
        None => Err(Exc::new("Timeout", "the result is not ready")),
    }
}

fn timeout_of(fname: &str, v: Option<Value>) -> VmResult<Deadline> {
    Ok(match given(v) {
        Some(t) => Deadline::after(Some(want_f64(fname, "timeout", &t)?)),
        None => Deadline::NEVER,
    })
}

impl AsyncResult {
    /// `get` while tasks exist: other tasks run while the pool works; its
    /// results are collected after each round and every few milliseconds.
    fn get_as_task(&self, vm: &mut Vm, timeout: Option<Value>) -> VmResult<Value> {
        let seconds = match given(timeout) {
            Some(t) => Some(want_f64("get", "timeout", &t)?),
            None => None,
        };
        let pool = self.pool.clone();
        let state = self.state.clone();
        let wait = reactor::Pending::new(
            Wake::Retry,
            reactor::deadline_after(seconds),
            move |vm, expired| {
                if state.outcome.borrow().is_none() && !pool.terminated.get() {
                    pool.serve(vm, Deadline::now(), &|| false)?;
                }
                if state.outcome.borrow().is_some() || expired {
                    return take_outcome(&state).map(Some);
                }
                Ok(None)
            },
        );
        vm.block(wait)
    }
}

impl Object for AsyncResult {
    fn type_name(&self) -> &'static str {
        "AsyncResult"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let state = match &*self.state.outcome.borrow() {
            None => "pending",
            Some(Outcome::Ok(_)) => "ready",
            Some(Outcome::Err(..)) => "failed",
        };
        format!("<AsyncResult {state}>")
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "get" => (|| {
                let [timeout] = args.bind("get", ["timeout"], 0)?;
                let deadline = timeout_of("get", timeout.clone())?;
                if self.state.outcome.borrow().is_none() && vm.tasks_active() {
                    self.pool.check_owner()?;
                    return self.get_as_task(vm, timeout);
                }
                if self.state.outcome.borrow().is_none() {
                    self.pool.check_owner()?;
                    wait_result(vm, &self.pool, &self.state, deadline)?;
                }
                take_outcome(&self.state)
            })(),
            "wait" => (|| {
                let [timeout] = args.bind("wait", ["timeout"], 0)?;
                let deadline = timeout_of("wait", timeout)?;
                if self.state.outcome.borrow().is_none() {
                    self.pool.check_owner()?;
                    wait_result(vm, &self.pool, &self.state, deadline)?;
                }
                Ok(Value::Nil)
            })(),
            "ready" => (|| {
                args.expect("ready", 0, 0)?;
                if self.state.outcome.borrow().is_none() && !self.pool.terminated.get() {
                    self.pool.check_owner()?;
                    self.pool.serve(vm, Deadline::now(), &|| false)?;
                }
                Ok(Value::Bool(self.state.outcome.borrow().is_some()))
            })(),
            "successful" => (|| {
                args.expect("successful", 0, 0)?;
                match &*self.state.outcome.borrow() {
                    Some(Outcome::Ok(_)) => Ok(Value::Bool(true)),
                    Some(Outcome::Err(..)) => Ok(Value::Bool(false)),
                    None => Err(Exc::value_error("the result is not ready")),
                }
            })(),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        &["get", "wait", "ready", "successful"]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The iterator `imap`/`imap_unordered` return.
struct MapIter {
    pool: Rc<PoolInner>,
    job: Rc<RefCell<Job>>,
    ordered: bool,
    /// imap: the next chunk to yield; imap_unordered: chunks yielded so far.
    next_chunk: Cell<usize>,
    buffer: RefCell<VecDeque<Value>>,
}

impl MapIter {
    fn step(&self, vm: &mut Vm) -> VmResult<Option<Value>> {
        loop {
            if let Some(v) = self.buffer.borrow_mut().pop_front() {
                return Ok(Some(v));
            }
            let nchunks = self.job.borrow().chunks.len();
            if self.next_chunk.get() >= nchunks {
                return Ok(None);
            }
            // the next chunk that may be yielded, once it is in
            let ready = {
                let mut j = self.job.borrow_mut();
                if self.ordered {
                    let i = self.next_chunk.get();
                    j.chunks[i].as_ref().map(|_| i)
                } else {
                    j.arrived.pop_front()
                }
            };
            match ready {
                Some(i) => {
                    let j = self.job.borrow();
                    if let Some((kind, message)) = &j.errors[i] {
                        let (kind, message) = (kind.clone(), message.clone());
                        drop(j);
                        self.next_chunk.set(nchunks);
                        return Err(Exc::new(&kind, message));
                    }
                    let items = j.chunks[i].clone().unwrap_or_default();
                    drop(j);
                    self.buffer.borrow_mut().extend(items);
                    self.next_chunk.set(self.next_chunk.get() + 1);
                }
                None => {
                    self.pool.check_owner()?;
                    let job = self.job.clone();
                    let ordered = self.ordered;
                    let want = self.next_chunk.get();
                    self.pool.serve(vm, Deadline::NEVER, &|| {
                        let j = job.borrow();
                        if ordered {
                            j.chunks[want].is_some()
                        } else {
                            !j.arrived.is_empty()
                        }
                    })?;
                }
            }
        }
    }
}

impl Object for MapIter {
    fn type_name(&self) -> &'static str {
        "Iterator"
    }

    fn is_iterator(&self) -> bool {
        true
    }

    fn next(&self, vm: &mut Vm, _this: &Value) -> Option<VmResult<Option<Value>>> {
        Some(self.step(vm))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[("pool", pool)];
