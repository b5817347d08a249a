//! Tasks (section 15): `go CALL`, `pause()`, `join_all`, and the scheduler
//! that runs them. A task is a fiber of its own; the main script is the
//! task at the bottom of Rust's stack.
//!
//! How a task blocks. A blocking builtin (`sleep`, `Queue.get`...) describes
//! its wait as a `Pending` and calls `Vm::block`. When the builtin was
//! called directly by the task's own dispatch loop (`can_suspend`), `block`
//! parks the `Pending` and returns a switch signal that leaves the task's
//! `execute` without unwinding anything: the task's frames stay as they are
//! and the scheduler runs another task. When the wait is over, the result is
//! written into the register the call was to fill (`Vm::deliver`), or the
//! error is raised at the call, and the task goes on after the call.
//!
//! Anywhere else (the main script; a builtin called from another builtin, a
//! generator, a callback) Rust's stack cannot be left, so `block` runs the
//! scheduler inline (`wait_inline`): other tasks run on top of the waiting
//! code until its own wait is over. Two tasks that each wait inline for the
//! other cannot both finish: only the one on top can return. In practice
//! that means a task blocked inside a generator's body, or inside a callback,
//! waits until the tasks it let run block or finish.
//!
//! Ready tasks run in the order they became ready (FIFO). All waiting goes
//! through the reactor (`runtime/reactor.rs`). When the main script ends,
//! the program ends: unfinished tasks are dropped (their `finally` blocks do
//! not run), as gevent and asyncio do when the main program exits.

use super::Vm;
use super::fiber::{Fiber, FrameKind, Outcome};
use crate::runtime::reactor::{self, Pending, Wake};
use crate::value::{Args, ErrorValue, Exc, Object, Value, VmResult};
use std::cell::{Cell, RefCell};
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The kind of the internal error that carries a task switch out of
/// `execute`. Scripts never see it (it cannot be caught, and `unwind` lets it
/// through untouched).
const SWITCH: &str = "TaskSwitch";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Ready,
    Running,
    Waiting,
    Done,
}

type TaskResult = Result<Value, Rc<ErrorValue>>;

/// A call that is not a script function, made when the task first runs.
struct Thunk {
    target: Value,
    pos: Vec<Value>,
    names: Vec<Rc<str>>,
    named: Vec<Value>,
}

pub struct Task {
    name: Rc<str>,
    state: Cell<State>,
    fiber: RefCell<Option<Fiber>>,
    thunk: RefCell<Option<Box<Thunk>>>,
    wait: RefCell<Option<Pending>>,
    /// What the next run delivers at the call the task was blocked in.
    resume: RefCell<Option<TaskResult>>,
    result: RefCell<Option<TaskResult>>,
    /// Counts wake-ups, so that stale timer and wait entries are ignored.
    serial: Cell<u32>,
    /// `cancel()` was called while the task ran or was ready.
    cancel: Cell<bool>,
    /// Someone joined it or read its error: a failure needs no report.
    retrieved: Cell<bool>,
}

impl Task {
    fn new(name: Rc<str>) -> Task {
        Task {
            name,
            state: Cell::new(State::Ready),
            fiber: RefCell::new(None),
            thunk: RefCell::new(None),
            wait: RefCell::new(None),
            resume: RefCell::new(None),
            result: RefCell::new(None),
            serial: Cell::new(0),
            cancel: Cell::new(false),
            retrieved: Cell::new(false),
        }
    }

    fn outcome(&self) -> Option<VmResult<Value>> {
        self.retrieved.set(true);
        self.result
            .borrow()
            .as_ref()
            .map(|r| r.clone().map_err(Exc::Error))
    }
}

struct Timer {
    at: Instant,
    seq: u64,
    task: Rc<Task>,
    serial: u32,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Timer) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Timer) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    /// Reversed: the heap's top is the earliest deadline (then the first set).
    fn cmp(&self, other: &Timer) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The scheduler's state, one per `Vm`.
#[derive(Default)]
pub struct Sched {
    ready: VecDeque<Rc<Task>>,
    /// Tasks waiting on an fd, a retry or a local condition (with the serial
    /// they had when they started waiting).
    waiting: Vec<(Rc<Task>, u32)>,
    timers: BinaryHeap<Timer>,
    timer_seq: u64,
    current: Option<Rc<Task>>,
    /// `native_depth` at which the current task's fiber runs.
    task_depth: usize,
    /// Set while a builtin called directly by a dispatch loop runs.
    pub(crate) can_suspend: bool,
    /// The wait of a task that is leaving `execute`.
    suspended: Option<Pending>,
    /// Tasks started and not finished.
    live: usize,
    count: u64,
    /// Failed tasks whose error nobody has seen yet.
    failed: Vec<Rc<Task>>,
}

fn cancelled() -> Rc<ErrorValue> {
    Rc::new(ErrorValue::new("CancelledError", "the task was cancelled"))
}

impl Vm {
    /// True when tasks other than the main script exist: blocking calls must
    /// then go through `block` instead of blocking the process.
    #[inline]
    pub fn tasks_active(&self) -> bool {
        self.sched.live > 0
    }

    /// Waits for `p` as the running task: suspends the task when it may,
    /// otherwise runs other tasks until the wait is over. Must be the last
    /// thing a builtin does (its result is the builtin's result): when the
    /// task is suspended, the error returned here leaves the builtin, and
    /// the value arrives later, straight into the caller's register.
    pub fn block(&mut self, mut p: Pending) -> VmResult<Value> {
        let can = std::mem::take(&mut self.sched.can_suspend)
            && self.sched.current.is_some()
            && self.native_depth == self.sched.task_depth;
        if let Some(t) = &self.sched.current
            && t.cancel.replace(false)
        {
            return Err(Exc::Error(cancelled()));
        }
        if p.wake != Wake::Yield {
            let expired = p.expired(Instant::now());
            if let Some(v) = (p.attempt)(self, expired)? {
                return Ok(v);
            }
        }
        if can {
            self.sched.suspended = Some(p);
            return Err(Exc::uncatchable(
                SWITCH,
                "a task switch escaped the scheduler",
            ));
        }
        self.wait_inline(p)
    }

    /// For a wait in the middle of a builtin's work (a pool's `map`
    /// collecting results), where `block` cannot be used: lets the other
    /// tasks run, returning within about `max` (at most `RETRY_MAX`) so that
    /// the caller can look at its own condition again.
    pub fn idle(&mut self, max: Duration) -> VmResult<()> {
        self.sched.can_suspend = false;
        let now = Instant::now();
        let until = now.checked_add(max.min(reactor::RETRY_MAX)).unwrap_or(now);
        let own = Pending::new(Wake::Timer, Some(until), |_, expired| {
            Ok(expired.then_some(Value::Nil))
        });
        self.run_round()?;
        let mut retry = reactor::RETRY_MAX;
        self.react(Some(&own), &mut retry)
    }

    /// True when `exc` is a task switch on its way out of `execute` (checked
    /// by `unwind`, which must then leave every frame as it is).
    #[inline]
    pub(crate) fn switching(&self) -> bool {
        self.sched.suspended.is_some()
    }

    /// Runs the scheduler until `own` is over: the waiting code stays on
    /// Rust's stack and other tasks run above it.
    fn wait_inline(&mut self, mut own: Pending) -> VmResult<Value> {
        if own.wake == Wake::Yield {
            self.run_round()?;
            return Ok(Value::Nil);
        }
        let mut retry = reactor::RETRY_MIN;
        loop {
            let before = self.sched.ready.len();
            self.run_round()?;
            let expired = own.expired(Instant::now());
            if let Some(v) = (own.attempt)(self, expired)? {
                return Ok(v);
            }
            self.check_interrupt()?;
            crate::runtime::pool::serve_all(self)?;
            if before > 0 {
                retry = reactor::RETRY_MIN;
            }
            self.react(Some(&own), &mut retry)?;
        }
    }

    /// Runs the tasks that are ready now, each until it blocks or ends.
    fn run_round(&mut self) -> VmResult<()> {
        let n = self.sched.ready.len();
        for _ in 0..n {
            let Some(t) = self.sched.ready.pop_front() else {
                break;
            };
            self.run_task(t)?;
        }
        Ok(())
    }

    /// One step of the reactor: tries the local and retry waits, then polls
    /// the fds until one is ready or the nearest deadline (not at all when a
    /// task is ready), then wakes the tasks whose fd is ready or whose
    /// deadline has passed.
    fn react(&mut self, own: Option<&Pending>, retry: &mut Duration) -> VmResult<()> {
        let mut any_retry = own.is_some_and(|p| p.wake == Wake::Retry);
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut fd_tasks: Vec<Rc<Task>> = Vec::new();
        if let Some(Pending {
            wake: Wake::Fd(fd, events),
            ..
        }) = own
        {
            fds.push(libc::pollfd {
                fd: *fd,
                events: *events,
                revents: 0,
            });
        }
        let own_fds = fds.len();
        let waiting = std::mem::take(&mut self.sched.waiting);
        let mut keep = Vec::with_capacity(waiting.len());
        for (t, serial) in waiting {
            if t.serial.get() != serial || t.state.get() != State::Waiting {
                continue;
            }
            let wake = t.wait.borrow().as_ref().map(|p| p.wake);
            match wake {
                Some(w @ (Wake::Local | Wake::Retry)) => {
                    any_retry |= w == Wake::Retry;
                    if !self.try_wake(&t, false)? {
                        keep.push((t, serial));
                    }
                }
                Some(Wake::Fd(fd, events)) => {
                    fds.push(libc::pollfd {
                        fd,
                        events,
                        revents: 0,
                    });
                    fd_tasks.push(t.clone());
                    keep.push((t, serial));
                }
                _ => {}
            }
        }
        // waits added while the attempts ran stay after the old ones
        keep.append(&mut self.sched.waiting);
        self.sched.waiting = keep;

        let now = Instant::now();
        let mut timeout = if self.sched.ready.is_empty() {
            reactor::POLL_MAX
        } else {
            Duration::ZERO
        };
        if let Some(d) = own.and_then(|p| p.deadline) {
            timeout = timeout.min(d.saturating_duration_since(now));
        }
        if let Some(top) = self.sched.timers.peek() {
            timeout = timeout.min(top.at.saturating_duration_since(now));
        }
        if any_retry {
            timeout = timeout.min(*retry);
            *retry = (*retry * 2).min(reactor::RETRY_MAX);
        }
        let n = reactor::poll_fds(&mut fds, timeout)
            .map_err(|e| Exc::new("IOError", format!("poll(): {e}")))?;
        if n > 0 {
            for (pfd, t) in fds[own_fds..].iter().zip(fd_tasks) {
                if pfd.revents != 0 && t.state.get() == State::Waiting {
                    self.try_wake(&t, false)?;
                }
            }
        }
        let now = Instant::now();
        while self.sched.timers.peek().is_some_and(|top| top.at <= now) {
            let Some(top) = self.sched.timers.pop() else {
                break;
            };
            if top.task.serial.get() == top.serial && top.task.state.get() == State::Waiting {
                self.try_wake(&top.task, true)?;
            }
        }
        Ok(())
    }

    /// Tries to finish a waiting task's operation; true when it is now ready.
    fn try_wake(&mut self, t: &Rc<Task>, expired: bool) -> VmResult<bool> {
        let Some(mut p) = t.wait.borrow_mut().take() else {
            return Ok(false);
        };
        match (p.attempt)(self, expired) {
            Ok(None) if !expired => {
                *t.wait.borrow_mut() = Some(p);
                Ok(false)
            }
            Ok(v) => {
                self.make_ready(t, Ok(v.unwrap_or_default()));
                Ok(true)
            }
            Err(e) => {
                self.make_ready(t, Err(e.error().clone()));
                Ok(true)
            }
        }
    }

    fn make_ready(&mut self, t: &Rc<Task>, r: TaskResult) {
        t.wait.borrow_mut().take();
        t.serial.set(t.serial.get().wrapping_add(1));
        t.state.set(State::Ready);
        *t.resume.borrow_mut() = Some(r);
        self.sched.ready.push_back(t.clone());
    }

    /// Records the wait of a task that just left `execute`.
    fn park(&mut self, t: &Rc<Task>, p: Pending) {
        if p.wake == Wake::Yield {
            t.state.set(State::Ready);
            *t.resume.borrow_mut() = Some(Ok(Value::Nil));
            self.sched.ready.push_back(t.clone());
            return;
        }
        let serial = t.serial.get();
        if let Some(at) = p.deadline {
            self.sched.timer_seq += 1;
            self.sched.timers.push(Timer {
                at,
                seq: self.sched.timer_seq,
                task: t.clone(),
                serial,
            });
        }
        if p.wake != Wake::Timer {
            self.sched.waiting.push((t.clone(), serial));
        }
        *t.wait.borrow_mut() = Some(p);
        t.state.set(State::Waiting);
    }

    /// Runs a ready task until it blocks or ends. Errors that end the whole
    /// program (`exit()`, limits, interrupts) are passed on.
    fn run_task(&mut self, t: Rc<Task>) -> VmResult<()> {
        if t.state.get() != State::Ready {
            return Ok(());
        }
        let mut resume = t.resume.borrow_mut().take();
        if t.cancel.replace(false) {
            resume = Some(Err(cancelled()));
        }
        let mut fiber = t.fiber.borrow_mut().take();
        let thunk = t.thunk.borrow_mut().take();
        t.state.set(State::Running);
        let prev = self.sched.current.replace(t.clone());
        let prev_depth = self.sched.task_depth;
        let r = match self.enter_native() {
            Err(e) => Err(e),
            Ok(()) => {
                self.sched.task_depth = self.native_depth;
                let r = match (fiber.as_mut(), thunk) {
                    (Some(f), _) => {
                        self.depth += f.frames.len();
                        stacker::maybe_grow(256 * 1024, 8 * 1024 * 1024, || {
                            self.continue_fiber(f, resume)
                        })
                    }
                    (None, Some(th)) => match resume {
                        Some(Err(e)) => Err(Exc::Error(e)),
                        _ => self.run_thunk(&th).map(Outcome::Returned),
                    },
                    // a builtin that was suspended: its result is the task's
                    (None, None) => match resume {
                        Some(Err(e)) => Err(Exc::Error(e)),
                        Some(Ok(v)) => Ok(Outcome::Returned(v)),
                        None => Ok(Outcome::Returned(Value::Nil)),
                    },
                };
                self.leave_native();
                r
            }
        };
        self.sched.current = prev;
        self.sched.task_depth = prev_depth;
        match r {
            Err(_) if self.sched.suspended.is_some() => {
                let p = self.sched.suspended.take().expect("checked above");
                if let Some(f) = &fiber {
                    self.depth -= f.frames.len();
                }
                *t.fiber.borrow_mut() = fiber;
                self.park(&t, p);
                Ok(())
            }
            Ok(Outcome::Returned(v) | Outcome::Yielded(v)) => {
                self.finish_task(&t, Ok(v));
                Ok(())
            }
            Err(e) => {
                let err = e.error().clone();
                let fatal = !err.catchable || &*err.kind == "KeyboardInterrupt";
                if fatal {
                    t.retrieved.set(true);
                }
                self.finish_task(&t, Err(err));
                if fatal { Err(e) } else { Ok(()) }
            }
        }
    }

    /// The first run of a task whose callee is not a script function. A
    /// builtin called here may suspend the task, as if called by a dispatch
    /// loop; its result is then the task's result.
    fn run_thunk(&mut self, th: &Thunk) -> VmResult<Value> {
        let args = Args {
            pos: &th.pos,
            names: &th.names,
            named: &th.named,
        };
        let native = match &th.target {
            Value::Native(n) => Some((n.clone(), None)),
            Value::Bound(b) => match &b.method {
                Value::Native(n) => Some((n.clone(), Some(b.receiver.clone()))),
                _ => None,
            },
            _ => None,
        };
        match native {
            Some((n, receiver)) => {
                self.sched.can_suspend = true;
                let r = self.call_native(&n, receiver.as_ref(), args);
                self.sched.can_suspend = false;
                r
            }
            None => self.call_args(&th.target, args),
        }
    }

    /// Goes on with a task's fiber after a wait: delivers the wait's result
    /// to the call that waited, or raises its error there.
    fn continue_fiber(&mut self, f: &mut Fiber, resume: Option<TaskResult>) -> VmResult<Outcome> {
        match resume {
            None => {}
            Some(Ok(v)) => self.deliver(f, v),
            Some(Err(e)) => self.unwind(f, Exc::Error(e))?,
        }
        self.execute(f)
    }

    fn finish_task(&mut self, t: &Rc<Task>, r: TaskResult) {
        t.state.set(State::Done);
        t.fiber.borrow_mut().take();
        t.wait.borrow_mut().take();
        t.resume.borrow_mut().take();
        if r.is_err() && !t.retrieved.get() {
            self.sched.failed.push(t.clone());
        }
        *t.result.borrow_mut() = Some(r);
        // saturating: a raw fork inside a task resets the count in the child
        self.sched.live = self.sched.live.saturating_sub(1);
    }

    /// At the end of the program: drops every unfinished task and reports
    /// the failures nobody joined.
    pub fn end_tasks(&mut self) {
        let sched = std::mem::take(&mut self.sched);
        for t in &sched.failed {
            if t.retrieved.get() {
                continue;
            }
            if let Some(Err(e)) = &*t.result.borrow() {
                self.write_err(&format!(
                    "warning: task {} failed and was never joined: {}: {}\n",
                    t.name, e.kind, e.message
                ));
            }
        }
        // break cycles (a task whose stack holds its own handle)
        let all = sched
            .ready
            .iter()
            .cloned()
            .chain(sched.waiting.iter().map(|(t, _)| t.clone()))
            .chain(sched.timers.iter().map(|t| t.task.clone()));
        for t in all {
            t.fiber.borrow_mut().take();
            t.wait.borrow_mut().take();
            t.thunk.borrow_mut().take();
        }
    }

    /// In a child after `fork`: the parent's tasks are not ours.
    pub fn forget_tasks(&mut self) {
        // not dropped: in a forked child that would write to (and so copy)
        // pages it shares with its parent, and a failed task's warning is
        // the parent's to give
        std::mem::forget(std::mem::take(&mut self.sched));
    }

    /// The unfinished tasks, for the REPL's `:procs`: name and state
    /// (`ready`, `running` or `waiting`), ready ones first in run order.
    pub fn task_rows(&self) -> Vec<(String, &'static str)> {
        let sched = &self.sched;
        let all = sched
            .current
            .iter()
            .chain(&sched.ready)
            .chain(sched.waiting.iter().map(|(t, _)| t))
            .chain(sched.timers.iter().map(|t| &t.task));
        let mut seen: Vec<*const Task> = Vec::new();
        let mut rows = Vec::new();
        for t in all {
            let state = match t.state.get() {
                State::Ready => "ready",
                State::Running => "running",
                State::Waiting => "waiting",
                State::Done => continue,
            };
            if !seen.contains(&Rc::as_ptr(t)) {
                seen.push(Rc::as_ptr(t));
                rows.push((t.name.to_string(), state));
            }
        }
        rows
    }
}

/// `go CALL`: the hidden builtin the compiler calls with the callee and its
/// arguments.
pub fn go(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let Some((target, pos)) = args.pos.split_first() else {
        return Err(Exc::type_error("go needs a call"));
    };
    vm.sched.count += 1;
    let t = Rc::new(Task::new(Rc::from(format!("Task-{}", vm.sched.count))));
    let n = pos.len() + args.named.len();
    let script = match target {
        Value::Func(c) if !c.proto.is_method => Some((c.clone(), 1, FrameKind::Plain)),
        Value::Bound(b) => match &b.method {
            Value::Func(c) if c.proto.is_method => Some((c.clone(), 0, FrameKind::Method)),
            _ => None,
        },
        _ => None,
    };
    match script {
        Some((c, base, kind)) => {
            let mut f = Fiber::default();
            f.stack.reserve_exact(1 + n + c.proto.nregs);
            f.stack.push(match target {
                Value::Bound(b) => b.receiver.clone(),
                other => other.clone(),
            });
            f.stack.extend_from_slice(pos);
            f.stack.extend_from_slice(args.named);
            let pushed = if args.names.is_empty() {
                vm.enter_closure(&mut f, c, base, n, kind)?
            } else {
                vm.enter_closure_kw(&mut f, c, base, n, args.names, kind)?
            };
            if !pushed {
                // a generator function: the task's result is the generator
                *t.result.borrow_mut() = Some(Ok(std::mem::take(&mut f.stack[0])));
                t.state.set(State::Done);
                return Ok(Value::object(TaskHandle(t)));
            }
            vm.depth -= f.frames.len();
            f.frames.shrink_to_fit();
            *t.fiber.borrow_mut() = Some(f);
        }
        None => {
            *t.thunk.borrow_mut() = Some(Box::new(Thunk {
                target: target.clone(),
                pos: pos.to_vec(),
                names: args.names.to_vec(),
                named: args.named.to_vec(),
            }));
        }
    }
    vm.sched.live += 1;
    vm.sched.ready.push_back(t.clone());
    Ok(Value::object(TaskHandle(t)))
}

/// `pause()`: lets every other ready task run first.
pub fn pause(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("pause", 0, 0)?;
    if !vm.tasks_active() {
        return Ok(Value::Nil);
    }
    vm.block(Pending::new(Wake::Yield, None, |_, _| Ok(Some(Value::Nil))))
}

fn task_of(v: &Value) -> Option<Rc<Task>> {
    match v {
        Value::Object(h) => h.downcast::<TaskHandle>().map(|t| t.0.clone()),
        _ => None,
    }
}

fn timeout_error(fname: &str) -> Exc {
    Exc::new(
        "Timeout",
        format!("{fname}(): the timeout passed before the task finished"),
    )
}

/// `join_all(tasks, timeout: nil)`: every task's result, in order, once all
/// have finished; the first failure (in list order) is raised.
pub fn join_all(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [tasks, timeout] = args.bind("join_all", ["tasks", "timeout"], 1)?;
    let timeout = crate::runtime::queue::timeout_arg("join_all", timeout)?;
    let items = vm.collect(&tasks.unwrap_or_default())?;
    let mut tasks = Vec::with_capacity(items.len());
    for v in &items {
        match task_of(v) {
            Some(t) => tasks.push(t),
            None => {
                return Err(Exc::type_error(format!(
                    "join_all() needs a list of tasks, not one holding {}",
                    v.type_name()
                )));
            }
        }
    }
    if let Some(cur) = &vm.sched.current
        && tasks.iter().any(|t| Rc::ptr_eq(t, cur))
    {
        return Err(Exc::new("RuntimeError", "a task cannot join itself"));
    }
    let deadline = reactor::deadline_after(timeout);
    vm.block(Pending::new(Wake::Local, deadline, move |_, expired| {
        if tasks.iter().all(|t| t.state.get() == State::Done) {
            let mut out = Vec::with_capacity(tasks.len());
            for t in &tasks {
                match t.outcome() {
                    Some(Ok(v)) => out.push(v),
                    Some(Err(e)) => return Err(e),
                    None => out.push(Value::Nil),
                }
            }
            return Ok(Some(Value::list(out)));
        }
        if expired {
            return Err(timeout_error("join_all"));
        }
        Ok(None)
    }))
}

/// The `Task` handle `go` returns.
pub struct TaskHandle(Rc<Task>);

impl TaskHandle {
    fn join(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [timeout] = args.bind("join", ["timeout"], 0)?;
        let timeout = crate::runtime::queue::timeout_arg("join", timeout)?;
        if let Some(r) = self.0.outcome() {
            return r;
        }
        if vm
            .sched
            .current
            .as_ref()
            .is_some_and(|c| Rc::ptr_eq(c, &self.0))
        {
            return Err(Exc::new("RuntimeError", "a task cannot join itself"));
        }
        let t = self.0.clone();
        let deadline = reactor::deadline_after(timeout);
        vm.block(Pending::new(
            Wake::Local,
            deadline,
            move |_, expired| match t.outcome() {
                Some(r) => r.map(Some),
                None if expired => Err(timeout_error("join")),
                None => Ok(None),
            },
        ))
    }

    /// `cancel()`: raises CancelledError in the task where it waits (at once
    /// if it is waiting, when it next waits if it is the running task); a
    /// task that has not started never runs. False when it had finished.
    fn cancel(&self, vm: &mut Vm) -> bool {
        let t = &self.0;
        match t.state.get() {
            State::Done => false,
            State::Waiting => {
                vm.make_ready(t, Err(cancelled()));
                true
            }
            State::Ready | State::Running => {
                t.cancel.set(true);
                true
            }
        }
    }
}

impl Object for TaskHandle {
    fn type_name(&self) -> &'static str {
        "Task"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let state = match (self.0.state.get(), &*self.0.result.borrow()) {
            (State::Done, Some(Err(e))) if &*e.kind == "CancelledError" => "cancelled",
            (State::Done, Some(Err(_))) => "failed",
            (State::Done, _) => "done",
            _ => "pending",
        };
        format!("<Task {} {state}>", self.0.name)
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "name" => Value::str(&self.0.name),
            "result" => match &*self.0.result.borrow() {
                Some(Ok(v)) => v.clone(),
                _ => Value::Nil,
            },
            "error" => {
                self.0.retrieved.set(true);
                match &*self.0.result.borrow() {
                    Some(Err(e)) => Value::Error(e.clone()),
                    _ => Value::Nil,
                }
            }
            _ => return None,
        }))
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "join" => self.join(vm, args),
            "done" => args
                .expect("done", 0, 0)
                .map(|_| Value::Bool(self.0.state.get() == State::Done)),
            "cancel" => args
                .expect("cancel", 0, 0)
                .map(|_| Value::Bool(self.cancel(vm))),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        &["join", "done", "cancel"]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] =
    &[("#go", go), ("pause", pause), ("join_all", join_all)];
