//! Sequences (section 9): `enumerate zip sorted reversed any all map filter`,
//! and the stable sort that `sorted` and `list.sort` share.
//!
//! Where Python returns a lazy iterator, these return lists (`map`, `filter`,
//! `enumerate`, `zip`, `reversed`), but they still consume their arguments one
//! item at a time: `zip` stops at the shortest input (so an endless generator
//! may be zipped with a list), `any`/`all` stop at the first decisive item, and
//! a function's calls interleave with a generator's items as in Python.

use super::given;
use crate::value::func::want_int;
use crate::value::{Args, Exc, Iter, Value, VmResult};
use crate::vm::Vm;
use crate::vm::ops;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::rc::Rc;

/// Steps several iterables together, calling `each` with one item of each,
/// until the first of them runs out (checked in order, as Python's zip does).
/// With `strict`, inputs of different lengths are a ValueError.
fn lockstep(
    vm: &mut Vm,
    iterables: &[Value],
    strict: bool,
    mut each: impl FnMut(&mut Vm, Vec<Value>) -> VmResult<()>,
) -> VmResult<()> {
    let iters: Vec<Rc<RefCell<Iter>>> = iterables
        .iter()
        .map(|v| vm.make_iter(v).map(|it| Rc::new(RefCell::new(it))))
        .collect::<VmResult<_>>()?;
    if iters.is_empty() {
        return Ok(());
    }
    loop {
        let mut row = Vec::with_capacity(iters.len());
        for (i, it) in iters.iter().enumerate() {
            match vm.iter_next(it)? {
                Some(v) => row.push(v),
                None if strict && i > 0 => {
                    return Err(Exc::value_error(format!(
                        "zip() argument {} is shorter than argument 1",
                        i + 1
                    )));
                }
                None if strict => {
                    for (j, other) in iters.iter().enumerate().skip(1) {
                        if vm.iter_next(other)?.is_some() {
                            return Err(Exc::value_error(format!(
                                "zip() argument {} is longer than argument 1",
                                j + 1
                            )));
                        }
                    }
                    return Ok(());
                }
                None => return Ok(()),
            }
        }
        each(vm, row)?;
    }
}

fn enumerate(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs, start] = args.bind("enumerate", ["xs", "start"], 1)?;
    let mut i = match given(start) {
        Some(s) => want_int("enumerate", "start", &s)?,
        None => 0,
    };
    let mut out = Vec::new();
    lockstep(vm, &[xs.unwrap_or_default()], false, |_, mut row| {
        let x = row.pop().unwrap_or_default();
        out.push(Value::list(vec![Value::Int(i), x]));
        i = i.checked_add(1).ok_or_else(|| ops::overflow("enumerate"))?;
        Ok(())
    })?;
    Ok(Value::list(out))
}

fn zip(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [strict] = args.named_only("zip", ["strict"])?;
    let mut out = Vec::new();
    lockstep(
        vm,
        args.pos,
        strict.is_some_and(|s| s.truthy()),
        |_, row| {
            out.push(Value::list(row));
            Ok(())
        },
    )?;
    Ok(Value::list(out))
}

/// The positions that put `keys` in ascending order, stable. Compares only with
/// `<` (`ops::order`), so that values without a total order (NaN) give some
/// order rather than a panic, and unorderable values raise TypeError.
fn stable_order(keys: &[Value]) -> VmResult<Vec<usize>> {
    let n = keys.len();
    let mut idx: Vec<usize> = (0..n).collect();
    // fast paths for the common cases, whose order is total
    if keys.iter().all(|k| matches!(k, Value::Int(_))) {
        idx.sort_by_key(|&i| keys[i].as_int().unwrap_or(0));
        return Ok(idx);
    }
    if keys.iter().all(|k| matches!(k, Value::Str(_))) {
        idx.sort_by(|&a, &b| keys[a].as_str().cmp(&keys[b].as_str()));
        return Ok(idx);
    }
    let lt = |a: usize, b: usize| -> VmResult<bool> {
        Ok(ops::order(&keys[a], &keys[b])? == Some(Ordering::Less))
    };
    // insertion-sort short runs, then merge them bottom-up
    const RUN: usize = 16;
    for start in (0..n).step_by(RUN) {
        let end = (start + RUN).min(n);
        for i in start + 1..end {
            let mut j = i;
            while j > start && lt(idx[j], idx[j - 1])? {
                idx.swap(j, j - 1);
                j -= 1;
            }
        }
    }
    let mut buf = vec![0usize; n];
    let mut width = RUN;
    while width < n {
        for lo in (0..n).step_by(2 * width) {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j) = (lo, mid);
            for slot in &mut buf[lo..hi] {
                // take from the right run only when strictly less: stability
                if j < hi && (i >= mid || lt(idx[j], idx[i])?) {
                    *slot = idx[j];
                    j += 1;
                } else {
                    *slot = idx[i];
                    i += 1;
                }
            }
        }
        std::mem::swap(&mut idx, &mut buf);
        width *= 2;
    }
    Ok(idx)
}

/// Sorts `items` as Python's `sorted(items, key=key, reverse=reverse)` does:
/// stable in both directions, `key` called once per item.
pub fn sort_values(
    vm: &mut Vm,
    mut items: Vec<Value>,
    key: Option<&Value>,
    reverse: bool,
) -> VmResult<Vec<Value>> {
    if reverse {
        items.reverse();
    }
    let keys = match key {
        Some(f) => items
            .iter()
            .map(|x| vm.call(f, std::slice::from_ref(x)))
            .collect::<VmResult<Vec<_>>>()?,
        None => items.clone(),
    };
    let order = stable_order(&keys)?;
    let mut out: Vec<Value> = order
        .into_iter()
        .map(|i| std::mem::take(&mut items[i]))
        .collect();
    if reverse {
        out.reverse();
    }
    Ok(out)
}

/// The `key:` and `reverse:` arguments of `sorted` and `list.sort`.
pub fn sort_options(key: Option<Value>, reverse: Option<Value>) -> (Option<Value>, bool) {
    (given(key), reverse.is_some_and(|r| r.truthy()))
}

fn sorted(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs, key, reverse] = args.bind("sorted", ["xs", "key", "reverse"], 1)?;
    if args.pos.len() > 1 {
        return Err(Exc::type_error(
            "sorted() takes `key` and `reverse` only by name (sorted(xs, key: f, reverse: true))",
        ));
    }
    let items = vm.collect(&xs.unwrap_or_default())?;
    let (key, reverse) = sort_options(key, reverse);
    Ok(Value::list(sort_values(vm, items, key.as_ref(), reverse)?))
}

fn reversed(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs] = args.bind("reversed", ["xs"], 1)?;
    let mut items = vm.collect(&xs.unwrap_or_default())?;
    items.reverse();
    Ok(Value::list(items))
}

/// `any` stops at the first true item, `all` at the first false one.
fn any_all(vm: &mut Vm, args: Args, fname: &str, stop_at: bool) -> VmResult<Value> {
    let [xs] = args.bind(fname, ["xs"], 1)?;
    let it = Rc::new(RefCell::new(vm.make_iter(&xs.unwrap_or_default())?));
    while let Some(x) = vm.iter_next(&it)? {
        if x.truthy() == stop_at {
            return Ok(Value::Bool(stop_at));
        }
    }
    Ok(Value::Bool(!stop_at))
}

fn any(vm: &mut Vm, args: Args) -> VmResult<Value> {
    any_all(vm, args, "any", true)
}

fn all(vm: &mut Vm, args: Args) -> VmResult<Value> {
    any_all(vm, args, "all", false)
}

fn map(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let pos = args.expect("map", 2, usize::MAX)?;
    let f = &pos[0];
    let mut out = Vec::new();
    lockstep(vm, &pos[1..], false, |vm, row| {
        out.push(vm.call(f, &row)?);
        Ok(())
    })?;
    Ok(Value::list(out))
}

fn filter(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [f, xs] = args.bind("filter", ["f", "xs"], 2)?;
    let f = given(f);
    let mut out = Vec::new();
    lockstep(vm, &[xs.unwrap_or_default()], false, |vm, mut row| {
        let x = row.pop().unwrap_or_default();
        let keep = match &f {
            Some(f) => vm.call(f, std::slice::from_ref(&x))?.truthy(),
            None => x.truthy(),
        };
        if keep {
            out.push(x);
        }
        Ok(())
    })?;
    Ok(Value::list(out))
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("enumerate", enumerate),
    ("zip", zip),
    ("sorted", sorted),
    ("reversed", reversed),
    ("any", any),
    ("all", all),
    ("map", map),
    ("filter", filter),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sort_is_stable_and_total() {
        // mixed ints and floats take the general path
        let keys: Vec<Value> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    Value::Int(i % 7)
                } else {
                    Value::Float((i % 7) as f64)
                }
            })
            .collect();
        let order = stable_order(&keys).unwrap();
        for w in order.windows(2) {
            let (a, b) = (keys[w[0]].as_f64().unwrap(), keys[w[1]].as_f64().unwrap());
            assert!(a < b || (a == b && w[0] < w[1]));
        }
        // NaN gives some order, never a panic
        let keys = vec![
            Value::Float(f64::NAN),
            Value::Float(1.0),
            Value::Float(f64::NAN),
            Value::Float(0.0),
        ];
        assert_eq!(stable_order(&keys).unwrap().len(), 4);
        // unorderable values are a TypeError
        assert!(stable_order(&[Value::Int(1), Value::Nil]).is_err());
    }
}
