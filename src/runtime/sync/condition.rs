//! `condition(lock = nil)`: wait for a notification while releasing a lock.
//!
//! Layout: the condition's own `Guarded` table of waiters, plus a handle on
//! the user's Lock or RLock (a new RLock by default, as in Python).
//!
//! A waiter takes a slot in the table, stamped with an increasing ticket,
//! while it still holds the lock, so a `notify` (which also needs the lock)
//! always sees it. `notify(n)` marks the n oldest unmarked waiters; each
//! waiter sleeps until its own slot is marked or its deadline passes, then
//! frees its slot. So a notification goes to a process that was waiting when
//! it was made, never to a later one. At most `WAITERS` processes can wait on
//! one condition at a time; a slot left by a process killed inside `wait` is
//! freed when the table fills up (a notification may be spent on it before).

use super::lock::acquire_args;
use super::lock::{AnyLock, RLock};
use super::{Guarded, Shared, process_dead, publish, timeout_arg};
use crate::runtime::shm::{Deadline, my_pid};
use crate::value::func::want_int;
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;

const WAITERS: usize = 256;

#[derive(Clone, Copy)]
struct Slot {
    /// 0 when the slot is free.
    ticket: u64,
    pid: i32,
    notified: bool,
}

const FREE: Slot = Slot {
    ticket: 0,
    pid: 0,
    notified: false,
};

struct CondState {
    last_ticket: u64,
    slots: [Slot; WAITERS],
}

impl CondState {
    /// A slot for a new waiter: (index, ticket).
    fn enter(&mut self) -> Option<(usize, u64)> {
        let mut free = self.slots.iter().position(|s| s.ticket == 0);
        if free.is_none() {
            for slot in self.slots.iter_mut() {
                if process_dead(slot.pid) {
                    *slot = FREE;
                }
            }
            free = self.slots.iter().position(|s| s.ticket == 0);
        }
        let i = free?;
        self.last_ticket += 1;
        self.slots[i] = Slot {
            ticket: self.last_ticket,
            pid: my_pid(),
            notified: false,
        };
        Some((i, self.last_ticket))
    }

    /// Frees a waiter's slot; whether it had been notified.
    fn leave(&mut self, i: usize, ticket: u64) -> bool {
        let slot = &mut self.slots[i];
        if slot.ticket != ticket {
            return false;
        }
        let notified = slot.notified;
        *slot = FREE;
        notified
    }

    fn waiting(&self) -> usize {
        self.slots.iter().filter(|s| s.ticket != 0).count()
    }

    /// Marks the `n` oldest waiters not yet notified.
    fn notify(&mut self, n: u64) -> u64 {
        let mut done = 0;
        while done < n {
            let oldest = self
                .slots
                .iter_mut()
                .filter(|s| s.ticket != 0 && !s.notified)
                .min_by_key(|s| s.ticket);
            match oldest {
                Some(slot) => slot.notified = true,
                None => break,
            }
            done += 1;
        }
        done
    }
}

pub struct Condition {
    state: Shared<Guarded<CondState>>,
    lock: Value,
    id: u64,
}

const METHODS: &[&str] = &[
    "acquire",
    "release",
    "wait",
    "wait_for",
    "notify",
    "notify_all",
    "enter",
    "exit",
];

impl Condition {
    fn lock(&self) -> AnyLock<'_> {
        // cannot fail: `condition()` only accepts a Lock or an RLock
        AnyLock::of(&self.lock).unwrap_or_else(|| unreachable!("a Condition's lock is a lock"))
    }

    fn need_lock(&self, fname: &str) -> VmResult<()> {
        if self.lock().held_here() {
            Ok(())
        } else {
            Err(Exc::value_error(format!(
                "{fname}() on a Condition whose lock this process does not hold (use `with c {{ ... }}`)"
            )))
        }
    }

    /// One wait: true when notified, false at the deadline.
    fn wait_until(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        self.need_lock("wait")?;
        let lock = self.lock();
        let (i, ticket) = self.state.with(CondState::enter).ok_or_else(|| {
            Exc::value_error(format!(
                "more than {WAITERS} processes wait on one Condition"
            ))
        })?;
        let saved = match lock.release_all() {
            Ok(saved) => saved,
            Err(e) => {
                self.state.with(|s| s.leave(i, ticket));
                return Err(e);
            }
        };
        let r = self.state.wait_until(vm, deadline, |s| {
            s.slots[i].notified.then(|| s.leave(i, ticket))
        });
        // at the deadline, or interrupted: leave (notified in the meantime or not)
        let notified = match &r {
            Ok(Some(_)) => true,
            _ => self.state.with(|s| s.leave(i, ticket)),
        };
        lock.restore(vm, saved)?;
        r.map(|_| notified)
    }

    fn wait(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [timeout] = args.bind("wait", ["timeout"], 0)?;
        let deadline = Deadline::after(timeout_arg("wait", timeout)?);
        self.wait_until(vm, deadline).map(Value::Bool)
    }

    /// Python's `wait_for`: waits until `predicate()` is true or the timeout
    /// passes; returns the predicate's last result.
    fn wait_for(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [predicate, timeout] = args.bind("wait_for", ["predicate", "timeout"], 1)?;
        let predicate = predicate.unwrap_or_default();
        let deadline = Deadline::after(timeout_arg("wait_for", timeout)?);
        let mut result = vm.call(&predicate, &[])?;
        while !result.truthy() {
            if deadline.expired() {
                break;
            }
            self.wait_until(vm, deadline)?;
            result = vm.call(&predicate, &[])?;
        }
        Ok(result)
    }

    fn notify(&self, n: u64) -> VmResult<()> {
        let fname = if n == u64::MAX {
            "notify_all"
        } else {
            "notify"
        };
        self.need_lock(fname)?;
        let woken = self.state.with(|s| s.notify(n));
        if woken > 0 {
            self.state.changed();
        }
        Ok(())
    }
}

impl Object for Condition {
    fn type_name(&self) -> &'static str {
        "Condition"
    }

    fn repr(&self, vm: &mut Vm) -> String {
        let waiting = self.state.with(|s| s.waiting());
        let lock = match &self.lock {
            Value::Object(h) => h.0.repr(vm),
            _ => String::new(),
        };
        format!("<Condition {lock}, {waiting} waiting>")
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "acquire" => acquire_args(args)
                .and_then(|d| self.lock().acquire(vm, d))
                .map(Value::Bool),
            "release" => args
                .expect("release", 0, 0)
                .and_then(|_| self.lock().release())
                .map(|_| Value::Nil),
            "enter" => args
                .expect("enter", 0, 0)
                .and_then(|_| self.lock().acquire(vm, Deadline::NEVER))
                .map(Value::Bool),
            "exit" => args
                .expect("exit", 0, 1)
                .and_then(|_| self.lock().release())
                .map(|_| Value::Nil),
            "wait" => self.wait(vm, args),
            "wait_for" => self.wait_for(vm, args),
            "notify" => args.bind("notify", ["n"], 0).and_then(|[n]| {
                let n = match n {
                    Some(n) => want_int("notify", "n", &n)?,
                    None => 1,
                };
                if n < 0 {
                    return Err(Exc::value_error(format!(
                        "notify(): n must be 0 or more, not {n}"
                    )));
                }
                self.notify(n as u64).map(|_| Value::Nil)
            }),
            "notify_all" => args
                .expect("notify_all", 0, 0)
                .and_then(|_| self.notify(u64::MAX))
                .map(|_| Value::Nil),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `condition(lock = nil)`
pub fn condition(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [lock] = args.bind("condition", ["lock"], 0)?;
    let lock = match lock {
        None | Some(Value::Nil) => RLock::make(vm)?,
        Some(l) if AnyLock::of(&l).is_some() => l,
        Some(other) => {
            return Err(Exc::type_error(format!(
                "condition() argument `lock` must be a Lock or an RLock, not {}",
                other.type_name()
            )));
        }
    };
    // SAFETY: Guarded::init initialises the whole state; no user mutex.
    let state = unsafe {
        Shared::new("condition", 0, None, |g| {
            let state = CondState {
                last_ticket: 0,
                slots: [FREE; WAITERS],
            };
            Guarded::init(g, state)
        })?
    };
    Ok(publish(vm, |id| Condition { state, lock, id }))
}
