//! Methods of `bytes` (section 9): `decode hex`, plus `contains find count
//! startswith endswith`; and text encoding for `str.encode` and `bytes(s)`.
//!
//! Encodings: UTF-8 (the default), ASCII and Latin-1, spelled as Python accepts
//! them ("utf-8", "UTF8", "latin_1"...). Text that an encoding cannot represent,
//! and bytes that are not valid in it, are ValueErrors (Python's UnicodeError is
//! a ValueError) unless `errors: "replace"` or `"ignore"` says otherwise.

use super::given;
use crate::value::format::bytes_repr;
use crate::value::func::want_str;
use crate::value::{Args, Exc, MethodFn, Value, VmResult};
use crate::vm::Vm;
use std::fmt::Write as _;
use std::rc::Rc;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Utf8,
    Ascii,
    Latin1,
}

fn encoding_of(v: Option<&Value>, fname: &str) -> VmResult<Encoding> {
    let Some(v) = v else {
        return Ok(Encoding::Utf8);
    };
    let name = want_str(fname, "encoding", v)?;
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "utf8" => Ok(Encoding::Utf8),
        "ascii" | "usascii" => Ok(Encoding::Ascii),
        "latin1" | "iso88591" | "l1" => Ok(Encoding::Latin1),
        _ => Err(Exc::value_error(format!(
            "{fname}(): unknown encoding {name:?} (use \"utf-8\", \"ascii\" or \"latin-1\")"
        ))),
    }
}

/// `s.encode(encoding)`.
pub fn encode(s: &str, encoding: Option<&Value>, fname: &str) -> VmResult<Vec<u8>> {
    let enc = encoding_of(encoding, fname)?;
    let limit = match enc {
        Encoding::Utf8 => return Ok(s.as_bytes().to_vec()),
        Encoding::Ascii => 0x7f,
        Encoding::Latin1 => 0xff,
    };
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            u8::try_from(c as u32)
                .ok()
                .filter(|b| *b as u32 <= limit)
                .ok_or_else(|| {
                    let name = if enc == Encoding::Ascii {
                        "ascii"
                    } else {
                        "latin-1"
                    };
                    Exc::value_error(format!(
                        "{fname}(): the {name} encoding cannot represent {c:?} (at index {i})"
                    ))
                })
        })
        .collect()
}

/// How `decode` treats invalid input: "strict", "replace" or "ignore".
#[derive(Clone, Copy, PartialEq)]
enum OnError {
    Strict,
    Replace,
    Ignore,
}

/// `b.decode(encoding, errors)`.
fn decode_bytes(b: &[u8], enc: Encoding, on_error: OnError) -> VmResult<String> {
    let mut out = String::with_capacity(b.len());
    match enc {
        Encoding::Latin1 => out.extend(b.iter().map(|&x| x as char)),
        Encoding::Ascii => {
            for (i, &x) in b.iter().enumerate() {
                match (x.is_ascii(), on_error) {
                    (true, _) => out.push(x as char),
                    (false, OnError::Replace) => out.push('\u{fffd}'),
                    (false, OnError::Ignore) => {}
                    (false, OnError::Strict) => {
                        return Err(Exc::value_error(format!(
                            "decode(): byte 0x{x:02x} at index {i} is not ASCII"
                        )));
                    }
                }
            }
        }
        Encoding::Utf8 => {
            let mut at = 0;
            for chunk in b.utf8_chunks() {
                out.push_str(chunk.valid());
                at += chunk.valid().len();
                if !chunk.invalid().is_empty() {
                    match on_error {
                        OnError::Replace => out.push('\u{fffd}'),
                        OnError::Ignore => {}
                        OnError::Strict => {
                            return Err(Exc::value_error(format!(
                                "decode(): invalid UTF-8 at index {at} ({})",
                                bytes_repr(chunk.invalid())
                            )));
                        }
                    }
                    at += chunk.invalid().len();
                }
            }
        }
    }
    Ok(out)
}

/// UTF-8 text from bytes, strictly: for files and other places that need text.
pub fn utf8_text(b: Vec<u8>) -> Result<String, usize> {
    String::from_utf8(b).map_err(|e| e.utf8_error().valid_up_to())
}

fn recv(this: &Value) -> VmResult<&Rc<Vec<u8>>> {
    match this {
        Value::Bytes(b) => Ok(b),
        other => Err(Exc::type_error(format!(
            "a bytes method was called on {}",
            other.type_name()
        ))),
    }
}

fn decode(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [encoding, errors] = args.bind("decode", ["encoding", "errors"], 0)?;
    let enc = encoding_of(given(encoding).as_ref(), "decode")?;
    let on_error = match given(errors) {
        None => OnError::Strict,
        Some(v) => match want_str("decode", "errors", &v)? {
            "strict" => OnError::Strict,
            "replace" => OnError::Replace,
            "ignore" => OnError::Ignore,
            other => {
                return Err(Exc::value_error(format!(
                    "decode(): errors must be \"strict\", \"replace\" or \"ignore\", not {other:?}"
                )));
            }
        },
    };
    Ok(Value::string(decode_bytes(recv(this)?, enc, on_error)?))
}

fn hex(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sep] = args.bind("hex", ["sep"], 0)?;
    let sep = given(sep);
    let sep = sep
        .as_ref()
        .map(|s| want_str("hex", "sep", s))
        .transpose()?
        .unwrap_or("");
    let b = recv(this)?;
    super::check_size("hex()", b.len().saturating_mul(2 + sep.len()))?;
    let mut out = String::with_capacity(b.len() * (2 + sep.len()));
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{x:02x}");
    }
    Ok(Value::string(out))
}

/// A bytes needle: bytes, or an int for a single byte.
fn needle(v: Option<Value>, fname: &str) -> VmResult<Vec<u8>> {
    match v.unwrap_or_default() {
        Value::Bytes(b) => Ok(b.to_vec()),
        Value::Int(i) => u8::try_from(i)
            .map(|b| vec![b])
            .map_err(|_| Exc::value_error(format!("{fname}(): byte {i} is not in range(0, 256)"))),
        other => Err(Exc::type_error(format!(
            "{fname}() needs bytes or an int, not {}",
            other.type_name()
        ))),
    }
}

fn position(hay: &[u8], sub: &[u8]) -> Option<usize> {
    if sub.is_empty() {
        return Some(0);
    }
    hay.windows(sub.len()).position(|w| w == sub)
}

fn contains(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sub] = args.bind("contains", ["sub"], 1)?;
    Ok(Value::Bool(
        position(recv(this)?, &needle(sub, "contains")?).is_some(),
    ))
}

fn find(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sub] = args.bind("find", ["sub"], 1)?;
    Ok(Value::Int(
        position(recv(this)?, &needle(sub, "find")?).map_or(-1, |i| i as i64),
    ))
}

fn count(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [sub] = args.bind("count", ["sub"], 1)?;
    let (b, sub) = (recv(this)?, needle(sub, "count")?);
    if sub.is_empty() {
        return Ok(Value::Int(b.len() as i64 + 1));
    }
    let (mut n, mut at) = (0, 0);
    while let Some(i) = position(&b[at..], &sub) {
        n += 1;
        at += i + sub.len();
    }
    Ok(Value::Int(n))
}

fn startswith(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [p] = args.bind("startswith", ["prefix"], 1)?;
    Ok(Value::Bool(
        recv(this)?.starts_with(&needle(p, "startswith")?),
    ))
}

fn endswith(_vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let [p] = args.bind("endswith", ["suffix"], 1)?;
    Ok(Value::Bool(recv(this)?.ends_with(&needle(p, "endswith")?)))
}

pub const METHODS: &[(&str, MethodFn)] = &[
    ("decode", decode),
    ("hex", hex),
    ("contains", contains),
    ("find", find),
    ("count", count),
    ("startswith", startswith),
    ("endswith", endswith),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_errors() {
        assert_eq!(
            decode_bytes(b"h\xc3\xa9", Encoding::Utf8, OnError::Strict)
                .ok()
                .as_deref(),
            Some("hé")
        );
        assert!(decode_bytes(b"a\xffb", Encoding::Utf8, OnError::Strict).is_err());
        assert_eq!(
            decode_bytes(b"a\xffb", Encoding::Utf8, OnError::Replace)
                .ok()
                .as_deref(),
            Some("a\u{fffd}b")
        );
        assert_eq!(
            decode_bytes(b"a\xffb", Encoding::Utf8, OnError::Ignore)
                .ok()
                .as_deref(),
            Some("ab")
        );
        assert_eq!(
            decode_bytes(b"\xe9", Encoding::Latin1, OnError::Strict)
                .ok()
                .as_deref(),
            Some("é")
        );
        assert!(encode("é", Some(&Value::str("ascii")), "encode").is_err());
        assert_eq!(
            encode("é", Some(&Value::str("Latin-1")), "encode").ok(),
            Some(vec![0xe9])
        );
    }
}
