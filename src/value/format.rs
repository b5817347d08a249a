//! How values become text: `print`/`str` (display), `repr`, Python's float repr,
//! and the format-spec mini-language of f-strings (`{x:>8.2f}`).
//!
//! Display differs from repr only at the top level: a string prints bare, but
//! inside a container it is quoted. Cycles print as `[...]`/`{...}`; nesting
//! deeper than `MAX_NESTING` is a RecursionError rather than a stack overflow.

use super::{Exc, MAX_NESTING, Value, VmResult};
use crate::vm::Vm;
use std::fmt::Write as _;

/// Python's `repr(float)`: the shortest text that reads back to the same double,
/// scientific when the decimal exponent is below -4 or at least 16.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7", "1e20", "-2.5e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// A string as a double-quoted literal: `"a\"b\n"`.
pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Bytes as a literal: `b"ab\x00"`.
pub fn bytes_repr(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 3);
    out.push_str("b\"");
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// `print(x)` / `str(x)`.
pub fn to_display(vm: &mut Vm, v: &Value) -> VmResult<String> {
    match v {
        Value::Str(s) => Ok(s.as_str().to_string()),
        _ => {
            let mut out = String::new();
            Printer { seen: Vec::new() }.write(vm, v, &mut out, true)?;
            Ok(out)
        }
    }
}

/// `repr(x)`: strings quoted.
pub fn to_repr(vm: &mut Vm, v: &Value) -> VmResult<String> {
    let mut out = String::new();
    Printer { seen: Vec::new() }.write(vm, v, &mut out, false)?;
    Ok(out)
}

/// A repr that needs no interpreter (instances show as `<Name object>`), for
/// debugging output and for places that cannot run script code.
pub fn repr_plain(v: &Value) -> String {
    let mut out = String::new();
    let _ = Printer { seen: Vec::new() }.write_plain(v, &mut out, 0);
    out
}

fn too_deep() -> Exc {
    Exc::new("RecursionError", "value is nested too deeply to print")
}

struct Printer {
    /// Containers being printed, to show cycles as `[...]`.
    seen: Vec<usize>,
}

impl Printer {
    fn write(&mut self, vm: &mut Vm, v: &Value, out: &mut String, top: bool) -> VmResult<()> {
        if self.seen.len() > MAX_NESTING {
            return Err(Exc::new(
                "RecursionError",
                "value is nested too deeply to print",
            ));
        }
        match v {
            Value::Str(s) if top => out.push_str(s.as_str()),
            Value::List(l) => {
                let id = v.identity() as usize;
                if self.seen.contains(&id) {
                    out.push_str("[...]");
                    return Ok(());
                }
                self.seen.push(id);
                out.push('[');
                let items = l.borrow().clone();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write(vm, item, out, false)?;
                }
                out.push(']');
                self.seen.pop();
            }
            Value::Map(m) => {
                let id = v.identity() as usize;
                if self.seen.contains(&id) {
                    out.push_str("{...}");
                    return Ok(());
                }
                self.seen.push(id);
                out.push('{');
                let entries: Vec<(Value, Value)> = m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.value().clone(), v.clone()))
                    .collect();
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write(vm, k, out, false)?;
                    out.push_str(": ");
                    self.write(vm, val, out, false)?;
                }
                out.push('}');
                self.seen.pop();
            }
            Value::Instance(_) => match vm.instance_str(v)? {
                Some(s) => out.push_str(&s),
                None => self.write_plain(v, out, 0).map_err(|_| too_deep())?,
            },
            Value::Object(h) => {
                let s = h.0.repr(vm);
                out.push_str(&s);
            }
            other => self.write_plain(other, out, 0).map_err(|_| too_deep())?,
        }
        Ok(())
    }

    /// Everything that needs no interpreter.
    fn write_plain(&mut self, v: &Value, out: &mut String, depth: usize) -> Result<(), ()> {
        if depth > MAX_NESTING {
            out.push_str("...");
            return Err(());
        }
        match v {
            Value::Nil => out.push_str("nil"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&float_repr(*f)),
            Value::Str(s) => out.push_str(&quote_str(s.as_str())),
            Value::Bytes(b) => out.push_str(&bytes_repr(b)),
            Value::List(l) => {
                let id = v.identity() as usize;
                if self.seen.contains(&id) {
                    out.push_str("[...]");
                    return Ok(());
                }
                self.seen.push(id);
                out.push('[');
                for (i, item) in l.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_plain(item, out, depth + 1)?;
                }
                out.push(']');
                self.seen.pop();
            }
            Value::Map(m) => {
                let id = v.identity() as usize;
                if self.seen.contains(&id) {
                    out.push_str("{...}");
                    return Ok(());
                }
                self.seen.push(id);
                out.push('{');
                for (i, (k, val)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_plain(k.value(), out, depth + 1)?;
                    out.push_str(": ");
                    self.write_plain(val, out, depth + 1)?;
                }
                out.push('}');
                self.seen.pop();
            }
            Value::Range(r) => {
                if r.step == 1 {
                    let _ = write!(out, "range({}, {})", r.start, r.stop);
                } else {
                    let _ = write!(out, "range({}, {}, {})", r.start, r.stop, r.step);
                }
            }
            Value::Func(c) => {
                let _ = write!(out, "<fn {}>", c.proto.name);
            }
            Value::Native(n) => {
                let _ = write!(out, "<builtin {}>", n.name);
            }
            Value::Bound(b) => {
                let name = match &b.method {
                    Value::Func(c) => c.proto.name.to_string(),
                    Value::Native(n) => n.name.to_string(),
                    _ => "?".into(),
                };
                let _ = write!(out, "<bound method {}.{}>", b.receiver.type_name(), name);
            }
            Value::Class(c) => {
                let _ = write!(out, "<class {}>", c.name);
            }
            Value::Instance(i) => {
                let _ = write!(out, "<{} object>", i.class.name);
            }
            Value::Error(e) => {
                let _ = write!(out, "{}: {}", e.kind, e.message);
            }
            Value::Object(h) => {
                let _ = write!(out, "<{}>", h.0.type_name());
            }
            Value::Iter(_) => out.push_str("<iterator>"),
            Value::Cell(_) => out.push_str("<cell>"),
            Value::Undef => out.push_str("<undefined>"),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The format-spec mini-language: [[fill]align][sign][#][0][width][,|_][.precision][type]

struct Spec {
    fill: char,
    align: Option<char>,
    sign: char,
    alt: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    ty: Option<char>,
}

fn parse_spec(spec: &str) -> VmResult<Spec> {
    let bad = || Exc::value_error(format!("invalid format specifier `{spec}`"));
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut s = Spec {
        fill: ' ',
        align: None,
        sign: '-',
        alt: false,
        width: 0,
        grouping: None,
        precision: None,
        ty: None,
    };
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(chars[1]) {
        s.fill = chars[0];
        s.align = Some(chars[1]);
        i = 2;
    } else if !chars.is_empty() && is_align(chars[0]) {
        s.align = Some(chars[0]);
        i = 1;
    }
    if i < chars.len() && matches!(chars[i], '+' | '-' | ' ') {
        s.sign = chars[i];
        i += 1;
    }
    if i < chars.len() && chars[i] == '#' {
        s.alt = true;
        i += 1;
    }
    if i < chars.len() && chars[i] == '0' {
        if s.align.is_none() {
            s.fill = '0';
            s.align = Some('=');
        }
        i += 1;
    }
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        s.width = chars[start..i]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| bad())?;
        if s.width > 10_000 {
            return Err(Exc::value_error("format width is too large"));
        }
    }
    if i < chars.len() && matches!(chars[i], ',' | '_') {
        s.grouping = Some(chars[i]);
        i += 1;
    }
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let p: usize = chars[start..i]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| bad())?;
        if p > 1000 {
            return Err(Exc::value_error("format precision is too large"));
        }
        s.precision = Some(p);
    }
    if i < chars.len() {
        s.ty = Some(chars[i]);
        i += 1;
    }
    if i != chars.len() {
        return Err(bad());
    }
    Ok(s)
}

/// Formats `v` with a Python format spec, as f-strings and `str.format` do.
pub fn format_value(vm: &mut Vm, v: &Value, spec: &str) -> VmResult<String> {
    if spec.is_empty() {
        return to_display(vm, v);
    }
    let s = parse_spec(spec)?;
    let (body, numeric) = match (v, s.ty) {
        (Value::Int(_) | Value::Bool(_), None | Some('d' | 'x' | 'X' | 'o' | 'b' | 'c' | 'n')) => {
            (format_int(v.as_int().unwrap_or(0), &s)?, true)
        }
        (
            Value::Int(_) | Value::Bool(_) | Value::Float(_),
            Some('e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%'),
        )
        | (Value::Float(_), None) => (format_float(v.as_f64().unwrap_or(0.0), &s), true),
        (Value::Float(_), Some(t)) => {
            return Err(Exc::value_error(format!(
                "unknown format code `{t}` for a float"
            )));
        }
        (_, None | Some('s')) => {
            let mut text = to_display(vm, v)?;
            if let Some(p) = s.precision {
                text = text.chars().take(p).collect();
            }
            (text, false)
        }
        (_, Some(t)) => {
            return Err(Exc::value_error(format!(
                "unknown format code `{t}` for a {}",
                v.type_name()
            )));
        }
    };
    Ok(pad(&body, &s, numeric))
}

fn sign_prefix(negative: bool, sign: char) -> &'static str {
    match (negative, sign) {
        (true, _) => "-",
        (false, '+') => "+",
        (false, ' ') => " ",
        _ => "",
    }
}

fn group(digits: &str, sep: char, every: usize) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / every);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i) % every == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn format_int(i: i64, s: &Spec) -> VmResult<String> {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let (prefix, digits) = match s.ty {
        Some('x') => ("0x", format!("{mag:x}")),
        Some('X') => ("0X", format!("{mag:X}")),
        Some('o') => ("0o", format!("{mag:o}")),
        Some('b') => ("0b", format!("{mag:b}")),
        Some('c') => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| Exc::new("OverflowError", "%c argument is not a valid character"))?;
            return Ok(c.to_string());
        }
        _ => ("", mag.to_string()),
    };
    let digits = match s.grouping {
        Some(sep) if s.ty.is_none() || s.ty == Some('d') || s.ty == Some('n') => {
            group(&digits, sep, 3)
        }
        Some(sep) => group(&digits, sep, 4),
        None => digits,
    };
    Ok(format!(
        "{}{}{}",
        sign_prefix(neg, s.sign),
        if s.alt { prefix } else { "" },
        digits
    ))
}

/// Python's exponent style: at least two digits, always signed.
fn fix_exponent(rust_sci: &str, upper: bool) -> String {
    let (m, e) = rust_sci.split_once('e').unwrap_or((rust_sci, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!(
        "{m}{}{}{:02}",
        if upper { 'E' } else { 'e' },
        if e < 0 { '-' } else { '+' },
        e.abs()
    )
}

fn format_float(x: f64, s: &Spec) -> String {
    let neg = x.is_sign_negative() && !(x == 0.0 && s.ty.is_none());
    let a = x.abs();
    let upper = matches!(s.ty, Some('E' | 'F' | 'G'));
    let body = if a.is_nan() {
        "nan".to_string()
    } else if a.is_infinite() {
        "inf".to_string()
    } else {
        match s.ty {
            Some('f' | 'F') => format!("{:.*}", s.precision.unwrap_or(6), a),
            Some('e' | 'E') => fix_exponent(&format!("{:.*e}", s.precision.unwrap_or(6), a), upper),
            Some('%') => format!("{:.*}%", s.precision.unwrap_or(6), a * 100.0),
            Some('g' | 'G') => format_general(a, s.precision.unwrap_or(6), s.alt, upper),
            _ => match s.precision {
                Some(p) => format_general(a, p, s.alt, false),
                None => float_repr(a),
            },
        }
    };
    let body = if upper { body.to_uppercase() } else { body };
    let body = match s.grouping {
        Some(sep) if !a.is_nan() && !a.is_infinite() => {
            let end = body
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(body.len());
            format!("{}{}", group(&body[..end], sep, 3), &body[end..])
        }
        _ => body,
    };
    format!("{}{}", sign_prefix(neg && !a.is_nan(), s.sign), body)
}

/// The `g` presentation: `p` significant digits, fixed or scientific by exponent,
/// trailing zeros removed unless `#`.
fn format_general(a: f64, p: usize, alt: bool, upper: bool) -> String {
    let p = p.max(1);
    if a == 0.0 {
        return if alt {
            format!("{:.*}", p - 1, 0.0)
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", p - 1, a);
    let exp: i32 = sci
        .split_once('e')
        .map_or(0, |(_, e)| e.parse().unwrap_or(0));
    let strip = |t: String| -> String {
        if alt || !t.contains('.') {
            return t;
        }
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if exp >= -4 && (exp as i64) < p as i64 {
        strip(format!(
            "{:.*}",
            (p as i64 - 1 - exp as i64).max(0) as usize,
            a
        ))
    } else {
        let (m, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let m = strip(m.to_string());
        fix_exponent(&format!("{m}e{exp}"), upper)
    }
}

fn pad(body: &str, s: &Spec, numeric: bool) -> String {
    let len = body.chars().count();
    if len >= s.width {
        return body.to_string();
    }
    let fill = s.width - len;
    let align = s.align.unwrap_or(if numeric { '>' } else { '<' });
    let f = |n: usize| std::iter::repeat_n(s.fill, n).collect::<String>();
    match align {
        '<' => format!("{body}{}", f(fill)),
        '^' => format!("{}{body}{}", f(fill / 2), f(fill - fill / 2)),
        '=' => {
            // padding goes after the sign and base prefix
            let sign_len = body
                .chars()
                .take_while(|c| matches!(c, '+' | '-' | ' '))
                .count();
            let rest = &body[sign_len..];
            let prefix_len = if rest.len() >= 2
                && rest.starts_with('0')
                && matches!(rest.as_bytes()[1], b'x' | b'X' | b'o' | b'b')
            {
                2
            } else {
                0
            };
            let split = sign_len + prefix_len;
            format!("{}{}{}", &body[..split], f(fill), &body[split..])
        }
        _ => format!("{}{body}", f(fill)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (1e20, "1e+20"),
            (1e-7, "1e-07"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.30000000000000004, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-1.5e-10, "-1.5e-10"),
            (100.0, "100.0"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    fn fmt_f(x: f64, spec: &str) -> String {
        let s = parse_spec(spec).unwrap();
        pad(&format_float(x, &s), &s, true)
    }
    fn fmt_i(i: i64, spec: &str) -> String {
        let s = parse_spec(spec).unwrap();
        pad(&format_int(i, &s).unwrap(), &s, true)
    }

    #[test]
    fn format_specs_match_python() {
        assert_eq!(fmt_f(1.23456, ".2f"), "1.23");
        assert_eq!(fmt_f(2.675, ".2f"), "2.67");
        assert_eq!(fmt_f(0.5, ".1%"), "50.0%");
        assert_eq!(fmt_f(12345.678, "e"), "1.234568e+04");
        assert_eq!(fmt_f(12345.678, ".3g"), "1.23e+04");
        assert_eq!(fmt_f(0.0001234, "g"), "0.0001234");
        assert_eq!(fmt_f(-3.5, "08.2f"), "-0003.50");
        assert_eq!(fmt_f(1234567.891, ",.2f"), "1,234,567.89");
        assert_eq!(fmt_f(3.0, ""), "3.0");
        assert_eq!(fmt_f(1.23456, ".3"), "1.23");
        assert_eq!(fmt_i(7, ">3"), "  7");
        assert_eq!(fmt_i(7, "<3"), "7  ");
        assert_eq!(fmt_i(7, "^5"), "  7  ");
        assert_eq!(fmt_i(42, "05d"), "00042");
        assert_eq!(fmt_i(-42, "05d"), "-0042");
        assert_eq!(fmt_i(255, "x"), "ff");
        assert_eq!(fmt_i(255, "#x"), "0xff");
        assert_eq!(fmt_i(255, "#06x"), "0x00ff");
        assert_eq!(fmt_i(1234567, ","), "1,234,567");
        assert_eq!(fmt_i(5, "+d"), "+5");
        assert_eq!(fmt_i(5, "*^7"), "***5***");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u{1}\"");
        assert_eq!(bytes_repr(b"\x00ab\""), "b\"\\x00ab\\\"\"");
    }
}
