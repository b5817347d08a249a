//! Numbers (section 9): `abs min max sum round divmod pow sqrt floor ceil sin
//! cos tan atan2 exp log`, and a few more from Python's `math` (`asin acos atan
//! hypot log2 log10 isnan isinf isfinite`). The constants `pi e inf nan` are
//! defined in mod.rs.
//!
//! As in Python's `math`: an argument outside a function's domain is a
//! ValueError ("math domain error"), a finite argument whose result overflows is
//! an OverflowError; int results that do not fit in 64 bits are OverflowErrors.

use super::convert::float_to_int;
use super::given;
use crate::value::format::float_repr;
use crate::value::func::{want_f64, want_int};
use crate::value::{Args, Exc, Value, VmResult};
use crate::vm::Vm;
use crate::vm::ops::{self, Arith, float_divmod};
use std::cmp::Ordering;

fn domain_error(fname: &str, x: f64) -> Exc {
    Exc::value_error(format!("{fname}({}): math domain error", float_repr(x)))
}

fn range_error(fname: &str, x: f64) -> Exc {
    Exc::new(
        "OverflowError",
        format!(
            "{fname}({}): math range error (the result is too large)",
            float_repr(x)
        ),
    )
}

/// Checks the result `r` of `fname(x)` the way Python's math module does.
fn checked(fname: &str, x: f64, r: f64) -> VmResult<Value> {
    if r.is_nan() && !x.is_nan() {
        return Err(domain_error(fname, x));
    }
    if r.is_infinite() && x.is_finite() {
        return Err(range_error(fname, x));
    }
    Ok(Value::Float(r))
}

/// A one-argument float function `fname(x)`.
fn unary(args: Args, fname: &str, f: fn(f64) -> f64) -> VmResult<Value> {
    let [x] = args.bind(fname, ["x"], 1)?;
    let x = want_f64(fname, "x", &x.unwrap_or_default())?;
    checked(fname, x, f(x))
}

fn abs(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("abs", ["x"], 1)?;
    match x.unwrap_or_default() {
        Value::Int(i) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| ops::overflow("abs")),
        Value::Bool(b) => Ok(Value::Int(b as i64)),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        other => Err(Exc::type_error(format!(
            "abs() needs a number, not {}",
            other.type_name()
        ))),
    }
}

/// `min` and `max`: over one iterable argument or over several arguments, by
/// `key:` when given; `default:` is returned for an empty iterable.
fn extreme(vm: &mut Vm, args: Args, fname: &str, want: Ordering) -> VmResult<Value> {
    let [key, default] = args.named_only(fname, ["key", "default"])?;
    let key = given(key);
    let items = match args.pos {
        [] => {
            return Err(Exc::type_error(format!(
                "{fname}() needs at least one argument"
            )));
        }
        [one] => vm.collect(one)?,
        many => {
            if default.is_some() {
                return Err(Exc::type_error(format!(
                    "{fname}() takes `default` only with a single iterable"
                )));
            }
            many.to_vec()
        }
    };
    let mut best: Option<(Value, Value)> = None;
    for item in items {
        let k = match &key {
            Some(f) => vm.call(f, std::slice::from_ref(&item))?,
            None => item.clone(),
        };
        match &best {
            // Python keeps the first of equal items, and NaN never replaces
            Some((best_key, _)) if ops::order(&k, best_key)? != Some(want) => {}
            _ => best = Some((k, item)),
        }
    }
    match (best, default) {
        (Some((_, item)), _) => Ok(item),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Exc::value_error(format!(
            "{fname}() of an empty sequence (give `default:` to allow it)"
        ))),
    }
}

fn min(vm: &mut Vm, args: Args) -> VmResult<Value> {
    extreme(vm, args, "min", Ordering::Less)
}

fn max(vm: &mut Vm, args: Args) -> VmResult<Value> {
    extreme(vm, args, "max", Ordering::Greater)
}

/// The running total of `sum`: ints exactly (with overflow checks), floats with
/// Neumaier's compensated summation as Python 3.12 does, anything else with `+`.
enum Total {
    Int(i64),
    Float { sum: f64, c: f64 },
    Other(Value),
}

impl Total {
    /// `add`, with the int + int case inline.
    #[inline(always)]
    fn add_next(mut self, item: &Value) -> VmResult<Total> {
        if let (Total::Int(t), Value::Int(i)) = (&mut self, item) {
            *t = t.checked_add(*i).ok_or_else(|| ops::overflow("sum"))?;
            return Ok(self);
        }
        self.add(item)
    }

    fn add(self, item: &Value) -> VmResult<Total> {
        Ok(match (self, item) {
            (Total::Int(t), Value::Int(_) | Value::Bool(_)) => Total::Int(
                t.checked_add(item.as_int().unwrap_or(0))
                    .ok_or_else(|| ops::overflow("sum"))?,
            ),
            (Total::Int(t), Value::Float(f)) => Total::Float {
                sum: t as f64,
                c: 0.0,
            }
            .add_float(*f),
            (Total::Float { sum, c }, Value::Int(_) | Value::Bool(_) | Value::Float(_)) => {
                Total::Float { sum, c }.add_float(item.as_f64().unwrap_or(0.0))
            }
            (t, item) => Total::Other(ops::arith(Arith::Add, &t.value(), item)?),
        })
    }

    fn add_float(self, x: f64) -> Total {
        let Total::Float { sum, mut c } = self else {
            return self;
        };
        let t = sum + x;
        if sum.abs() >= x.abs() {
            c += (sum - t) + x;
        } else {
            c += (x - t) + sum;
        }
        Total::Float { sum: t, c }
    }

    fn value(self) -> Value {
        match self {
            Total::Int(i) => Value::Int(i),
            // the compensation must not turn an infinite or overflowed sum into NaN
            Total::Float { sum, c } => Value::Float(if c != 0.0 && c.is_finite() {
                sum + c
            } else {
                sum
            }),
            Total::Other(v) => v,
        }
    }
}

fn sum(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs, start] = args.bind("sum", ["xs", "start"], 1)?;
    let mut total = match start {
        None => Total::Int(0),
        Some(Value::Str(_)) => {
            return Err(Exc::type_error(
                "sum() can't add strings (use \"\".join(xs) instead)",
            ));
        }
        Some(Value::Int(i)) => Total::Int(i),
        Some(Value::Bool(b)) => Total::Int(b as i64),
        Some(Value::Float(f)) => Total::Float { sum: f, c: 0.0 },
        Some(other) => Total::Other(other),
    };
    let xs = xs.unwrap_or_default();
    // adding runs no script code, so a list can be read in place
    if let Value::List(l) = &xs {
        for item in l.borrow().iter() {
            total = total.add_next(item)?;
        }
        return Ok(total.value());
    }
    for item in vm.collect(&xs)? {
        total = total.add_next(&item)?;
    }
    Ok(total.value())
}

/// `round(x, n)` for a float: the double nearest to x rounded to n decimal places,
/// ties (of x's exact value) to even, as Python does.
pub fn round_float(x: f64, n: i64) -> VmResult<f64> {
    if !x.is_finite() || x == 0.0 || n > 323 {
        return Ok(x);
    }
    if n < -308 {
        return Ok(0.0 * x);
    }
    let r = if n >= 0 {
        // Rust prints the exact value rounded half to even: correctly rounded
        format!("{x:.0$}", n as usize).parse::<f64>().unwrap_or(x)
    } else {
        round_to_power_of_ten(x, (-n) as usize)
    };
    if r.is_infinite() {
        return Err(Exc::new(
            "OverflowError",
            "round(): the rounded value is too large to represent",
        ));
    }
    Ok(r)
}

/// Rounds x to a multiple of 10^k (k >= 1), half to even, working on the exact
/// decimal digits of its integer part (the fraction only breaks ties).
fn round_to_power_of_ten(x: f64, k: usize) -> f64 {
    let digits = format!("{:.0}", x.abs().trunc());
    let has_fraction = x.fract() != 0.0;
    let (head, tail) = if digits.len() > k {
        digits.split_at(digits.len() - k)
    } else {
        ("0", digits.as_str())
    };
    let tail = format!("{tail:0>k$}");
    let half = format!("5{}", "0".repeat(k - 1));
    let up = match tail.as_str().cmp(half.as_str()) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => {
            has_fraction || head.as_bytes().last().is_some_and(|d| (d - b'0') % 2 == 1)
        }
    };
    let mut head = head.as_bytes().to_vec();
    if up {
        let mut i = head.len();
        loop {
            if i == 0 {
                head.insert(0, b'1');
                break;
            }
            i -= 1;
            if head[i] == b'9' {
                head[i] = b'0';
            } else {
                head[i] += 1;
                break;
            }
        }
    }
    let text = format!(
        "{}{}e{k}",
        if x < 0.0 { "-" } else { "" },
        String::from_utf8_lossy(&head)
    );
    text.parse::<f64>().unwrap_or(x)
}

/// `round(i, n)` for an int and n < 0: to a multiple of 10^-n, half to even.
fn round_int(i: i64, n: i64) -> VmResult<i64> {
    if n >= 0 {
        return Ok(i);
    }
    if n < -38 {
        return Ok(0);
    }
    let p = 10i128.pow((-n) as u32);
    let (q, r) = ((i as i128).div_euclid(p), (i as i128).rem_euclid(p));
    let q = match (2 * r).cmp(&p) {
        Ordering::Greater => q + 1,
        Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    };
    i64::try_from(q * p).map_err(|_| ops::overflow("round"))
}

fn round(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x, ndigits] = args.bind("round", ["x", "ndigits"], 1)?;
    let x = x.unwrap_or_default();
    let n = given(ndigits)
        .map(|n| want_int("round", "ndigits", &n))
        .transpose()?;
    match (&x, n) {
        (Value::Int(_) | Value::Bool(_), n) => Ok(Value::Int(round_int(
            x.as_int().unwrap_or(0),
            n.unwrap_or(0),
        )?)),
        (Value::Float(f), None) => float_to_int(f.round_ties_even(), "round").map(Value::Int),
        (Value::Float(f), Some(n)) => round_float(*f, n).map(Value::Float),
        (other, _) => Err(Exc::type_error(format!(
            "round() needs a number, not {}",
            other.type_name()
        ))),
    }
}

fn divmod(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [a, b] = args.bind("divmod", ["a", "b"], 2)?;
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    match (&a, &b) {
        (Value::Int(_) | Value::Bool(_), Value::Int(_) | Value::Bool(_)) => Ok(Value::list(vec![
            ops::arith(Arith::FloorDiv, &a, &b)?,
            ops::arith(Arith::Mod, &a, &b)?,
        ])),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => {
                let (q, r) = float_divmod(x, y)?;
                Ok(Value::list(vec![Value::Float(q), Value::Float(r)]))
            }
            _ => Err(Exc::type_error(format!(
                "divmod() needs numbers, not {} and {}",
                a.type_name(),
                b.type_name()
            ))),
        },
    }
}

fn pow(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [base, exp, modulus] = args.bind("pow", ["base", "exp", "mod"], 2)?;
    let (base, exp) = (base.unwrap_or_default(), exp.unwrap_or_default());
    let Some(modulus) = given(modulus) else {
        if base.as_f64().is_none() || exp.as_f64().is_none() {
            return Err(Exc::type_error(format!(
                "pow() needs numbers, not {} and {}",
                base.type_name(),
                exp.type_name()
            )));
        }
        return ops::arith(Arith::Pow, &base, &exp);
    };
    let b = want_int("pow", "base", &base)?;
    let e = want_int("pow", "exp", &exp)?;
    let m = want_int("pow", "mod", &modulus)?;
    if m == 0 {
        return Err(Exc::value_error("pow() modulus cannot be 0"));
    }
    if e < 0 {
        return Err(Exc::value_error(
            "pow() with a modulus needs a non-negative exponent",
        ));
    }
    Ok(Value::Int(pow_mod(b, e, m)))
}

/// `b ** e % m` for e >= 0 and m != 0; the result takes m's sign, as `%` does.
fn pow_mod(b: i64, mut e: i64, m: i64) -> i64 {
    let modulus = (m as i128).abs();
    let mut result: i128 = 1 % modulus;
    let mut base = (b as i128).rem_euclid(modulus);
    while e > 0 {
        if e & 1 == 1 {
            result = result * base % modulus;
        }
        base = base * base % modulus;
        e >>= 1;
    }
    if m < 0 && result != 0 {
        (result + m as i128) as i64
    } else {
        result as i64
    }
}

fn sqrt(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "sqrt", f64::sqrt)
}

/// `floor` and `ceil` return ints.
fn to_int_by(args: Args, fname: &str, f: fn(f64) -> f64) -> VmResult<Value> {
    let [x] = args.bind(fname, ["x"], 1)?;
    match x.unwrap_or_default() {
        Value::Int(i) => Ok(Value::Int(i)),
        Value::Bool(b) => Ok(Value::Int(b as i64)),
        Value::Float(x) if x.is_infinite() => Err(Exc::new(
            "OverflowError",
            format!("{fname}() cannot convert {} to an int", float_repr(x)),
        )),
        Value::Float(x) => float_to_int(f(x), fname).map(Value::Int),
        other => Err(Exc::type_error(format!(
            "{fname}() needs a number, not {}",
            other.type_name()
        ))),
    }
}

fn floor(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    to_int_by(args, "floor", f64::floor)
}

fn ceil(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    to_int_by(args, "ceil", f64::ceil)
}

fn sin(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "sin", f64::sin)
}

fn cos(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "cos", f64::cos)
}

fn tan(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "tan", f64::tan)
}

fn asin(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "asin", f64::asin)
}

fn acos(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "acos", f64::acos)
}

fn atan(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "atan", f64::atan)
}

fn atan2(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [y, x] = args.bind("atan2", ["y", "x"], 2)?;
    let y = want_f64("atan2", "y", &y.unwrap_or_default())?;
    let x = want_f64("atan2", "x", &x.unwrap_or_default())?;
    Ok(Value::Float(y.atan2(x)))
}

fn hypot(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x, y] = args.bind("hypot", ["x", "y"], 2)?;
    let x = want_f64("hypot", "x", &x.unwrap_or_default())?;
    let y = want_f64("hypot", "y", &y.unwrap_or_default())?;
    let r = x.hypot(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(range_error("hypot", x));
    }
    Ok(Value::Float(r))
}

fn exp(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    unary(args, "exp", f64::exp)
}

/// The natural logarithm of a positive number (0 and negatives are outside the domain).
fn ln(fname: &str, x: f64) -> VmResult<f64> {
    if x <= 0.0 {
        return Err(domain_error(fname, x));
    }
    Ok(x.ln())
}

fn log(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x, base] = args.bind("log", ["x", "base"], 1)?;
    let x = want_f64("log", "x", &x.unwrap_or_default())?;
    let lx = ln("log", x)?;
    match given(base) {
        None => Ok(Value::Float(lx)),
        Some(b) => {
            let b = want_f64("log", "base", &b)?;
            let lb = ln("log", b)?;
            if lb == 0.0 {
                return Err(Exc::new(
                    "ZeroDivisionError",
                    "log() base 1 divides by zero",
                ));
            }
            Ok(Value::Float(lx / lb))
        }
    }
}

fn log2(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("log2", ["x"], 1)?;
    let x = want_f64("log2", "x", &x.unwrap_or_default())?;
    ln("log2", x)?;
    Ok(Value::Float(x.log2()))
}

fn log10(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("log10", ["x"], 1)?;
    let x = want_f64("log10", "x", &x.unwrap_or_default())?;
    ln("log10", x)?;
    Ok(Value::Float(x.log10()))
}

fn float_test(args: Args, fname: &str, f: fn(f64) -> bool) -> VmResult<Value> {
    let [x] = args.bind(fname, ["x"], 1)?;
    Ok(Value::Bool(f(want_f64(
        fname,
        "x",
        &x.unwrap_or_default(),
    )?)))
}

fn isnan(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    float_test(args, "isnan", f64::is_nan)
}

fn isinf(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    float_test(args, "isinf", f64::is_infinite)
}

fn isfinite(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    float_test(args, "isfinite", f64::is_finite)
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("abs", abs),
    ("min", min),
    ("max", max),
    ("sum", sum),
    ("round", round),
    ("divmod", divmod),
    ("pow", pow),
    ("sqrt", sqrt),
    ("floor", floor),
    ("ceil", ceil),
    ("sin", sin),
    ("cos", cos),
    ("tan", tan),
    ("asin", asin),
    ("acos", acos),
    ("atan", atan),
    ("atan2", atan2),
    ("hypot", hypot),
    ("exp", exp),
    ("log", log),
    ("log2", log2),
    ("log10", log10),
    ("isnan", isnan),
    ("isinf", isinf),
    ("isfinite", isfinite),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f64, n: i64) -> f64 {
        round_float(x, n).unwrap()
    }

    #[test]
    fn round_with_digits_matches_python() {
        assert_eq!(r(2.675, 2), 2.67);
        assert_eq!(r(1.005, 2), 1.0);
        assert_eq!(r(0.125, 2), 0.12);
        assert_eq!(r(0.375, 2), 0.38);
        assert_eq!(r(1.25, 1), 1.2);
        assert_eq!(r(1.35, 1), 1.4);
        assert_eq!(r(2.5, 0), 2.0);
        assert_eq!(r(-1.005, 2), -1.0);
        assert!(r(-0.001, 2).is_sign_negative());
        assert_eq!(r(25.0, -1), 20.0);
        assert_eq!(r(35.0, -1), 40.0);
        assert_eq!(r(25.000001, -1), 30.0);
        assert_eq!(r(-25.0, -1), -20.0);
        assert_eq!(r(1234.5, -2), 1200.0);
        assert_eq!(r(950.0, -3), 1000.0);
        assert_eq!(r(4.0, -1), 0.0);
        assert_eq!(r(123.456, 400), 123.456);
        assert_eq!(r(123.456, -400), 0.0);
        assert!(r(f64::NAN, 2).is_nan());
        assert!(round_float(1.7976931348623157e308, -308).is_err());
    }

    #[test]
    fn round_int_and_pow_mod() {
        assert_eq!(round_int(1250, -2).unwrap(), 1200);
        assert_eq!(round_int(1350, -2).unwrap(), 1400);
        assert_eq!(round_int(-1250, -2).unwrap(), -1200);
        assert_eq!(round_int(7, 3).unwrap(), 7);
        assert_eq!(round_int(i64::MAX, -50).unwrap(), 0);
        assert_eq!(round_int(i64::MAX, -18).unwrap(), 9_000_000_000_000_000_000);
        assert!(round_int(i64::MAX, -19).is_err());
        assert_eq!(pow_mod(2, 10, 1000), 24);
        assert_eq!(pow_mod(2, 3, -5), -2);
        assert_eq!(pow_mod(-2, 3, 5), 2);
        assert_eq!(pow_mod(5, 0, 1), 0);
        assert_eq!(
            pow_mod(i64::MAX, i64::MAX, i64::MAX - 1),
            pow_mod(1, 1, i64::MAX - 1)
        );
    }

    #[test]
    fn compensated_float_sum() {
        let mut t = Total::Int(0);
        for _ in 0..10 {
            t = t.add(&Value::Float(0.1)).unwrap();
        }
        assert!(matches!(t.value(), Value::Float(f) if f == 1.0));
        let t = Total::Int(0)
            .add(&Value::Float(0.1))
            .unwrap()
            .add(&Value::Float(0.2))
            .unwrap();
        assert!(matches!(t.value(), Value::Float(f) if f == 0.30000000000000004));
    }
}
