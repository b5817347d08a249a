//! The dispatch loop: runs a fiber until its first frame returns or it yields.
//!
//! The loop itself handles only the frequent instructions (moves, constants,
//! variables, int/float arithmetic, compare-and-jump, calls, returns, list
//! indexing, range/list iteration), so that it stays small enough for its
//! state to live in registers. Every other instruction goes to `slow_op`.
//! An error from anywhere is handed to `unwind`, which finds a handler or pops
//! frames, recording the traceback as it goes.
//!
//! Limits and interrupts are checked on backward jumps and calls, which every
//! long-running computation must pass through. The instruction count they keep
//! charges a backward jump the length of the loop and a call the length of the
//! function called: exact for straight-line code, an upper bound otherwise.

use super::Vm;
use super::fiber::{Fiber, Frame, FrameKind, Handler, Outcome};
use super::ops::{self, Arith};
use crate::compile::{Capture, Cmp, Op, Proto};
use crate::value::error::TraceEntry;
use crate::value::format::{format_value, to_display, to_repr};
use crate::value::{Closure, Exc, Iter, Key, Value, VmResult};
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

/// Writes a register. When the old value is an immediate it has nothing to
/// release, so the (out-of-line) drop glue of `Value` is skipped.
#[inline(always)]
fn store(slot: &mut Value, v: Value) {
    match slot {
        Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
            std::mem::forget(std::mem::replace(slot, v))
        }
        _ => *slot = v,
    }
}

/// Writes an int result. A register that already holds an int (a loop counter,
/// an accumulator) only has its payload overwritten: the common case stays an
/// 8-byte store instead of a 16-byte value move.
#[inline(always)]
fn store_int(slot: &mut Value, v: i64) {
    match slot {
        Value::Int(x) => *x = v,
        _ => store(slot, Value::Int(v)),
    }
}

#[inline(always)]
fn jump(ip: usize, off: i32) -> usize {
    (ip as isize + off as isize) as usize
}

/// What `ForIter` got from its iterator. A range's item stays an int until it
/// is stored in its register: a `Value` built in a temporary and then moved
/// costs a store-forwarding stall per item.
enum ForStep {
    Int(i64),
    /// A list's item, or `None` at the end.
    Item(Option<Value>),
    /// Any other iterator, advanced by `Vm::iter_next`.
    Other(Rc<RefCell<Iter>>),
}

/// What the loop does after an instruction handled out of line.
enum Step {
    Next,
    /// The frame stack changed: reload the running frame.
    Reload,
    /// Leave the fiber.
    Out(Outcome),
}

impl Vm {
    pub(crate) fn execute(&mut self, fiber: &mut Fiber) -> VmResult<Outcome> {
        'frame: loop {
            let (closure, base, mut ip) = {
                let f = fiber
                    .frames
                    .last()
                    .expect("execute runs a fiber with a frame");
                (f.closure.clone(), f.base as usize, f.ip as usize)
            };
            let closure: &Closure = &closure;
            let proto = &*closure.proto;
            let code = &proto.code[..];
            if !proto.checked || ip >= code.len() {
                // only a function that did not come from `Vm::register_proto`
                let e = Exc::new("SystemError", "a malformed function");
                self.unwind(fiber, e)?;
                continue 'frame;
            }
            // every frame is pushed with its registers reserved (`Fiber::reserve`)
            let nregs = proto.nregs;

            // The frame's registers, as a slice held in locals (so that its pointer
            // and length stay in machine registers). Anything that may touch the
            // fiber's stack must be followed by `refresh!()`.
            let mut regs: &mut [Value] = &mut fiber.stack[base..base + nregs];
            // Register operands are in range for every instruction handled
            // here (`proto.checked`: `Proto::dispatch_safe` held when the
            // prototype was registered), so these indexings cannot fail.
            macro_rules! reg {
                ($r:expr) => {
                    regs[$r as usize]
                };
            }
            macro_rules! reg_mut {
                ($r:expr) => {
                    regs[$r as usize]
                };
            }
            macro_rules! refresh {
                () => {
                    regs = &mut fiber.stack[base..base + nregs]
                };
            }
            macro_rules! save_ip {
                () => {
                    fiber.frames.last_mut().expect("running frame").ip = ip as u32
                };
            }
            // Unwinds to a handler (continuing there) or out of this fiber.
            macro_rules! throw {
                ($e:expr) => {{
                    let e = $e;
                    save_ip!();
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
            macro_rules! charge {
                ($n:expr) => {
                    self.budget -= $n as i64;
                    if self.budget <= 0 {
                        tryv!(self.checkpoint());
                    }
                };
            }
            macro_rules! branch {
                ($off:expr) => {{
                    let off = $off as i32;
                    ip = jump(ip, off);
                    if off < 0 {
                        charge!(-off);
                    }
                }};
            }
            // int and float fast paths write the register directly; anything else
            // (including overflow, which raises) goes through ops::arith
            macro_rules! arith {
                ($dst:expr, $a:expr, $b:expr, $op:ident, $checked:ident, $fop:tt) => {{
                    let fast = match (&reg!($a), &reg!($b)) {
                        (Value::Int(x), Value::Int(y)) => x.$checked(*y),
                        _ => None,
                    };
                    match fast {
                        Some(v) => store_int(&mut reg_mut!($dst), v),
                        None => {
                            let r = match (&reg!($a), &reg!($b)) {
                                (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x $fop y)),
                                (x, y) => ops::arith(Arith::$op, x, y),
                            };
                            store(&mut reg_mut!($dst), tryv!(r));
                        }
                    }
                }};
            }

            loop {
                // SAFETY: `ip < code.len()`. It held when the frame was loaded
                // (checked above); since then `ip` has only moved one past an
                // instruction that is not the last one (the last is a `Return`,
                // `ReturnNil` or `Jump`, which never continue at `ip + 1`) or
                // to the target of a jump, which is in range (`proto.checked`:
                // `Proto::dispatch_safe`).
                let op = code[ip];
                ip += 1;
                match op {
                    Op::Move { dst, src } => {
                        let v = reg!(src).clone();
                        store(&mut reg_mut!(dst), v);
                    }
                    Op::LoadConst { dst, k } => {
                        store(&mut reg_mut!(dst), proto.consts[k as usize].clone())
                    }
                    Op::LoadInt { dst, v } => store_int(&mut reg_mut!(dst), v as i64),
                    Op::LoadNil { dst } => store(&mut reg_mut!(dst), Value::Nil),
                    Op::LoadBool { dst, v } => store(&mut reg_mut!(dst), Value::Bool(v)),
                    Op::GetGlobal { dst, slot } => {
                        let v = &self.globals.values[slot as usize];
                        if let Value::Undef = v {
                            throw!(self.undefined_global(slot));
                        }
                        let v = v.clone();
                        store(&mut reg_mut!(dst), v);
                    }
                    Op::SetGlobal { src, slot } => {
                        self.globals.values[slot as usize] = reg!(src).clone()
                    }
                    Op::GetUpval { dst, idx } => {
                        reg_mut!(dst) = closure.upvals[idx as usize].borrow().clone()
                    }
                    Op::SetUpval { src, idx } => {
                        *closure.upvals[idx as usize].borrow_mut() = reg!(src).clone()
                    }
                    Op::GetCell { dst, cell } => {
                        let v = match &reg!(cell) {
                            Value::Cell(c) => c.borrow().clone(),
                            other => other.clone(),
                        };
                        reg_mut!(dst) = v;
                    }
                    Op::SetCell { cell, src } => {
                        let v = reg!(src).clone();
                        match &reg!(cell) {
                            Value::Cell(c) => *c.borrow_mut() = v,
                            _ => reg_mut!(cell) = v,
                        }
                    }

                    Op::Add { dst, a, b } => arith!(dst, a, b, Add, checked_add, +),
                    Op::Sub { dst, a, b } => arith!(dst, a, b, Sub, checked_sub, -),
                    Op::Mul { dst, a, b } => arith!(dst, a, b, Mul, checked_mul, *),
                    Op::AddInt { dst, a, v } => {
                        let fast = match &reg!(a) {
                            Value::Int(x) => x.checked_add(v as i64),
                            _ => None,
                        };
                        match fast {
                            Some(r) => store_int(&mut reg_mut!(dst), r),
                            None => {
                                let r = ops::add_int(&reg!(a), v);
                                store(&mut reg_mut!(dst), tryv!(r));
                            }
                        }
                    }
                    Op::Eq { dst, a, b } => {
                        let r = reg!(a).try_equals(&reg!(b));
                        reg_mut!(dst) = Value::Bool(tryv!(r));
                    }
                    Op::Ne { dst, a, b } => {
                        let r = reg!(a).try_equals(&reg!(b));
                        reg_mut!(dst) = Value::Bool(!tryv!(r));
                    }
                    Op::Lt { dst, a, b } => {
                        let r = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => Ok(x < y),
                            (x, y) => ops::less(x, y, false),
                        };
                        reg_mut!(dst) = Value::Bool(tryv!(r));
                    }
                    Op::Le { dst, a, b } => {
                        let r = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => Ok(x <= y),
                            (x, y) => ops::less(x, y, true),
                        };
                        reg_mut!(dst) = Value::Bool(tryv!(r));
                    }
                    Op::Not { dst, src } => reg_mut!(dst) = Value::Bool(!reg!(src).truthy()),

                    Op::Jump { off } => branch!(off),
                    Op::JumpIfFalse { cond, off } => {
                        if !reg!(cond).truthy() {
                            branch!(off);
                        }
                    }
                    Op::JumpIfTrue { cond, off } => {
                        if reg!(cond).truthy() {
                            branch!(off);
                        }
                    }
                    Op::CmpJump { cmp, a, b, off } => {
                        let taken = match (&reg!(a), &reg!(b)) {
                            (Value::Int(x), Value::Int(y)) => int_cmp(cmp, *x, *y),
                            _ => {
                                let r = ops::compare(cmp, &reg!(a), &reg!(b));
                                tryv!(r)
                            }
                        };
                        if taken {
                            branch!(off);
                        }
                    }
                    Op::CmpIntJump { cmp, a, v, off } => {
                        let taken = match &reg!(a) {
                            Value::Int(x) => int_cmp(cmp, *x, v as i64),
                            _ => {
                                let r = ops::compare(cmp, &reg!(a), &Value::Int(v as i64));
                                tryv!(r)
                            }
                        };
                        if taken {
                            branch!(off);
                        }
                    }
                    Op::JumpIfGiven { reg, off } => {
                        if !matches!(reg!(reg), Value::Undef) {
                            ip = jump(ip, off);
                        }
                    }

                    Op::CallGlobal { func, nargs, slot } => {
                        let fidx = base + func as usize;
                        let n = nargs as usize;
                        let callee = &self.globals.values[slot as usize];
                        let fast = match callee {
                            Value::Func(c)
                                if !c.proto.is_method
                                    && n == c.proto.params.len()
                                    && !c.proto.is_generator =>
                            {
                                Some(c.clone())
                            }
                            _ => None,
                        };
                        match fast {
                            Some(c) if self.depth < self.config.max_call_depth => {
                                save_ip!();
                                charge!(c.proto.code.len());
                                let new_base = fidx + 1;
                                fiber.reserve(new_base, c.proto.nregs);
                                self.depth += 1;
                                self.frame_serial = self.frame_serial.wrapping_add(1);
                                fiber.frames.push(Frame::new(
                                    c,
                                    new_base,
                                    self.frame_serial,
                                    FrameKind::Plain,
                                ));
                                continue 'frame;
                            }
                            _ => {
                                // anything else: put the callee in its register and call it as Call does
                                if let Value::Undef = callee {
                                    throw!(self.undefined_global(slot));
                                }
                                if n == 1 && super::generator::is_next_builtin(callee) {
                                    // next(g) on a suspended generator: its frame runs here
                                    save_ip!();
                                    charge!(1);
                                    if self.resume_inline(fiber, fidx) {
                                        continue 'frame;
                                    }
                                    refresh!();
                                }
                                let callee = &self.globals.values[slot as usize];
                                let f = callee.clone();
                                store(&mut reg_mut!(func), f);
                                save_ip!();
                                charge!(1);
                                if tryv!(self.call_slow(fiber, fidx, n, None)) {
                                    continue 'frame;
                                }
                                refresh!();
                            }
                        }
                    }
                    Op::Call { func, nargs } => {
                        let fidx = base + func as usize;
                        let n = nargs as usize;
                        let plain = match &reg!(func) {
                            Value::Func(c) if !c.proto.is_method => Some(c.clone()),
                            _ => None,
                        };
                        save_ip!();
                        match plain {
                            // the common case, inline: exact arity, not a generator
                            Some(c)
                                if n == c.proto.params.len()
                                    && !c.proto.is_generator
                                    && self.depth < self.config.max_call_depth =>
                            {
                                charge!(c.proto.code.len());
                                let new_base = fidx + 1;
                                fiber.reserve(new_base, c.proto.nregs);
                                self.depth += 1;
                                self.frame_serial = self.frame_serial.wrapping_add(1);
                                fiber.frames.push(Frame::new(
                                    c,
                                    new_base,
                                    self.frame_serial,
                                    FrameKind::Plain,
                                ));
                                continue 'frame;
                            }
                            Some(c) => {
                                charge!(c.proto.code.len());
                                if tryv!(self.enter_closure(
                                    fiber,
                                    c,
                                    fidx + 1,
                                    n,
                                    FrameKind::Plain
                                )) {
                                    continue 'frame;
                                }
                            }
                            None => {
                                charge!(1);
                                if tryv!(self.call_slow(fiber, fidx, n, None)) {
                                    continue 'frame;
                                }
                            }
                        }
                        refresh!();
                    }
                    Op::CallMethod {
                        base: b,
                        name,
                        nargs,
                    } => {
                        charge!(1);
                        save_ip!();
                        let sym = proto.names[name as usize];
                        if tryv!(self.call_method_op(
                            fiber,
                            base + b as usize,
                            sym,
                            nargs as usize,
                            None
                        )) {
                            continue 'frame;
                        }
                        refresh!();
                    }
                    Op::Yield { dst, src } if fiber.frames.len() > 1 => {
                        // a generator resumed inline by next(g) (only a
                        // generator's own fiber has it as its first frame)
                        let v = reg!(src).clone();
                        self.inline_yield(fiber, v, Some(dst as usize), Some(ip as u32));
                        continue 'frame;
                    }
                    Op::Return { src } => {
                        let v = std::mem::take(&mut reg_mut!(src));
                        // the common case, inline: a plain frame with no handlers
                        let depth = fiber.frames.len() - 1;
                        let simple =
                            depth > 0 && fiber.handlers.last().is_none_or(|h| h.frame < depth);
                        if simple {
                            let frame = fiber.frames.pop().expect("running frame");
                            if matches!(frame.kind, FrameKind::Plain | FrameKind::Method) {
                                self.depth -= 1;
                                store(&mut fiber.stack[frame.ret()], v);
                                continue 'frame;
                            }
                            fiber.frames.push(frame);
                        }
                        if fiber
                            .frames
                            .last()
                            .is_some_and(|f| f.kind == FrameKind::Gen)
                        {
                            let e = self.inline_gen_return(fiber);
                            self.unwind(fiber, e)?;
                            continue 'frame;
                        }
                        if let Some(v) = self.pop_frame(fiber, v) {
                            return Ok(Outcome::Returned(v));
                        }
                        continue 'frame;
                    }
                    Op::ReturnNil => {
                        if fiber
                            .frames
                            .last()
                            .is_some_and(|f| f.kind == FrameKind::Gen)
                        {
                            let e = self.inline_gen_return(fiber);
                            self.unwind(fiber, e)?;
                            continue 'frame;
                        }
                        if let Some(v) = self.pop_frame(fiber, Value::Nil) {
                            return Ok(Outcome::Returned(v));
                        }
                        continue 'frame;
                    }

                    Op::GetIndex { dst, obj, index } => {
                        let fast = match (&reg!(obj), &reg!(index)) {
                            (Value::List(l), Value::Int(i)) => {
                                let l = l.borrow();
                                ops::index_of(*i, l.len()).map(|i| l[i].clone())
                            }
                            _ => None,
                        };
                        let v = match fast {
                            Some(v) => v,
                            None => {
                                save_ip!();
                                let r = self.get_index(&reg!(obj), &reg!(index));
                                tryv!(r)
                            }
                        };
                        reg_mut!(dst) = v;
                    }
                    Op::ForIter { iter, off } => {
                        let step = match &reg!(iter) {
                            Value::Iter(it) => match &mut *it.borrow_mut() {
                                Iter::Range { next, stop, step } => {
                                    if (*step > 0 && *next < *stop) || (*step < 0 && *next > *stop)
                                    {
                                        let v = *next;
                                        match next.checked_add(*step) {
                                            Some(n) => *next = n,
                                            // past the end of i64: this item is the last
                                            None => *stop = v,
                                        }
                                        ForStep::Int(v)
                                    } else {
                                        ForStep::Item(None)
                                    }
                                }
                                Iter::List { list, index } => {
                                    let v = list.borrow().get(*index).cloned();
                                    *index += 1;
                                    ForStep::Item(v)
                                }
                                _ => ForStep::Other(it.clone()),
                            },
                            _ => ForStep::Item(None),
                        };
                        let next = match step {
                            ForStep::Int(v) => {
                                store_int(&mut reg_mut!(iter + 1), v);
                                continue;
                            }
                            ForStep::Item(v) => v,
                            ForStep::Other(it) => {
                                save_ip!();
                                let r = self.iter_next(&it);
                                refresh!();
                                tryv!(r)
                            }
                        };
                        match next {
                            Some(v) => reg_mut!(iter + 1) = v,
                            None => ip = jump(ip, off),
                        }
                    }
                    Op::ListAppend { list, src } => {
                        let v = reg!(src).clone();
                        if let Value::List(l) = &reg!(list) {
                            l.borrow_mut().push(v);
                        }
                    }
                    // `try` and `with` blocks, and attributes, are frequent
                    // enough in loops (`with l { v.value += 1 }`) to skip
                    // the trip through `slow_op`
                    Op::PushHandler { reg, finally, off } => {
                        fiber.handlers.push(Handler {
                            frame: fiber.frames.len() - 1,
                            ip: jump(ip, off),
                            reg,
                            finally,
                        });
                    }
                    Op::PopHandler => {
                        fiber.handlers.pop();
                    }
                    // the object stays borrowed from its register: attribute
                    // code cannot reach this fiber (it runs script code on
                    // fibers of its own), so no clone is needed
                    Op::GetAttr { dst, obj, name } => {
                        save_ip!();
                        let r = self.get_attr(&reg!(obj), proto.names[name as usize]);
                        let v = tryv!(r);
                        store(&mut reg_mut!(dst), v);
                    }
                    Op::SetAttr { obj, name, src } => {
                        save_ip!();
                        let v = reg!(src).clone();
                        let r = self.set_attr(&reg!(obj), proto.names[name as usize], v);
                        tryv!(r);
                    }

                    other => {
                        save_ip!();
                        let step = self.slow_op(fiber, other, base, closure);
                        refresh!();
                        match tryv!(step) {
                            Step::Next => {}
                            Step::Reload => continue 'frame,
                            Step::Out(o) => return Ok(o),
                        }
                    }
                }
            }
        }
    }

    #[cold]
    fn undefined_global(&self, slot: u32) -> Exc {
        Exc::new(
            "NameError",
            format!(
                "name `{}` is not defined",
                self.globals.names[slot as usize]
            ),
        )
    }

    /// Every instruction the loop does not handle inline.
    #[inline(never)]
    fn slow_op(
        &mut self,
        fiber: &mut Fiber,
        op: Op,
        base: usize,
        closure: &Closure,
    ) -> VmResult<Step> {
        let proto: &Proto = &closure.proto;
        macro_rules! reg {
            ($r:expr) => {
                fiber.stack[base + $r as usize]
            };
        }
        match op {
            Op::NewCell { reg } => {
                let v = std::mem::take(&mut reg!(reg));
                reg!(reg) = Value::Cell(Rc::new(RefCell::new(v)));
            }
            Op::Div { dst, a, b } => reg!(dst) = ops::arith(Arith::Div, &reg!(a), &reg!(b))?,
            Op::FloorDiv { dst, a, b } => {
                reg!(dst) = ops::arith(Arith::FloorDiv, &reg!(a), &reg!(b))?
            }
            Op::Mod { dst, a, b } => reg!(dst) = ops::arith(Arith::Mod, &reg!(a), &reg!(b))?,
            Op::Pow { dst, a, b } => reg!(dst) = ops::arith(Arith::Pow, &reg!(a), &reg!(b))?,
            Op::BitAnd { dst, a, b } => reg!(dst) = ops::arith(Arith::BitAnd, &reg!(a), &reg!(b))?,
            Op::BitOr { dst, a, b } => reg!(dst) = ops::arith(Arith::BitOr, &reg!(a), &reg!(b))?,
            Op::BitXor { dst, a, b } => reg!(dst) = ops::arith(Arith::BitXor, &reg!(a), &reg!(b))?,
            Op::Shl { dst, a, b } => reg!(dst) = ops::arith(Arith::Shl, &reg!(a), &reg!(b))?,
            Op::Shr { dst, a, b } => reg!(dst) = ops::arith(Arith::Shr, &reg!(a), &reg!(b))?,
            Op::Neg { dst, src } => reg!(dst) = ops::negate(&reg!(src))?,
            Op::BitNot { dst, src } => reg!(dst) = ops::bit_not(&reg!(src))?,
            Op::In { dst, a, b } => {
                let r = self.contains(&reg!(b), &reg!(a))?;
                reg!(dst) = Value::Bool(r);
            }
            Op::CallKw { func, nargs, names } => {
                self.budget -= 1;
                let names = proto.kw_lists[names as usize].clone();
                if self.call_slow(fiber, base + func as usize, nargs as usize, Some(&names))? {
                    return Ok(Step::Reload);
                }
            }
            Op::CallMethodKw {
                base: b,
                name,
                nargs,
                names,
            } => {
                self.budget -= 1;
                let sym = proto.names[name as usize];
                let names = proto.kw_lists[names as usize].clone();
                if self.call_method_op(
                    fiber,
                    base + b as usize,
                    sym,
                    nargs as usize,
                    Some(&names),
                )? {
                    return Ok(Step::Reload);
                }
            }
            Op::NewList { dst, start, count } => {
                let s = base + start as usize;
                let items = fiber.stack[s..s + count as usize].to_vec();
                reg!(dst) = Value::list(items);
            }
            Op::NewMap { dst, start, count } => {
                let s = base + start as usize;
                reg!(dst) = ops::new_map(&fiber.stack[s..s + 2 * count as usize])?;
            }
            Op::MapInsert { map, key, src } => {
                let (k, v) = (Key::new(reg!(key).clone())?, reg!(src).clone());
                if let Value::Map(m) = &reg!(map) {
                    m.borrow_mut().insert(k, v);
                }
            }
            Op::SetIndex { obj, index, src } => {
                let v = reg!(src).clone();
                self.set_index(&reg!(obj), &reg!(index), v)?;
            }
            Op::Slice { dst, base: b } => {
                let s = base + b as usize;
                reg!(dst) = if let Value::Object(h) = &fiber.stack[s] {
                    // a handle slices through its "get_slice" method (lo, hi, step)
                    let (h, obj) = (h.clone(), fiber.stack[s].clone());
                    let parts = fiber.stack[s + 1..s + 4].to_vec();
                    h.0.call_method(self, &obj, "get_slice", crate::value::Args::new(&parts))
                        .unwrap_or_else(|| {
                            Err(Exc::type_error(format!(
                                "{} cannot be sliced",
                                obj.type_name()
                            )))
                        })?
                } else {
                    ops::slice(
                        &fiber.stack[s],
                        &fiber.stack[s + 1],
                        &fiber.stack[s + 2],
                        &fiber.stack[s + 3],
                    )?
                };
            }
            Op::GetAttr { dst, obj, name } => {
                let o = reg!(obj).clone();
                reg!(dst) = self.get_attr(&o, proto.names[name as usize])?;
            }
            Op::SetAttr { obj, name, src } => {
                let (o, v) = (reg!(obj).clone(), reg!(src).clone());
                self.set_attr(&o, proto.names[name as usize], v)?;
            }
            Op::GetSuper { dst, name } => {
                let me = match &reg!(0) {
                    Value::Cell(c) => c.borrow().clone(),
                    v => v.clone(),
                };
                reg!(dst) = self.get_super(&me, proto, proto.names[name as usize])?;
            }
            Op::Unpack { dst, src, count } => {
                let items = self.unpack(&reg!(src), count as usize)?;
                for (i, item) in items.into_iter().enumerate() {
                    reg!(dst as usize + i) = item;
                }
            }
            Op::IterPrep { dst, src } => {
                let v = reg!(src).clone();
                let it = self.make_iter(&v)?;
                reg!(dst) = Value::Iter(Rc::new(RefCell::new(it)));
            }
            Op::Closure { dst, proto: idx } => {
                let p = proto.protos[idx as usize].clone();
                let upvals = p
                    .captures
                    .iter()
                    .map(|c| match *c {
                        Capture::Local(r) => match &reg!(r) {
                            Value::Cell(cell) => cell.clone(),
                            other => Rc::new(RefCell::new(other.clone())),
                        },
                        Capture::Upval(i) => closure.upvals[i as usize].clone(),
                    })
                    .collect();
                reg!(dst) = Value::Func(Rc::new(Closure { proto: p, upvals }));
            }
            Op::MakeClass { dst, start, count } => {
                let s = base + start as usize;
                reg!(dst) = self.make_class(&fiber.stack[s..s + 2 + count as usize])?;
            }
            Op::Throw { src } => {
                let v = reg!(src).clone();
                return Err(self.exception_from(&v)?);
            }
            Op::PushHandler { reg, finally, off } => {
                let frame = fiber.frames.len() - 1;
                let target = jump(fiber.frames[frame].ip as usize, off);
                fiber.handlers.push(Handler {
                    frame,
                    ip: target,
                    reg,
                    finally,
                });
            }
            Op::PopHandler => {
                fiber.handlers.pop();
            }
            Op::Yield { dst, src } => {
                let v = reg!(src).clone();
                if fiber
                    .frames
                    .last()
                    .is_some_and(|f| f.kind == FrameKind::Gen)
                {
                    self.inline_yield(fiber, v, Some(dst as usize), None);
                    return Ok(Step::Reload);
                }
                fiber.resume_slot = Some(base + dst as usize);
                return Ok(Step::Out(Outcome::Yielded(v)));
            }
            Op::YieldFrom { dst, src } => match self.yield_from_step(fiber, base + src as usize)? {
                Some(v) => {
                    // suspended inside the delegation: resume at this instruction
                    let frame = fiber.frames.last_mut().expect("running frame");
                    frame.ip -= 1;
                    if frame.kind == FrameKind::Gen {
                        self.inline_yield(fiber, v, None, None);
                        return Ok(Step::Reload);
                    }
                    fiber.resume_slot = None;
                    return Ok(Step::Out(Outcome::Yielded(v)));
                }
                None => {
                    let r = std::mem::take(&mut reg!(src));
                    reg!(dst) = r;
                }
            },
            Op::Format {
                dst,
                src,
                spec,
                repr,
            } => {
                let mut v = reg!(src).clone();
                if repr {
                    // `{x!r:>8}`: the spec applies to the repr text, as in Python
                    v = Value::string(to_repr(self, &v)?);
                }
                let s = if spec == u16::MAX {
                    to_display(self, &v)?
                } else {
                    let spec = proto.consts[spec as usize]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    format_value(self, &v, &spec)?
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
                let p = proto.consts[path as usize]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                reg!(dst) = self.import(&p, &proto.source.name)?;
            }
            other => unreachable!("{other:?} is handled by the dispatch loop"),
        }
        Ok(Step::Next)
    }

    /// Writes the result of the call a suspended task blocked in (the
    /// instruction before the top frame's ip) into the register it fills.
    pub(crate) fn deliver(&mut self, fiber: &mut Fiber, v: Value) {
        let Some(f) = fiber.frames.last() else {
            return;
        };
        let op = f.closure.proto.code[(f.ip as usize).saturating_sub(1)];
        let reg = match op {
            Op::Call { func, .. } | Op::CallGlobal { func, .. } | Op::CallKw { func, .. } => func,
            Op::CallMethod { base, .. } | Op::CallMethodKw { base, .. } => base,
            // only calls suspend a task (`Sched::can_suspend`)
            _ => return,
        };
        let slot = f.base as usize + reg as usize;
        fiber.stack[slot] = v;
    }

    /// Pops the running frame, delivering `v` to its caller. Returns the value when
    /// the frame was the fiber's first (the fiber is finished).
    #[inline]
    fn pop_frame(&mut self, fiber: &mut Fiber, mut v: Value) -> Option<Value> {
        let frame = fiber.frames.pop().expect("a frame to return from");
        self.depth -= 1;
        let depth = fiber.frames.len();
        while fiber.handlers.last().is_some_and(|h| h.frame >= depth) {
            fiber.handlers.pop();
        }
        if frame.kind == FrameKind::Init {
            v = match &fiber.stack[frame.base as usize] {
                Value::Cell(c) => c.borrow().clone(),
                other => other.clone(),
            };
        }
        if depth == 0 {
            return Some(v);
        }
        fiber.stack[frame.ret()] = v;
        None
    }

    /// Handles an error raised in the fiber's top frame: jumps to the innermost
    /// handler that takes it, or pops every frame and returns the error.
    pub(crate) fn unwind(&mut self, fiber: &mut Fiber, exc: Exc) -> VmResult<()> {
        if self.switching() {
            // a task blocked: its frames stay as they are (see task.rs)
            return Err(exc);
        }
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
                        offset: proto.offset_at((frame.ip as usize).saturating_sub(1)),
                        func: proto.name.clone(),
                        serial: frame.serial,
                    });
                }
            }
            while fiber.handlers.last().is_some_and(|h| h.frame == index) {
                let h = fiber.handlers.pop().expect("checked");
                if h.finally || err.catchable {
                    frame.ip = h.ip as u32;
                    fiber.stack[frame.base as usize + h.reg as usize] = Value::Error(err.clone());
                    return Ok(());
                }
            }
            if fiber.frames[index].kind == FrameKind::Gen {
                // an error leaving a generator resumed inline finishes it
                self.inline_gen_died(fiber);
            }
            fiber.frames.pop();
            self.depth -= 1;
        }
        Err(exc)
    }

    /// `throw v`: an error value as it is, a string as kind `Error`.
    fn exception_from(&mut self, v: &Value) -> VmResult<Exc> {
        Ok(match v {
            Value::Error(e) => Exc::Error(e.clone()),
            Value::Str(s) => Exc::new("Error", s.as_str()),
            other => {
                let text = to_display(self, other)?;
                Exc::new("Error", text)
            }
        })
    }
}
