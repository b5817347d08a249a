//! The process runtime of sections 10–13: processes, queues, pipes,
//! synchronisation primitives and shared state, all real operating-system
//! objects that work across `fork()`.

pub mod manager;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod reactor;
pub mod shared;
pub mod shm;
pub mod sync;

use crate::value::{Exc, Value, VmResult};
use crate::vm::Vm;

/// Turns a portable handle's data (`Object::portable`) back into the handle.
pub fn revive(_vm: &mut Vm, tag: &str, data: Value) -> VmResult<Value> {
    if let Some(r) = manager::revive(tag, &data) {
        return r;
    }
    Err(Exc::new(
        "ValueError",
        format!("the message has an unknown kind of handle `{tag}`"),
    ))
}
