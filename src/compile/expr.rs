//! Expressions → bytecode. `expr_to` leaves a value in a given register,
//! `expr_any` in whatever register is cheapest (a local's own, when it is one),
//! `cond_jump` compiles a condition straight into jumps.

use super::compiler::{CResult, Compiler, ConstKey, Place, err};
use super::opcode::{Cmp, Op, Reg};
use crate::syntax::ast::*;
use crate::value::Value;

/// Most arguments one call can pass (the count is a byte in the instruction).
const MAX_ARGS: usize = 255;
/// Longest literal list built in one instruction; longer ones are appended piecewise.
const LITERAL_CHUNK: usize = 64;

/// Room a recursive step needs, and the size of each extra stack segment.
pub const STACK_RED_ZONE: usize = 128 * 1024;
pub const STACK_SEGMENT: usize = 4 * 1024 * 1024;

impl<'a, 'vm> Compiler<'a, 'vm> {
    /// Compiles `e` into any register and returns it.
    pub fn expr_any(&mut self, e: &'a Expr) -> CResult<Reg> {
        if let ExprKind::Name(id) = &e.kind {
            if let Some(Place::Local(r)) = self.resolve(&id.name) {
                return Ok(r);
            }
        }
        if let ExprKind::SelfRef = &e.kind {
            if let Some(Place::Local(r)) = self.resolve("self") {
                return Ok(r);
            }
        }
        let r = self.alloc()?;
        self.expr_to(e, r)?;
        Ok(r)
    }

    /// Compiles `e` for its effects only.
    pub fn expr_discard(&mut self, e: &'a Expr) -> CResult<()> {
        let mark = self.reg_mark();
        let r = self.alloc()?;
        self.expr_to(e, r)?;
        self.free_to(mark);
        Ok(())
    }

    /// Compiles `e` into register `dst`. Expressions may nest as deeply as the
    /// source makes them (`1 + 1 + ...` a million times), so every recursive
    /// step runs where the stack has room (`stacker` adds segments on demand).
    pub fn expr_to(&mut self, e: &'a Expr, dst: Reg) -> CResult<()> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.expr_to_here(e, dst))
    }

    fn expr_to_here(&mut self, e: &'a Expr, dst: Reg) -> CResult<()> {
        self.set_offset(e.span.start);
        let mark = self.reg_mark();
        match &e.kind {
            ExprKind::Nil => {
                self.emit(Op::LoadNil { dst });
            }
            ExprKind::Bool(b) => {
                self.emit(Op::LoadBool { dst, v: *b });
            }
            ExprKind::Int(i) => self.load_int(dst, *i)?,
            ExprKind::Float(f) => {
                let k = self.const_index(ConstKey::Float(f.to_bits()), Value::Float(*f))?;
                self.emit(Op::LoadConst { dst, k });
            }
            ExprKind::Str(s) => {
                let k = self.str_const(s)?;
                self.emit(Op::LoadConst { dst, k });
            }
            ExprKind::Bytes(b) => {
                let f = self.f();
                f.proto.consts.push(Value::bytes(b.to_vec()));
                let k = (f.proto.consts.len() - 1) as u16;
                self.emit(Op::LoadConst { dst, k });
            }
            ExprKind::Name(id) => self.load_name(&id.name, dst, id.span.start)?,
            ExprKind::SelfRef => self.load_self(dst, e.span.start)?,
            ExprKind::FString(parts) => self.fstring(parts, dst)?,
            ExprKind::List(items) => self.list_literal(items, dst)?,
            ExprKind::Map(entries) => self.map_literal(entries, dst)?,
            ExprKind::ListComp { elem, clauses } => {
                self.comprehension(Some(elem), None, clauses, dst)?
            }
            ExprKind::MapComp {
                key,
                value,
                clauses,
            } => self.comprehension(None, Some((key, value)), clauses, dst)?,
            ExprKind::Unary { op, expr } => {
                let r = self.expr_any(expr)?;
                self.set_offset(e.span.start);
                match op {
                    UnOp::Neg => self.emit(Op::Neg { dst, src: r }),
                    UnOp::BitNot => self.emit(Op::BitNot { dst, src: r }),
                };
            }
            ExprKind::Not(inner) => {
                let r = self.expr_any(inner)?;
                self.emit(Op::Not { dst, src: r });
            }
            ExprKind::Binary {
                op,
                left,
                right,
                op_span,
            } => {
                let a = self.expr_any(left)?;
                if let (BinOp::Add | BinOp::Sub, ExprKind::Int(v)) = (op, &right.kind) {
                    let v = if *op == BinOp::Sub {
                        v.checked_neg()
                    } else {
                        Some(*v)
                    };
                    if let Some(v) = v.and_then(|v| i16::try_from(v).ok()) {
                        self.set_offset(op_span.start);
                        self.emit(Op::AddInt { dst, a, v });
                        self.free_to(mark);
                        return Ok(());
                    }
                }
                let b = self.expr_any(right)?;
                self.binop(*op, dst, a, b, op_span.start)?;
            }
            ExprKind::Compare { first, rest } => self.compare_value(first, rest, dst)?,
            ExprKind::And(l, r) | ExprKind::Or(l, r) => {
                let is_and = matches!(e.kind, ExprKind::And(..));
                self.expr_to(l, dst)?;
                let j = if is_and {
                    self.emit(Op::JumpIfFalse { cond: dst, off: 0 })
                } else {
                    self.emit(Op::JumpIfTrue { cond: dst, off: 0 })
                };
                self.expr_to(r, dst)?;
                self.patch_here(j);
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let skip = self.cond_jump(cond, false)?;
                self.free_to(mark);
                self.expr_to(then, dst)?;
                let end = self.emit(Op::Jump { off: 0 });
                for j in skip {
                    self.patch_here(j);
                }
                self.expr_to(otherwise, dst)?;
                self.patch_here(end);
            }
            ExprKind::Call {
                callee,
                args,
                named,
            } => self.call(callee, args, named, dst, e.span.start)?,
            ExprKind::Index { obj, index } => {
                let o = self.expr_any(obj)?;
                let i = self.expr_any(index)?;
                self.set_offset(index.span.start);
                self.emit(Op::GetIndex {
                    dst,
                    obj: o,
                    index: i,
                });
            }
            ExprKind::Slice { obj, lo, hi, step } => {
                let base = self.alloc_n(4)?;
                self.expr_to(obj, base)?;
                for (i, part) in [lo, hi, step].into_iter().enumerate() {
                    match part {
                        Some(p) => self.expr_to(p, base + 1 + i as Reg)?,
                        None => {
                            self.emit(Op::LoadNil {
                                dst: base + 1 + i as Reg,
                            });
                        }
                    }
                }
                self.set_offset(e.span.start);
                self.emit(Op::Slice { dst, base });
            }
            ExprKind::Attr { obj, name } => {
                let o = self.expr_any(obj)?;
                let n = self.name_index(&name.name)?;
                self.set_offset(name.span.start);
                self.emit(Op::GetAttr {
                    dst,
                    obj: o,
                    name: n,
                });
            }
            ExprKind::SuperAttr(name) => {
                self.check_super(e.span.start)?;
                let n = self.name_index(&name.name)?;
                self.emit(Op::GetSuper { dst, name: n });
            }
            ExprKind::Lambda(def) => {
                let idx = self.function(def, false)?;
                self.set_offset(e.span.start);
                self.emit(Op::Closure { dst, proto: idx });
            }
            ExprKind::Spawn(target) => self.spawn_or_go("#spawn", target, dst, e.span.start)?,
            ExprKind::Go(target) => self.spawn_or_go("#go", target, dst, e.span.start)?,
            ExprKind::Yield(v) => {
                self.check_yield(e.span.start)?;
                let r = match v {
                    Some(v) => self.expr_any(v)?,
                    None => {
                        let r = self.alloc()?;
                        self.emit(Op::LoadNil { dst: r });
                        r
                    }
                };
                self.set_offset(e.span.start);
                self.emit(Op::Yield { dst, src: r });
            }
            ExprKind::YieldFrom(v) => {
                self.check_yield(e.span.start)?;
                let r = self.expr_any(v)?;
                self.set_offset(e.span.start);
                self.emit(Op::YieldFrom { dst, src: r });
            }
        }
        self.free_to(mark);
        Ok(())
    }

    fn load_int(&mut self, dst: Reg, i: i64) -> CResult<()> {
        match i32::try_from(i) {
            Ok(v) => {
                self.emit(Op::LoadInt { dst, v });
            }
            Err(_) => {
                let k = self.const_index(ConstKey::Int(i), Value::Int(i))?;
                self.emit(Op::LoadConst { dst, k });
            }
        }
        Ok(())
    }

    fn load_name(&mut self, name: &str, dst: Reg, _offset: u32) -> CResult<()> {
        let place = match self.resolve(name) {
            Some(p) => p,
            None => Place::Global(self.global_for_read(name)),
        };
        self.load_place(&place, dst);
        Ok(())
    }

    fn load_self(&mut self, dst: Reg, offset: u32) -> CResult<()> {
        match self.resolve("self") {
            Some(p @ (Place::Local(_) | Place::Cell(_) | Place::Upval(_))) => {
                self.load_place(&p, dst);
                Ok(())
            }
            _ => Err(err(
                "ParseError",
                "`self` can only be used inside a method",
                offset,
            )),
        }
    }

    fn check_super(&mut self, offset: u32) -> CResult<()> {
        if self.fr().is_method {
            Ok(())
        } else {
            Err(err(
                "ParseError",
                "`super` can only be used directly inside a method",
                offset,
            ))
        }
    }

    fn check_yield(&mut self, offset: u32) -> CResult<()> {
        if self.fr().proto.is_generator {
            Ok(())
        } else {
            Err(err(
                "ParseError",
                "`yield` can only be used inside a function",
                offset,
            ))
        }
    }

    pub fn binop(&mut self, op: BinOp, dst: Reg, a: Reg, b: Reg, offset: u32) -> CResult<()> {
        self.set_offset(offset);
        self.emit(match op {
            BinOp::Add => Op::Add { dst, a, b },
            BinOp::Sub => Op::Sub { dst, a, b },
            BinOp::Mul => Op::Mul { dst, a, b },
            BinOp::Div => Op::Div { dst, a, b },
            BinOp::FloorDiv => Op::FloorDiv { dst, a, b },
            BinOp::Mod => Op::Mod { dst, a, b },
            BinOp::Pow => Op::Pow { dst, a, b },
            BinOp::BitAnd => Op::BitAnd { dst, a, b },
            BinOp::BitOr => Op::BitOr { dst, a, b },
            BinOp::BitXor => Op::BitXor { dst, a, b },
            BinOp::Shl => Op::Shl { dst, a, b },
            BinOp::Shr => Op::Shr { dst, a, b },
        });
        Ok(())
    }

    /// One comparison into `dst`.
    fn compare_op(&mut self, op: CmpOp, dst: Reg, a: Reg, b: Reg, offset: u32) {
        self.set_offset(offset);
        match op {
            CmpOp::Eq => self.emit(Op::Eq { dst, a, b }),
            CmpOp::Ne => self.emit(Op::Ne { dst, a, b }),
            CmpOp::Lt => self.emit(Op::Lt { dst, a, b }),
            CmpOp::Le => self.emit(Op::Le { dst, a, b }),
            CmpOp::Gt => self.emit(Op::Lt { dst, a: b, b: a }),
            CmpOp::Ge => self.emit(Op::Le { dst, a: b, b: a }),
            CmpOp::In => self.emit(Op::In { dst, a, b }),
            CmpOp::NotIn => {
                self.emit(Op::In { dst, a, b });
                self.emit(Op::Not { dst, src: dst })
            }
        };
    }

    /// `a < b <= c` as a value: each operand evaluated once, stopping at the first false.
    fn compare_value(
        &mut self,
        first: &'a Expr,
        rest: &'a [(CmpOp, Expr, Span)],
        dst: Reg,
    ) -> CResult<()> {
        let mut a = self.expr_any(first)?;
        let mut exits = Vec::new();
        for (i, (op, rhs, span)) in rest.iter().enumerate() {
            let b = self.expr_any(rhs)?;
            self.compare_op(*op, dst, a, b, span.start);
            if i + 1 < rest.len() {
                exits.push(self.emit(Op::JumpIfFalse { cond: dst, off: 0 }));
                // keep the middle operand: `dst` is overwritten by the next comparison
                if b == dst {
                    let t = self.alloc()?;
                    self.emit(Op::Move { dst: t, src: b });
                    a = t;
                } else {
                    a = b;
                }
            }
        }
        for j in exits {
            self.patch_here(j);
        }
        Ok(())
    }

    /// Compiles a condition into jumps taken when its truth equals `when`; control
    /// falls through otherwise. Returns the jumps, to be patched by the caller.
    pub fn cond_jump(&mut self, e: &'a Expr, when: bool) -> CResult<Vec<usize>> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
            self.cond_jump_here(e, when)
        })
    }

    fn cond_jump_here(&mut self, e: &'a Expr, when: bool) -> CResult<Vec<usize>> {
        self.set_offset(e.span.start);
        match &e.kind {
            ExprKind::Bool(b) => Ok(if *b == when {
                vec![self.emit(Op::Jump { off: 0 })]
            } else {
                vec![]
            }),
            ExprKind::Not(inner) => self.cond_jump(inner, !when),
            ExprKind::And(l, r) | ExprKind::Or(l, r) => {
                let is_and = matches!(e.kind, ExprKind::And(..));
                if is_and != when {
                    // and/false, or/true: either side decides alone
                    let mut j = self.cond_jump(l, when)?;
                    j.extend(self.cond_jump(r, when)?);
                    Ok(j)
                } else {
                    let skip = self.cond_jump(l, !when)?;
                    let j = self.cond_jump(r, when)?;
                    for s in skip {
                        self.patch_here(s);
                    }
                    Ok(j)
                }
            }
            ExprKind::Compare { first, rest }
                if rest.len() == 1 && !matches!(rest[0].0, CmpOp::In | CmpOp::NotIn) =>
            {
                let (op, rhs, span) = &rest[0];
                let a = self.expr_any(first)?;
                let cmp = match op {
                    CmpOp::Lt | CmpOp::Gt => Cmp::Lt,
                    CmpOp::Le | CmpOp::Ge => Cmp::Le,
                    CmpOp::Eq => Cmp::Eq,
                    _ => Cmp::Ne,
                };
                let cmp = if when { cmp } else { cmp.negate() };
                let swapped = matches!(op, CmpOp::Gt | CmpOp::Ge);
                let small = match &rhs.kind {
                    ExprKind::Int(v) if !swapped => i16::try_from(*v).ok(),
                    _ => None,
                };
                let op_at = |c: &mut Self, op: Op| {
                    c.set_offset(span.start);
                    c.emit(op)
                };
                let j = if let Some(v) = small {
                    if self.fr().long_jumps {
                        op_at(
                            self,
                            Op::CmpIntJump {
                                cmp: cmp.negate(),
                                a,
                                v,
                                off: 1,
                            },
                        );
                        self.emit(Op::Jump { off: 0 })
                    } else {
                        op_at(self, Op::CmpIntJump { cmp, a, v, off: 0 })
                    }
                } else {
                    let b = self.expr_any(rhs)?;
                    let (a, b) = if swapped { (b, a) } else { (a, b) };
                    if self.fr().long_jumps {
                        op_at(
                            self,
                            Op::CmpJump {
                                cmp: cmp.negate(),
                                a,
                                b,
                                off: 1,
                            },
                        );
                        self.emit(Op::Jump { off: 0 })
                    } else {
                        op_at(self, Op::CmpJump { cmp, a, b, off: 0 })
                    }
                };
                Ok(vec![j])
            }
            _ => {
                let r = self.expr_any(e)?;
                Ok(vec![if when {
                    self.emit(Op::JumpIfTrue { cond: r, off: 0 })
                } else {
                    self.emit(Op::JumpIfFalse { cond: r, off: 0 })
                }])
            }
        }
    }

    /// Picks the register a call's callee and arguments start at: `dst` itself when
    /// it is the topmost temporary (no copy needed), else fresh registers.
    fn call_base(&mut self, dst: Reg, n: usize) -> CResult<Reg> {
        if dst as usize >= self.locals_top() && dst as usize + 1 == self.reg_mark() {
            self.alloc_n(n)?;
            Ok(dst)
        } else {
            self.alloc_n(n + 1)
        }
    }

    fn call(
        &mut self,
        callee: &'a Expr,
        args: &'a [Expr],
        named: &'a [(Ident, Expr)],
        dst: Reg,
        offset: u32,
    ) -> CResult<()> {
        let nargs = args.len() + named.len();
        if nargs > MAX_ARGS {
            return Err(err(
                "ParseError",
                format!("too many arguments in one call (at most {MAX_ARGS})"),
                offset,
            ));
        }
        let base = self.call_base(dst, nargs)?;
        // a global function called with positional arguments: CallGlobal
        let global = match &callee.kind {
            ExprKind::Name(id) if named.is_empty() => match self.resolve(&id.name) {
                Some(Place::Global(slot)) => Some(slot),
                None => Some(self.global_for_read(&id.name)),
                _ => None,
            },
            _ => None,
        };
        if let Some(slot) = global {
            self.call_args(base, args, named)?;
            self.set_offset(offset);
            self.emit(Op::CallGlobal {
                func: base,
                nargs: nargs as u8,
                slot,
            });
            if base != dst {
                self.emit(Op::Move { dst, src: base });
            }
            return Ok(());
        }
        let method = match &callee.kind {
            ExprKind::Attr { obj, name } => {
                self.expr_to(obj, base)?;
                Some(name)
            }
            _ => {
                self.expr_to(callee, base)?;
                None
            }
        };
        self.call_args(base, args, named)?;
        let names = if named.is_empty() {
            None
        } else {
            Some(self.kw_list(named)?)
        };
        self.set_offset(offset);
        let nargs = nargs as u8;
        match (method, names) {
            (Some(m), None) => {
                let name = self.name_index(&m.name)?;
                self.set_offset(m.span.start);
                self.emit(Op::CallMethod { base, name, nargs });
            }
            (Some(m), Some(names)) => {
                let name = self.name_index(&m.name)?;
                self.set_offset(m.span.start);
                self.emit(Op::CallMethodKw {
                    base,
                    name,
                    nargs,
                    names,
                });
            }
            (None, None) => {
                self.emit(Op::Call { func: base, nargs });
            }
            (None, Some(names)) => {
                self.emit(Op::CallKw {
                    func: base,
                    nargs,
                    names,
                });
            }
        }
        if base != dst {
            self.emit(Op::Move { dst, src: base });
        }
        Ok(())
    }

    /// Arguments into `base+1...`: positional, then named.
    fn call_args(
        &mut self,
        base: Reg,
        args: &'a [Expr],
        named: &'a [(Ident, Expr)],
    ) -> CResult<()> {
        for (i, a) in args.iter().chain(named.iter().map(|(_, e)| e)).enumerate() {
            self.expr_to(a, base + 1 + i as Reg)?;
        }
        Ok(())
    }

    /// `spawn CALL` / `go CALL`: the callee and arguments of a plain call are
    /// evaluated here, in the parent, and the call itself runs in the child or
    /// task (as Python's `Process(target=f, args=...)`). Any other expression is
    /// wrapped in a function of no arguments and evaluated there entirely.
    fn spawn_or_go(
        &mut self,
        hidden: &str,
        target: &'a Expr,
        dst: Reg,
        offset: u32,
    ) -> CResult<()> {
        let slot = self.builtin_slot(hidden);
        match &target.kind {
            ExprKind::Call {
                callee,
                args,
                named,
            } if !matches!(callee.kind, ExprKind::SuperAttr(_)) => {
                let nargs = 1 + args.len() + named.len();
                if nargs > MAX_ARGS {
                    return Err(err("ParseError", "too many arguments in one call", offset));
                }
                let base = self.alloc_n(nargs + 1)?;
                self.set_offset(offset);
                self.emit(Op::GetGlobal { dst: base, slot });
                self.expr_to(callee, base + 1)?;
                self.call_args(base + 1, args, named)?;
                self.set_offset(offset);
                if named.is_empty() {
                    self.emit(Op::Call {
                        func: base,
                        nargs: nargs as u8,
                    });
                } else {
                    let names = self.kw_list(named)?;
                    self.emit(Op::CallKw {
                        func: base,
                        nargs: nargs as u8,
                        names,
                    });
                }
                self.emit(Op::Move { dst, src: base });
            }
            _ => {
                let idx = self.thunk(target)?;
                let base = self.alloc_n(2)?;
                self.set_offset(offset);
                self.emit(Op::GetGlobal { dst: base, slot });
                self.emit(Op::Closure {
                    dst: base + 1,
                    proto: idx,
                });
                self.emit(Op::Call {
                    func: base,
                    nargs: 1,
                });
                self.emit(Op::Move { dst, src: base });
            }
        }
        Ok(())
    }

    fn list_literal(&mut self, items: &'a [Expr], dst: Reg) -> CResult<()> {
        let first = &items[..items.len().min(LITERAL_CHUNK)];
        let start = self.alloc_n(first.len().max(1))?;
        for (i, item) in first.iter().enumerate() {
            self.expr_to(item, start + i as Reg)?;
        }
        let list = if items.len() > LITERAL_CHUNK {
            start
        } else {
            dst
        };
        self.emit(Op::NewList {
            dst: list,
            start,
            count: first.len() as u16,
        });
        for item in &items[first.len()..] {
            let mark = self.reg_mark();
            let r = self.expr_any(item)?;
            self.emit(Op::ListAppend { list, src: r });
            self.free_to(mark);
        }
        if list != dst {
            self.emit(Op::Move { dst, src: list });
        }
        Ok(())
    }

    fn map_literal(&mut self, entries: &'a [(Expr, Expr)], dst: Reg) -> CResult<()> {
        let first = &entries[..entries.len().min(LITERAL_CHUNK)];
        let start = self.alloc_n((first.len() * 2).max(1))?;
        for (i, (k, v)) in first.iter().enumerate() {
            self.expr_to(k, start + 2 * i as Reg)?;
            self.expr_to(v, start + 2 * i as Reg + 1)?;
        }
        let map = if entries.len() > LITERAL_CHUNK {
            start
        } else {
            dst
        };
        self.emit(Op::NewMap {
            dst: map,
            start,
            count: first.len() as u16,
        });
        for (k, v) in &entries[first.len()..] {
            let mark = self.reg_mark();
            let kr = self.expr_any(k)?;
            let vr = self.expr_any(v)?;
            self.emit(Op::MapInsert {
                map,
                key: kr,
                src: vr,
            });
            self.free_to(mark);
        }
        if map != dst {
            self.emit(Op::Move { dst, src: map });
        }
        Ok(())
    }

    /// `[elem for ...]` or `{k: v for ...}`, built in a temporary (the iterables may
    /// read the variable being assigned) with the loop variables in their own scope.
    fn comprehension(
        &mut self,
        elem: Option<&'a Expr>,
        entry: Option<(&'a Expr, &'a Expr)>,
        clauses: &'a [CompFor],
        dst: Reg,
    ) -> CResult<()> {
        let acc = self.alloc()?;
        if elem.is_some() {
            self.emit(Op::NewList {
                dst: acc,
                start: acc,
                count: 0,
            });
        } else {
            self.emit(Op::NewMap {
                dst: acc,
                start: acc,
                count: 0,
            });
        }
        self.push_scope();
        let mut loops = Vec::new(); // (top, exit jump, continue jumps)
        for clause in clauses {
            let it = self.alloc_n(2)?;
            self.expr_to(&clause.iter, it)?;
            self.set_offset(clause.iter.span.start);
            self.emit(Op::IterPrep { dst: it, src: it });
            let top = self.here();
            let exit = self.emit(Op::ForIter { iter: it, off: 0 });
            match &clause.target {
                Pattern::Name(id) => self.declare_local(&id.name, it + 1),
                target => {
                    let r = self.alloc()?;
                    self.emit(Op::Move {
                        dst: r,
                        src: it + 1,
                    });
                    self.bind_pattern(target, r)?;
                }
            }
            let mut skips = Vec::new();
            for c in &clause.conds {
                let mark = self.reg_mark();
                skips.extend(self.cond_jump(c, false)?);
                self.free_to(mark);
            }
            loops.push((top, exit, skips));
        }
        let mark = self.reg_mark();
        match (elem, entry) {
            (Some(e), _) => {
                let r = self.expr_any(e)?;
                self.emit(Op::ListAppend { list: acc, src: r });
            }
            (None, Some((k, v))) => {
                let kr = self.expr_any(k)?;
                let vr = self.expr_any(v)?;
                self.emit(Op::MapInsert {
                    map: acc,
                    key: kr,
                    src: vr,
                });
            }
            (None, None) => unreachable!("a comprehension builds a list or a map"),
        }
        self.free_to(mark);
        for (top, exit, skips) in loops.into_iter().rev() {
            for s in skips {
                self.patch_to(s, top);
            }
            self.jump_back(top);
            self.patch_here(exit);
        }
        self.pop_scope();
        self.emit(Op::Move { dst, src: acc });
        Ok(())
    }

    fn fstring(&mut self, parts: &'a [FPart], dst: Reg) -> CResult<()> {
        if parts.is_empty() {
            let k = self.str_const(&std::rc::Rc::from(""))?;
            self.emit(Op::LoadConst { dst, k });
            return Ok(());
        }
        let start = self.alloc_n(parts.len())?;
        for (i, p) in parts.iter().enumerate() {
            let r = start + i as Reg;
            match p {
                FPart::Lit(s) => {
                    let k = self.str_const(&std::rc::Rc::from(s.as_str()))?;
                    self.emit(Op::LoadConst { dst: r, k });
                }
                FPart::Hole { expr, repr, spec } => {
                    let v = self.expr_any(expr)?;
                    let spec = match spec {
                        Some(s) => self.str_const(&std::rc::Rc::from(s.as_str()))?,
                        None => u16::MAX,
                    };
                    self.set_offset(expr.span.start);
                    self.emit(Op::Format {
                        dst: r,
                        src: v,
                        spec,
                        repr: *repr,
                    });
                }
            }
        }
        if parts.len() == 1 && matches!(parts[0], FPart::Hole { .. }) {
            self.emit(Op::Move { dst, src: start });
        } else {
            self.emit(Op::Concat {
                dst,
                start,
                count: parts.len() as u16,
            });
        }
        Ok(())
    }
}
