//! A fiber: a value stack, its call frames and its exception handlers. Every
//! running piece of script code is a fiber: the main program, each generator,
//! each task. Suspending one is leaving it as it is; nothing lives on Rust's stack.

use crate::compile::Reg;
use crate::value::{Closure, Value};
use std::rc::Rc;

/// How a frame was entered, which says where its result goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrameKind {
    /// Register 0 is the first argument; the callee's slot (base - 1) gets the result.
    Plain,
    /// Register 0 is `self`, in the callee's slot, which gets the result.
    Method,
    /// A constructor's `init`: as Method, but the result is `self`.
    Init,
    /// A generator's frame resumed by `next(g)` on the caller's fiber
    /// (`Vm::resume_inline`): the callee's slot (base - 1) holds the
    /// generator, and gets the yielded value.
    Gen,
}

/// A call in progress. Kept small (24 bytes): one is pushed per call.
pub struct Frame {
    pub closure: Rc<Closure>,
    /// Next instruction to run (saved when this frame calls another).
    pub ip: u32,
    /// Stack index of register 0.
    pub base: u32,
    /// Identifies the frame in a traceback, so it is recorded only once.
    pub serial: u32,
    pub kind: FrameKind,
}

impl Frame {
    pub fn new(closure: Rc<Closure>, base: usize, serial: u32, kind: FrameKind) -> Frame {
        Frame {
            closure,
            ip: 0,
            base: base as u32,
            serial,
            kind,
        }
    }
    /// Where the caller wants the result (for a fiber's first frame: unused).
    pub fn ret(&self) -> usize {
        match self.kind {
            FrameKind::Plain | FrameKind::Gen => (self.base as usize).saturating_sub(1),
            FrameKind::Method | FrameKind::Init => self.base as usize,
        }
    }
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
