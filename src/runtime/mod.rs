//! The process runtime of sections 10–13: processes, queues, pipes,
//! synchronisation primitives and shared state, all real operating-system
//! objects that work across `fork()`.

pub mod shared;
pub mod shm;
pub mod sync;
