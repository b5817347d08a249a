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
}

impl Proto {
    /// The source offset of instruction `ip`.
    pub fn offset_at(&self, ip: usize) -> u32 {
        self.offsets
            .get(ip)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(self.def_offset)
    }
}
