//! A compiled function: its instructions, the source offset of each (the line
//! table), constants, names, and how its closure captures variables.

use super::opcode::{Op, Reg};
use crate::diagnostic::Source;
use crate::value::Value;
use crate::vm::Sym;
use std::rc::Rc;

/// How a closure obtains captured cell `i` when it is created.
#[derive(Clone, Copy, Debug)]
pub enum Capture {
    /// The enclosing function's register (which holds a cell).
    Local(Reg),
    /// The enclosing function's own captured cell.
    Upval(u16),
}

pub struct Proto {
    pub name: Rc<str>,
    pub code: Vec<Op>,
    /// Source byte offset of each instruction, for diagnostics and tracebacks.
    pub offsets: Vec<u32>,
    pub consts: Vec<Value>,
    /// Attribute and method names used by GetAttr, CallMethod... (interned).
    pub names: Vec<Sym>,
    /// Lists of argument names for CallKw/CallMethodKw.
    pub kw_lists: Vec<Rc<[Rc<str>]>>,
    /// Nested functions, by index (the `proto` of Op::Closure).
    pub protos: Vec<Rc<Proto>>,
    pub params: Vec<Rc<str>>,
    /// Parameters without a default value (always the first ones).
    pub nrequired: usize,
    /// Registers the frame needs.
    pub nregs: usize,
    pub captures: Vec<Capture>,
    pub is_generator: bool,
    /// A method: `self` is register 0 and not counted in `params`.
    pub is_method: bool,
    pub source: Rc<Source>,
    /// Where the function was defined (for `--disasm` and messages).
    pub def_offset: u32,
    /// Creation number, counted per process and inherited by forked children:
    /// a prototype made before a pool's workers were forked exists in each of
    /// them under the same number (`Vm::proto_by_serial`), so a function can
    /// be sent to them by number instead of as code.
    pub serial: u64,
    /// Set by `Vm::register_proto` when `dispatch_safe` holds: the dispatch
    /// loop then fetches instructions and reads and writes registers without
    /// bounds checks.
    /// Crate-private, so that a `Proto` made outside the crate never has it.
    pub(crate) checked: bool,
}

impl Proto {
    /// What the dispatch loop (`vm/exec.rs`) relies on to skip bounds checks,
    /// for memory safety:
    /// - every jump lands on an instruction, and the last instruction does not
    ///   fall through (it is a `Return`, `ReturnNil` or `Jump`), so that the
    ///   next instruction always exists;
    /// - every register operand of every instruction the loop handles inline
    ///   (its `reg!` and `reg_mut!`) is below `nregs`. An instruction that
    ///   starts to use a register there must be added here.
    pub fn dispatch_safe(&self) -> bool {
        self.jumps_in_range() && self.fast_registers_in_range()
    }

    fn jumps_in_range(&self) -> bool {
        let len = self.code.len() as i64;
        let last_ends = matches!(
            self.code.last(),
            Some(Op::Return { .. } | Op::ReturnNil | Op::Jump { .. })
        );
        last_ends
            && self.code.iter().enumerate().all(|(i, op)| {
                let off = match *op {
                    Op::Jump { off }
                    | Op::JumpIfFalse { off, .. }
                    | Op::JumpIfTrue { off, .. }
                    | Op::JumpIfGiven { off, .. }
                    | Op::ForIter { off, .. }
                    | Op::PushHandler { off, .. } => off as i64,
                    Op::CmpJump { off, .. } | Op::CmpIntJump { off, .. } => off as i64,
                    _ => return true,
                };
                // offsets are relative to the next instruction
                (0..len).contains(&(i as i64 + 1 + off))
            })
    }

    fn fast_registers_in_range(&self) -> bool {
        let n = self.nregs;
        let ok = |regs: &[Reg]| regs.iter().all(|&r| (r as usize) < n);
        self.code.iter().all(|op| match *op {
            Op::Move { dst, src } | Op::Not { dst, src } => ok(&[dst, src]),
            Op::LoadConst { dst, .. }
            | Op::LoadInt { dst, .. }
            | Op::LoadNil { dst }
            | Op::LoadBool { dst, .. }
            | Op::GetGlobal { dst, .. }
            | Op::GetUpval { dst, .. } => ok(&[dst]),
            Op::SetGlobal { src, .. } | Op::SetUpval { src, .. } | Op::Return { src } => ok(&[src]),
            Op::GetCell { dst, cell } => ok(&[dst, cell]),
            Op::SetCell { cell, src } => ok(&[cell, src]),
            Op::Add { dst, a, b }
            | Op::Sub { dst, a, b }
            | Op::Mul { dst, a, b }
            | Op::Eq { dst, a, b }
            | Op::Ne { dst, a, b }
            | Op::Lt { dst, a, b }
            | Op::Le { dst, a, b } => ok(&[dst, a, b]),
            Op::AddInt { dst, a, .. } => ok(&[dst, a]),
            Op::JumpIfFalse { cond, .. } | Op::JumpIfTrue { cond, .. } => ok(&[cond]),
            Op::CmpJump { a, b, .. } => ok(&[a, b]),
            Op::CmpIntJump { a, .. } => ok(&[a]),
            Op::JumpIfGiven { reg, .. } => ok(&[reg]),
            Op::CallGlobal { func, .. } | Op::Call { func, .. } => ok(&[func]),
            Op::Yield { dst, src } => ok(&[dst, src]),
            Op::GetIndex { dst, obj, index } => ok(&[dst, obj, index]),
            Op::ForIter { iter, .. } => (iter as usize) + 1 < n,
            Op::ListAppend { list, src } => ok(&[list, src]),
            Op::GetAttr { dst, obj, .. } => ok(&[dst, obj]),
            Op::SetAttr { obj, src, .. } => ok(&[obj, src]),
            // the rest go through `slow_op`, which indexes the stack with checks
            _ => true,
        })
    }

    /// The source offset of instruction `ip`.
    pub fn offset_at(&self, ip: usize) -> u32 {
        self.offsets
            .get(ip)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(self.def_offset)
    }
}
