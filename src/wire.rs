//! The one wire format: how values cross between processes (section 10) in
//! join results, queues, pipes, pools and managers.
//!
//! A value becomes a `Wire` tree, which bincode 2 encodes; this module is the
//! only place that knows bincode, so it could be swapped. On a stream (a pipe,
//! a socket) each message is a frame: a 4-byte little-endian length, then that
//! many bytes. Frames are at most `MAX_FRAME` bytes; a longer or undecodable
//! frame is an error, never a panic.
//!
//! What crosses: nil, bools, numbers, strings, bytes, lists, maps, ranges,
//! errors, instances (by class name: the class must exist in the receiver),
//! builtins (by name), and shared handles (by id: the receiver must have been
//! forked after the handle was made).

use crate::value::{Exc, Instance, Key, MapData, Value, VmResult};
use crate::vm::Vm;
use bincode::{Decode, Encode};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// The largest message: 1 GiB.
pub const MAX_FRAME: usize = 1 << 30;

#[derive(Encode, Decode, Debug)]
enum Wire {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Wire>),
    Map(Vec<(Wire, Wire)>),
    Range(i64, i64, i64),
    Error {
        kind: String,
        message: String,
    },
    Builtin(String),
    Instance {
        class: String,
        fields: Vec<(String, Wire)>,
    },
    Handle {
        type_name: String,
        id: u64,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Serialises a value for another process.
pub fn encode(vm: &mut Vm, v: &Value) -> VmResult<Vec<u8>> {
    let w = to_wire(vm, v, 0)?;
    bincode::encode_to_vec(&w, config())
        .map_err(|e| Exc::new("ValueError", format!("cannot serialise the message: {e}")))
}

/// Rebuilds a value serialised by `encode` (in this or another process).
pub fn decode(vm: &mut Vm, bytes: &[u8]) -> VmResult<Value> {
    let (w, used): (Wire, usize) = bincode::decode_from_slice(bytes, config())
        .map_err(|e| corrupt(format!("the message is corrupt ({e})")))?;
    if used != bytes.len() {
        return Err(corrupt("the message has trailing bytes".into()));
    }
    from_wire(vm, w)
}

fn corrupt(message: String) -> Exc {
    Exc::new("ValueError", message)
}

fn to_wire(vm: &mut Vm, v: &Value, depth: usize) -> VmResult<Wire> {
    if depth > crate::value::MAX_NESTING {
        return Err(Exc::new(
            "RecursionError",
            "value is nested too deeply to send",
        ));
    }
    let d = depth + 1;
    Ok(match v {
        Value::Nil | Value::Undef => Wire::Nil,
        Value::Bool(b) => Wire::Bool(*b),
        Value::Int(i) => Wire::Int(*i),
        Value::Float(f) => Wire::Float(*f),
        Value::Str(s) => Wire::Str(s.as_str().to_string()),
        Value::Bytes(b) => Wire::Bytes(b.to_vec()),
        Value::List(l) => {
            let items = l.borrow().clone();
            let mut out = Vec::with_capacity(items.len());
            for x in &items {
                out.push(to_wire(vm, x, d)?);
            }
            Wire::List(out)
        }
        Value::Map(m) => {
            let pairs: Vec<(Value, Value)> = m
                .borrow()
                .iter()
                .map(|(k, v)| (k.value().clone(), v.clone()))
                .collect();
            let mut out = Vec::with_capacity(pairs.len());
            for (k, v) in &pairs {
                out.push((to_wire(vm, k, d)?, to_wire(vm, v, d)?));
            }
            Wire::Map(out)
        }
        Value::Range(r) => Wire::Range(r.start, r.stop, r.step),
        Value::Error(e) => Wire::Error {
            kind: e.kind.to_string(),
            message: e.message.clone(),
        },
        Value::Native(n) => Wire::Builtin(n.name.to_string()),
        Value::Instance(inst) => {
            let fields: Vec<(String, Value)> = inst
                .fields
                .borrow()
                .iter()
                .map(|(k, v)| (vm.interner.name(*k).to_string(), v.clone()))
                .collect();
            let mut out = Vec::with_capacity(fields.len());
            for (k, v) in &fields {
                out.push((k.clone(), to_wire(vm, v, d)?));
            }
            Wire::Instance {
                class: inst.class.name.to_string(),
                fields: out,
            }
        }
        Value::Object(h) => match h.0.shared_id() {
            Some(id) => Wire::Handle {
                type_name: h.0.type_name().to_string(),
                id,
            },
            None => return Err(cannot_send(v)),
        },
        Value::Func(_) | Value::Bound(_) | Value::Class(_) | Value::Iter(_) | Value::Cell(_) => {
            return Err(cannot_send(v));
        }
    })
}

fn cannot_send(v: &Value) -> Exc {
    Exc::type_error(format!(
        "a {} cannot be sent to another process",
        v.type_name()
    ))
}

fn from_wire(vm: &mut Vm, w: Wire) -> VmResult<Value> {
    Ok(match w {
        Wire::Nil => Value::Nil,
        Wire::Bool(b) => Value::Bool(b),
        Wire::Int(i) => Value::Int(i),
        Wire::Float(f) => Value::Float(f),
        Wire::Str(s) => Value::string(s),
        Wire::Bytes(b) => Value::Bytes(Rc::new(b)),
        Wire::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(from_wire(vm, x)?);
            }
            Value::list(out)
        }
        Wire::Map(pairs) => {
            let mut m = MapData::default();
            for (k, v) in pairs {
                let k = Key::new(from_wire(vm, k)?)
                    .map_err(|_| corrupt("the message has an unhashable map key".into()))?;
                m.insert(k, from_wire(vm, v)?);
            }
            Value::map(m)
        }
        Wire::Range(start, stop, step) => {
            if step == 0 {
                return Err(corrupt("the message has a range with step 0".into()));
            }
            Value::Range(Rc::new(crate::value::Range { start, stop, step }))
        }
        Wire::Error { kind, message } => {
            Value::Error(Rc::new(crate::value::ErrorValue::new(&kind, message)))
        }
        Wire::Builtin(name) => match vm.globals.get(0, &name) {
            Some(v @ Value::Native(_)) => v.clone(),
            _ => return Err(corrupt(format!("the message names no builtin `{name}`"))),
        },
        Wire::Instance { class, fields } => {
            let Some(cls) = find_class(vm, &class) else {
                return Err(Exc::type_error(format!(
                    "received an instance of class `{class}`, which this process does not have"
                )));
            };
            let mut map = rustc_hash::FxHashMap::default();
            for (k, v) in fields {
                let v = from_wire(vm, v)?;
                map.insert(vm.interner.intern(&k), v);
            }
            Value::Instance(Rc::new(Instance {
                class: cls,
                fields: RefCell::new(map),
                native: RefCell::new(None),
            }))
        }
        Wire::Handle { type_name, id } => match vm.lookup_handle(id) {
            Some(h) => h,
            None => {
                return Err(Exc::type_error(format!(
                    "received a {type_name} this process does not have: a handle can only \
                     go to processes forked after it was made (create it before spawning \
                     the process or the pool)"
                )));
            }
        },
    })
}

/// A class the receiver knows by name: a global of the main program or of a
/// module it imported.
fn find_class(vm: &Vm, name: &str) -> Option<Rc<crate::value::Class>> {
    for unit in vm.globals.units() {
        if let Some(Value::Class(c)) = vm.globals.get(unit, name) {
            if &*c.name == name {
                return Some(c.clone());
            }
        }
    }
    None
}

/// Writes one frame: the length, then the bytes.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {} bytes is over the limit", payload.len()),
        ));
    }
    w.write_all(&(payload.len() as u32).to_le_bytes())?;
    w.write_all(payload)
}

/// Reads one frame; `Ok(None)` at a clean end of stream (no partial frame).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit (corrupt stream?)"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> Vm {
        Vm::new(
            crate::vm::Config::default(),
            Box::new(io::sink()),
            Box::new(io::sink()),
        )
    }

    #[test]
    fn plain_values_round_trip() {
        let mut vm = vm();
        let mut m = MapData::default();
        m.insert(
            Key::str("k"),
            Value::list(vec![Value::Int(1), Value::Float(2.5)]),
        );
        m.insert(Key::new(Value::Int(3)).unwrap(), Value::Nil);
        let v = Value::list(vec![
            Value::str("héllo"),
            Value::Bool(true),
            Value::Bytes(Rc::new(vec![0, 255])),
            Value::map(m),
            Value::Int(i64::MIN),
        ]);
        let bytes = encode(&mut vm, &v).unwrap();
        let back = decode(&mut vm, &bytes).unwrap();
        assert!(back.equals(&v));
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut vm = vm();
        let bytes = encode(&mut vm, &Value::str("hello")).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&mut vm, &bytes[..cut]).is_err());
        }
        assert!(decode(&mut vm, &[0xff; 16]).is_err());
    }

    #[test]
    fn frames_round_trip_and_reject_huge_lengths() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"abc");
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"");
        assert!(read_frame(&mut r).unwrap().is_none());
        let bad = [0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &bad[..]).is_err());
    }
}
