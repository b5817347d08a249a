//! Calling: entering a script function's frame (arity, named arguments, default
//! markers, generators), and calling any value from native code.
//!
//! Calling convention: the callee sits in a register, its arguments right after
//! it. A plain function's register 0 is its first parameter (base = callee + 1);
//! a method's register 0 is `self`, which the caller stores in the callee's slot
//! (base = callee). So no call ever moves its arguments.

use super::Vm;
use super::fiber::{Fiber, Frame, FrameKind, Outcome};
use super::generator::Generator;
use crate::value::func::NativeKind;
use crate::value::{Args, Class, Closure, Exc, Instance, Native, Value, VmResult};
use std::rc::Rc;

/// Stack kept free for nested execution from native code (see stacker).
const RED_ZONE: usize = 256 * 1024;
const NEW_STACK: usize = 8 * 1024 * 1024;

impl Vm {
    /// Pushes a frame for `c` with register 0 at `base` and `nargs` arguments
    /// (not counting `self`) already in place. Returns false when no frame was
    /// pushed because `c` is a generator function: the generator is in `stack[ret]`.
    pub(super) fn enter_closure(
        &mut self,
        fiber: &mut Fiber,
        c: Rc<Closure>,
        base: usize,
        nargs: usize,
        kind: FrameKind,
    ) -> VmResult<bool> {
        let p = &c.proto;
        let nparams = p.params.len();
        if nargs != nparams {
            if nargs > nparams {
                return Err(too_many_args(&p.name, nparams, nargs));
            }
            if nargs < p.nrequired {
                return Err(Exc::type_error(format!(
                    "{}() missing required argument `{}`",
                    p.name, p.params[nargs]
                )));
            }
        }
        fiber.reserve(base, p.nregs);
        let first = base + p.is_method as usize;
        for slot in &mut fiber.stack[first + nargs..first + nparams] {
            *slot = Value::Undef;
        }
        self.push_frame(fiber, c, base, kind)
    }

    /// As `enter_closure`, with the last `names.len()` of `ntotal` arguments named.
    pub(super) fn enter_closure_kw(
        &mut self,
        fiber: &mut Fiber,
        c: Rc<Closure>,
        base: usize,
        ntotal: usize,
        names: &[Rc<str>],
        kind: FrameKind,
    ) -> VmResult<bool> {
        let p = c.proto.clone();
        let first = base + p.is_method as usize;
        let npos = ntotal - names.len();
        let nparams = p.params.len();
        if npos > nparams {
            return Err(too_many_args(&p.name, nparams, npos));
        }
        let mut slots: Vec<Value> = vec![Value::Undef; nparams];
        for (i, slot) in slots.iter_mut().enumerate().take(npos) {
            *slot = std::mem::take(&mut fiber.stack[first + i]);
        }
        for (j, name) in names.iter().enumerate() {
            let v = std::mem::take(&mut fiber.stack[first + npos + j]);
            match p.params.iter().position(|q| q == name) {
                None => {
                    return Err(Exc::type_error(format!(
                        "{}() got an unexpected named argument `{name}`",
                        p.name
                    )));
                }
                Some(i) if !matches!(slots[i], Value::Undef) => {
                    return Err(Exc::type_error(format!(
                        "{}() got multiple values for argument `{name}`",
                        p.name
                    )));
                }
                Some(i) => slots[i] = v,
            }
        }
        if let Some(i) = slots
            .iter()
            .take(p.nrequired)
            .position(|v| matches!(v, Value::Undef))
        {
            return Err(Exc::type_error(format!(
                "{}() missing required argument `{}`",
                p.name, p.params[i]
            )));
        }
        fiber.reserve(base, p.nregs);
        for (i, v) in slots.into_iter().enumerate() {
            fiber.stack[first + i] = v;
        }
        self.push_frame(fiber, c, base, kind)
    }

    fn push_frame(
        &mut self,
        fiber: &mut Fiber,
        c: Rc<Closure>,
        base: usize,
        kind: FrameKind,
    ) -> VmResult<bool> {
        let serial = self.next_serial();
        let ret = if kind == FrameKind::Plain {
            base - 1
        } else {
            base
        };
        if c.proto.is_generator {
            // The body runs later, on a fiber of its own.
            let n = c.proto.nregs;
            let mut g = Fiber::default();
            g.stack
                .extend(fiber.stack[base..base + n].iter_mut().map(std::mem::take));
            let name = c.proto.name.clone();
            g.frames.push(Frame::new(c, 0, serial, FrameKind::Method));
            fiber.stack[ret] = Value::object(Generator::new(g, name));
            return Ok(false);
        }
        if self.depth >= self.config.max_call_depth {
            return Err(Exc::new(
                "RecursionError",
                format!(
                    "maximum recursion depth exceeded ({} frames)",
                    self.config.max_call_depth
                ),
            ));
        }
        self.depth += 1;
        fiber.frames.push(Frame::new(c, base, serial, kind));
        Ok(true)
    }

    /// Calls a native function.
    pub(crate) fn call_native(
        &mut self,
        n: &Native,
        receiver: Option<&Value>,
        args: Args,
    ) -> VmResult<Value> {
        match &n.kind {
            NativeKind::Fn(f) => f(self, args),
            NativeKind::Host(f) => {
                let f = f.clone();
                f(self, args)
            }
            NativeKind::Method(f) => match receiver {
                Some(r) => f(self, r, args),
                None => Err(Exc::type_error(format!(
                    "method {}() needs an object to act on",
                    n.name
                ))),
            },
            NativeKind::ObjectMethod => match receiver {
                Some(r @ Value::Object(h)) => {
                    let h = h.clone();
                    h.0.call_method(self, r, &n.name, args)
                        .unwrap_or_else(|| Err(no_method(r, &n.name)))
                }
                _ => Err(Exc::type_error(format!(
                    "method {}() needs an object to act on",
                    n.name
                ))),
            },
        }
    }

    /// Calls a builtin for a dispatch loop: the only calls in which a task
    /// may be suspended (see `task.rs`).
    #[inline]
    pub(super) fn call_native_top(
        &mut self,
        n: &Native,
        receiver: Option<&Value>,
        args: Args,
    ) -> VmResult<Value> {
        self.sched.can_suspend = true;
        let r = self.call_native(n, receiver, args);
        self.sched.can_suspend = false;
        r
    }

    /// Calls any callable value from native code with positional arguments.
    pub fn call(&mut self, f: &Value, args: &[Value]) -> VmResult<Value> {
        self.call_args(f, Args::new(args))
    }

    /// Calls any callable value from native code, with named arguments if any.
    pub fn call_args(&mut self, f: &Value, args: Args) -> VmResult<Value> {
        self.sched.can_suspend = false;
        match f {
            Value::Native(n) => {
                let n = n.clone();
                self.call_native(&n, None, args)
            }
            Value::Func(c) => {
                let c = c.clone();
                let setup = |fiber: &mut Fiber| {
                    fiber.stack.push(f.clone());
                    fiber.stack.extend_from_slice(args.pos);
                    fiber.stack.extend_from_slice(args.named);
                };
                let ntotal = args.pos.len() + args.named.len();
                if c.proto.is_method && args.pos.is_empty() {
                    return Err(Exc::type_error(format!(
                        "{}() missing its `self` argument",
                        c.proto.name
                    )));
                }
                let n = ntotal - c.proto.is_method as usize;
                self.run_nested(setup, |vm, fiber| {
                    if args.names.is_empty() {
                        vm.enter_closure(fiber, c, 1, n, FrameKind::Plain)
                    } else {
                        vm.enter_closure_kw(fiber, c, 1, n, args.names, FrameKind::Plain)
                    }
                })
            }
            Value::Class(cls) => {
                let cls = cls.clone();
                self.construct(&cls, args)
            }
            Value::Bound(b) => {
                let b = b.clone();
                self.call_bound_args(&b.receiver, &b.method, args)
            }
            other => Err(Exc::type_error(format!(
                "{} is not callable",
                other.type_name()
            ))),
        }
    }

    /// Calls `method` (a script or native method) on `receiver`.
    pub fn call_bound(
        &mut self,
        receiver: &Value,
        method: &Value,
        args: &[Value],
    ) -> VmResult<Value> {
        self.call_bound_args(receiver, method, Args::new(args))
    }

    pub fn call_bound_args(
        &mut self,
        receiver: &Value,
        method: &Value,
        args: Args,
    ) -> VmResult<Value> {
        self.sched.can_suspend = false;
        match method {
            Value::Func(c) if c.proto.is_method => {
                let c = c.clone();
                let n = args.pos.len() + args.named.len();
                let setup = |fiber: &mut Fiber| {
                    fiber.stack.push(receiver.clone());
                    fiber.stack.extend_from_slice(args.pos);
                    fiber.stack.extend_from_slice(args.named);
                };
                self.run_nested(setup, |vm, fiber| {
                    if args.names.is_empty() {
                        vm.enter_closure(fiber, c, 0, n, FrameKind::Method)
                    } else {
                        vm.enter_closure_kw(fiber, c, 0, n, args.names, FrameKind::Method)
                    }
                })
            }
            Value::Native(n) => {
                let n = n.clone();
                self.call_native(&n, Some(receiver), args)
            }
            other => self.call_args(other, args),
        }
    }

    /// Calls `f` with each of `items` as its one argument and appends the
    /// results to `out` (a pool worker's `map`). A plain script function
    /// runs on one fiber taken for the whole loop, which saves most of what a
    /// call from native code costs; anything else is called item by item.
    pub fn call_each(
        &mut self,
        f: &Value,
        items: Vec<Value>,
        out: &mut Vec<Value>,
    ) -> VmResult<()> {
        let c = match f {
            Value::Func(c) if !c.proto.is_method && !c.proto.is_generator => c.clone(),
            _ => {
                for x in items {
                    out.push(self.call(f, std::slice::from_ref(&x))?);
                }
                return Ok(());
            }
        };
        self.enter_native()?;
        let mut fiber = self.take_fiber();
        let result = stacker::maybe_grow(RED_ZONE, NEW_STACK, || {
            for x in items {
                // the previous call left only its registers: no frame, no handler
                fiber.stack.clear();
                fiber.stack.push(f.clone());
                fiber.stack.push(x);
                let v = if self.enter_closure(&mut fiber, c.clone(), 1, 1, FrameKind::Plain)? {
                    match self.execute(&mut fiber)? {
                        Outcome::Returned(v) | Outcome::Yielded(v) => v,
                    }
                } else {
                    std::mem::take(&mut fiber.stack[0])
                };
                out.push(v);
            }
            Ok(())
        });
        self.give_fiber(fiber);
        self.leave_native();
        result
    }

    /// Runs a script function to completion on a spare fiber (calls from native code).
    fn run_nested(
        &mut self,
        setup: impl FnOnce(&mut Fiber),
        enter: impl FnOnce(&mut Vm, &mut Fiber) -> VmResult<bool>,
    ) -> VmResult<Value> {
        self.enter_native()?;
        let mut fiber = self.take_fiber();
        setup(&mut fiber);
        let result =
            match enter(self, &mut fiber) {
                Ok(true) => stacker::maybe_grow(RED_ZONE, NEW_STACK, || self.execute(&mut fiber))
                    .map(|o| match o {
                        Outcome::Returned(v) | Outcome::Yielded(v) => v,
                    }),
                Ok(false) => Ok(std::mem::take(&mut fiber.stack[0])),
                Err(e) => Err(e),
            };
        self.give_fiber(fiber);
        self.leave_native();
        result
    }

    /// `Class(args)`: a new instance, initialised by `init` when the class has one.
    pub fn construct(&mut self, cls: &Rc<Class>, args: Args) -> VmResult<Value> {
        let inst = Value::Instance(Rc::new(Instance::new(cls.clone())));
        match cls.methods.get(&self.syms.init).cloned() {
            None if args.is_empty() => {}
            None => {
                return Err(Exc::type_error(format!(
                    "{}() takes no arguments (it has no `init` method)",
                    cls.name
                )));
            }
            Some(init) => {
                self.call_bound_args(&inst, &init, args)?;
            }
        }
        Ok(inst)
    }
}

pub(super) fn too_many_args(name: &str, nparams: usize, given: usize) -> Exc {
    Exc::type_error(format!(
        "{name}() takes {nparams} argument{} but {given} {} given",
        if nparams == 1 { "" } else { "s" },
        if given == 1 { "was" } else { "were" }
    ))
}

pub(super) fn no_method(v: &Value, name: &str) -> Exc {
    Exc::new(
        "AttributeError",
        format!("{} has no method `{name}`", v.type_name()),
    )
}
