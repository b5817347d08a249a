//! The standard library (section 9), one module per topic. Each module exports a
//! registration table of `(name, function)` (`FUNCS`) and, for a built-in type,
//! its methods (`METHODS`); this file lists them (as Lua's linit.c does).
//!
//! Builtins never panic on any argument: sizes are bounded (`MAX_BUILD`), numbers
//! are checked for overflow, NaN and range, and every failure is an `Exc` with a
//! kind from section 8.

pub mod bytes;
pub mod convert;
pub mod core;
pub mod fs;
pub mod list;
pub mod map;
pub mod math;
pub mod os;
pub mod random;
pub mod seq;
pub mod str_format;
pub mod string;
pub mod time;

use crate::value::func::NativeKind;
use crate::value::{Exc, Native, NativeFn, Value, VmResult};
use crate::vm::Vm;
use std::rc::Rc;

/// Function tables, in registration order.
const TABLES: &[&[(&str, NativeFn)]] = &[
    core::FUNCS,
    convert::FUNCS,
    math::FUNCS,
    seq::FUNCS,
    time::FUNCS,
    random::FUNCS,
    os::FUNCS,
    fs::FUNCS,
    crate::runtime::queue::FUNCS,
    crate::runtime::pipe::FUNCS,
    crate::runtime::pool::FUNCS,
    crate::runtime::sync::FUNCS,
    crate::runtime::shared::FUNCS,
    crate::runtime::manager::FUNCS,
    crate::vm::task::FUNCS,
];

pub fn register(vm: &mut Vm) {
    for table in TABLES {
        for (name, f) in *table {
            vm.globals.define_builtin(name, native(name, *f));
        }
    }
    vm.register_methods(|t| &mut t.str_, string::METHODS);
    vm.register_methods(|t| &mut t.str_, str_format::METHODS);
    vm.register_methods(|t| &mut t.bytes, bytes::METHODS);
    vm.register_methods(|t| &mut t.list, list::METHODS);
    vm.register_methods(|t| &mut t.map, map::METHODS);
    vm.globals
        .define_builtin("pi", Value::Float(std::f64::consts::PI));
    vm.globals
        .define_builtin("e", Value::Float(std::f64::consts::E));
    vm.globals
        .define_builtin("inf", Value::Float(f64::INFINITY));
    vm.globals.define_builtin("nan", Value::Float(f64::NAN));
    vm.globals.define_builtin("args", Value::list(Vec::new()));
}

pub fn native(name: &str, f: NativeFn) -> Value {
    Value::Native(Rc::new(Native {
        name: Rc::from(name),
        kind: NativeKind::Fn(f),
    }))
}

/// Largest string, bytes or list a builtin builds from a count the script chose
/// (`"x".center(n)`, `bytes(n)`, `s.replace(a, b)`): past it, OverflowError
/// rather than an allocation failure that would abort the process.
pub const MAX_BUILD: usize = 1 << 30;

/// Checks a size a builtin is about to allocate.
pub fn check_size(what: &str, n: usize) -> VmResult<()> {
    if n > MAX_BUILD {
        return Err(Exc::new(
            "OverflowError",
            format!("{what} would be too large ({n} items; the limit is {MAX_BUILD})"),
        ));
    }
    Ok(())
}

/// An optional argument, with nil standing for "not given".
pub fn given(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !matches!(v, Value::Nil))
}

#[cfg(test)]
mod tests {
    use crate::Interpreter;

    /// The kind of error `code` raises, or "ok".
    fn outcome(interp: &mut Interpreter, code: &str) -> String {
        match interp.eval_value(code) {
            Ok(_) => "ok".into(),
            Err(e) => format!("{}: {}", e.kind(), e.message()),
        }
    }

    #[test]
    fn switches_refuse_file_and_process_builtins() {
        let mut interp = Interpreter::builder()
            .allow_files(false)
            .allow_processes(false)
            .build();
        let file_calls = [
            "open(\"x\")",
            "read_file(\"x\")",
            "write_file(\"x\", \"\")",
            "listdir(\".\")",
            "mkdir(\"x\")",
            "exists(\".\")",
            "is_dir(\".\")",
        ];
        let more = [
            "remove(\"x\")",
            "file_size(\"x\")",
            "join_path(\"a\", \"b\")",
        ];
        for call in file_calls.iter().chain(&more) {
            let got = outcome(&mut interp, call);
            assert!(
                got.starts_with("NotSupported") && got.contains("allow_files"),
                "{call}: {got}"
            );
        }
        for call in ["fork()", "waitpid(1)", "kill(1)"] {
            let got = outcome(&mut interp, call);
            assert!(
                got.starts_with("NotSupported") && got.contains("allow_processes"),
                "{call}: {got}"
            );
        }
        assert_eq!(
            outcome(&mut interp, "getpid() > 0 and len(\"abc\".upper()) == 3"),
            "ok"
        );
    }
}
