//! `semaphore(n = 1)` and `bounded_semaphore(n = 1)`.
//!
//! Layout: a `Guarded` state holding the value, the initial value (the bound
//! of a BoundedSemaphore) and a table of which processes hold units.
//!
//! The holder table is how the units of a dead process come back: a unit
//! acquired by a process counts as held by it until a unit is released — by
//! that process if it holds any, else by whichever process releases (a
//! semaphore may be released by a process that did not acquire it, and then
//! the oldest holder's unit is the one given back). An `acquire` that finds no
//! unit free checks the table's pids (at its start, then once per slice) and
//! returns the units of processes that died, zombies included, with a warning.
//! Only `HOLDERS` processes are tracked at a time; units of further processes
//! cannot be recovered.

use super::lock::acquire_args;
use super::{Guarded, Shared, process_dead, publish, warn_recovered};
use crate::runtime::reactor::Pending;
use crate::runtime::shm::{Deadline, SLICE, my_pid};
use crate::value::func::want_int;
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;
use std::time::Instant;

const HOLDERS: usize = 128;

#[derive(Clone, Copy)]
struct Holder {
    pid: i32,
    units: u32,
}

struct SemState {
    value: i64,
    initial: i64,
    holders: [Holder; HOLDERS],
}

impl SemState {
    fn charge(&mut self, pid: i32) {
        if let Some(h) = self.holders.iter_mut().find(|h| h.pid == pid) {
            h.units = h.units.saturating_add(1);
        } else if let Some(h) = self.holders.iter_mut().find(|h| h.units == 0) {
            *h = Holder { pid, units: 1 };
        }
    }

    fn discharge(&mut self, pid: i32) {
        let own = self
            .holders
            .iter()
            .position(|h| h.pid == pid && h.units > 0);
        let any = || self.holders.iter().position(|h| h.units > 0);
        if let Some(i) = own.or_else(any) {
            let h = &mut self.holders[i];
            h.units -= 1;
            if h.units == 0 {
                h.pid = 0;
            }
        }
    }

    /// Gives back the units of dead holders; returns (pid, units) of each.
    fn recover(&mut self) -> Vec<(i32, u32)> {
        let mut found = Vec::new();
        for h in self.holders.iter_mut() {
            if h.units > 0 && process_dead(h.pid) {
                found.push((h.pid, h.units));
                self.value += h.units as i64;
                *h = Holder { pid: 0, units: 0 };
            }
        }
        found
    }
}

pub struct Semaphore {
    state: Shared<Guarded<SemState>>,
    bounded: bool,
    id: u64,
}

const METHODS: &[&str] = &["acquire", "release", "locked", "get_value", "enter", "exit"];

impl Semaphore {
    fn name(&self) -> &'static str {
        if self.bounded {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        }
    }

    fn acquire(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<bool> {
        let me = my_pid();
        let mut recovered = Vec::new();
        let mut last_scan: Option<Instant> = None;
        let got = self.state.wait_until(vm, deadline, |s| {
            if s.value <= 0 && last_scan.is_none_or(|t| t.elapsed() >= SLICE) {
                last_scan = Some(Instant::now());
                recovered.extend(s.recover());
            }
            if s.value > 0 {
                s.value -= 1;
                s.charge(me);
                Some(())
            } else {
                None
            }
        });
        for (pid, units) in recovered {
            let what = if units == 1 {
                "semaphore unit".to_string()
            } else {
                format!("{units} semaphore units")
            };
            warn_recovered(vm, &what, pid);
        }
        Ok(got?.is_some())
    }

    /// `acquire()` from a script: while tasks exist, a semaphore at zero
    /// lets the other tasks run until a unit is free, tried after each round
    /// of tasks and every few milliseconds (reactor.rs).
    fn acquire_method(&self, vm: &mut Vm, this: &Value, deadline: Deadline) -> VmResult<Value> {
        if !vm.tasks_active() {
            return self.acquire(vm, deadline).map(Value::Bool);
        }
        let wait = Pending::retry_on(this, deadline.instant(), |me: &Semaphore, vm, expired| {
            if me.acquire(vm, Deadline::now())? {
                return Ok(Some(Value::Bool(true)));
            }
            Ok(expired.then_some(Value::Bool(false)))
        });
        vm.block(wait)
    }

    fn release(&self) -> VmResult<()> {
        let me = my_pid();
        let bounded = self.bounded;
        self.state.with(|s| {
            if bounded && s.value >= s.initial {
                return Err(Exc::value_error(format!(
                    "BoundedSemaphore released too many times (its value is already {})",
                    s.initial
                )));
            }
            s.value = s
                .value
                .checked_add(1)
                .ok_or_else(|| Exc::new("OverflowError", "Semaphore value would overflow"))?;
            s.discharge(me);
            Ok(())
        })?;
        self.state.changed();
        Ok(())
    }

    fn value(&self) -> i64 {
        self.state.with(|s| s.value)
    }
}

impl Object for Semaphore {
    fn type_name(&self) -> &'static str {
        self.name()
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let (value, initial) = self.state.with(|s| (s.value, s.initial));
        if self.bounded {
            format!("<BoundedSemaphore value {value} of {initial}>")
        } else {
            format!("<Semaphore value {value}>")
        }
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "acquire" => acquire_args(args).and_then(|d| self.acquire_method(vm, this, d)),
            "release" => args
                .expect("release", 0, 0)
                .and_then(|_| self.release())
                .map(|_| Value::Nil),
            "locked" => args
                .expect("locked", 0, 0)
                .map(|_| Value::Bool(self.value() <= 0)),
            "get_value" => args
                .expect("get_value", 0, 0)
                .map(|_| Value::Int(self.value())),
            "enter" => args
                .expect("enter", 0, 0)
                .and_then(|_| self.acquire_method(vm, this, Deadline::NEVER)),
            "exit" => args
                .expect("exit", 0, 1)
                .and_then(|_| self.release())
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

fn make(vm: &mut Vm, args: Args, fname: &str, bounded: bool) -> VmResult<Value> {
    let [n] = args.bind(fname, ["n"], 0)?;
    let n = match n {
        Some(v) => want_int(fname, "n", &v)?,
        None => 1,
    };
    if n < 0 {
        return Err(Exc::value_error(format!(
            "{fname}(): the initial value must be 0 or more, not {n}"
        )));
    }
    let state = SemState {
        value: n,
        initial: n,
        holders: [Holder { pid: 0, units: 0 }; HOLDERS],
    };
    // SAFETY: Guarded::init initialises the whole state; no user mutex.
    let state = unsafe { Shared::new(fname, 0, None, |g| Guarded::init(g, state))? };
    Ok(publish(vm, |id| Semaphore { state, bounded, id }))
}

/// `semaphore(n = 1)`
pub fn semaphore(vm: &mut Vm, args: Args) -> VmResult<Value> {
    make(vm, args, "semaphore", false)
}

/// `bounded_semaphore(n = 1)`
pub fn bounded_semaphore(vm: &mut Vm, args: Args) -> VmResult<Value> {
    make(vm, args, "bounded_semaphore", true)
}
