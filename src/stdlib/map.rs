//! Methods of `map` (section 9): `get keys values items pop update setdefault
//! copy clear contains`, and `popitem`. `keys`, `values` and `items` return
//! new lists (`items` as `[key, value]` pairs) in insertion order; removing a
//! key keeps the order of the others.

use crate::value::format::repr_plain;
use crate::value::{Args, Exc, Key, Map, MethodFn, Value, VmResult};
use crate::vm::Vm;
use std::rc::Rc;

fn recv(this: &Value) -> VmResult<&Rc<Map>> {
    match this {
        Value::Map(m) => Ok(m),
        other => Err(Exc::type_error(format!(
            "a map method was called on {}",
            other.type_name()
        ))),
    }
}

fn key_error(k: &Value) -> Exc {
    Exc::new("KeyError", repr_plain(k))
}

fn get(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [k, default] = args.bind("get", ["key", "default"], 1)?;
    let key = Key::new(k.unwrap_or_default())?;
    Ok(recv(this)?
        .borrow()
        .get(&key)
        .cloned()
        .unwrap_or_else(|| default.unwrap_or_default()))
}

fn keys(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("keys", 0, 0)?;
    Ok(Value::list(
        recv(this)?
            .borrow()
            .keys()
            .map(|k| k.value().clone())
            .collect(),
    ))
}

fn values(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("values", 0, 0)?;
    Ok(Value::list(
        recv(this)?.borrow().values().cloned().collect(),
    ))
}

fn items(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("items", 0, 0)?;
    Ok(Value::list(
        recv(this)?
            .borrow()
            .iter()
            .map(|(k, v)| Value::list(vec![k.value().clone(), v.clone()]))
            .collect(),
    ))
}

fn pop(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [k, default] = args.bind("pop", ["key", "default"], 1)?;
    let k = k.unwrap_or_default();
    let removed = recv(this)?.borrow_mut().shift_remove(&Key::new(k.clone())?);
    match (removed, default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(key_error(&k)),
    }
}

fn popitem(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("popitem", 0, 0)?;
    match recv(this)?.borrow_mut().pop() {
        Some((k, v)) => Ok(Value::list(vec![k.into_value(), v])),
        None => Err(Exc::new("KeyError", "popitem(): the map is empty")),
    }
}

/// `update(other)`: from a map or a list of `[key, value]` pairs, then from any
/// named arguments (`m.update(a: 1)` sets the key "a").
fn update(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    if args.pos.len() > 1 {
        return Err(Exc::type_error(format!(
            "update() takes at most 1 positional argument ({} given)",
            args.pos.len()
        )));
    }
    let mut pairs: Vec<(Key, Value)> = Vec::new();
    match args.pos.first() {
        None | Some(Value::Nil) => {}
        // a snapshot first: the other map may be this one
        Some(Value::Map(other)) => {
            pairs.extend(other.borrow().iter().map(|(k, v)| (k.clone(), v.clone())))
        }
        Some(other) => {
            for (i, item) in vm.collect(other)?.into_iter().enumerate() {
                let pair = match &item {
                    Value::List(l) => l.borrow().clone(),
                    _ => vm.collect(&item)?,
                };
                let [k, v]: [Value; 2] = pair.try_into().map_err(|_| {
                    Exc::value_error(format!("update(): item {i} is not a [key, value] pair"))
                })?;
                pairs.push((Key::new(k)?, v));
            }
        }
    }
    for (name, v) in args.names.iter().zip(args.named) {
        pairs.push((Key::str(name), v.clone()));
    }
    let mut m = recv(this)?.borrow_mut();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    Ok(Value::Nil)
}

fn setdefault(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [k, v] = args.bind("setdefault", ["key", "default"], 1)?;
    let key = Key::new(k.unwrap_or_default())?;
    Ok(recv(this)?
        .borrow_mut()
        .entry(key)
        .or_insert_with(|| v.unwrap_or_default())
        .clone())
}

fn copy(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("copy", 0, 0)?;
    Ok(Value::map(recv(this)?.borrow().clone()))
}

fn clear(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("clear", 0, 0)?;
    recv(this)?.borrow_mut().clear();
    Ok(Value::Nil)
}

fn contains(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [k] = args.bind("contains", ["key"], 1)?;
    let key = Key::new(k.unwrap_or_default())?;
    Ok(Value::Bool(recv(this)?.borrow().contains_key(&key)))
}

pub const METHODS: &[(&str, MethodFn)] = &[
    ("get", get),
    ("keys", keys),
    ("values", values),
    ("items", items),
    ("pop", pop),
    ("popitem", popitem),
    ("update", update),
    ("setdefault", setdefault),
    ("copy", copy),
    ("clear", clear),
    ("contains", contains),
];
