//! Methods of `str` (section 9): case, whitespace, searching, splitting and
//! joining, padding, tests, `encode`. `format` is in str_format.rs.
//!
//! Strings are immutable: every method returns a new value. Indices given to
//! and returned by methods count code points, like `len` and `s[i]`; optional
//! `start`/`end` arguments act as a slice `s[start:end]` would, as in Python.

use super::convert::is_py_space;
use super::{check_size, given};
use crate::value::func::{want_int, want_str};
use crate::value::{Args, Exc, MethodFn, Str, Value, VmResult};
use crate::vm::Vm;
use std::rc::Rc;

/// The receiver of a str method.
fn recv(this: &Value) -> VmResult<&Rc<Str>> {
    match this {
        Value::Str(s) => Ok(s),
        other => Err(Exc::type_error(format!(
            "a str method was called on {}",
            other.type_name()
        ))),
    }
}

fn new_str(s: String) -> VmResult<Value> {
    Ok(Value::string(s))
}

/// The code point index of byte offset `byte` in `s`.
fn char_index(s: &Str, byte: usize) -> usize {
    if s.is_ascii() {
        byte
    } else {
        s.as_str()[..byte].chars().count()
    }
}

/// The part of `s` that `start`/`end` select, as byte offsets plus the code
/// point index of its start; `None` when start lies past end (Python's
/// find/count then fail even for an empty needle).
fn window(
    s: &Str,
    fname: &str,
    start: Option<Value>,
    end: Option<Value>,
) -> VmResult<Option<(usize, usize, usize)>> {
    let len = s.char_len() as i64;
    let adjust = |v: Option<Value>, what: &str, default: i64| -> VmResult<i64> {
        match given(v) {
            None => Ok(default),
            Some(v) => {
                let i = want_int(fname, what, &v)?;
                Ok(if i < 0 {
                    (i.saturating_add(len)).max(0)
                } else {
                    i.min(len)
                })
            }
        }
    };
    // `start` beyond the end is kept (not clamped) so that find("", 99) is -1
    let start_raw = given(start.clone())
        .map(|v| want_int(fname, "start", &v))
        .transpose()?;
    let lo = adjust(start, "start", 0)?;
    let hi = adjust(end, "end", len)?;
    if start_raw.is_some_and(|s| s > len) || lo > hi {
        return Ok(None);
    }
    let (lo, hi) = (lo as usize, hi as usize);
    Ok(Some((s.byte_offset(lo), s.byte_offset(hi), lo)))
}

fn upper(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("upper", 0, 0)?;
    new_str(recv(this)?.as_str().to_uppercase())
}

fn lower(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("lower", 0, 0)?;
    new_str(recv(this)?.as_str().to_lowercase())
}

fn swapcase(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("swapcase", 0, 0)?;
    let mut out = String::new();
    for c in recv(this)?.as_str().chars() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    new_str(out)
}

fn is_cased(c: char) -> bool {
    c.is_uppercase() || c.is_lowercase()
}

/// Python's title(): the first cased letter after an uncased character is
/// upper case, the others lower case ("they're" becomes "They'Re", as in Python).
fn title(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("title", 0, 0)?;
    let mut out = String::new();
    let mut previous_cased = false;
    for c in recv(this)?.as_str().chars() {
        if previous_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        previous_cased = is_cased(c);
    }
    new_str(out)
}

fn capitalize(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    args.expect("capitalize", 0, 0)?;
    let s = recv(this)?.as_str();
    let mut chars = s.chars();
    let mut out = String::with_capacity(s.len());
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
    }
    out.push_str(&chars.as_str().to_lowercase());
    new_str(out)
}

/// The characters `strip` and friends remove: whitespace, or those of `chars`.
fn strip_with(
    s: &str,
    chars: Option<Value>,
    fname: &str,
    left: bool,
    right: bool,
) -> VmResult<Value> {
    let set: Option<Vec<char>> = match given(chars) {
        None => None,
        Some(v) => Some(want_str(fname, "chars", &v)?.chars().collect()),
    };
    let strip = |c: char| match &set {
        None => is_py_space(c),
        Some(set) => set.contains(&c),
    };
    let mut t = s;
    if left {
        t = t.trim_start_matches(strip);
    }
    if right {
        t = t.trim_end_matches(strip);
    }
    Ok(Value::str(t))
}

fn strip(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [chars] = args.bind("strip", ["chars"], 0)?;
    strip_with(recv(this)?.as_str(), chars, "strip", true, true)
}

fn lstrip(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [chars] = args.bind("lstrip", ["chars"], 0)?;
    strip_with(recv(this)?.as_str(), chars, "lstrip", true, false)
}

fn rstrip(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [chars] = args.bind("rstrip", ["chars"], 0)?;
    strip_with(recv(this)?.as_str(), chars, "rstrip", false, true)
}

/// Splits on runs of whitespace, ignoring it at both ends; after `max` splits
/// (when max >= 0) the rest is one piece that keeps its trailing whitespace.
pub fn split_whitespace(s: &str, max: i64) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(is_py_space);
    while !rest.is_empty() {
        if max >= 0 && out.len() as i64 >= max {
            out.push(rest);
            break;
        }
        match rest.find(is_py_space) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start_matches(is_py_space);
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// As `split_whitespace`, splitting from the right (`rsplit()`).
pub fn rsplit_whitespace(s: &str, max: i64) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_end_matches(is_py_space);
    while !rest.is_empty() {
        if max >= 0 && out.len() as i64 >= max {
            out.push(rest);
            break;
        }
        match rest.rfind(is_py_space) {
            Some(i) => {
                let width = rest[i..].chars().next().map_or(1, char::len_utf8);
                out.push(&rest[i + width..]);
                rest = rest[..i].trim_end_matches(is_py_space);
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out.reverse();
    out
}

/// `split(sep = nil, max = -1)` and `rsplit`: the pieces of `s`.
pub fn split_str<'a>(
    s: &'a str,
    sep: Option<&str>,
    max: i64,
    from_right: bool,
) -> VmResult<Vec<&'a str>> {
    let Some(sep) = sep else {
        return Ok(if from_right {
            rsplit_whitespace(s, max)
        } else {
            split_whitespace(s, max)
        });
    };
    if sep.is_empty() {
        return Err(Exc::value_error("split(): empty separator"));
    }
    Ok(match (max < 0, from_right) {
        (true, _) => s.split(sep).collect(),
        (false, false) => s.splitn((max as usize).saturating_add(1), sep).collect(),
        (false, true) => {
            let mut v: Vec<&str> = s.rsplitn((max as usize).saturating_add(1), sep).collect();
            v.reverse();
            v
        }
    })
}

fn split_method(this: &Value, args: Args, fname: &str, from_right: bool) -> VmResult<Value> {
    let [sep, max] = args.bind(fname, ["sep", "max"], 0)?;
    let sep = given(sep);
    let sep = sep
        .as_ref()
        .map(|v| want_str(fname, "sep", v))
        .transpose()?;
    let max = match given(max) {
        Some(m) => want_int(fname, "max", &m)?,
        None => -1,
    };
    let parts = split_str(recv(this)?.as_str(), sep, max, from_right)?;
    Ok(Value::list(parts.into_iter().map(Value::str).collect()))
}

fn split(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    split_method(this, args, "split", false)
}

fn rsplit(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    split_method(this, args, "rsplit", true)
}

/// Python's line boundaries: \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

pub fn split_lines(s: &str, keep_ends: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find(is_line_break) {
            Some(i) => {
                let end = if rest[i..].starts_with("\r\n") {
                    i + 2
                } else {
                    i + rest[i..].chars().next().map_or(1, char::len_utf8)
                };
                out.push(if keep_ends { &rest[..end] } else { &rest[..i] });
                rest = &rest[end..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn splitlines(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [keep] = args.bind("splitlines", ["keepends"], 0)?;
    let lines = split_lines(recv(this)?.as_str(), keep.is_some_and(|k| k.truthy()));
    Ok(Value::list(lines.into_iter().map(Value::str).collect()))
}

fn join(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [xs] = args.bind("join", ["xs"], 1)?;
    let sep = recv(this)?.as_str();
    let items = vm.collect(&xs.unwrap_or_default())?;
    let mut total = sep.len().saturating_mul(items.len().saturating_sub(1));
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Str(s) => total = total.saturating_add(s.as_str().len()),
            other => {
                return Err(Exc::type_error(format!(
                    "join() item {i} must be a str, not {}",
                    other.type_name()
                )));
            }
        }
    }
    check_size("join()", total)?;
    let mut out = String::with_capacity(total);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item.as_str().unwrap_or(""));
    }
    new_str(out)
}

fn replace(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [old, new, count] = args.bind("replace", ["old", "new", "count"], 2)?;
    let s = recv(this)?;
    let old = old.unwrap_or_default();
    let new = new.unwrap_or_default();
    let old = want_str("replace", "old", &old)?;
    let new = want_str("replace", "new", &new)?;
    let limit = match given(count) {
        Some(c) => want_int("replace", "count", &c)?,
        None => -1,
    };
    let found = if old.is_empty() {
        s.char_len() + 1
    } else {
        s.as_str().matches(old).count()
    };
    let n = if limit < 0 {
        found
    } else {
        found.min(limit as usize)
    };
    check_size(
        "replace()",
        s.as_str().len().saturating_add(n.saturating_mul(new.len())),
    )?;
    new_str(s.as_str().replacen(old, new, n))
}

/// A needle argument: a str.
fn needle<'v>(fname: &str, v: &'v Option<Value>) -> VmResult<&'v str> {
    match v {
        Some(v) => want_str(fname, "sub", v),
        None => Err(Exc::type_error(format!(
            "{fname}() missing required argument `sub`"
        ))),
    }
}

/// The code point index of the first (or last) `sub` within `start`/`end`, if any.
fn search(this: &Value, args: Args, fname: &str, last: bool) -> VmResult<Option<usize>> {
    let [sub, start, end] = args.bind(fname, ["sub", "start", "end"], 1)?;
    let s = recv(this)?;
    let sub = needle(fname, &sub)?;
    let Some((lo, hi, _)) = window(s, fname, start, end)? else {
        return Ok(None);
    };
    let hay = &s.as_str()[lo..hi];
    let at = if last { hay.rfind(sub) } else { hay.find(sub) };
    Ok(at.map(|b| char_index(s, lo + b)))
}

fn find(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    Ok(Value::Int(
        search(this, args, "find", false)?.map_or(-1, |i| i as i64),
    ))
}

fn rfind(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    Ok(Value::Int(
        search(this, args, "rfind", true)?.map_or(-1, |i| i as i64),
    ))
}

fn index(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    match search(this, args, "index", false)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => Err(Exc::value_error("index(): substring not found")),
    }
}

fn rindex(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    match search(this, args, "rindex", true)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => Err(Exc::value_error("rindex(): substring not found")),
    }
}

fn count(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sub, start, end] = args.bind("count", ["sub", "start", "end"], 1)?;
    let s = recv(this)?;
    let sub = needle("count", &sub)?;
    let Some((lo, hi, _)) = window(s, "count", start, end)? else {
        return Ok(Value::Int(0));
    };
    let hay = &s.as_str()[lo..hi];
    let n = if sub.is_empty() {
        hay.chars().count() + 1
    } else {
        hay.matches(sub).count()
    };
    Ok(Value::Int(n as i64))
}

fn contains(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sub] = args.bind("contains", ["sub"], 1)?;
    Ok(Value::Bool(
        recv(this)?.as_str().contains(needle("contains", &sub)?),
    ))
}

/// `startswith`/`endswith`: the affix may be a str or a list of strs (any matches).
fn affix(this: &Value, args: Args, fname: &str, at_end: bool) -> VmResult<Value> {
    let [affix, start, end] = args.bind(fname, ["prefix", "start", "end"], 1)?;
    let s = recv(this)?;
    let Some((lo, hi, _)) = window(s, fname, start, end)? else {
        return Ok(Value::Bool(false));
    };
    let hay = &s.as_str()[lo..hi];
    let test = |a: &str| {
        if at_end {
            hay.ends_with(a)
        } else {
            hay.starts_with(a)
        }
    };
    match affix.unwrap_or_default() {
        Value::Str(a) => Ok(Value::Bool(test(a.as_str()))),
        Value::List(l) => {
            for item in l.borrow().iter() {
                if test(want_str(fname, "prefix", item)?) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        other => Err(Exc::type_error(format!(
            "{fname}() needs a str or a list of strs, not {}",
            other.type_name()
        ))),
    }
}

fn startswith(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    affix(this, args, "startswith", false)
}

fn endswith(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    affix(this, args, "endswith", true)
}

fn removeprefix(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [p] = args.bind("removeprefix", ["prefix"], 1)?;
    let p = p.unwrap_or_default();
    let p = want_str("removeprefix", "prefix", &p)?;
    let s = recv(this)?.as_str();
    Ok(Value::str(s.strip_prefix(p).unwrap_or(s)))
}

fn removesuffix(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [p] = args.bind("removesuffix", ["suffix"], 1)?;
    let p = p.unwrap_or_default();
    let p = want_str("removesuffix", "suffix", &p)?;
    let s = recv(this)?.as_str();
    Ok(Value::str(s.strip_suffix(p).unwrap_or(s)))
}

/// `partition(sep)` gives `[before, sep, after]`; `rpartition` splits at the last sep.
fn partition_at(this: &Value, args: Args, fname: &str, last: bool) -> VmResult<Value> {
    let [sep] = args.bind(fname, ["sep"], 1)?;
    let sep = sep.unwrap_or_default();
    let sep = want_str(fname, "sep", &sep)?;
    if sep.is_empty() {
        return Err(Exc::value_error(format!("{fname}(): empty separator")));
    }
    let s = recv(this)?.as_str();
    let at = if last { s.rfind(sep) } else { s.find(sep) };
    let parts = match at {
        Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
        None if last => ["", "", s],
        None => [s, "", ""],
    };
    Ok(Value::list(parts.into_iter().map(Value::str).collect()))
}

fn partition(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    partition_at(this, args, "partition", false)
}

fn rpartition(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    partition_at(this, args, "rpartition", true)
}

/// The width and fill character of `center`, `ljust`, `rjust`.
fn pad_args(this: &Value, args: Args, fname: &str) -> VmResult<(usize, char, usize)> {
    let [width, fill] = args.bind(fname, ["width", "fill"], 1)?;
    let width = want_int(fname, "width", &width.unwrap_or_default())?;
    let fill = match given(fill) {
        None => ' ',
        Some(f) => {
            let f = want_str(fname, "fill", &f)?;
            let mut chars = f.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(Exc::type_error(format!(
                        "{fname}() fill must be exactly one character, not {f:?}"
                    )));
                }
            }
        }
    };
    let len = recv(this)?.char_len();
    let width = usize::try_from(width).unwrap_or(0);
    let pad = width.saturating_sub(len);
    check_size(
        fname,
        pad.saturating_mul(fill.len_utf8()).saturating_add(len),
    )?;
    Ok((pad, fill, width))
}

fn padded(this: &Value, left: usize, right: usize, fill: char) -> VmResult<Value> {
    let s = recv(this)?.as_str();
    let mut out = String::with_capacity(s.len() + (left + right) * fill.len_utf8());
    out.extend(std::iter::repeat_n(fill, left));
    out.push_str(s);
    out.extend(std::iter::repeat_n(fill, right));
    new_str(out)
}

fn center(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let (pad, fill, width) = pad_args(this, args, "center")?;
    // CPython's rule for where the odd padding character goes
    let left = pad / 2 + (pad & width & 1);
    padded(this, left, pad - left, fill)
}

fn ljust(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let (pad, fill, _) = pad_args(this, args, "ljust")?;
    padded(this, 0, pad, fill)
}

fn rjust(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let (pad, fill, _) = pad_args(this, args, "rjust")?;
    padded(this, pad, 0, fill)
}

fn zfill(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [width] = args.bind("zfill", ["width"], 1)?;
    let width = want_int("zfill", "width", &width.unwrap_or_default())?;
    let s = recv(this)?;
    let pad = usize::try_from(width)
        .unwrap_or(0)
        .saturating_sub(s.char_len());
    check_size("zfill", pad.saturating_add(s.as_str().len()))?;
    let text = s.as_str();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'+' | b'-') => text.split_at(1),
        _ => ("", text),
    };
    new_str(format!("{sign}{}{digits}", "0".repeat(pad)))
}

/// A test over every character of a non-empty string.
fn all_chars(this: &Value, args: Args, fname: &str, test: fn(char) -> bool) -> VmResult<Value> {
    args.expect(fname, 0, 0)?;
    let s = recv(this)?.as_str();
    Ok(Value::Bool(!s.is_empty() && s.chars().all(test)))
}

fn isdigit(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    all_chars(this, args, "isdigit", |c| {
        c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
    })
}

fn isalpha(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    all_chars(this, args, "isalpha", char::is_alphabetic)
}

fn isalnum(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    all_chars(this, args, "isalnum", char::is_alphanumeric)
}

fn isspace(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    all_chars(this, args, "isspace", is_py_space)
}

/// `isupper`/`islower`: some cased character, and none of the other case.
fn case_test(this: &Value, args: Args, fname: &str, want_upper: bool) -> VmResult<Value> {
    args.expect(fname, 0, 0)?;
    let s = recv(this)?.as_str();
    let (mut some, mut other) = (false, false);
    for c in s.chars() {
        let (this_case, other_case) = if want_upper {
            (c.is_uppercase(), c.is_lowercase())
        } else {
            (c.is_lowercase(), c.is_uppercase())
        };
        some |= this_case;
        other |= other_case;
    }
    Ok(Value::Bool(some && !other))
}

fn isupper(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    case_test(this, args, "isupper", true)
}

fn islower(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    case_test(this, args, "islower", false)
}

fn encode(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [encoding] = args.bind("encode", ["encoding"], 0)?;
    super::bytes::encode(recv(this)?.as_str(), given(encoding).as_ref(), "encode").map(Value::bytes)
}

pub const METHODS: &[(&str, MethodFn)] = &[
    ("upper", upper),
    ("lower", lower),
    ("swapcase", swapcase),
    ("title", title),
    ("capitalize", capitalize),
    ("strip", strip),
    ("lstrip", lstrip),
    ("rstrip", rstrip),
    ("split", split),
    ("rsplit", rsplit),
    ("splitlines", splitlines),
    ("join", join),
    ("replace", replace),
    ("find", find),
    ("rfind", rfind),
    ("index", index),
    ("rindex", rindex),
    ("count", count),
    ("contains", contains),
    ("startswith", startswith),
    ("endswith", endswith),
    ("removeprefix", removeprefix),
    ("removesuffix", removesuffix),
    ("partition", partition),
    ("rpartition", rpartition),
    ("center", center),
    ("ljust", ljust),
    ("rjust", rjust),
    ("zfill", zfill),
    ("isdigit", isdigit),
    ("isalpha", isalpha),
    ("isalnum", isalnum),
    ("isspace", isspace),
    ("isupper", isupper),
    ("islower", islower),
    ("encode", encode),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python() {
        let sp = |s, sep, max| split_str(s, sep, max, false).unwrap();
        let rsp = |s, sep, max| split_str(s, sep, max, true).unwrap();
        assert_eq!(sp("a,b,,c", Some(","), -1), ["a", "b", "", "c"]);
        assert_eq!(sp("", Some(","), -1), [""]);
        assert_eq!(sp("a,b,c", Some(","), 1), ["a", "b,c"]);
        assert_eq!(sp("a,b,c", Some(","), 0), ["a,b,c"]);
        assert_eq!(sp("a,b,c", Some(","), i64::MAX), ["a", "b", "c"]);
        assert_eq!(rsp("a,b,c", Some(","), 1), ["a,b", "c"]);
        assert_eq!(sp(" lead\ttrail \n", None, -1), ["lead", "trail"]);
        assert_eq!(sp("   ", None, -1), Vec::<&str>::new());
        assert_eq!(sp("a b c d", None, 2), ["a", "b", "c d"]);
        assert_eq!(sp("  a b  c  ", None, 1), ["a", "b  c  "]);
        assert_eq!(sp("a ", None, 1), ["a"]);
        assert_eq!(rsp("  a b  c  ", None, 1), ["  a b", "c"]);
        assert_eq!(rsp("a\u{3000}b", None, -1), ["a", "b"]);
        assert!(split_str("x", Some(""), -1, false).is_err());
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(split_lines("a\nb\r\nc\rd", false), ["a", "b", "c", "d"]);
        assert_eq!(split_lines("a\n\nb\n", false), ["a", "", "b"]);
        assert_eq!(split_lines("a\r\nb", true), ["a\r\n", "b"]);
        assert_eq!(split_lines("", false), Vec::<&str>::new());
    }
}
