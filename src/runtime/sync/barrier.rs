//! `barrier(parties)`: `parties` processes meet, then all go on.
//!
//! Layout: a `Guarded` state machine, Python's `threading.Barrier` one for one:
//! `count` processes are inside `wait`, and the barrier is filling (waiters
//! arrive), draining (the last one arrived; the round's waiters are leaving),
//! resetting (`reset()` while waiters were inside) or broken. New arrivals
//! wait while the previous round drains, so rounds never mix and a barrier
//! can be reused any number of times. `abort()`, a waiter's timeout and an
//! interrupted waiter break the barrier: every waiter raises BrokenBarrier,
//! and so does every later `wait` until `reset()`. A process killed inside
//! `wait` still counts as arrived.

use super::{Guarded, Shared, publish, timeout_arg};
use crate::runtime::shm::Deadline;
use crate::value::func::want_int;
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct BarrierState {
    parties: u64,
    count: u64,
    phase: Phase,
}

pub struct Barrier {
    state: Shared<Guarded<BarrierState>>,
    parties: u64,
    id: u64,
}

const METHODS: &[&str] = &["wait", "abort", "reset"];

fn broken() -> Exc {
    Exc::new("BrokenBarrier", "the barrier is broken")
}

impl Barrier {
    fn wait(&self, vm: &mut Vm, deadline: Deadline) -> VmResult<i64> {
        // enter: wait for the previous round to drain
        let entered = self.state.wait_until(vm, deadline, |s| match s.phase {
            Phase::Draining | Phase::Resetting => None,
            Phase::Broken => Some(None),
            Phase::Filling => {
                let index = s.count;
                s.count += 1;
                if index + 1 == s.parties {
                    s.phase = Phase::Draining;
                }
                Some(Some(index))
            }
        })?;
        let index = match entered {
            Some(Some(index)) => index,
            Some(None) => return Err(broken()),
            None => {
                self.abort();
                return Err(broken());
            }
        };
        let outcome = if index + 1 == self.parties {
            self.state.changed();
            Ok(index as i64)
        } else {
            self.wait_for_round(vm, deadline, index)
        };
        // exit: the last one out of a drained or reset round reopens it
        self.state.with(|s| {
            s.count = s.count.saturating_sub(1);
            if s.count == 0 && matches!(s.phase, Phase::Draining | Phase::Resetting) {
                s.phase = Phase::Filling;
            }
        });
        self.state.changed();
        outcome
    }

    /// Waits until the round this waiter joined ends.
    fn wait_for_round(&self, vm: &mut Vm, deadline: Deadline, index: u64) -> VmResult<i64> {
        let r = self.state.wait_until(vm, deadline, |s| {
            (s.phase != Phase::Filling).then_some(s.phase)
        });
        match r {
            Ok(Some(Phase::Draining)) => Ok(index as i64),
            Ok(Some(_)) => Err(broken()),
            // timed out or interrupted: break the barrier, unless the round
            // ended in the meantime
            Ok(None) | Err(_) => {
                let phase = self.state.with(|s| {
                    if s.phase == Phase::Filling {
                        s.phase = Phase::Broken;
                    }
                    s.phase
                });
                self.state.changed();
                match r {
                    Err(e) => Err(e),
                    Ok(_) if phase == Phase::Draining => Ok(index as i64),
                    Ok(_) => Err(broken()),
                }
            }
        }
    }

    fn abort(&self) {
        self.state.with(|s| s.phase = Phase::Broken);
        self.state.changed();
    }

    fn reset(&self) {
        self.state.with(|s| {
            if s.count > 0 {
                // waiters inside raise BrokenBarrier; the last out reopens it
                if matches!(s.phase, Phase::Filling | Phase::Broken) {
                    s.phase = Phase::Resetting;
                }
            } else {
                s.phase = Phase::Filling;
            }
        });
        self.state.changed();
    }
}

impl Object for Barrier {
    fn type_name(&self) -> &'static str {
        "Barrier"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let (count, phase) = self.state.with(|s| (s.count, s.phase));
        match phase {
            Phase::Broken => format!("<Barrier broken, {} parties>", self.parties),
            Phase::Filling => format!("<Barrier {count}/{} waiting>", self.parties),
            _ => format!("<Barrier 0/{} waiting>", self.parties),
        }
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        let (count, phase) = self.state.with(|s| (s.count, s.phase));
        Some(Ok(match name {
            "parties" => Value::Int(self.parties as i64),
            "n_waiting" if phase == Phase::Filling => Value::Int(count as i64),
            "n_waiting" => Value::Int(0),
            "broken" => Value::Bool(phase == Phase::Broken),
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
            "wait" => args
                .bind("wait", ["timeout"], 0)
                .and_then(|[t]| timeout_arg("wait", t))
                .and_then(|t| self.wait(vm, Deadline::after(t)))
                .map(Value::Int),
            "abort" => args.expect("abort", 0, 0).map(|_| {
                self.abort();
                Value::Nil
            }),
            "reset" => args.expect("reset", 0, 0).map(|_| {
                self.reset();
                Value::Nil
            }),
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

/// `barrier(parties)`
pub fn barrier(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [parties] = args.bind("barrier", ["parties"], 1)?;
    let parties = want_int("barrier", "parties", &parties.unwrap_or_default())?;
    if parties < 1 {
        return Err(Exc::value_error(format!(
            "barrier(): parties must be 1 or more, not {parties}"
        )));
    }
    let parties = parties as u64;
    let state = BarrierState {
        parties,
        count: 0,
        phase: Phase::Filling,
    };
    // SAFETY: Guarded::init initialises the whole state; no user mutex.
    let state = unsafe { Shared::new("barrier", 0, None, |g| Guarded::init(g, state))? };
    Ok(publish(vm, |id| Barrier { state, parties, id }))
}
