//! `event()`: a flag that processes wait for.
//!
//! Layout: a `Guarded` bool. `set` wakes every waiter; `wait` returns the
//! flag as it was when the wait ended (false after a timeout).

use super::{Guarded, Shared, publish, timeout_arg};
use crate::runtime::reactor::{self, Pending};
use crate::runtime::shm::Deadline;
use crate::value::{Args, Object, Value, VmResult};
use crate::vm::Vm;

pub struct Event {
    flag: Shared<Guarded<bool>>,
    id: u64,
}

const METHODS: &[&str] = &["set", "clear", "is_set", "wait"];

impl Event {
    fn is_set(&self) -> bool {
        self.flag.with(|f| *f)
    }

    fn set(&self, on: bool) {
        self.flag.with(|f| *f = on);
        if on {
            self.flag.changed();
        }
    }

    fn wait(&self, vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
        let [timeout] = args.bind("wait", ["timeout"], 0)?;
        let timeout = timeout_arg("wait", timeout)?;
        if vm.tasks_active() {
            // other tasks run meanwhile; the flag is looked at again after
            // each round of tasks and every few milliseconds (reactor.rs)
            let deadline = reactor::deadline_after(timeout);
            return vm.block(Pending::retry_on(
                this,
                deadline,
                |me: &Event, _, expired| {
                    let set = me.is_set();
                    Ok((set || expired).then_some(Value::Bool(set)))
                },
            ));
        }
        let deadline = Deadline::after(timeout);
        let got = self
            .flag
            .wait_until(vm, deadline, |f| if *f { Some(()) } else { None })?;
        Ok(Value::Bool(got.is_some()))
    }
}

impl Object for Event {
    fn type_name(&self) -> &'static str {
        "Event"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        if self.is_set() {
            "<Event set>".to_string()
        } else {
            "<Event unset>".to_string()
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
            "set" => args.expect("set", 0, 0).map(|_| {
                self.set(true);
                Value::Nil
            }),
            "clear" => args.expect("clear", 0, 0).map(|_| {
                self.set(false);
                Value::Nil
            }),
            "is_set" => args
                .expect("is_set", 0, 0)
                .map(|_| Value::Bool(self.is_set())),
            "wait" => self.wait(vm, this, args),
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

/// `event()`
pub fn event(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("event", 0, 0)?;
    // SAFETY: Guarded::init initialises the whole state; no user mutex.
    let flag = unsafe { Shared::new("event", 0, None, |g| Guarded::init(g, false))? };
    Ok(publish(vm, |id| Event { flag, id }))
}
