//! Generators (section 15): a generator is a suspended fiber. `next`/`send`
//! resume it until its next `yield`; `throw` resumes it by raising inside it;
//! `close` raises an error no `catch` sees, so only `finally` blocks run.

use super::Vm;
use super::fiber::{Fiber, Frame, FrameKind, Handler, Outcome};
use crate::value::func::NativeKind;
use crate::value::{Args, Exc, Handle, Object, Value, VmResult};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GenState {
    Created,
    Suspended,
    Running,
    Done,
}

pub struct Generator {
    fiber: RefCell<Option<Fiber>>,
    state: Cell<GenState>,
    pub name: Rc<str>,
}

/// What resuming a generator produced.
pub enum Resumed {
    Yielded(Value),
    /// It finished, returning this value.
    Returned(Value),
}

impl Generator {
    pub fn new(fiber: Fiber, name: Rc<str>) -> Generator {
        Generator {
            fiber: RefCell::new(Some(fiber)),
            state: Cell::new(GenState::Created),
            name,
        }
    }
    pub fn state(&self) -> GenState {
        self.state.get()
    }
}

fn as_generator(v: &Value) -> Option<&Generator> {
    match v {
        Value::Object(h) => h.downcast::<Generator>(),
        _ => None,
    }
}

impl Vm {
    /// Resumes `g` with `sent` (nil for `next`), or by raising `raise` inside it.
    pub fn resume(&mut self, g: &Generator, sent: Value, raise: Option<Exc>) -> VmResult<Resumed> {
        match g.state.get() {
            GenState::Running => {
                return Err(Exc::value_error(format!(
                    "generator {} is already running",
                    g.name
                )));
            }
            GenState::Done => {
                return match raise {
                    Some(e) => Err(e),
                    None => Ok(Resumed::Returned(Value::Nil)),
                };
            }
            GenState::Created => {
                if let Some(e) = raise {
                    g.state.set(GenState::Done);
                    g.fiber.borrow_mut().take();
                    return Err(e);
                }
                if !matches!(sent, Value::Nil) {
                    return Err(Exc::type_error(
                        "can't send a value other than nil to a generator that has not started",
                    ));
                }
            }
            GenState::Suspended => {}
        }
        let Some(mut fiber) = g.fiber.borrow_mut().take() else {
            return Ok(Resumed::Returned(Value::Nil));
        };
        g.state.set(GenState::Running);
        self.enter_native()?;
        self.depth += fiber.frames.len();
        let result = match raise {
            None => {
                match fiber.resume_slot.take() {
                    Some(slot) => fiber.stack[slot] = sent,
                    None => fiber.sent = Some(sent),
                }
                stacker::maybe_grow(256 * 1024, 8 * 1024 * 1024, || self.execute(&mut fiber))
            }
            Some(e) => {
                fiber.resume_slot = None;
                fiber.sent = None;
                match self.unwind(&mut fiber, e) {
                    Ok(()) => stacker::maybe_grow(256 * 1024, 8 * 1024 * 1024, || {
                        self.execute(&mut fiber)
                    }),
                    Err(e) => Err(e),
                }
            }
        };
        self.leave_native();
        match result {
            Ok(Outcome::Yielded(v)) => {
                self.depth -= fiber.frames.len();
                *g.fiber.borrow_mut() = Some(fiber);
                g.state.set(GenState::Suspended);
                Ok(Resumed::Yielded(v))
            }
            Ok(Outcome::Returned(v)) => {
                g.state.set(GenState::Done);
                Ok(Resumed::Returned(v))
            }
            Err(e) => {
                g.state.set(GenState::Done);
                Err(e)
            }
        }
    }

    /// One step of `yield from` on the iterable in `stack[slot]`: the next value to
    /// pass out, or None when the inner iterable is finished (its return value is
    /// then in `stack[slot]`).
    pub(super) fn yield_from_step(
        &mut self,
        fiber: &mut Fiber,
        slot: usize,
    ) -> VmResult<Option<Value>> {
        let sent = fiber.sent.take().unwrap_or(Value::Nil);
        loop {
            let inner = fiber.stack[slot].clone();
            if let Some(g) = as_generator(&inner) {
                return match self.resume(g, sent, None)? {
                    Resumed::Yielded(v) => Ok(Some(v)),
                    Resumed::Returned(v) => {
                        fiber.stack[slot] = v;
                        Ok(None)
                    }
                };
            }
            match &inner {
                Value::Iter(it) => {
                    let it = it.clone();
                    return match self.iter_next(&it)? {
                        Some(v) => Ok(Some(v)),
                        None => {
                            fiber.stack[slot] = Value::Nil;
                            Ok(None)
                        }
                    };
                }
                other => {
                    let it = self.make_iter(other)?;
                    fiber.stack[slot] = Value::Iter(Rc::new(RefCell::new(it)));
                }
            }
        }
    }

    /// `next(g)`: the next value, or StopIteration.
    pub fn gen_next(&mut self, g: &Generator) -> VmResult<Option<Value>> {
        match self.resume(g, Value::Nil, None)? {
            Resumed::Yielded(v) => Ok(Some(v)),
            Resumed::Returned(_) => Ok(None),
        }
    }
}

impl Object for Generator {
    fn type_name(&self) -> &'static str {
        "Generator"
    }
    fn repr(&self, _vm: &mut Vm) -> String {
        format!("<Generator {}>", self.name)
    }
    fn method_names(&self) -> &'static [&'static str] {
        &["send", "throw", "close"]
    }
    fn is_iterator(&self) -> bool {
        true
    }
    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        let _ = this;
        Some(match name {
            "send" => args.bind("send", ["value"], 1).and_then(|[v]| {
                match vm.resume(self, v.unwrap_or_default(), None)? {
                    Resumed::Yielded(v) => Ok(v),
                    Resumed::Returned(_) => Err(Exc::new(
                        "StopIteration",
                        format!("generator {} finished", self.name),
                    )),
                }
            }),
            "throw" => args.bind("throw", ["error"], 1).and_then(|[e]| {
                let e = e.unwrap_or_default();
                let exc = match &e {
                    Value::Error(err) => Exc::Error(err.clone()),
                    Value::Str(s) => Exc::new("Error", s.as_str()),
                    other => {
                        return Err(Exc::type_error(format!(
                            "throw() needs an error, not {}",
                            other.type_name()
                        )));
                    }
                };
                match vm.resume(self, Value::Nil, Some(exc))? {
                    Resumed::Yielded(v) => Ok(v),
                    Resumed::Returned(_) => Err(Exc::new(
                        "StopIteration",
                        format!("generator {} finished", self.name),
                    )),
                }
            }),
            "close" => args.expect("close", 0, 0).and_then(|_| {
                if self.state.get() != GenState::Suspended {
                    self.state.set(GenState::Done);
                    self.fiber.borrow_mut().take();
                    return Ok(Value::Nil);
                }
                match vm.resume(
                    self,
                    Value::Nil,
                    Some(Exc::uncatchable("GeneratorExit", "generator closed")),
                ) {
                    Ok(Resumed::Yielded(_)) => {
                        self.state.set(GenState::Done);
                        self.fiber.borrow_mut().take();
                        Err(Exc::new(
                            "RuntimeError",
                            format!("generator {} yielded while being closed", self.name),
                        ))
                    }
                    Ok(Resumed::Returned(_)) => Ok(Value::Nil),
                    Err(e) if e.kind() == "GeneratorExit" => Ok(Value::Nil),
                    Err(e) => Err(e),
                }
            }),
            _ => return None,
        })
    }
    fn next(&self, vm: &mut Vm, _this: &Value) -> Option<VmResult<Option<Value>>> {
        Some(vm.gen_next(self))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// True when `v` is the builtin `next` (which the dispatch loop may run inline).
pub(super) fn is_next_builtin(v: &Value) -> bool {
    match v {
        Value::Native(n) => match n.kind {
            NativeKind::Fn(f) => {
                std::ptr::fn_addr_eq(f, crate::stdlib::core::next as crate::value::NativeFn)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Resuming a generator inline: the generator's single frame moves onto the
/// caller's fiber (its registers, handlers and ip), runs in the caller's
/// dispatch loop, and moves back at its next `yield`. No Rust recursion and no
/// fiber switch: a `next(g)` costs about as much as a call. Everything else
/// (`send`, `throw`, `close`, `for`, `yield from`) resumes through `resume`;
/// both leave the generator's fiber in the same shape.
impl Vm {
    /// `next(g)` with `g` in `stack[fidx + 1]` and `next` in `stack[fidx]`:
    /// pushes g's frame (kind Gen, base fidx + 1) and returns true, or
    /// returns false when g is not a generator that can resume this way.
    pub(super) fn resume_inline(&mut self, fiber: &mut Fiber, fidx: usize) -> bool {
        if self.depth >= self.config.max_call_depth {
            return false;
        }
        // the generator is moved out of its argument slot, not cloned: the
        // slot becomes the frame's register 0
        let gv = std::mem::take(&mut fiber.stack[fidx + 1]);
        let entered = match &gv {
            Value::Object(h) => h
                .downcast::<Generator>()
                .is_some_and(|g| self.enter_inline(fiber, g, fidx + 1)),
            _ => false,
        };
        if entered {
            // the generator takes the callee's slot (where `next` was)
            fiber.stack[fidx] = gv;
        } else {
            fiber.stack[fidx + 1] = gv;
        }
        entered
    }

    /// Pushes `g`'s frame onto `fiber` at `base`, moving its registers over.
    fn enter_inline(&mut self, fiber: &mut Fiber, g: &Generator, base: usize) -> bool {
        if !matches!(g.state.get(), GenState::Created | GenState::Suspended) {
            return false;
        }
        let mut slot = g.fiber.borrow_mut();
        let Some(gf) = slot.as_mut() else {
            return false;
        };
        // a suspended generator has exactly its own frame; it moves over
        let Some(Frame { closure, ip, .. }) = gf.frames.pop() else {
            return false;
        };
        let nregs = closure.proto.nregs;
        if let Some(r) = gf.resume_slot.take() {
            gf.stack[r] = Value::Nil;
        }
        gf.sent = None;
        fiber.sent = None;
        // swapped, not copied: what was in the caller's slots (dead values
        // above its live registers) waits in the generator's fiber until
        // `inline_yield` swaps it back, or is dropped with it
        fiber.reserve(base, nregs);
        for (dst, src) in fiber.stack[base..base + nregs]
            .iter_mut()
            .zip(gf.stack.iter_mut())
        {
            std::mem::swap(dst, src);
        }
        if !gf.handlers.is_empty() {
            let index = fiber.frames.len();
            fiber
                .handlers
                .extend(gf.handlers.drain(..).map(|h| Handler { frame: index, ..h }));
        }
        g.state.set(GenState::Running);
        self.depth += 1;
        // built field by field: changing fields of a whole moved copy costs
        // a store-forwarding stall
        let serial = self.next_serial();
        fiber.frames.push(Frame {
            closure,
            ip,
            base: base as u32,
            serial,
            kind: FrameKind::Gen,
        });
        true
    }

    /// The generator whose inline frame is on top of `fiber`.
    fn inline_generator(fiber: &Fiber) -> Option<Value> {
        let f = fiber.frames.last()?;
        Some(fiber.stack[f.ret()].clone())
    }

    /// `yield v` in an inline generator frame: moves the frame back into the
    /// generator and gives `v` to the `next(g)` that resumed it.
    ///
    /// `ip`, where the frame goes on, is given by the dispatch loop (which
    /// has not saved it) or `None` when the frame has it.
    pub(super) fn inline_yield(
        &mut self,
        fiber: &mut Fiber,
        v: Value,
        slot: Option<usize>,
        ip: Option<u32>,
    ) {
        let Some(Frame {
            closure,
            ip: saved_ip,
            base,
            serial,
            ..
        }) = fiber.frames.pop()
        else {
            return;
        };
        self.depth -= 1;
        let base = base as usize;
        let nregs = closure.proto.nregs;
        let index = fiber.frames.len();
        // the value takes the generator's place in the callee's slot
        let gv = std::mem::replace(&mut fiber.stack[base - 1], v);
        let Some(g) = as_generator(&gv) else {
            return;
        };
        let mut gslot = g.fiber.borrow_mut();
        let Some(gf) = gslot.as_mut() else {
            return;
        };
        while fiber.handlers.last().is_some_and(|h| h.frame >= index) {
            let Some(h) = fiber.handlers.pop() else {
                break;
            };
            gf.handlers.insert(0, Handler { frame: 0, ..h });
        }
        // the frame's registers go back, and the caller's slots get back
        // what `enter_inline` swapped out of them
        for (dst, src) in gf
            .stack
            .iter_mut()
            .zip(fiber.stack[base..base + nregs].iter_mut())
        {
            std::mem::swap(dst, src);
        }
        // as in `enter_inline`, built field by field
        gf.frames.push(Frame {
            closure,
            ip: ip.unwrap_or(saved_ip),
            base: 0,
            serial,
            kind: FrameKind::Method,
        });
        gf.resume_slot = slot;
        drop(gslot);
        g.state.set(GenState::Suspended);
    }

    /// `return` in an inline generator frame: the generator is finished, and
    /// the `next(g)` that resumed it raises StopIteration.
    pub(super) fn inline_gen_return(&mut self, fiber: &mut Fiber) -> Exc {
        let gv = Self::inline_generator(fiber);
        if fiber.frames.pop().is_some() {
            self.depth -= 1;
            let index = fiber.frames.len();
            while fiber.handlers.last().is_some_and(|h| h.frame >= index) {
                fiber.handlers.pop();
            }
        }
        if let Some(g) = gv.as_ref().and_then(as_generator) {
            g.state.set(GenState::Done);
            g.fiber.borrow_mut().take();
        }
        Exc::new("StopIteration", "the iterator is exhausted")
    }

    /// An error is leaving an inline generator frame (about to be popped by
    /// `unwind`): the generator is finished.
    pub(super) fn inline_gen_died(&mut self, fiber: &Fiber) {
        if let Some(gv) = Self::inline_generator(fiber)
            && let Some(g) = as_generator(&gv)
        {
            g.state.set(GenState::Done);
            g.fiber.borrow_mut().take();
        }
    }
}

/// The generator inside a value, if it is one.
pub fn generator_of(v: &Value) -> Option<&Generator> {
    as_generator(v)
}

impl Handle {
    pub fn is_generator(&self) -> bool {
        self.downcast::<Generator>().is_some()
    }
}
