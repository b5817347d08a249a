//! Operators (section 5) on values: arithmetic with Python's semantics and
//! overflow checks, comparisons, membership, indexing and slicing. The dispatch
//! loop inlines the int/float fast paths and calls here for everything else.

use super::Vm;
use crate::compile::Cmp;
use crate::value::{Exc, Key, MapData, Value, VmResult, int_float_cmp};
use std::cmp::Ordering;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

impl Arith {
    pub fn symbol(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
            Arith::FloorDiv => "//",
            Arith::Mod => "%",
            Arith::Pow => "**",
            Arith::BitAnd => "&",
            Arith::BitOr => "|",
            Arith::BitXor => "^",
            Arith::Shl => "<<",
            Arith::Shr => ">>",
        }
    }
}

/// Largest string, list or bytes a repetition may build (elements or bytes).
const MAX_REPEAT: usize = 1 << 30;

pub fn overflow(op: &str) -> Exc {
    Exc::new(
        "OverflowError",
        format!("integer overflow in `{op}` (ints are 64-bit)"),
    )
}

fn unsupported(op: Arith, a: &Value, b: &Value) -> Exc {
    Exc::type_error(format!(
        "unsupported operand types for {}: {} and {}",
        op.symbol(),
        a.type_name(),
        b.type_name()
    ))
}

fn zero_division(what: &str) -> Exc {
    Exc::new("ZeroDivisionError", what.to_string())
}

/// The numeric view of an operand: ints and bools as ints, floats as floats.
enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::I(*i)),
        Value::Bool(b) => Some(Num::I(*b as i64)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// `a op b` for every operand type.
pub fn arith(op: Arith, a: &Value, b: &Value) -> VmResult<Value> {
    match (num(a), num(b)) {
        (Some(Num::I(x)), Some(Num::I(y))) => {
            let r = int_arith(op, x, y)?;
            // bool op bool stays a bool for the bitwise operators, as in Python
            if let (
                Value::Bool(_),
                Value::Bool(_),
                Arith::BitAnd | Arith::BitOr | Arith::BitXor,
                Value::Int(i),
            ) = (a, b, op, &r)
            {
                return Ok(Value::Bool(*i != 0));
            }
            Ok(r)
        }
        (Some(x), Some(y)) => {
            let to_f = |n: Num| match n {
                Num::I(i) => i as f64,
                Num::F(f) => f,
            };
            float_arith(op, to_f(x), to_f(y), a, b)
        }
        _ => sequence_arith(op, a, b),
    }
}

fn int_arith(op: Arith, x: i64, y: i64) -> VmResult<Value> {
    let checked = |r: Option<i64>| r.map(Value::Int).ok_or_else(|| overflow(op.symbol()));
    match op {
        Arith::Add => checked(x.checked_add(y)),
        Arith::Sub => checked(x.checked_sub(y)),
        Arith::Mul => checked(x.checked_mul(y)),
        Arith::Div => {
            if y == 0 {
                return Err(zero_division("division by zero"));
            }
            Ok(Value::Float(x as f64 / y as f64))
        }
        Arith::FloorDiv => {
            if y == 0 {
                return Err(zero_division("integer division by zero"));
            }
            let q = x.checked_div(y).ok_or_else(|| overflow("//"))?;
            Ok(Value::Int(if (x % y != 0) && ((x < 0) != (y < 0)) {
                q - 1
            } else {
                q
            }))
        }
        Arith::Mod => {
            if y == 0 {
                return Err(zero_division("integer modulo by zero"));
            }
            let r = x.checked_rem(y).unwrap_or(0); // i64::MIN % -1 is 0
            Ok(Value::Int(if r != 0 && ((r < 0) != (y < 0)) {
                r + y
            } else {
                r
            }))
        }
        Arith::Pow => {
            if y < 0 {
                if x == 0 {
                    return Err(zero_division("0 cannot be raised to a negative power"));
                }
                return Ok(Value::Float((x as f64).powf(y as f64)));
            }
            match x {
                0 | 1 => Ok(Value::Int(if y == 0 { 1 } else { x })),
                -1 => Ok(Value::Int(if y % 2 == 0 { 1 } else { -1 })),
                _ => {
                    let e = u32::try_from(y).map_err(|_| overflow("**"))?;
                    checked(x.checked_pow(e))
                }
            }
        }
        Arith::BitAnd => Ok(Value::Int(x & y)),
        Arith::BitOr => Ok(Value::Int(x | y)),
        Arith::BitXor => Ok(Value::Int(x ^ y)),
        Arith::Shl => {
            if y < 0 {
                return Err(Exc::value_error("negative shift count"));
            }
            if x == 0 {
                return Ok(Value::Int(0));
            }
            if y >= 64 {
                return Err(overflow("<<"));
            }
            let r = x << y;
            if r >> y != x {
                return Err(overflow("<<"));
            }
            Ok(Value::Int(r))
        }
        Arith::Shr => {
            if y < 0 {
                return Err(Exc::value_error("negative shift count"));
            }
            Ok(Value::Int(if y >= 64 {
                if x < 0 { -1 } else { 0 }
            } else {
                x >> y
            }))
        }
    }
}

/// Python's float floor division and modulo (the result of `%` takes the divisor's sign).
pub fn float_divmod(x: f64, y: f64) -> VmResult<(f64, f64)> {
    if y == 0.0 {
        return Err(zero_division("float division by zero"));
    }
    let mut m = x % y;
    let mut div = (x - m) / y;
    if m != 0.0 {
        if (y < 0.0) != (m < 0.0) {
            m += y;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(y);
    }
    let floordiv = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 { f + 1.0 } else { f }
    } else {
        0.0f64.copysign(x / y)
    };
    Ok((floordiv, m))
}

fn float_arith(op: Arith, x: f64, y: f64, a: &Value, b: &Value) -> VmResult<Value> {
    Ok(Value::Float(match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => {
            if y == 0.0 {
                return Err(zero_division("float division by zero"));
            }
            x / y
        }
        Arith::FloorDiv => float_divmod(x, y)?.0,
        Arith::Mod => float_divmod(x, y)?.1,
        Arith::Pow => {
            if x == 0.0 && y < 0.0 {
                return Err(zero_division("0.0 cannot be raised to a negative power"));
            }
            if x < 0.0 && y.fract() != 0.0 && y.is_finite() {
                return Err(Exc::value_error(
                    "a negative number cannot be raised to a fractional power",
                ));
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return Err(Exc::new(
                    "OverflowError",
                    "float result of `**` is too large",
                ));
            }
            r
        }
        _ => return Err(unsupported(op, a, b)),
    }))
}

fn repeat_count(n: i64, unit: usize) -> VmResult<usize> {
    let n = n.max(0) as usize;
    if unit.saturating_mul(n) > MAX_REPEAT {
        return Err(Exc::new(
            "OverflowError",
            "repeated sequence would be too large",
        ));
    }
    Ok(n)
}

fn sequence_arith(op: Arith, a: &Value, b: &Value) -> VmResult<Value> {
    match (op, a, b) {
        (Arith::Add, Value::Str(x), Value::Str(y)) => {
            let mut s = String::with_capacity(x.as_str().len() + y.as_str().len());
            s.push_str(x.as_str());
            s.push_str(y.as_str());
            Ok(Value::string(s))
        }
        (Arith::Add, Value::List(x), Value::List(y)) => {
            let mut v = x.borrow().clone();
            v.extend(y.borrow().iter().cloned());
            Ok(Value::list(v))
        }
        (Arith::Add, Value::Bytes(x), Value::Bytes(y)) => {
            let mut v = x.to_vec();
            v.extend_from_slice(y);
            Ok(Value::bytes(v))
        }
        (Arith::Mul, Value::Str(s), n) | (Arith::Mul, n, Value::Str(s)) if n.as_int().is_some() => {
            let n = repeat_count(n.as_int().unwrap_or(0), s.as_str().len())?;
            Ok(Value::string(s.as_str().repeat(n)))
        }
        (Arith::Mul, Value::List(l), n) | (Arith::Mul, n, Value::List(l))
            if n.as_int().is_some() =>
        {
            let l = l.borrow();
            let n = repeat_count(n.as_int().unwrap_or(0), l.len())?;
            let mut v = Vec::with_capacity(l.len() * n);
            for _ in 0..n {
                v.extend(l.iter().cloned());
            }
            Ok(Value::list(v))
        }
        (Arith::Mul, Value::Bytes(b), n) | (Arith::Mul, n, Value::Bytes(b))
            if n.as_int().is_some() =>
        {
            let n = repeat_count(n.as_int().unwrap_or(0), b.len())?;
            Ok(Value::bytes(b.repeat(n)))
        }
        _ => Err(unsupported(op, a, b)),
    }
}

/// `x + v` for a small constant `v` (Op::AddInt) when `x` is not an int or float.
#[cold]
pub fn add_int(x: &Value, v: i16) -> VmResult<Value> {
    let (op, y) = if v < 0 {
        (Arith::Sub, -(v as i64))
    } else {
        (Arith::Add, v as i64)
    };
    arith(op, x, &Value::Int(y))
}

pub fn negate(v: &Value) -> VmResult<Value> {
    match v {
        Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| overflow("-")),
        Value::Bool(b) => Ok(Value::Int(-(*b as i64))),
        Value::Float(f) => Ok(Value::Float(-f)),
        other => Err(Exc::type_error(format!(
            "bad operand type for unary -: {}",
            other.type_name()
        ))),
    }
}

pub fn bit_not(v: &Value) -> VmResult<Value> {
    match v.as_int() {
        Some(i) => Ok(Value::Int(!i)),
        None => Err(Exc::type_error(format!(
            "bad operand type for unary ~: {}",
            v.type_name()
        ))),
    }
}

/// The ordering of two values, for `<` and sorting; None when unordered (NaN).
pub fn order(a: &Value, b: &Value) -> VmResult<Option<Ordering>> {
    order_depth(a, b, 0)
}

fn order_depth(a: &Value, b: &Value, depth: usize) -> VmResult<Option<Ordering>> {
    if depth > crate::value::MAX_NESTING {
        return Err(Exc::new(
            "RecursionError",
            "values are nested too deeply to compare",
        ));
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(_) | Value::Bool(_), Value::Float(f)) => {
            int_float_cmp(a.as_int().unwrap_or(0), *f)
        }
        (Value::Float(f), Value::Int(_) | Value::Bool(_)) => {
            int_float_cmp(b.as_int().unwrap_or(0), *f).map(Ordering::reverse)
        }
        (Value::Bool(_) | Value::Int(_), Value::Bool(_) | Value::Int(_)) => {
            Some(a.as_int().cmp(&b.as_int()))
        }
        (Value::Str(x), Value::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.as_slice().cmp(y.as_slice())),
        (Value::List(x), Value::List(y)) => {
            let (x, y) = (x.borrow().clone(), y.borrow().clone());
            for (p, q) in x.iter().zip(y.iter()) {
                if p.try_equals(q)? {
                    continue;
                }
                return order_depth(p, q, depth + 1);
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => {
            return Err(Exc::type_error(format!(
                "`<` is not supported between {} and {}",
                a.type_name(),
                b.type_name()
            )));
        }
    })
}

/// `a < b` (or `a <= b` when `or_equal`).
pub fn less(a: &Value, b: &Value, or_equal: bool) -> VmResult<bool> {
    Ok(match order(a, b)? {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => or_equal,
        _ => false,
    })
}

/// The test of a fused compare-and-jump, for operands other than two ints.
pub fn compare(cmp: Cmp, a: &Value, b: &Value) -> VmResult<bool> {
    Ok(match cmp {
        Cmp::Eq => a.try_equals(b)?,
        Cmp::Ne => !a.try_equals(b)?,
        Cmp::Lt => less(a, b, false)?,
        Cmp::Le => less(a, b, true)?,
        Cmp::NotLt => !less(a, b, false)?,
        Cmp::NotLe => !less(a, b, true)?,
    })
}

/// A possibly negative index into a sequence of `len`, if in range.
pub fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    if i >= 0 && (i as usize) < len {
        Some(i as usize)
    } else {
        None
    }
}

pub fn new_map(pairs: &[Value]) -> VmResult<Value> {
    let mut m = MapData::default();
    for kv in pairs.chunks(2) {
        m.insert(Key::new(kv[0].clone())?, kv[1].clone());
    }
    Ok(Value::map(m))
}

/// Python's slice.indices: the positions selected by `[lo:hi:step]` on a sequence of `len`.
pub fn slice_positions(len: usize, lo: &Value, hi: &Value, step: &Value) -> VmResult<Vec<usize>> {
    let get = |v: &Value, what: &str| -> VmResult<Option<i64>> {
        match v {
            Value::Nil => Ok(None),
            v => v.as_int().map(Some).ok_or_else(|| {
                Exc::type_error(format!(
                    "slice {what} must be an int or nil, not {}",
                    v.type_name()
                ))
            }),
        }
    };
    let step = get(step, "step")?.unwrap_or(1);
    if step == 0 {
        return Err(Exc::value_error("slice step cannot be zero"));
    }
    let len = len as i64;
    let clamp = |v: Option<i64>, default: i64, low: i64, high: i64| -> i64 {
        match v {
            None => default,
            Some(i) => {
                let i = if i < 0 { i.saturating_add(len) } else { i };
                i.clamp(low, high)
            }
        }
    };
    let (start, stop) = if step > 0 {
        (
            clamp(get(lo, "start")?, 0, 0, len),
            clamp(get(hi, "stop")?, len, 0, len),
        )
    } else {
        (
            clamp(get(lo, "start")?, len - 1, -1, len - 1),
            clamp(get(hi, "stop")?, -1, -1, len - 1),
        )
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(out)
}

pub fn slice(obj: &Value, lo: &Value, hi: &Value, step: &Value) -> VmResult<Value> {
    match obj {
        Value::List(l) => {
            let l = l.borrow();
            let pos = slice_positions(l.len(), lo, hi, step)?;
            Ok(Value::list(pos.into_iter().map(|i| l[i].clone()).collect()))
        }
        Value::Str(s) => {
            let pos = slice_positions(s.char_len(), lo, hi, step)?;
            if s.is_ascii() {
                let b = s.as_str().as_bytes();
                return Ok(Value::string(
                    pos.into_iter().map(|i| b[i] as char).collect(),
                ));
            }
            let chars: Vec<char> = s.as_str().chars().collect();
            Ok(Value::string(pos.into_iter().map(|i| chars[i]).collect()))
        }
        Value::Bytes(b) => {
            let pos = slice_positions(b.len(), lo, hi, step)?;
            Ok(Value::bytes(pos.into_iter().map(|i| b[i]).collect()))
        }
        Value::Range(r) => {
            let n = r.len().max(0) as usize;
            let pos = slice_positions(n, lo, hi, step)?;
            Ok(Value::list(
                pos.into_iter()
                    .map(|i| Value::Int(r.nth(i as i64)))
                    .collect(),
            ))
        }
        other => Err(Exc::type_error(format!(
            "{} cannot be sliced",
            other.type_name()
        ))),
    }
}

impl Vm {
    /// `item in container`.
    pub fn contains(&mut self, container: &Value, item: &Value) -> VmResult<bool> {
        match container {
            Value::Str(s) => match item {
                Value::Str(sub) => Ok(s.as_str().contains(sub.as_str())),
                other => Err(Exc::type_error(format!(
                    "`in <str>` needs a str on the left, not {}",
                    other.type_name()
                ))),
            },
            Value::Bytes(b) => match item {
                Value::Int(i) => Ok((0..256).contains(i) && b.contains(&(*i as u8))),
                Value::Bytes(sub) => {
                    Ok(sub.is_empty() || b.windows(sub.len()).any(|w| w == sub.as_slice()))
                }
                other => Err(Exc::type_error(format!(
                    "`in <bytes>` needs an int or bytes on the left, not {}",
                    other.type_name()
                ))),
            },
            Value::List(l) => any_equal(&l.borrow(), item),
            Value::Map(m) => Ok(m.borrow().contains_key(&Key::new(item.clone())?)),
            Value::Range(r) => Ok(match item {
                Value::Int(i) => r.contains(*i),
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => r.contains(*f as i64),
                Value::Bool(b) => r.contains(*b as i64),
                _ => false,
            }),
            Value::Object(h) => {
                let h = h.clone();
                match h.0.call_method(
                    self,
                    container,
                    "contains",
                    crate::value::Args::new(std::slice::from_ref(item)),
                ) {
                    Some(r) => Ok(r?.truthy()),
                    None => Err(Exc::type_error(format!(
                        "`in` is not supported by {}",
                        container.type_name()
                    ))),
                }
            }
            other => {
                let items = self.collect(other)?;
                any_equal(&items, item)
            }
        }
    }

    /// `obj[index]`.
    pub fn get_index(&mut self, obj: &Value, index: &Value) -> VmResult<Value> {
        let int_index = |len: usize, what: &str| -> VmResult<usize> {
            let i = index.as_int().ok_or_else(|| {
                Exc::type_error(format!(
                    "{what} indices must be ints, not {}",
                    index.type_name()
                ))
            })?;
            index_of(i, len).ok_or_else(|| {
                Exc::new(
                    "IndexError",
                    format!("{what} index {i} out of range (length {len})"),
                )
            })
        };
        match obj {
            Value::List(l) => {
                let l = l.borrow();
                Ok(l[int_index(l.len(), "list")?].clone())
            }
            Value::Str(s) => {
                let i = int_index(s.char_len(), "str")?;
                Ok(Value::string(
                    s.char_at(i).map(String::from).unwrap_or_default(),
                ))
            }
            Value::Bytes(b) => Ok(Value::Int(b[int_index(b.len(), "bytes")?] as i64)),
            Value::Range(r) => {
                let n = r.len().max(0) as usize;
                Ok(Value::Int(r.nth(int_index(n, "range")? as i64)))
            }
            Value::Map(m) => {
                let key = Key::new(index.clone())?;
                match m.borrow().get(&key) {
                    Some(v) => Ok(v.clone()),
                    None => Err(Exc::new(
                        "KeyError",
                        crate::value::format::repr_plain(index),
                    )),
                }
            }
            Value::Object(h) => {
                let h = h.clone();
                h.0.call_method(
                    self,
                    obj,
                    "get_item",
                    crate::value::Args::new(std::slice::from_ref(index)),
                )
                .unwrap_or_else(|| {
                    Err(Exc::type_error(format!(
                        "{} cannot be indexed",
                        obj.type_name()
                    )))
                })
            }
            other => Err(Exc::type_error(format!(
                "{} cannot be indexed",
                other.type_name()
            ))),
        }
    }

    /// `obj[index] = v`.
    pub fn set_index(&mut self, obj: &Value, index: &Value, v: Value) -> VmResult<()> {
        match obj {
            Value::List(l) => {
                let i = index.as_int().ok_or_else(|| {
                    Exc::type_error(format!(
                        "list indices must be ints, not {}",
                        index.type_name()
                    ))
                })?;
                let mut l = l.borrow_mut();
                let len = l.len();
                let at = index_of(i, len).ok_or_else(|| {
                    Exc::new(
                        "IndexError",
                        format!("list assignment index {i} out of range (length {len})"),
                    )
                })?;
                l[at] = v;
                Ok(())
            }
            Value::Map(m) => {
                let key = Key::new(index.clone())?;
                m.borrow_mut().insert(key, v);
                Ok(())
            }
            Value::Object(h) => {
                let h = h.clone();
                let args = [index.clone(), v];
                h.0.call_method(self, obj, "set_item", crate::value::Args::new(&args))
                    .unwrap_or_else(|| {
                        Err(Exc::type_error(format!(
                            "{} does not support item assignment",
                            obj.type_name()
                        )))
                    })
                    .map(|_| ())
            }
            other => Err(Exc::type_error(format!(
                "{} does not support item assignment",
                other.type_name()
            ))),
        }
    }

    /// `let [a, b] = v`: exactly `count` items.
    pub fn unpack(&mut self, v: &Value, count: usize) -> VmResult<Vec<Value>> {
        let items = match v {
            Value::List(l) => l.borrow().clone(),
            other => self.collect(other)?,
        };
        if items.len() != count {
            return Err(Exc::value_error(format!(
                "expected {count} values to unpack, got {}",
                items.len()
            )));
        }
        Ok(items)
    }
}

/// `len(x)` for the built-in types.
pub fn length(v: &Value) -> Option<usize> {
    Some(match v {
        Value::Str(s) => s.char_len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.borrow().len(),
        Value::Map(m) => m.borrow().len(),
        Value::Range(r) => r.len().max(0) as usize,
        _ => return None,
    })
}

/// Whether any of `items` equals `item` (`in` on a list or iterable).
fn any_equal(items: &[Value], item: &Value) -> VmResult<bool> {
    for x in items {
        if x.try_equals(item)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: i64) -> Value {
        Value::Int(v)
    }

    #[test]
    fn python_floor_semantics() {
        let fd = |a, b| match arith(Arith::FloorDiv, &i(a), &i(b)).unwrap() {
            Value::Int(x) => x,
            _ => panic!(),
        };
        let md = |a, b| match arith(Arith::Mod, &i(a), &i(b)).unwrap() {
            Value::Int(x) => x,
            _ => panic!(),
        };
        assert_eq!(fd(-7, 2), -4);
        assert_eq!(fd(7, -2), -4);
        assert_eq!(md(-7, 3), 2);
        assert_eq!(md(7, -3), -2);
        assert!(arith(Arith::FloorDiv, &i(i64::MIN), &i(-1)).is_err());
        assert_eq!(md(i64::MIN, -1), 0);
        assert_eq!(float_divmod(-7.5, 2.0).unwrap(), (-4.0, 0.5));
        assert_eq!(float_divmod(7.0, -2.0).unwrap(), (-4.0, -1.0));
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(arith(Arith::Add, &i(i64::MAX), &i(1)).is_err());
        assert!(arith(Arith::Pow, &i(2), &i(64)).is_err());
        assert!(matches!(
            arith(Arith::Pow, &i(2), &i(62)).unwrap(),
            Value::Int(4611686018427387904)
        ));
        assert!(arith(Arith::Shl, &i(1), &i(63)).is_err());
        assert!(matches!(
            arith(Arith::Pow, &i(-1), &i(1 << 40)).unwrap(),
            Value::Int(1)
        ));
        assert!(negate(&i(i64::MIN)).is_err());
    }

    #[test]
    fn slices_match_python() {
        let pos = |len, lo: Option<i64>, hi: Option<i64>, st: Option<i64>| {
            let v = |o: Option<i64>| o.map_or(Value::Nil, Value::Int);
            slice_positions(len, &v(lo), &v(hi), &v(st)).unwrap()
        };
        assert_eq!(pos(5, None, None, Some(-1)), vec![4, 3, 2, 1, 0]);
        assert_eq!(pos(5, Some(-2), None, None), vec![3, 4]);
        assert_eq!(pos(5, Some(1), Some(100), Some(2)), vec![1, 3]);
        assert_eq!(pos(5, Some(3), Some(1), None), Vec::<usize>::new());
        assert_eq!(pos(5, Some(-100), Some(2), None), vec![0, 1]);
        assert_eq!(pos(5, Some(10), None, Some(-2)), vec![4, 2, 0]);
    }
}
