//! Core builtins: output, conversions, `type`, `len`, `range`, `list`,
//! `error`, `assert`, `next`, `exit`, and the hidden entry points of `spawn`/`go`.

use crate::value::format::{to_display, to_repr};
use crate::value::func::{want_int, want_str};
use crate::value::{Args, ErrorValue, Exc, Range, Value, VmResult};
use crate::vm::Vm;
use crate::vm::generator::generator_of;
use std::rc::Rc;

fn print_to(vm: &mut Vm, args: Args, fname: &str, to_err: bool) -> VmResult<Value> {
    let [sep, end, flush] = args.named_only(fname, ["sep", "end", "flush"])?;
    let text_of = |vm: &mut Vm, v: Option<Value>, default: &str, what: &str| -> VmResult<String> {
        match v {
            None | Some(Value::Nil) => Ok(default.to_string()),
            Some(Value::Str(s)) => Ok(s.as_str().to_string()),
            Some(other) => {
                let _ = vm;
                Err(Exc::type_error(format!(
                    "{fname}() argument `{what}` must be a str, not {}",
                    other.type_name()
                )))
            }
        }
    };
    let sep = text_of(vm, sep, " ", "sep")?;
    let end = text_of(vm, end, "\n", "end")?;
    let mut line = String::new();
    for (i, v) in args.pos.iter().enumerate() {
        if i > 0 {
            line.push_str(&sep);
        }
        line.push_str(&to_display(vm, v)?);
    }
    line.push_str(&end);
    if to_err {
        vm.write_err(&line);
    } else {
        vm.write_out(&line);
    }
    if flush.is_some_and(|f| f.truthy()) {
        vm.flush();
    }
    Ok(Value::Nil)
}

fn print(vm: &mut Vm, args: Args) -> VmResult<Value> {
    print_to(vm, args, "print", false)
}

fn eprint(vm: &mut Vm, args: Args) -> VmResult<Value> {
    print_to(vm, args, "eprint", true)
}

fn input(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [prompt] = args.bind("input", ["prompt"], 0)?;
    if let Some(p) = prompt {
        let p = to_display(vm, &p)?;
        vm.write_out(&p);
    }
    vm.flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) => Err(Exc::new("EOFError", "end of input")),
        Ok(_) => {
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            Ok(Value::string(line))
        }
        Err(e) => Err(Exc::new("IOError", format!("input(): {e}"))),
    }
}

fn str_(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [v] = args.bind("str", ["x"], 0)?;
    match v {
        None => Ok(Value::str("")),
        Some(v @ Value::Str(_)) => Ok(v),
        Some(v) => Ok(Value::string(to_display(vm, &v)?)),
    }
}

fn repr(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [v] = args.bind("repr", ["x"], 1)?;
    Ok(Value::string(to_repr(vm, &v.unwrap_or_default())?))
}

fn type_(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [v] = args.bind("type", ["x"], 1)?;
    Ok(Value::string(v.unwrap_or_default().type_name()))
}

fn len(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [v] = args.bind("len", ["x"], 1)?;
    let v = v.unwrap_or_default();
    if let Some(n) = crate::vm::ops::length(&v) {
        return Ok(Value::Int(n as i64));
    }
    if let Value::Object(h) = &v {
        let h = h.clone();
        if let Some(r) = h.0.call_method(vm, &v, "len", Args::new(&[])) {
            return r;
        }
    }
    Err(Exc::type_error(format!("{} has no len()", v.type_name())))
}

fn range(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [a, b, c] = args.bind("range", ["start", "stop", "step"], 1)?;
    let int = |v: &Option<Value>, what: &str| -> VmResult<Option<i64>> {
        v.as_ref().map(|v| want_int("range", what, v)).transpose()
    };
    let (start, stop) = match (int(&a, "start")?, int(&b, "stop")?) {
        (Some(stop), None) => (0, stop),
        (Some(start), Some(stop)) => (start, stop),
        (None, _) => (0, 0),
    };
    let step = int(&c, "step")?.unwrap_or(1);
    if step == 0 {
        return Err(Exc::value_error("range() step cannot be zero"));
    }
    Ok(Value::Range(Rc::new(Range { start, stop, step })))
}

fn list(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [v] = args.bind("list", ["xs"], 0)?;
    match v {
        None => Ok(Value::list(Vec::new())),
        Some(v) => Ok(Value::list(vm.collect(&v)?)),
    }
}

fn error(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [kind, message] = args.bind("error", ["kind", "message"], 1)?;
    let kind = kind.unwrap_or_default();
    let kind = want_str("error", "kind", &kind)?;
    if kind.is_empty() || !kind.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(Exc::value_error(format!(
            "error kind must be a name like `MyError`, not {kind:?}"
        )));
    }
    let message = match message {
        None => String::new(),
        Some(Value::Str(s)) => s.as_str().to_string(),
        Some(other) => crate::value::format::repr_plain(&other),
    };
    Ok(Value::Error(Rc::new(ErrorValue::new(kind, message))))
}

fn assert(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [cond, message] = args.bind("assert", ["cond", "message"], 1)?;
    if cond.is_some_and(|c| c.truthy()) {
        return Ok(Value::Nil);
    }
    let message = match message {
        None => "assertion failed".to_string(),
        Some(m) => to_display(vm, &m)?,
    };
    Err(Exc::new("AssertionError", message))
}

pub(crate) fn next(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [it, default] = args.bind("next", ["iterator", "default"], 1)?;
    let it = it.unwrap_or_default();
    let item = if let Some(g) = generator_of(&it) {
        vm.gen_next(g)?
    } else if let Value::Iter(state) = &it {
        vm.iter_next(state)?
    } else if let Value::Object(h) = &it {
        let h = h.clone();
        match h.0.next(vm, &it) {
            Some(r) => r?,
            None => {
                return Err(Exc::type_error(format!(
                    "{} is not an iterator",
                    it.type_name()
                )));
            }
        }
    } else {
        return Err(Exc::type_error(format!(
            "{} is not an iterator (make one with a generator)",
            it.type_name()
        )));
    };
    match (item, default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Exc::new("StopIteration", "the iterator is exhausted")),
    }
}

/// `exit(code = 0)`. As in Python, `exit("message")` prints the message to
/// stderr and exits with status 1; a status is taken modulo 256 by the OS.
fn exit(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [code] = args.bind("exit", ["code"], 0)?;
    let code = match code {
        None | Some(Value::Nil) => 0,
        Some(Value::Str(s)) => {
            vm.write_err(&format!("{}\n", s.as_str()));
            1
        }
        Some(v) => want_int("exit", "code", &v)? as i32,
    };
    vm.flush();
    Err(Exc::exit(code))
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("print", print),
    ("eprint", eprint),
    ("input", input),
    ("str", str_),
    ("repr", repr),
    ("type", type_),
    ("len", len),
    ("range", range),
    ("list", list),
    ("error", error),
    ("assert", assert),
    ("next", next),
    ("exit", exit),
];
