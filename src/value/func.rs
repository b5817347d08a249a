//! Callables: script closures, native (Rust) functions, bound methods, and the
//! `Args` view through which every native function receives its arguments.

use super::{CellRef, Exc, Value, VmResult};
use crate::compile::Proto;
use crate::vm::Vm;
use std::rc::Rc;

/// A script function: compiled code plus the cells of the variables it captured.
pub struct Closure {
    pub proto: Rc<Proto>,
    pub upvals: Box<[CellRef]>,
}

/// A builtin function: `f(vm, args)`.
pub type NativeFn = fn(&mut Vm, Args) -> VmResult<Value>;
/// A method of a built-in type: `f(vm, receiver, args)`.
pub type MethodFn = fn(&mut Vm, &Value, Args) -> VmResult<Value>;
/// A function registered by an embedding host.
pub type HostFn = Rc<dyn Fn(&mut Vm, Args) -> VmResult<Value>>;

pub enum NativeKind {
    Fn(NativeFn),
    /// Only ever found inside a `BoundMethod`, which supplies the receiver.
    Method(MethodFn),
    /// A method of an `Object` handle, dispatched by name.
    ObjectMethod,
    Host(HostFn),
}

pub struct Native {
    pub name: Rc<str>,
    pub kind: NativeKind,
}

/// `obj.method` taken as a value.
pub struct BoundMethod {
    pub receiver: Value,
    /// A `Value::Func` (script method) or a `Value::Native` (built-in method).
    pub method: Value,
}

/// The arguments of a native call: positional values, then named ones.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    pub pos: &'a [Value],
    pub names: &'a [Rc<str>],
    pub named: &'a [Value],
}

impl<'a> Args<'a> {
    pub fn new(pos: &'a [Value]) -> Args<'a> {
        Args {
            pos,
            names: &[],
            named: &[],
        }
    }
    pub fn len(&self) -> usize {
        self.pos.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pos.is_empty() && self.named.is_empty()
    }
    /// The value of a named argument, if given.
    pub fn named(&self, name: &str) -> Option<&'a Value> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .map(|i| &self.named[i])
    }

    /// Binds the arguments to parameters `names` (the first `required` must be
    /// given), positionally or by name, exactly as for a script function.
    pub fn bind<const N: usize>(
        &self,
        fname: &str,
        names: [&str; N],
        required: usize,
    ) -> VmResult<[Option<Value>; N]> {
        if self.pos.len() > N {
            return Err(Exc::type_error(format!(
                "{fname}() takes {} {} argument{} ({} given)",
                if required == N { "exactly" } else { "at most" },
                N,
                if N == 1 { "" } else { "s" },
                self.pos.len()
            )));
        }
        let mut out: [Option<Value>; N] = std::array::from_fn(|i| self.pos.get(i).cloned());
        for (name, value) in self.names.iter().zip(self.named) {
            match names.iter().position(|n| **n == **name) {
                None => {
                    return Err(Exc::type_error(format!(
                        "{fname}() got an unexpected named argument `{name}`"
                    )));
                }
                Some(i) if out[i].is_some() => {
                    return Err(Exc::type_error(format!(
                        "{fname}() got multiple values for argument `{name}`"
                    )));
                }
                Some(i) => out[i] = Some(value.clone()),
            }
        }
        for (i, slot) in out.iter().enumerate().take(required) {
            if slot.is_none() {
                return Err(Exc::type_error(format!(
                    "{fname}() missing required argument `{}`",
                    names[i]
                )));
            }
        }
        Ok(out)
    }

    /// For variadic functions: all positional values are free, and only the named
    /// arguments in `allowed` may be given. Returns their values in that order.
    pub fn named_only<const N: usize>(
        &self,
        fname: &str,
        allowed: [&str; N],
    ) -> VmResult<[Option<Value>; N]> {
        let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
        for (name, value) in self.names.iter().zip(self.named) {
            match allowed.iter().position(|n| **n == **name) {
                None => {
                    return Err(Exc::type_error(format!(
                        "{fname}() got an unexpected named argument `{name}`"
                    )));
                }
                Some(i) => out[i] = Some(value.clone()),
            }
        }
        Ok(out)
    }

    /// Checks that there are between `min` and `max` positional arguments and no named ones.
    pub fn expect(&self, fname: &str, min: usize, max: usize) -> VmResult<&'a [Value]> {
        if let Some(n) = self.names.first() {
            return Err(Exc::type_error(format!(
                "{fname}() got an unexpected named argument `{n}`"
            )));
        }
        let n = self.pos.len();
        if n < min || n > max {
            let want = if min == max {
                format!("exactly {min}")
            } else if max == usize::MAX || n < min {
                format!("at least {min}")
            } else {
                format!("at most {max}")
            };
            return Err(Exc::type_error(format!(
                "{fname}() takes {want} argument{} ({n} given)",
                if want.ends_with(" 1") { "" } else { "s" }
            )));
        }
        Ok(self.pos)
    }
}

/// Typed argument extraction with errors that name the function and parameter.
pub fn want_int(fname: &str, param: &str, v: &Value) -> VmResult<i64> {
    v.as_int().ok_or_else(|| {
        Exc::type_error(format!(
            "{fname}() argument `{param}` must be an int, not {}",
            v.type_name()
        ))
    })
}

pub fn want_f64(fname: &str, param: &str, v: &Value) -> VmResult<f64> {
    v.as_f64().ok_or_else(|| {
        Exc::type_error(format!(
            "{fname}() argument `{param}` must be a number, not {}",
            v.type_name()
        ))
    })
}

pub fn want_str<'v>(fname: &str, param: &str, v: &'v Value) -> VmResult<&'v str> {
    v.as_str().ok_or_else(|| {
        Exc::type_error(format!(
            "{fname}() argument `{param}` must be a str, not {}",
            v.type_name()
        ))
    })
}
