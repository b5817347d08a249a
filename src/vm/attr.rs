//! Members: reading and writing `obj.name`, `super.name`, method calls
//! `obj.name(args)` on every kind of value, calls of values that are not plain
//! functions (classes, bound methods), and building classes.

use super::Vm;
use super::call::no_method;
use super::fiber::{Fiber, FrameKind};
use super::symbol::Sym;
use crate::compile::Proto;
use crate::value::func::NativeKind;
use crate::value::{Args, BoundMethod, Class, Exc, Instance, MethodFn, Native, Value, VmResult};
use rustc_hash::FxHashMap;
use std::rc::Rc;

fn args_at<'a>(
    stack: &'a [Value],
    first: usize,
    nargs: usize,
    names: Option<&'a Rc<[Rc<str>]>>,
) -> Args<'a> {
    let names: &[Rc<str>] = names.map_or(&[], |n| n);
    let npos = nargs - names.len();
    Args {
        pos: &stack[first..first + npos],
        names,
        named: &stack[first + npos..first + nargs],
    }
}

impl Vm {
    /// The method `sym` of a built-in type's value, if it has one.
    pub fn type_method(&self, v: &Value, sym: Sym) -> Option<MethodFn> {
        let table = match v {
            Value::Str(_) => &self.types.str_,
            Value::Bytes(_) => &self.types.bytes,
            Value::List(_) => &self.types.list,
            Value::Map(_) => &self.types.map,
            Value::Range(_) => &self.types.range,
            Value::Error(_) => &self.types.error,
            _ => return None,
        };
        table.get(&sym).copied()
    }

    fn no_attr(&self, v: &Value, sym: Sym) -> Exc {
        Exc::new(
            "AttributeError",
            format!(
                "{} has no attribute `{}`",
                v.type_name(),
                self.interner.name(sym)
            ),
        )
    }

    /// `obj.name`
    pub fn get_attr(&mut self, obj: &Value, sym: Sym) -> VmResult<Value> {
        match obj {
            Value::Instance(inst) => {
                if let Some(v) = inst.fields.borrow().get(&sym) {
                    return Ok(v.clone());
                }
                let native = inst.native.borrow().clone();
                if let Some(st) = native {
                    let name = self.interner.name(sym).clone();
                    if let Some(r) = st.get_attr(self, &name) {
                        return r;
                    }
                }
                match inst.class.methods.get(&sym) {
                    Some(m) => Ok(Value::Bound(Rc::new(BoundMethod {
                        receiver: obj.clone(),
                        method: m.clone(),
                    }))),
                    None => Err(Exc::new(
                        "AttributeError",
                        format!(
                            "{} object has no attribute `{}`",
                            inst.class.name,
                            self.interner.name(sym)
                        ),
                    )),
                }
            }
            Value::Error(e) => {
                if sym == self.syms.kind {
                    Ok(Value::str(&e.kind))
                } else if sym == self.syms.message {
                    Ok(Value::str(&e.message))
                } else {
                    self.bound_type_method(obj, sym)
                }
            }
            Value::Class(c) => match c.methods.get(&sym) {
                Some(m) => Ok(m.clone()),
                None if &**self.interner.name(sym) == "name" => Ok(Value::str(&c.name)),
                None => Err(self.no_attr(obj, sym)),
            },
            Value::Object(h) => {
                let name = self.interner.name(sym).clone();
                if let Some(r) = h.0.get_attr(self, obj, &name) {
                    return r;
                }
                if h.0.method_names().contains(&&*name) {
                    let method = Value::Native(Rc::new(Native {
                        name,
                        kind: NativeKind::ObjectMethod,
                    }));
                    return Ok(Value::Bound(Rc::new(BoundMethod {
                        receiver: obj.clone(),
                        method,
                    })));
                }
                Err(self.no_attr(obj, sym))
            }
            Value::Range(r) => match &**self.interner.name(sym) {
                "start" => Ok(Value::Int(r.start)),
                "stop" => Ok(Value::Int(r.stop)),
                "step" => Ok(Value::Int(r.step)),
                _ => self.bound_type_method(obj, sym),
            },
            _ => self.bound_type_method(obj, sym),
        }
    }

    fn bound_type_method(&mut self, obj: &Value, sym: Sym) -> VmResult<Value> {
        match self.type_method(obj, sym) {
            Some(f) => {
                let method = Value::Native(Rc::new(Native {
                    name: self.interner.name(sym).clone(),
                    kind: NativeKind::Method(f),
                }));
                Ok(Value::Bound(Rc::new(BoundMethod {
                    receiver: obj.clone(),
                    method,
                })))
            }
            None => Err(self.no_attr(obj, sym)),
        }
    }

    /// `obj.name = v`
    pub fn set_attr(&mut self, obj: &Value, sym: Sym, v: Value) -> VmResult<()> {
        match obj {
            Value::Instance(inst) => {
                let native = inst.native.borrow().clone();
                if let Some(st) = native {
                    let name = self.interner.name(sym).clone();
                    if let Some(r) = st.set_attr(self, &name, &v) {
                        return r;
                    }
                }
                inst.fields.borrow_mut().insert(sym, v);
                Ok(())
            }
            Value::Object(h) => {
                let name = self.interner.name(sym).clone();
                h.0.set_attr(self, &name, v)
            }
            other => Err(Exc::new(
                "AttributeError",
                format!(
                    "cannot set attribute `{}` on {}",
                    self.interner.name(sym),
                    other.type_name()
                ),
            )),
        }
    }

    /// `super.name` inside a method whose code is `proto`: the parent's method,
    /// bound to `me`. The class that defines `proto` is found on `me`'s chain.
    pub(super) fn get_super(&mut self, me: &Value, proto: &Proto, sym: Sym) -> VmResult<Value> {
        let Value::Instance(inst) = me else {
            return Err(Exc::type_error("`super` needs `self` to be an instance"));
        };
        let mut class = Some(inst.class.clone());
        while let Some(c) = class {
            let defines = c
                .own
                .values()
                .any(|m| matches!(m, Value::Func(f) if std::ptr::eq(&*f.proto, proto)));
            if defines {
                let parent = c.parent.clone().ok_or_else(|| {
                    Exc::new(
                        "AttributeError",
                        format!("{} has no parent class for `super`", c.name),
                    )
                })?;
                return match parent.methods.get(&sym) {
                    Some(m) => Ok(Value::Bound(Rc::new(BoundMethod {
                        receiver: me.clone(),
                        method: m.clone(),
                    }))),
                    None => Err(Exc::new(
                        "AttributeError",
                        format!(
                            "{} has no method `{}`",
                            parent.name,
                            self.interner.name(sym)
                        ),
                    )),
                };
            }
            class = c.parent.clone();
        }
        Err(Exc::type_error(
            "`super` used in a method that does not belong to the object's class",
        ))
    }

    /// `R[b].name(args...)`: returns true when a script frame was pushed (the
    /// result arrives when it returns), false when the result is already in `R[b]`.
    pub(super) fn call_method_op(
        &mut self,
        fiber: &mut Fiber,
        b: usize,
        sym: Sym,
        nargs: usize,
        names: Option<&Rc<[Rc<str>]>>,
    ) -> VmResult<bool> {
        if let Value::Object(h) = &fiber.stack[b] {
            // `with` on a lock: no lookup by name, no arguments, and the
            // result is made here rather than moved out of the callee
            if names.is_none() {
                if sym == self.syms.enter && nargs == 0 {
                    if h.0.enter_now(self) {
                        fiber.stack[b] = Value::Bool(true);
                        return Ok(false);
                    }
                } else if sym == self.syms.exit
                    && nargs == 1
                    && matches!(fiber.stack[b + 1], Value::Nil)
                    && let Some(r) = h.0.exit_now(self)
                {
                    r?;
                    fiber.stack[b] = Value::Nil;
                    return Ok(false);
                }
            }
            // the hot case (`lk.enter()`, `q.put(x)`): the receiver is borrowed
            // from the stack, which the method cannot reach, instead of cloned
            let name = self.interner.name(sym).clone();
            self.sched.can_suspend = true;
            let r = h.0.call_method(
                self,
                &fiber.stack[b],
                &name,
                args_at(&fiber.stack, b + 1, nargs, names),
            );
            self.sched.can_suspend = false;
            return match r {
                Some(r) => {
                    fiber.stack[b] = r?;
                    Ok(false)
                }
                None => {
                    // a module's function, or a callable attribute
                    let recv = fiber.stack[b].clone();
                    let f = self.get_attr(&recv, sym)?;
                    fiber.stack[b] = f;
                    self.call_slow(fiber, b, nargs, names)
                }
            };
        }
        if !matches!(fiber.stack[b], Value::Instance(_) | Value::Class(_)) {
            // a built-in type's method (`xs.append(x)`): borrowed as above
            if let Some(m) = self.type_method(&fiber.stack[b], sym) {
                self.sched.can_suspend = true;
                let r = m(
                    self,
                    &fiber.stack[b],
                    args_at(&fiber.stack, b + 1, nargs, names),
                );
                self.sched.can_suspend = false;
                fiber.stack[b] = r?;
                return Ok(false);
            }
        }
        let recv = fiber.stack[b].clone();
        match &recv {
            Value::Instance(inst) => {
                let field = inst.fields.borrow().get(&sym).cloned();
                if let Some(f) = field {
                    fiber.stack[b] = f;
                    return self.call_slow(fiber, b, nargs, names);
                }
                match inst.class.methods.get(&sym) {
                    Some(Value::Func(c)) if c.proto.is_method => {
                        let c = c.clone();
                        match names {
                            None => self.enter_closure(fiber, c, b, nargs, FrameKind::Method),
                            Some(n) => {
                                self.enter_closure_kw(fiber, c, b, nargs, n, FrameKind::Method)
                            }
                        }
                    }
                    Some(Value::Native(n)) => {
                        let n = n.clone();
                        let r = self.call_native_top(
                            &n,
                            Some(&recv),
                            args_at(&fiber.stack, b + 1, nargs, names),
                        )?;
                        fiber.stack[b] = r;
                        Ok(false)
                    }
                    Some(other) => {
                        fiber.stack[b] = other.clone();
                        self.call_slow(fiber, b, nargs, names)
                    }
                    None => Err(Exc::new(
                        "AttributeError",
                        format!(
                            "{} object has no method `{}`",
                            inst.class.name,
                            self.interner.name(sym)
                        ),
                    )),
                }
            }
            Value::Class(_) => {
                let f = self.get_attr(&recv, sym)?;
                fiber.stack[b] = f;
                self.call_slow(fiber, b, nargs, names)
            }
            _ => match self.type_method(&recv, sym) {
                Some(m) => {
                    self.sched.can_suspend = true;
                    let r = m(self, &recv, args_at(&fiber.stack, b + 1, nargs, names));
                    self.sched.can_suspend = false;
                    let r = r?;
                    fiber.stack[b] = r;
                    Ok(false)
                }
                None => Err(no_method(&recv, self.interner.name(sym))),
            },
        }
    }

    /// Calls `R[fidx]` with the `nargs` arguments after it, for everything that is
    /// not the inline fast path. Returns true when a script frame was pushed.
    pub(super) fn call_slow(
        &mut self,
        fiber: &mut Fiber,
        fidx: usize,
        nargs: usize,
        names: Option<&Rc<[Rc<str>]>>,
    ) -> VmResult<bool> {
        let f = fiber.stack[fidx].clone();
        match &f {
            Value::Func(c) => {
                let c = c.clone();
                let is_method = c.proto.is_method as usize;
                if nargs < is_method + names.map_or(0, |n| n.len()) {
                    return Err(Exc::type_error(format!(
                        "{}() missing its `self` argument",
                        c.proto.name
                    )));
                }
                match names {
                    None => {
                        self.enter_closure(fiber, c, fidx + 1, nargs - is_method, FrameKind::Plain)
                    }
                    Some(n) => self.enter_closure_kw(
                        fiber,
                        c,
                        fidx + 1,
                        nargs - is_method,
                        n,
                        FrameKind::Plain,
                    ),
                }
            }
            Value::Native(n) => {
                let n = n.clone();
                let r =
                    self.call_native_top(&n, None, args_at(&fiber.stack, fidx + 1, nargs, names))?;
                fiber.stack[fidx] = r;
                Ok(false)
            }
            Value::Class(cls) => {
                let cls = cls.clone();
                let inst = Value::Instance(Rc::new(Instance::new(cls.clone())));
                match cls.methods.get(&self.syms.init) {
                    Some(Value::Func(c)) if c.proto.is_method => {
                        let c = c.clone();
                        fiber.stack[fidx] = inst;
                        match names {
                            None => self.enter_closure(fiber, c, fidx, nargs, FrameKind::Init),
                            Some(n) => {
                                self.enter_closure_kw(fiber, c, fidx, nargs, n, FrameKind::Init)
                            }
                        }
                    }
                    _ => {
                        let r =
                            self.construct(&cls, args_at(&fiber.stack, fidx + 1, nargs, names))?;
                        fiber.stack[fidx] = r;
                        Ok(false)
                    }
                }
            }
            Value::Bound(bm) => match &bm.method {
                Value::Func(c) if c.proto.is_method => {
                    let c = c.clone();
                    fiber.stack[fidx] = bm.receiver.clone();
                    match names {
                        None => self.enter_closure(fiber, c, fidx, nargs, FrameKind::Method),
                        Some(n) => {
                            self.enter_closure_kw(fiber, c, fidx, nargs, n, FrameKind::Method)
                        }
                    }
                }
                Value::Native(n) => {
                    let n = n.clone();
                    let r = self.call_native_top(
                        &n,
                        Some(&bm.receiver),
                        args_at(&fiber.stack, fidx + 1, nargs, names),
                    )?;
                    fiber.stack[fidx] = r;
                    Ok(false)
                }
                other => {
                    fiber.stack[fidx] = other.clone();
                    self.call_slow(fiber, fidx, nargs, names)
                }
            },
            other => Err(Exc::type_error(format!(
                "{} is not callable",
                other.type_name()
            ))),
        }
    }

    /// Op::MakeClass: `regs` = [name, parent or nil, method closures...].
    pub(super) fn make_class(&mut self, regs: &[Value]) -> VmResult<Value> {
        let name: Rc<str> = Rc::from(regs[0].as_str().unwrap_or("?"));
        let parent = match &regs[1] {
            Value::Nil => None,
            Value::Class(c) => Some(c.clone()),
            other => {
                return Err(Exc::type_error(format!(
                    "class {name} can only extend a class, not {}",
                    other.type_name()
                )));
            }
        };
        let mut own = FxHashMap::default();
        for m in &regs[2..] {
            if let Value::Func(f) = m {
                let sym = self.interner.intern(&f.proto.name);
                own.insert(sym, m.clone());
            }
        }
        Ok(Value::Class(Rc::new(Class::new(name, parent, own))))
    }
}
