//! The manager's messages. Each request and each reply is one frame in the
//! layout of `wire::write_frame` (a u32 little-endian length, then the
//! payload), so a stream of them can be cut without decoding.
//!
//! ```text
//! request  = id:u64  name:str8  npos:u8 value*  nnamed:u8 (str8 value)*
//! reply    = OK value | ERROR kind:str8 message:str32 | CANCELLED
//! ```
//!
//! `id` names the managed object (0: the manager itself, for `create`,
//! `shutdown` and `cancel`); `name` is the operation, usually the method the
//! script called. Plain values (nil, bool, int, float, str, bytes, and lists
//! and maps of them) are written directly as a tag byte and their bytes: most
//! messages are a few of those, and this keeps them cheap. Any other value
//! (an instance, a function, a proxy...) goes as a `wire::encode` blob, so what
//! may cross is exactly what `wire` allows (section 10).
//!
//! Decoding checks every length and tag: a malformed message is an error,
//! never a panic.

use crate::value::{Exc, Key, MapData, Value, VmResult};
use crate::vm::Vm;
use crate::wire::MAX_FRAME;
use std::rc::Rc;

const NIL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;
const BYTES: u8 = 6;
const LIST: u8 = 7;
const MAP: u8 = 8;
const WIRE: u8 = 9;

/// Reply statuses.
pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
/// The answer to `cancel`: the request it cancelled gets no reply.
pub const CANCELLED: u8 = 2;

/// Most positional or named arguments a request carries.
const MAX_ARGS: usize = u8::MAX as usize;

/// Starts a frame in `out` (which is cleared): room for the length.
fn begin(out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
}

/// The payload length a frame starting `bytes` declares (its first 4 bytes);
/// None when fewer than 4 bytes are there.
pub fn payload_len(bytes: &[u8]) -> Option<usize> {
    crate::wire::frame_len(bytes).map(|len| len - 4)
}

/// Writes the payload length in front; a message over `MAX_FRAME` is an error.
fn end(out: &mut [u8]) -> VmResult<()> {
    let len = out.len() - 4;
    if len > MAX_FRAME {
        return Err(Exc::new(
            "ValueError",
            format!("a manager message of {len} bytes is over the limit of {MAX_FRAME}"),
        ));
    }
    out[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    // names are short; a longer one is cut at a character boundary
    let mut n = s.len().min(u8::MAX as usize);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    out.push(n as u8);
    out.extend_from_slice(&s.as_bytes()[..n]);
}

fn put_len(out: &mut Vec<u8>, n: usize) -> VmResult<()> {
    if n > MAX_FRAME {
        return Err(Exc::new("ValueError", "a value is too large to send"));
    }
    out.extend_from_slice(&(n as u32).to_le_bytes());
    Ok(())
}

/// Appends one value.
pub fn put_value(vm: &mut Vm, out: &mut Vec<u8>, v: &Value) -> VmResult<()> {
    put_value_at(vm, out, v, 0)
}

fn put_value_at(vm: &mut Vm, out: &mut Vec<u8>, v: &Value, depth: usize) -> VmResult<()> {
    if depth > crate::value::MAX_NESTING {
        return Err(Exc::new(
            "RecursionError",
            "value is nested too deeply to send",
        ));
    }
    match v {
        Value::Nil | Value::Undef => out.push(NIL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(STR);
            put_len(out, s.as_str().len())?;
            out.extend_from_slice(s.as_str().as_bytes());
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            put_len(out, b.len())?;
            out.extend_from_slice(b);
        }
        Value::List(l) => {
            // a snapshot, so that no borrow is held while encoding
            let items = l.borrow().clone();
            out.push(LIST);
            put_len(out, items.len())?;
            for x in &items {
                put_value_at(vm, out, x, depth + 1)?;
            }
        }
        Value::Map(m) => {
            let pairs: Vec<(Value, Value)> = m
                .borrow()
                .iter()
                .map(|(k, v)| (k.value().clone(), v.clone()))
                .collect();
            out.push(MAP);
            put_len(out, pairs.len())?;
            for (k, x) in &pairs {
                put_value_at(vm, out, k, depth + 1)?;
                put_value_at(vm, out, x, depth + 1)?;
            }
        }
        other => {
            let blob = crate::wire::encode(vm, other)?;
            out.push(WIRE);
            put_len(out, blob.len())?;
            out.extend_from_slice(&blob);
        }
    }
    Ok(())
}

/// Writes a whole request frame into `out`.
pub fn request(
    vm: &mut Vm,
    out: &mut Vec<u8>,
    id: u64,
    name: &str,
    pos: &[Value],
    names: &[Rc<str>],
    named: &[Value],
) -> VmResult<()> {
    if pos.len() > MAX_ARGS || named.len() > MAX_ARGS {
        return Err(Exc::type_error(format!(
            "{name}() has too many arguments to send to the manager"
        )));
    }
    begin(out);
    out.extend_from_slice(&id.to_le_bytes());
    put_str8(out, name);
    out.push(pos.len() as u8);
    for v in pos {
        put_value(vm, out, v)?;
    }
    out.push(named.len() as u8);
    for (n, v) in names.iter().zip(named) {
        put_str8(out, n);
        put_value(vm, out, v)?;
    }
    end(out)
}

/// Appends a reply frame for `result` to `out` (a reply that cannot be encoded
/// becomes an error reply).
pub fn reply(vm: &mut Vm, out: &mut Vec<u8>, result: &VmResult<Value>) {
    let start = out.len();
    let failure = match result {
        Ok(v) => {
            out.extend_from_slice(&[0; 4]);
            out.push(OK);
            let encoded = put_value(vm, out, v).and_then(|_| end(&mut out[start..]));
            match encoded {
                Ok(()) => return,
                Err(e) => {
                    out.truncate(start);
                    e
                }
            }
        }
        Err(e) => Exc::Error(e.error().clone()),
    };
    let e = failure.error();
    out.extend_from_slice(&[0; 4]);
    out.push(ERROR);
    put_str8(out, &e.kind);
    let msg = e.message.as_bytes();
    let msg = &msg[..msg.len().min(1 << 20)];
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(msg);
    // cannot fail: the frame is at most a little over 1 MiB
    let _ = end(&mut out[start..]);
}

/// Appends the answer to `cancel`.
pub fn cancelled(out: &mut Vec<u8>) {
    out.extend_from_slice(&1u32.to_le_bytes());
    out.push(CANCELLED);
}

/// A decoded request; `name` borrows from the frame.
pub struct Request<'a> {
    pub id: u64,
    pub name: &'a str,
    pub pos: Vec<Value>,
    pub names: Vec<Rc<str>>,
    pub named: Vec<Value>,
}

/// Reads a request payload (without its length prefix).
pub fn read_request<'a>(vm: &mut Vm, payload: &'a [u8]) -> VmResult<Request<'a>> {
    let mut r = Reader { buf: payload };
    let id = r.u64()?;
    let name = r.str8()?;
    let npos = r.u8()? as usize;
    let mut pos = Vec::with_capacity(npos);
    for _ in 0..npos {
        pos.push(r.value(vm, 0)?);
    }
    let nnamed = r.u8()? as usize;
    let mut names = Vec::with_capacity(nnamed);
    let mut named = Vec::with_capacity(nnamed);
    for _ in 0..nnamed {
        names.push(Rc::from(r.str8()?));
        named.push(r.value(vm, 0)?);
    }
    r.done()?;
    Ok(Request {
        id,
        name,
        pos,
        names,
        named,
    })
}

/// What a reply says.
pub enum Reply {
    Done(VmResult<Value>),
    Cancelled,
}

/// Reads a reply payload (without its length prefix).
pub fn read_reply(vm: &mut Vm, payload: &[u8]) -> VmResult<Reply> {
    let mut r = Reader { buf: payload };
    let reply = match r.u8()? {
        OK => Reply::Done(Ok(r.value(vm, 0)?)),
        ERROR => {
            let kind = r.str8()?;
            let n = r.len()?;
            let msg = String::from_utf8_lossy(r.take(n)?).into_owned();
            Reply::Done(Err(Exc::new(kind, msg)))
        }
        CANCELLED => Reply::Cancelled,
        _ => return Err(corrupt()),
    };
    r.done()?;
    Ok(reply)
}

fn corrupt() -> Exc {
    Exc::new("ValueError", "a manager message is corrupt")
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> VmResult<&'a [u8]> {
        if self.buf.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> VmResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> VmResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u64(&mut self) -> VmResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn len(&mut self) -> VmResult<usize> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }
    fn utf8(bytes: &[u8]) -> VmResult<&str> {
        std::str::from_utf8(bytes).map_err(|_| corrupt())
    }
    fn str8(&mut self) -> VmResult<&'a str> {
        let n = self.u8()? as usize;
        Self::utf8(self.take(n)?)
    }
    fn done(&self) -> VmResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(corrupt())
        }
    }

    fn value(&mut self, vm: &mut Vm, depth: usize) -> VmResult<Value> {
        if depth > crate::value::MAX_NESTING {
            return Err(corrupt());
        }
        Ok(match self.u8()? {
            NIL => Value::Nil,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Int(i64::from_le_bytes(self.array()?)),
            FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(self.array()?))),
            STR => {
                let n = self.len()?;
                Value::str(Self::utf8(self.take(n)?)?)
            }
            BYTES => {
                let n = self.len()?;
                Value::bytes(self.take(n)?.to_vec())
            }
            LIST => {
                let n = self.len()?;
                // every item takes at least one byte: a bound for the allocation
                let mut items = Vec::with_capacity(n.min(self.buf.len()));
                for _ in 0..n {
                    items.push(self.value(vm, depth + 1)?);
                }
                Value::list(items)
            }
            MAP => {
                let n = self.len()?;
                let mut m = MapData::default();
                m.reserve(n.min(self.buf.len() / 2));
                for _ in 0..n {
                    let k = Key::new(self.value(vm, depth + 1)?).map_err(|_| corrupt())?;
                    let v = self.value(vm, depth + 1)?;
                    m.insert(k, v);
                }
                Value::map(m)
            }
            WIRE => {
                let n = self.len()?;
                let blob = self.take(n)?;
                crate::wire::decode(vm, blob)?
            }
            _ => return Err(corrupt()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> Vm {
        Vm::new(
            crate::vm::Config::default(),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
    }

    #[test]
    fn requests_round_trip() {
        let mut vm = vm();
        let mut m = MapData::default();
        m.insert(Key::str("k"), Value::list(vec![Value::Int(-3), Value::Nil]));
        let pos = vec![
            Value::str("héllo"),
            Value::Float(2.5),
            Value::bytes(vec![0, 255]),
            Value::map(m),
            Value::Error(Rc::new(crate::value::ErrorValue::new("KeyError", "x"))),
        ];
        let names: Vec<Rc<str>> = vec![Rc::from("timeout")];
        let named = vec![Value::Bool(true)];
        let mut out = Vec::new();
        request(&mut vm, &mut out, 42, "set_item", &pos, &names, &named).unwrap();
        assert_eq!(
            u32::from_le_bytes(out[..4].try_into().unwrap()) as usize,
            out.len() - 4
        );
        let req = read_request(&mut vm, &out[4..]).unwrap();
        assert_eq!((req.id, req.name), (42, "set_item"));
        assert_eq!(req.pos.len(), pos.len());
        for (a, b) in req.pos.iter().zip(&pos) {
            assert!(a.equals(b), "{a:?} != {b:?}");
        }
        assert_eq!(&*req.names[0], "timeout");
        assert!(req.named[0].equals(&Value::Bool(true)));
    }

    #[test]
    fn replies_round_trip() {
        let mut vm = vm();
        let mut out = Vec::new();
        reply(&mut vm, &mut out, &Ok(Value::Int(7)));
        reply(
            &mut vm,
            &mut out,
            &Err(Exc::new("IndexError", "list index 9")),
        );
        cancelled(&mut out);
        let mut r = &out[..];
        let mut got = Vec::new();
        while let Some(frame) = crate::wire::read_frame(&mut r).unwrap() {
            got.push(read_reply(&mut vm, &frame).unwrap());
        }
        assert!(matches!(&got[0], Reply::Done(Ok(Value::Int(7)))));
        match &got[1] {
            Reply::Done(Err(e)) => {
                assert_eq!(e.kind(), "IndexError");
                assert_eq!(e.error().message, "list index 9");
            }
            _ => panic!("expected an error reply"),
        }
        assert!(matches!(got[2], Reply::Cancelled));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let mut vm = vm();
        let mut out = Vec::new();
        let pos = vec![Value::list(vec![Value::str("abc"), Value::Int(1)])];
        request(&mut vm, &mut out, 1, "append", &pos, &[], &[]).unwrap();
        let payload = &out[4..];
        for cut in 0..payload.len() {
            assert!(read_request(&mut vm, &payload[..cut]).is_err());
        }
        let mut bad = payload.to_vec();
        bad.push(0);
        assert!(read_request(&mut vm, &bad).is_err());
        // a list claiming four billion items
        let huge = [OK, LIST, 0xff, 0xff, 0xff, 0xff];
        assert!(read_reply(&mut vm, &huge).is_err());
        assert!(read_reply(&mut vm, &[9]).is_err());
    }
}
