//! Methods of `list` (section 9): `append extend insert pop remove index count
//! sort reverse copy clear contains`.
//!
//! No borrow of a list is held while script code runs (a `sort` key function,
//! an `extend` from a generator), so such code may read or change the list.

use super::given;
use super::seq::{sort_options, sort_values};
use crate::value::func::want_int;
use crate::value::{Args, Exc, List, MethodFn, Value, VmResult};
use crate::vm::Vm;
use crate::vm::ops::index_of;
use std::rc::Rc;

fn recv(this: &Value) -> VmResult<&Rc<List>> {
    match this {
        Value::List(l) => Ok(l),
        other => Err(Exc::type_error(format!(
            "a list method was called on {}",
            other.type_name()
        ))),
    }
}

fn append(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [x] = args.bind("append", ["x"], 1)?;
    recv(this)?.borrow_mut().push(x.unwrap_or_default());
    Ok(Value::Nil)
}

fn extend(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [xs] = args.bind("extend", ["xs"], 1)?;
    let items = vm.collect(&xs.unwrap_or_default())?;
    let list = recv(this)?;
    super::check_size("extend()", list.borrow().len().saturating_add(items.len()))?;
    list.borrow_mut().extend(items);
    Ok(Value::Nil)
}

fn insert(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [i, x] = args.bind("insert", ["i", "x"], 2)?;
    let i = want_int("insert", "i", &i.unwrap_or_default())?;
    let mut list = recv(this)?.borrow_mut();
    let len = list.len() as i64;
    // as Python: out-of-range positions insert at the ends
    let at = if i < 0 {
        (i.saturating_add(len)).max(0)
    } else {
        i.min(len)
    };
    list.insert(at as usize, x.unwrap_or_default());
    Ok(Value::Nil)
}

fn pop(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [i] = args.bind("pop", ["i"], 0)?;
    let i = match given(i) {
        Some(i) => want_int("pop", "i", &i)?,
        None => -1,
    };
    let mut list = recv(this)?.borrow_mut();
    if list.is_empty() {
        return Err(Exc::new("IndexError", "pop from an empty list"));
    }
    let len = list.len();
    match index_of(i, len) {
        Some(at) => Ok(list.remove(at)),
        None => Err(Exc::new(
            "IndexError",
            format!("pop index {i} out of range (length {len})"),
        )),
    }
}

/// The position of the first item equal to `x` in `[start, end)`.
fn position(list: &List, x: &Value, start: usize, end: usize) -> VmResult<Option<usize>> {
    let items = list.borrow();
    let end = end.min(items.len());
    for i in start..end {
        if items[i].try_equals(x)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn remove(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [x] = args.bind("remove", ["x"], 1)?;
    let list = recv(this)?;
    match position(list, &x.unwrap_or_default(), 0, usize::MAX)? {
        Some(i) => {
            list.borrow_mut().remove(i);
            Ok(Value::Nil)
        }
        None => Err(Exc::value_error("remove(x): x is not in the list")),
    }
}

fn index(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [x, start, end] = args.bind("index", ["x", "start", "end"], 1)?;
    let list = recv(this)?;
    let len = list.borrow().len() as i64;
    let bound = |v: Option<Value>, what: &str, default: i64| -> VmResult<usize> {
        let i = match given(v) {
            Some(v) => want_int("index", what, &v)?,
            None => default,
        };
        Ok(if i < 0 {
            (i.saturating_add(len)).max(0)
        } else {
            i.min(len)
        } as usize)
    };
    let (lo, hi) = (bound(start, "start", 0)?, bound(end, "end", len)?);
    match position(list, &x.unwrap_or_default(), lo, hi)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => Err(Exc::value_error("index(x): x is not in the list")),
    }
}

fn count(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [x] = args.bind("count", ["x"], 1)?;
    let x = x.unwrap_or_default();
    let mut n = 0;
    for v in recv(this)?.borrow().iter() {
        n += v.try_equals(&x)? as i64;
    }
    Ok(Value::Int(n))
}

fn contains(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [x] = args.bind("contains", ["x"], 1)?;
    Ok(Value::Bool(
        position(recv(this)?, &x.unwrap_or_default(), 0, usize::MAX)?.is_some(),
    ))
}

fn sort(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [key, reverse] = args.named_only("sort", ["key", "reverse"])?;
    if !args.pos.is_empty() {
        return Err(Exc::type_error(
            "sort() takes `key` and `reverse` only by name (xs.sort(key: f, reverse: true))",
        ));
    }
    let list = recv(this)?;
    let items = list.borrow().clone();
    let (key, reverse) = sort_options(key, reverse);
    let sorted = sort_values(vm, items, key.as_ref(), reverse)?;
    *list.borrow_mut() = sorted;
    Ok(Value::Nil)
}

fn reverse(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("reverse", 0, 0)?;
    recv(this)?.borrow_mut().reverse();
    Ok(Value::Nil)
}

fn copy(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("copy", 0, 0)?;
    Ok(Value::list(recv(this)?.borrow().clone()))
}

fn clear(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("clear", 0, 0)?;
    recv(this)?.borrow_mut().clear();
    Ok(Value::Nil)
}

pub const METHODS: &[(&str, MethodFn)] = &[
    ("append", append),
    ("extend", extend),
    ("insert", insert),
    ("pop", pop),
    ("remove", remove),
    ("index", index),
    ("count", count),
    ("contains", contains),
    ("sort", sort),
    ("reverse", reverse),
    ("copy", copy),
    ("clear", clear),
];
