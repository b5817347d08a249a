//! A fiber: a value stack, its call frames and its exception handlers. Every
//! running piece of script code is a fiber: the main program, each generator,
//! each task. Suspending one is leaving it as it is; nothing lives on Rust's stack.

use crate::compile::Reg;
use crate::value::{Closure, Value};
use std::rc::Rc;

pub struct Frame {
    pub closure: Rc<Closure>,
    /// Next instruction to run (saved when this frame calls another).
    pub ip: usize,
    /// Stack index of register 0.
    pub base: usize,
    /// Stack index where the caller wants the result; `usize::MAX` for a fiber's first frame.
    pub ret: usize,
    /// Unique per frame, so a traceback records a frame only once.
    pub serial: u64,
    /// A constructor call: returns `self` (register 0) whatever `init` returns.
    pub is_init: bool,
}

pub struct Handler {
    /// Index of the frame that installed it.
    pub frame: usize,
    /// Where to continue, and where to put the error.
    pub ip: usize,
    pub reg: Reg,
    /// A `finally` handler: also runs for errors `catch` cannot see.
    pub finally: bool,
}

#[derive(Default)]
pub struct Fiber {
    pub stack: Vec<Value>,
    pub frames: Vec<Frame>,
    pub handlers: Vec<Handler>,
    /// A suspended generator: where the value sent in goes (an absolute stack index).
    pub resume_slot: Option<usize>,
    /// A generator suspended inside `yield from`: the value to pass on to the inner one.
    pub sent: Option<Value>,
}

impl Fiber {
    /// Clears a fiber for reuse, keeping its allocations.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.frames.clear();
        self.handlers.clear();
        self.resume_slot = None;
        self.sent = None;
    }

    /// Ensures registers `base..base+n` exist.
    pub fn reserve(&mut self, base: usize, n: usize) {
        let need = base + n;
        if self.stack.len() < need {
            self.stack.resize(need, Value::Nil);
        }
    }
}

/// How running a fiber stopped.
pub enum Outcome {
    /// The fiber's first frame returned this value.
    Returned(Value),
    /// A generator yielded this value and is suspended.
    Yielded(Value),
}
