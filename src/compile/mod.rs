//! AST to bytecode: `compiler` resolves scopes to registers, upvalues and global
//! slots and emits `opcode::Op`s into `chunk::Proto`s; `disasm` prints them.

pub mod chunk;
pub mod compiler;
pub mod disasm;
mod expr;
pub mod opcode;
pub mod scope;

pub use chunk::{Capture, Proto};
pub use compiler::compile_unit;
pub use opcode::{Cmp, Op, Reg};
