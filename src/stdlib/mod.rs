//! The standard library (section 9), one module per topic. Each module exports a
//! registration table of `(name, function)` (`FUNCS`) and, for a built-in type,
//! its methods (`METHODS`); this file lists them (as Lua's linit.c does).

pub mod core;
pub mod random;

use crate::value::func::NativeKind;
use crate::value::{Native, NativeFn, Value};
use crate::vm::Vm;
use std::rc::Rc;

/// Function tables, in registration order.
const TABLES: &[&[(&str, NativeFn)]] = &[core::FUNCS, random::FUNCS];

pub fn register(vm: &mut Vm) {
    for table in TABLES {
        for (name, f) in *table {
            vm.globals.define_builtin(name, native(name, *f));
        }
    }
    vm.globals.define_builtin("pi", Value::Float(std::f64::consts::PI));
    vm.globals.define_builtin("e", Value::Float(std::f64::consts::E));
    vm.globals.define_builtin("inf", Value::Float(f64::INFINITY));
    vm.globals.define_builtin("nan", Value::Float(f64::NAN));
    vm.globals.define_builtin("args", Value::list(Vec::new()));
}

pub fn native(name: &str, f: NativeFn) -> Value {
    Value::Native(Rc::new(Native { name: Rc::from(name), kind: NativeKind::Fn(f) }))
}
