//! Source text to AST: the grammar lives in `grammar/proc.pest`, the tree in `ast`.

pub mod ast;
pub mod parser;

pub use parser::{SyntaxError, is_complete, parse_program};
