//! The dispatch loop: runs a fiber until its first frame returns or it yields.
//!
//! Hot paths (int and float arithmetic, compare-and-jump, calls of script
//! functions, local moves) are written inline; everything else goes to a method
//! in `ops.rs`, `attr.rs`, `call.rs` or `iter.rs`. An error from anywhere is
//! handed to `unwind`, which finds a handler or pops frames, recording the
//! traceback as it goes.

use super::Vm;
use super::fiber::{Fiber, Handler, Outcome};
use super::ops::{self, Arith};
use crate::compile::{Cmp, Op};
use crate::value::error::TraceEntry;
use crate::value::{Args, Closure, Exc, Iter, Value, VmResult};
use std::cell::RefCell;
use std::rc::Rc;

#[inline(always)]
fn int_cmp(cmp: Cmp, x: i64, y: i64) -> bool {
    match cmp {
        Cmp::Lt => x < y,
        Cmp::Le => x <= y,
        Cmp::NotLt => x >= y,
        Cmp::NotLe => x > y,
        Cmp::Eq => x == y,
        Cmp::Ne => x != y,
    }
}

impl Vm {
    pub(crate) fn execute(&mut self, fiber: &mut Fiber) -> VmResult<Outcome> {
        'frame: loop {
            let (closure, base, mut ip) = {
                let f = fiber.frames.last().expect("execute runs a fiber with a frame");
                (f.closure.clone(), f.base, f.ip)
            };
            let proto = &*closure.proto;
            let code = &proto.code[..];

            // Saves the instruction pointer, then unwinds to a handler (continuing
            // there) or out of this fiber.
            macro_rules! throw {
                ($e:expr) => {{
                    let e = $e;
                    if let Some(f) = fiber.frames.last_mut() {
                        f.ip = ip;
                    }
                    self.unwind(fiber, e)?;
                    continue 'frame;
                }};
            }
            macro_rules! tryv {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => throw!(e),
                    }
                };
            }
            macro_rules! reg {
                ($r:expr) => {
                    fiber.stack[base + $r as usize]
                };
            }
            // Interrupts and instruction limits are checked on backward jumps and calls.
            macro_rules! check {
                () => {
                    if self.budget <= 0 {
                        tryv!(self.checkpoint());
                    }
                };
            }
            macro_rules! save_ip {
                () => {
                    fiber.frames.last_mut().expect("running frame").ip = ip;
                };
            }

            loop {
                let op = code[ip];
                ip += 1;
                self.budget -= 1;
                match op {
                    Op::Move { dst, src } => {
                        let v = reg!(src).clone();
                        reg!(dst) = v;
                    }
                    Op::LoadConst { dst, k } => reg!(dst) = proto.consts[k as usize].clone(),
                    Op::LoadInt { dst, v } => reg!(dst) = Value::Int(v as i64),
                    Op::LoadNil { dst } => reg!(dst) = Value::Nil,
                    Op::LoadBool { dst, v } => reg!(dst) = Value::Bool(v),

                    Op::GetGlobal { dst, slot } => {
                        let v = self.globals.values[slot as usize].clone();
                        if let Value::Undef = v {
                            throw!(Exc::new("NameError", format!("name `{}` is not defined", self.globals.names[slot as usize])));
                        }
                        reg!(dst) = v;
                    }
                    Op::SetGlobal { src, slot } => self.globals.values[slot as usize] = reg!(src).clone(),
                    Op::GetUpval { dst, idx } => reg!(dst) = closure.upvals[idx as usize].borrow().clone(),
                    Op::SetUpval { src, idx } => *closure.upvals[idx as usize].borrow_mut() = reg!(src).clone(),
                    Op::NewCell { reg } => {
                        let v = std::mem::take(&mut reg!(reg));
                        reg!(reg) = Value::Cell(Rc::new(RefCell::new(v)));
                    }
                    Op::GetCell { dst, cell } => {
                        let v = match &reg!(cell) {
                            Value::Cell(c) => c.borrow().clone(),
                            other => other.clone(),
                        };
                        reg!(dst) = v;
                    }
                    Op::SetCell { cell, src } => {
                        let v = reg!(src).clone();
                        match &reg!(cell) {
                            Value::Cell(c) => *c.borrow_mut() = v,
                            _ => reg!(cell) = v,
                        }
                    }

                    Op::Add { dst, a, b } => {
                        let r = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => x.checked_add(*y).map(Value::Int).ok_or_else(|| ops::overflow("+")),
                            (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x + y)),
                            (x, y) => ops::arith(Arith::Add, x, y),
                        };
                        reg!(dst) = tryv!(r);
                    }
                    Op::AddInt { dst, a, v } => {
                        let r = match &reg!(a) {
                            Value::Int(x) => x.checked_add(v as i64).map(Value::Int).ok_or_else(|| ops::overflow(if v < 0 { "-" } else { "+" })),
                            Value::Float(x) => Ok(Value::Float(x + v as f64)),
                            x => {
                                let (op, y) = if v < 0 { (Arith::Sub, -(v as i64)) } else { (Arith::Add, v as i64) };
                                ops::arith(op, x, &Value::Int(y))
                            }
                        };
                        reg!(dst) = tryv!(r);
                    }
                    Op::Sub { dst, a, b } => {
                        let r = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => x.checked_sub(*y).map(Value::Int).ok_or_else(|| ops::overflow("-")),
                            (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x - y)),
                            (x, y) => ops::arith(Arith::Sub, x, y),
                        };
                        reg!(dst) = tryv!(r);
                    }
                    Op::Mul { dst, a, b } => {
                        let r = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => x.checked_mul(*y).map(Value::Int).ok_or_else(|| ops::overflow("*")),
                            (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x * y)),
                            (x, y) => ops::arith(Arith::Mul, x, y),
                        };
                        reg!(dst) = tryv!(r);
                    }
                    Op::Div { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::Div, &reg!(a), &reg!(b))),
                    Op::FloorDiv { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::FloorDiv, &reg!(a), &reg!(b))),
                    Op::Mod { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::Mod, &reg!(a), &reg!(b))),
                    Op::Pow { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::Pow, &reg!(a), &reg!(b))),
                    Op::BitAnd { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::BitAnd, &reg!(a), &reg!(b))),
                    Op::BitOr { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::BitOr, &reg!(a), &reg!(b))),
                    Op::BitXor { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::BitXor, &reg!(a), &reg!(b))),
                    Op::Shl { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::Shl, &reg!(a), &reg!(b))),
                    Op::Shr { dst, a, b } => reg!(dst) = tryv!(ops::arith(Arith::Shr, &reg!(a), &reg!(b))),
                    Op::Neg { dst, src } => reg!(dst) = tryv!(ops::negate(&reg!(src))),
                    Op::BitNot { dst, src } => reg!(dst) = tryv!(ops::bit_not(&reg!(src))),
                    Op::Not { dst, src } => reg!(dst) = Value::Bool(!reg!(src).truthy()),

                    Op::Eq { dst, a, b } => reg!(dst) = Value::Bool(reg!(a).equals(&reg!(b))),
                    Op::Ne { dst, a, b } => reg!(dst) = Value::Bool(!reg!(a).equals(&reg!(b))),
                    Op::Lt { dst, a, b } => reg!(dst) = Value::Bool(tryv!(ops::less(&reg!(a), &reg!(b), false))),
                    Op::Le { dst, a, b } => reg!(dst) = Value::Bool(tryv!(ops::less(&reg!(a), &reg!(b), true))),
                    Op::In { dst, a, b } => {
                        let (x, y) = (reg!(a).clone(), reg!(b).clone());
                        save_ip!();
                        reg!(dst) = Value::Bool(tryv!(self.contains(&y, &x)));
                    }

                    Op::Jump { off } => {
                        ip = (ip as isize + off as isize) as usize;
                        if off < 0 {
                            check!();
                        }
                    }
                    Op::JumpIfFalse { cond, off } => {
                        if !reg!(cond).truthy() {
                            ip = (ip as isize + off as isize) as usize;
                            if off < 0 {
                                check!();
                            }
                        }
                    }
                    Op::JumpIfTrue { cond, off } => {
                        if reg!(cond).truthy() {
                            ip = (ip as isize + off as isize) as usize;
                            if off < 0 {
                                check!();
                            }
                        }
                    }
                    Op::CmpJump { cmp, a, b, off } => {
                        let taken = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => Ok(int_cmp(cmp, *x, *y)),
                            (x, y) => ops::compare(cmp, x, y),
                        };
                        if tryv!(taken) {
                            ip = (ip as isize + off as isize) as usize;
                            if off < 0 {
                                check!();
                            }
                        }
                    }
                    Op::CmpIntJump { cmp, a, v, off } => {
                        let taken = match &reg!(a) {
                            Value::Int(x) => Ok(int_cmp(cmp, *x, v as i64)),
                            x => ops::compare(cmp, x, &Value::Int(v as i64)),
                        };
                        if tryv!(taken) {
                            ip = (ip as isize + off as isize) as usize;
                            if off < 0 {
                                check!();
                            }
                        }
                    }
                    Op::JumpIfGiven { reg, off } => {
                        if !matches!(reg!(reg), Value::Undef) {
                            ip = (ip as isize + off as isize) as usize;
                        }
                    }

                    Op::Call { func, nargs } => {
                        check!();
                        let fidx = base + func as usize;
                        let n = nargs as usize;
                        let callee = fiber.stack[fidx].clone();
                        match &callee {
                            Value::Func(c) => {
                                let c = c.clone();
                                let n = if c.proto.is_method {
                                    if n == 0 {
                                        throw!(Exc::type_error(format!("{}() missing its `self` argument", c.proto.name)));
                                    }
                                    n - 1
                                } else {
                                    n
                                };
                                save_ip!();
                                if tryv!(self.enter_closure(fiber, c, fidx + 1, n, fidx, false)) {
                                    continue 'frame;
                                }
                            }
                            Value::Native(nat) => {
                                let nat = nat.clone();
                                save_ip!();
                                let r = self.call_native(&nat, None, Args::new(&fiber.stack[fidx + 1..fidx + 1 + n]));
                                fiber.stack[fidx] = tryv!(r);
                            }
                            _ => {
                                save_ip!();
                                if tryv!(self.call_slow(fiber, fidx, n, None)) {
                                    continue 'frame;
                                }
                            }
                        }
                    }
                    Op::CallKw { func, nargs, names } => {
                        check!();
                        let fidx = base + func as usize;
                        let names = proto.kw_lists[names as usize].clone();
                        save_ip!();
                        if tryv!(self.call_slow(fiber, fidx, nargs as usize, Some(&names))) {
                            continue 'frame;
                        }
                    }
                    Op::CallMethod { base: b, name, nargs } => {
                        check!();
                        let sym = proto.names[name as usize];
                        save_ip!();
                        if tryv!(self.call_method_op(fiber, base + b as usize, sym, nargs as usize, None)) {
                            continue 'frame;
                        }
                    }
                    Op::CallMethodKw { base: b, name, nargs, names } => {
                        check!();
                        let sym = proto.names[name as usize];
                        let names = proto.kw_lists[names as usize].clone();
                        save_ip!();
                        if tryv!(self.call_method_op(fiber, base + b as usize, sym, nargs as usize, Some(&names))) {
                            continue 'frame;
                        }
                    }
                    Op::Return { src } => {
                        let v = std::mem::take(&mut reg!(src));
                        if let Some(v) = self.pop_frame(fiber, v) {
                            return Ok(Outcome::Returned(v));
                        }
                        continue 'frame;
                    }
                    Op::ReturnNil => {
                        if let Some(v) = self.pop_frame(fiber, Value::Nil) {
                            return Ok(Outcome::Returned(v));
                        }
                        continue 'frame;
                    }

                    Op::NewList { dst, start, count } => {
                        let s = base + start as usize;
                        let items = fiber.stack[s..s + count as usize].to_vec();
                        reg!(dst) = Value::list(items);
                    }
                    Op::NewMap { dst, start, count } => {
                        let s = base + start as usize;
                        let m = tryv!(ops::new_map(&fiber.stack[s..s + 2 * count as usize]));
                        reg!(dst) = m;
                    }
                    Op::ListAppend { list, src } => {
                        let v = reg!(src).clone();
                        if let Value::List(l) = &reg!(list) {
                            l.borrow_mut().push(v);
                        }
                    }
                    Op::MapInsert { map, key, src } => {
                        let (k, v) = (tryv!(crate::value::Key::new(reg!(key).clone())), reg!(src).clone());
                        if let Value::Map(m) = &reg!(map) {
                            m.borrow_mut().insert(k, v);
                        }
                    }
                    Op::GetIndex { dst, obj, index } => {
                        let fast = match (&reg!(obj), &reg!(index)) {
                            (Value::List(l), Value::Int(i)) => {
                                let l = l.borrow();
                                Some(match ops::index_of(*i, l.len()) {
                                    Some(i) => Ok(l[i].clone()),
                                    None => Err(Exc::new("IndexError", format!("list index {i} out of range (length {})", l.len()))),
                                })
                            }
                            _ => None,
                        };
                        let r = match fast {
                            Some(r) => r,
                            None => {
                                let (o, i) = (reg!(obj).clone(), reg!(index).clone());
                                save_ip!();
                                self.get_index(&o, &i)
                            }
                        };
                        reg!(dst) = tryv!(r);
                    }
                    Op::SetIndex { obj, index, src } => {
                        let (o, i, v) = (reg!(obj).clone(), reg!(index).clone(), reg!(src).clone());
                        save_ip!();
                        tryv!(self.set_index(&o, &i, v));
                    }
                    Op::Slice { dst, base: b } => {
                        let s = base + b as usize;
                        let r = tryv!(ops::slice(&fiber.stack[s], &fiber.stack[s + 1], &fiber.stack[s + 2], &fiber.stack[s + 3]));
                        reg!(dst) = r;
                    }
                    Op::GetAttr { dst, obj, name } => {
                        let o = reg!(obj).clone();
                        save_ip!();
                        reg!(dst) = tryv!(self.get_attr(&o, proto.names[name as usize]));
                    }
                    Op::SetAttr { obj, name, src } => {
                        let (o, v) = (reg!(obj).clone(), reg!(src).clone());
                        save_ip!();
                        tryv!(self.set_attr(&o, proto.names[name as usize], v));
                    }
                    Op::GetSuper { dst, name } => {
                        let me = match &reg!(0) {
                            Value::Cell(c) => c.borrow().clone(),
                            v => v.clone(),
                        };
                        reg!(dst) = tryv!(self.get_super(&me, proto, proto.names[name as usize]));
                    }
                    Op::Unpack { dst, src, count } => {
                        let v = reg!(src).clone();
                        save_ip!();
                        let items = tryv!(self.unpack(&v, count as usize));
                        for (i, item) in items.into_iter().enumerate() {
                            reg!(dst as usize + i) = item;
                        }
                    }

                    Op::IterPrep { dst, src } => {
                        let v = reg!(src).clone();
                        save_ip!();
                        let it = tryv!(self.make_iter(&v));
                        reg!(dst) = Value::Iter(Rc::new(RefCell::new(it)));
                    }
                    Op::ForIter { iter, off } => {
                        // Ok(Some(item)), Ok(None) at the end, Err(iterator) for the slow path
                        let step: Result<Option<Value>, Rc<RefCell<Iter>>> = match &reg!(iter) {
                            Value::Iter(it) => {
                                let mut state = it.borrow_mut();
                                match &mut *state {
                                    Iter::Range { next, stop, step } => {
                                        if (*step > 0 && *next < *stop) || (*step < 0 && *next > *stop) {
                                            let v = *next;
                                            match next.checked_add(*step) {
                                                Some(n) => *next = n,
                                                // past the end of i64: this item is the last
                                                None => *stop = v,
                                            }
                                            Ok(Some(Value::Int(v)))
                                        } else {
                                            Ok(None)
                                        }
                                    }
                                    Iter::List { list, index } => {
                                        let v = list.borrow().get(*index).cloned();
                                        *index += 1;
                                        Ok(v)
                                    }
                                    _ => Err(it.clone()),
                                }
                            }
                            _ => Ok(None),
                        };
                        let next = match step {
                            Ok(v) => v,
                            Err(it) => {
                                save_ip!();
                                tryv!(self.iter_next(&it))
                            }
                        };
                        match next {
                            Some(v) => reg!(iter + 1) = v,
                            None => ip = (ip as isize + off as isize) as usize,
                        }
                    }

                    Op::Closure { dst, proto: idx } => {
                        let p = proto.protos[idx as usize].clone();
                        let upvals = p
                            .captures
                            .iter()
                            .map(|c| match *c {
                                crate::compile::Capture::Local(r) => match &reg!(r) {
                                    Value::Cell(cell) => cell.clone(),
                                    other => Rc::new(RefCell::new(other.clone())),
                                },
                                crate::compile::Capture::Upval(i) => closure.upvals[i as usize].clone(),
                            })
                            .collect();
                        reg!(dst) = Value::Func(Rc::new(Closure { proto: p, upvals }));
                    }
                    Op::MakeClass { dst, start, count } => {
                        let s = base + start as usize;
                        let cls = tryv!(self.make_class(&fiber.stack[s..s + 2 + count as usize]));
                        reg!(dst) = cls;
                    }

                    Op::Throw { src } => {
                        let v = reg!(src).clone();
                        save_ip!();
                        let e = tryv!(self.to_exception(&v));
                        throw!(e);
                    }
                    Op::PushHandler { reg, finally, off } => {
                        let frame = fiber.frames.len() - 1;
                        let target = (ip as isize + off as isize) as usize;
                        fiber.handlers.push(Handler { frame, ip: target, reg, finally });
                    }
                    Op::PopHandler => {
                        fiber.handlers.pop();
                    }

                    Op::Yield { dst, src } => {
                        let v = reg!(src).clone();
                        save_ip!();
                        fiber.resume_slot = Some(base + dst as usize);
                        return Ok(Outcome::Yielded(v));
                    }
                    Op::YieldFrom { dst, src } => {
                        save_ip!();
                        match tryv!(self.yield_from_step(fiber, base + src as usize)) {
                            Some(v) => {
                                // suspended inside the delegation: resume here
                                fiber.frames.last_mut().expect("running frame").ip = ip - 1;
                                fiber.resume_slot = None;
                                return Ok(Outcome::Yielded(v));
                            }
                            None => {
                                let r = std::mem::take(&mut reg!(src));
                                reg!(dst) = r;
                            }
                        }
                    }

                    Op::Format { dst, src, spec, repr } => {
                        let v = reg!(src).clone();
                        save_ip!();
                        let s = if repr {
                            tryv!(crate::value::format::to_repr(self, &v))
                        } else if spec == u16::MAX {
                            tryv!(crate::value::format::to_display(self, &v))
                        } else {
                            let spec = proto.consts[spec as usize].as_str().unwrap_or("").to_string();
                            tryv!(crate::value::format::format_value(self, &v, &spec))
                        };
                        reg!(dst) = Value::string(s);
                    }
                    Op::Concat { dst, start, count } => {
                        let s = base + start as usize;
                        let mut out = String::new();
                        for v in &fiber.stack[s..s + count as usize] {
                            if let Value::Str(p) = v {
                                out.push_str(p.as_str());
                            }
                        }
                        reg!(dst) = Value::string(out);
                    }
                    Op::Import { dst, path } => {
                        let p = proto.consts[path as usize].as_str().unwrap_or("").to_string();
                        save_ip!();
                        reg!(dst) = tryv!(self.import(&p, &proto.source.name));
                    }
                }
            }
        }
    }

    /// Pops the running frame, delivering `v` to its caller. Returns the value when
    /// the frame was the fiber's first (the fiber is finished).
    fn pop_frame(&mut self, fiber: &mut Fiber, mut v: Value) -> Option<Value> {
        let frame = fiber.frames.pop().expect("a frame to return from");
        self.depth -= 1;
        let depth = fiber.frames.len();
        while fiber.handlers.last().is_some_and(|h| h.frame >= depth) {
            fiber.handlers.pop();
        }
        if frame.is_init {
            v = match &fiber.stack[frame.base] {
                Value::Cell(c) => c.borrow().clone(),
                other => other.clone(),
            };
        }
        if fiber.frames.is_empty() {
            return Some(v);
        }
        fiber.stack[frame.ret] = v;
        None
    }

    /// Handles an error raised in the fiber's top frame: jumps to the innermost
    /// handler that takes it, or pops every frame and returns the error.
    pub(crate) fn unwind(&mut self, fiber: &mut Fiber, exc: Exc) -> VmResult<()> {
        let err = exc.error().clone();
        while !fiber.frames.is_empty() {
            let index = fiber.frames.len() - 1;
            let frame = &mut fiber.frames[index];
            {
                let mut trace = err.trace.borrow_mut();
                if trace.last().is_none_or(|t| t.serial != frame.serial) {
                    let proto = &frame.closure.proto;
                    trace.push(TraceEntry {
                        source: proto.source.clone(),
                        offset: proto.offset_at(frame.ip.saturating_sub(1)),
                        func: proto.name.clone(),
                        serial: frame.serial,
                    });
                }
            }
            while fiber.handlers.last().is_some_and(|h| h.frame == index) {
                let h = fiber.handlers.pop().expect("checked");
                if h.finally || err.catchable {
                    frame.ip = h.ip;
                    fiber.stack[frame.base + h.reg as usize] = Value::Error(err.clone());
                    return Ok(());
                }
            }
            fiber.frames.pop();
            self.depth -= 1;
        }
        Err(exc)
    }

    /// `throw v`: an error value as it is, a string as kind `Error`.
    fn to_exception(&mut self, v: &Value) -> VmResult<Exc> {
        Ok(match v {
            Value::Error(e) => Exc::Error(e.clone()),
            Value::Str(s) => Exc::new("Error", s.as_str()),
            other => {
                let text = crate::value::format::to_display(self, other)?;
                Exc::new("Error", text)
            }
        })
    }
}
