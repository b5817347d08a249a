//! Conversions (section 9): `int float bool bytes hash id`. (`str`, `repr`,
//! `list`, `type` and `len` are in core.rs.) Text is parsed as Python parses it:
//! surrounding whitespace is ignored, `_` may separate digits, and anything else
//! is a ValueError naming the text; a number that does not fit in 64 bits is an
//! OverflowError, never a wrapped value.

use super::{check_size, given};
use crate::value::format::quote_str;
use crate::value::func::want_int;
use crate::value::map::hash_value;
use crate::value::{Args, Exc, Value, VmResult};
use crate::vm::Vm;

/// Python's notion of whitespace (`str.split()`, `str.strip()`, `int(" 1 ")`):
/// Unicode White_Space plus the ASCII separators 0x1c-0x1f.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Why a text is not an int.
#[derive(Debug, PartialEq)]
pub enum IntParseError {
    Invalid,
    Overflow,
}

/// Parses an int literal as `int(text, base)` does; base 0 takes the base from a
/// `0x`/`0o`/`0b` prefix (and then forbids leading zeros, as Python does).
pub fn parse_int(text: &str, base: u32) -> Result<i64, IntParseError> {
    let s = text.trim_matches(is_py_space);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let auto = base == 0;
    let prefix_base = match s.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    let (base, digits) = match (base, prefix_base) {
        // after a prefix a single `_` may come first: 0x_ff
        (0, Some(p)) => (p, s[2..].strip_prefix('_').unwrap_or(&s[2..])),
        (0, None) => (10, s),
        (b, Some(p)) if b == p => (b, s[2..].strip_prefix('_').unwrap_or(&s[2..])),
        (b, _) => (b, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(IntParseError::Invalid);
    }
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    for c in digits.chars().filter(|c| *c != '_') {
        let d = c.to_digit(base).ok_or(IntParseError::Invalid)?;
        match magnitude
            .checked_mul(base as u64)
            .and_then(|m| m.checked_add(d as u64))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
    }
    // base 0 forbids "010" (ambiguous with C's octal) but allows "000"
    if auto && prefix_base.is_none() && digits.starts_with('0') && !overflow && magnitude != 0 {
        return Err(IntParseError::Invalid);
    }
    if overflow {
        return Err(IntParseError::Overflow);
    }
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Ok((magnitude as i64).wrapping_neg())
        } else {
            Err(IntParseError::Overflow)
        }
    } else {
        i64::try_from(magnitude).map_err(|_| IntParseError::Overflow)
    }
}

/// Parses a float as `float(text)` does: decimal or scientific notation, with
/// optional `_` between digits, or `inf`/`infinity`/`nan` in any case.
pub fn parse_float(text: &str) -> Option<f64> {
    let s = text.trim_matches(is_py_space);
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let negative = s.starts_with('-');
    match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
    {
        return None;
    }
    let bytes = s.as_bytes();
    let mut cleaned = String::with_capacity(s.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let between_digits = i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !between_digits {
                return None;
            }
        } else {
            cleaned.push(b as char);
        }
    }
    cleaned.parse::<f64>().ok()
}

fn int(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x, base] = args.bind("int", ["x", "base"], 0)?;
    let base = match given(base) {
        None => None,
        Some(b) => {
            let b = want_int("int", "base", &b)?;
            if b != 0 && !(2..=36).contains(&b) {
                return Err(Exc::value_error("int() base must be 0 or between 2 and 36"));
            }
            Some(b as u32)
        }
    };
    let x = x.unwrap_or(Value::Int(0));
    let text = match (&x, base) {
        (Value::Str(s), _) => s.as_str().to_string(),
        (Value::Bytes(b), _) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => return Err(Exc::value_error("int() got bytes that are not valid UTF-8")),
        },
        (_, Some(_)) => {
            return Err(Exc::type_error(format!(
                "int() can't convert a {} with an explicit base",
                x.type_name()
            )));
        }
        (Value::Int(i), None) => return Ok(Value::Int(*i)),
        (Value::Bool(b), None) => return Ok(Value::Int(*b as i64)),
        (Value::Float(f), None) => return float_to_int(*f, "int").map(Value::Int),
        (other, None) => {
            return Err(Exc::type_error(format!(
                "int() needs a number or a str, not {}",
                other.type_name()
            )));
        }
    };
    let base = base.unwrap_or(10);
    parse_int(&text, base).map(Value::Int).map_err(|e| match e {
        IntParseError::Invalid => Exc::value_error(format!(
            "invalid literal for int() with base {base}: {}",
            quote_str(&text)
        )),
        IntParseError::Overflow => Exc::new(
            "OverflowError",
            format!("int() of {} does not fit in 64 bits", quote_str(&text)),
        ),
    })
}

/// Truncates a float toward zero, as `int(x)` does.
pub fn float_to_int(f: f64, fname: &str) -> VmResult<i64> {
    if f.is_nan() {
        return Err(Exc::value_error(format!(
            "{fname}() cannot convert float NaN to an int"
        )));
    }
    let t = f.trunc();
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t) {
        return Err(Exc::new(
            "OverflowError",
            format!(
                "{fname}() of {} does not fit in a 64-bit int",
                crate::value::format::float_repr(f)
            ),
        ));
    }
    Ok(t as i64)
}

fn float(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("float", ["x"], 0)?;
    match x.unwrap_or(Value::Float(0.0)) {
        Value::Float(f) => Ok(Value::Float(f)),
        Value::Int(i) => Ok(Value::Float(i as f64)),
        Value::Bool(b) => Ok(Value::Float(b as i64 as f64)),
        Value::Str(s) => parse_float(s.as_str()).map(Value::Float).ok_or_else(|| {
            Exc::value_error(format!(
                "could not convert string to float: {}",
                quote_str(s.as_str())
            ))
        }),
        other => Err(Exc::type_error(format!(
            "float() needs a number or a str, not {}",
            other.type_name()
        ))),
    }
}

fn bool_(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("bool", ["x"], 0)?;
    Ok(Value::Bool(x.is_some_and(|x| x.truthy())))
}

/// A byte from an int item of `bytes([...])`.
pub fn byte_of(v: &Value, fname: &str) -> VmResult<u8> {
    match v.as_int() {
        Some(i) => u8::try_from(i)
            .map_err(|_| Exc::value_error(format!("{fname}(): byte {i} is not in range(0, 256)"))),
        None => Err(Exc::type_error(format!(
            "{fname}() needs ints for bytes, not {}",
            v.type_name()
        ))),
    }
}

fn bytes(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x, encoding] = args.bind("bytes", ["x", "encoding"], 0)?;
    let x = x.unwrap_or(Value::Nil);
    match (&x, given(encoding)) {
        (Value::Str(s), enc) => {
            super::bytes::encode(s.as_str(), enc.as_ref(), "bytes").map(Value::bytes)
        }
        (_, Some(_)) => Err(Exc::type_error("bytes() takes an encoding only for a str")),
        (Value::Nil, None) => Ok(Value::bytes(Vec::new())),
        (Value::Bytes(b), None) => Ok(Value::Bytes(b.clone())),
        (Value::Int(n), None) => {
            if *n < 0 {
                return Err(Exc::value_error("bytes() count cannot be negative"));
            }
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            check_size("bytes()", n)?;
            Ok(Value::bytes(vec![0; n]))
        }
        (Value::Float(_) | Value::Bool(_), None) => Err(Exc::type_error(format!(
            "bytes() cannot be made from a {}",
            x.type_name()
        ))),
        (_, None) => {
            let items = vm.collect(&x)?;
            let out: Vec<u8> = items
                .iter()
                .map(|v| byte_of(v, "bytes"))
                .collect::<VmResult<_>>()?;
            Ok(Value::bytes(out))
        }
    }
}

fn hash(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("hash", ["x"], 1)?;
    let x = x.unwrap_or_default();
    match &x {
        Value::List(_) | Value::Map(_) => Err(Exc::type_error(format!(
            "unhashable type: {}",
            x.type_name()
        ))),
        _ => Ok(Value::Int(
            hash_value(&x).map_or_else(|| x.identity(), |h| h as i64),
        )),
    }
}

fn id(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("id", ["x"], 1)?;
    Ok(Value::Int(x.unwrap_or_default().identity()))
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("int", int),
    ("float", float),
    ("bool", bool_),
    ("bytes", bytes),
    ("hash", hash),
    ("id", id),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_like_python() {
        assert_eq!(parse_int(" 12\n", 10), Ok(12));
        assert_eq!(parse_int("-5", 10), Ok(-5));
        assert_eq!(parse_int("1_000", 10), Ok(1000));
        assert_eq!(parse_int("ff", 16), Ok(255));
        assert_eq!(parse_int("0xff", 16), Ok(255));
        assert_eq!(parse_int("0x_ff", 0), Ok(255));
        assert_eq!(parse_int("-0b101", 0), Ok(-5));
        assert_eq!(parse_int("010", 0), Err(IntParseError::Invalid));
        assert_eq!(parse_int("000", 0), Ok(0));
        assert_eq!(parse_int("010", 10), Ok(10));
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert_eq!(
            parse_int("9223372036854775808", 10),
            Err(IntParseError::Overflow)
        );
        for bad in [
            "", "x", "1.5", "12abc", "_1", "1_", "1__0", "+", "0x", "1 2",
        ] {
            assert_eq!(parse_int(bad, 10), Err(IntParseError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn floats_parse_like_python() {
        assert_eq!(parse_float("1.5"), Some(1.5));
        assert_eq!(parse_float(" -0.25 "), Some(-0.25));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_float("nan").is_some_and(f64::is_nan));
        for bad in ["", "abc", "1,5", "1._5", "_1", "0x10", "e5", "1e"] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
    }
}
