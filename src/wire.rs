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
//! builtins (by name), shared handles (by id: the receiver must have been
//! forked after the handle was made), and functions and closures.
//!
//! A function travels as its compiled prototype (instructions, constants,
//! names, nested prototypes, its source text for diagnostics), the values of
//! the variables it captured (copied: the receiver's closure has its own), and
//! the globals its code names, each with its current value. On arrival the
//! receiver maps each global by name to its own slot; a global it does not
//! have yet is defined with the value that came along, one it has keeps its
//! own value (section 10). Globals below a `horizon` slot (those that existed
//! when the receiver was forked, e.g. for a pool's workers) are neither sent
//! nor remapped: the receiver has them at the same slots.

use crate::compile::{Capture, Op, Proto};
use crate::diagnostic::Source;
use crate::value::{Closure, Exc, Instance, Key, MapData, Value, VmResult};
use crate::vm::Vm;
use bincode::{Decode, Encode};
use rustc_hash::FxHashMap;
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
    /// A list of ints only: the common case of numeric work, kept compact
    /// and quick to read: the ints packed at one width (`pack_ints`), which
    /// bincode moves as one block of bytes instead of int by int.
    Ints(Vec<u8>),
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
    /// A closure: `id` names it within the message, so that a closure that
    /// captures itself (a recursive local function) can refer back to it.
    Func {
        id: u64,
        proto: Box<ProtoW>,
        upvals: Vec<Wire>,
    },
    /// A closure whose prototype the receiver has under this number.
    FuncRef {
        id: u64,
        serial: u64,
        upvals: Vec<Wire>,
    },
    /// The closure `id`, which is being rebuilt around this point.
    ClosureRef(u64),
    /// A handle that names its object in a way any process can use.
    Portable {
        tag: String,
        data: Box<Wire>,
    },
    /// `obj.method` taken as a value: the receiver and the method's name.
    Bound {
        receiver: Box<Wire>,
        method: String,
    },
}

/// A message: the value, plus what its functions need.
#[derive(Encode, Decode, Debug)]
struct Message {
    /// Source texts of the functions in the message: (name, text).
    sources: Vec<(String, String)>,
    /// Globals the functions name (sender's slot, unit, name, value if sendable).
    globals: Vec<(u32, u32, String, Option<Wire>)>,
    value: Wire,
}

#[derive(Encode, Decode, Debug)]
struct ProtoW {
    name: String,
    code: Vec<Op>,
    offsets: Vec<u32>,
    consts: Vec<Wire>,
    names: Vec<String>,
    kw_lists: Vec<Vec<String>>,
    protos: Vec<ProtoW>,
    params: Vec<String>,
    nrequired: u32,
    nregs: u32,
    /// (true, register) for Capture::Local, (false, index) for Capture::Upval.
    captures: Vec<(bool, u16)>,
    is_generator: bool,
    is_method: bool,
    source: u32,
    def_offset: u32,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// What the receivers of a message are known to have: they were forked from
/// this process when the globals marked in `defined` had values and it had
/// numbered `protos` prototypes. Those globals are neither sent nor remapped
/// (a global declared then but set later still travels); functions whose
/// prototype is not newer than `protos` go by number.
#[derive(Clone, Debug, Default)]
pub struct Horizon {
    pub defined: Vec<bool>,
    pub protos: u64,
}

impl Horizon {
    /// Nothing is known of the receiver: send everything.
    pub const NONE: Horizon = Horizon {
        defined: Vec::new(),
        protos: 0,
    };

    /// What processes forked from this one right now will have.
    pub fn now(vm: &Vm) -> Horizon {
        Horizon {
            defined: vm
                .globals
                .values
                .iter()
                .map(|v| !matches!(v, Value::Undef))
                .collect(),
            protos: vm.proto_count(),
        }
    }

    fn has_global(&self, slot: u32) -> bool {
        self.defined.get(slot as usize).copied().unwrap_or(false)
    }
}

/// Serialises a value for another process.
pub fn encode(vm: &mut Vm, v: &Value) -> VmResult<Vec<u8>> {
    encode_for(vm, v, &Horizon::NONE)
}

/// A message with no sources and no globals starts with these two bytes
/// (two empty lists), then the value.
const PLAIN: [u8; 2] = [0, 0];

/// The message of a scalar (nil, bool, int, float), encoded straight into a
/// small buffer: the same bytes as the general path, without its setup
/// (most messages on a pipe or queue are one number).
fn encode_scalar(v: &Value) -> Option<Vec<u8>> {
    let w = match v {
        Value::Nil => Wire::Nil,
        Value::Bool(b) => Wire::Bool(*b),
        Value::Int(i) => Wire::Int(*i),
        Value::Float(f) => Wire::Float(*f),
        _ => return None,
    };
    let mut buf = [0u8; 16];
    let n = bincode::encode_into_slice(&w, &mut buf[PLAIN.len()..], config()).ok()?;
    Some(buf[..PLAIN.len() + n].to_vec())
}

/// Serialises a value for processes that have what `horizon` says.
pub fn encode_for(vm: &mut Vm, v: &Value, horizon: &Horizon) -> VmResult<Vec<u8>> {
    if let Some(bytes) = encode_scalar(v) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(64);
    encode_for_into(vm, v, horizon, &mut out)?;
    Ok(out)
}

/// As `encode_for`, appending the message to `out` (after a header the
/// caller wrote, say): no copy, and no growing from an empty buffer.
pub fn encode_for_into(
    vm: &mut Vm,
    v: &Value,
    horizon: &Horizon,
    out: &mut Vec<u8>,
) -> VmResult<()> {
    if let Some(bytes) = encode_scalar(v) {
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    let mut enc = Enc {
        vm,
        horizon,
        sources: Vec::new(),
        globals: Vec::new(),
        seen: FxHashMap::default(),
        open_closures: Vec::new(),
    };
    let value = enc.wire(v, 0)?;
    let msg = Message {
        sources: enc
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.text.clone()))
            .collect(),
        globals: enc.globals,
        value,
    };
    bincode::encode_into_std_write(&msg, out, config())
        .map(|_| ())
        .map_err(|e| Exc::new("ValueError", format!("cannot serialise the message: {e}")))
}

/// Rebuilds a value serialised by `encode` (in this or another process).
pub fn decode(vm: &mut Vm, bytes: &[u8]) -> VmResult<Value> {
    // no sources and no globals (most messages): just the value, and a
    // scalar without any setup
    if let Some(rest) = bytes.strip_prefix(&PLAIN) {
        let (w, used): (Wire, usize) = bincode::decode_from_slice(rest, config())
            .map_err(|e| corrupt(format!("the message is corrupt ({e})")))?;
        if used != rest.len() {
            return Err(corrupt("the message has trailing bytes".into()));
        }
        return match w {
            Wire::Nil => Ok(Value::Nil),
            Wire::Bool(b) => Ok(Value::Bool(b)),
            Wire::Int(i) => Ok(Value::Int(i)),
            Wire::Float(f) => Ok(Value::Float(f)),
            w => Dec {
                vm,
                sources: Vec::new(),
                slots: FxHashMap::default(),
                closures: FxHashMap::default(),
            }
            .value(w),
        };
    }
    let (msg, used): (Message, usize) = bincode::decode_from_slice(bytes, config())
        .map_err(|e| corrupt(format!("the message is corrupt ({e})")))?;
    if used != bytes.len() {
        return Err(corrupt("the message has trailing bytes".into()));
    }
    let sources = msg
        .sources
        .into_iter()
        .map(|(name, text)| Source::new(name, text))
        .collect();
    let mut dec = Dec {
        vm,
        sources,
        slots: FxHashMap::default(),
        closures: FxHashMap::default(),
    };
    // first every global gets its slot here, so that code can be remapped;
    // then the ones this process did not have get the values that came along
    let mut pending = Vec::new();
    for (slot, unit, name, value) in msg.globals {
        let units = dec.vm.globals.units().len();
        let unit = if unit > 0 && (unit as usize) < units {
            unit as usize
        } else {
            dec.vm.main_unit
        };
        let mine = dec.vm.globals.declare(unit, &name);
        dec.slots.insert(slot, mine);
        let unset = matches!(dec.vm.globals.values[mine as usize], Value::Undef);
        if let (true, Some(v)) = (unset, value) {
            pending.push((mine, v));
        }
    }
    for (mine, w) in pending {
        let v = dec.value(w)?;
        dec.vm.globals.values[mine as usize] = v;
    }
    dec.value(msg.value)
}

/// The slots of the globals a prototype's own code names.
fn global_slots(code: &[Op]) -> impl Iterator<Item = u32> + '_ {
    code.iter().filter_map(|op| match *op {
        Op::GetGlobal { slot, .. } | Op::SetGlobal { slot, .. } | Op::CallGlobal { slot, .. } => {
            Some(slot)
        }
        _ => None,
    })
}

/// The ints of `items` (all `Value::Int`) packed: one byte giving the width
/// (1, 2, 4 or 8 bytes: the smallest that holds every item), then each item
/// as a little-endian two's complement number of that width.
fn pack_ints(items: &[Value]) -> Vec<u8> {
    let ints = || items.iter().map(|x| x.as_int().unwrap_or(0));
    let (lo, hi) = ints().fold((0i64, 0i64), |(lo, hi), i| (lo.min(i), hi.max(i)));
    let width: usize = if lo >= i8::MIN.into() && hi <= i8::MAX.into() {
        1
    } else if lo >= i16::MIN.into() && hi <= i16::MAX.into() {
        2
    } else if lo >= i32::MIN.into() && hi <= i32::MAX.into() {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(1 + items.len() * width);
    out.push(width as u8);
    for i in ints() {
        out.extend_from_slice(&i.to_le_bytes()[..width]);
    }
    out
}

/// The ints packed by `pack_ints`, as values; None when the bytes are not
/// a width and a whole number of items of that width.
fn unpack_ints(packed: &[u8]) -> Option<Vec<Value>> {
    let (&width, body) = packed.split_first()?;
    let width = width as usize;
    if !matches!(width, 1 | 2 | 4 | 8) || body.len() % width != 0 {
        return None;
    }
    let items = body.chunks_exact(width);
    Some(match width {
        1 => items
            .map(|b| Value::Int(i8::from_le_bytes([b[0]]).into()))
            .collect(),
        2 => items
            .map(|b| Value::Int(i16::from_le_bytes([b[0], b[1]]).into()))
            .collect(),
        4 => items
            .map(|b| Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into()))
            .collect(),
        _ => items
            .map(|b| {
                Value::Int(i64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            })
            .collect(),
    })
}

fn corrupt(message: String) -> Exc {
    Exc::new("ValueError", message)
}

struct Enc<'a> {
    vm: &'a mut Vm,
    horizon: &'a Horizon,
    sources: Vec<Rc<Source>>,
    globals: Vec<(u32, u32, String, Option<Wire>)>,
    /// Global slots already listed (a recursive function names itself).
    seen: FxHashMap<u32, ()>,
    /// Closures being encoded, innermost last (a closure may capture itself).
    open_closures: Vec<u64>,
}

impl Enc<'_> {
    fn wire(&mut self, v: &Value, depth: usize) -> VmResult<Wire> {
        let vm = &mut *self.vm;
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
                // encoding runs no script code, so the list cannot change meanwhile
                let items = l.borrow();
                if !items.is_empty() && items.iter().all(|x| matches!(x, Value::Int(_))) {
                    return Ok(Wire::Ints(pack_ints(&items)));
                }
                let mut out = Vec::with_capacity(items.len());
                for x in items.iter() {
                    out.push(self.wire(x, d)?);
                }
                Wire::List(out)
            }
            Value::Map(m) => {
                let pairs = m.borrow();
                let mut out = Vec::with_capacity(pairs.len());
                for (k, v) in pairs.iter() {
                    out.push((self.wire(k.value(), d)?, self.wire(v, d)?));
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
                    out.push((k.clone(), self.wire(v, d)?));
                }
                Wire::Instance {
                    class: inst.class.name.to_string(),
                    fields: out,
                }
            }
            Value::Object(h) => match (h.0.portable(), h.0.shared_id()) {
                // a manager proxy: plain data any process can use
                (Some((tag, data)), _) => Wire::Portable {
                    tag: tag.to_string(),
                    data: Box::new(self.wire(&data, d)?),
                },
                (None, Some(id)) => Wire::Handle {
                    type_name: h.0.type_name().to_string(),
                    id,
                },
                (None, None) => return Err(cannot_send(v)),
            },
            Value::Func(c) => {
                let c = c.clone();
                let id = Rc::as_ptr(&c) as usize as u64;
                if self.open_closures.contains(&id) {
                    return Ok(Wire::ClosureRef(id));
                }
                self.open_closures.push(id);
                let mut upvals = Vec::with_capacity(c.upvals.len());
                for cell in c.upvals.iter() {
                    let v = cell.borrow().clone();
                    upvals.push(self.wire(&v, d)?);
                }
                self.open_closures.pop();
                if c.proto.serial <= self.horizon.protos {
                    // the receiver has the code, not necessarily the globals
                    // set since: those the code names still travel
                    self.proto_globals(&c.proto, d)?;
                    Wire::FuncRef {
                        id,
                        serial: c.proto.serial,
                        upvals,
                    }
                } else {
                    Wire::Func {
                        id,
                        proto: Box::new(self.proto(&c.proto, d)?),
                        upvals,
                    }
                }
            }
            Value::Bound(b) => {
                let method = match &b.method {
                    Value::Func(f) => f.proto.name.to_string(),
                    Value::Native(n) => n.name.to_string(),
                    _ => return Err(cannot_send(v)),
                };
                let receiver = b.receiver.clone();
                Wire::Bound {
                    receiver: Box::new(self.wire(&receiver, d)?),
                    method,
                }
            }
            Value::Class(_) | Value::Iter(_) | Value::Cell(_) => return Err(cannot_send(v)),
        })
    }

    fn proto(&mut self, p: &Rc<Proto>, depth: usize) -> VmResult<ProtoW> {
        if depth > crate::value::MAX_NESTING {
            return Err(Exc::new(
                "RecursionError",
                "functions nest too deeply to send",
            ));
        }
        let source = match self.sources.iter().position(|s| Rc::ptr_eq(s, &p.source)) {
            Some(i) => i,
            None => {
                self.sources.push(p.source.clone());
                self.sources.len() - 1
            }
        } as u32;
        for slot in global_slots(&p.code).collect::<Vec<_>>() {
            self.global(slot, depth)?;
        }
        let mut consts = Vec::with_capacity(p.consts.len());
        for k in &p.consts {
            consts.push(self.wire(k, depth + 1)?);
        }
        let mut protos = Vec::with_capacity(p.protos.len());
        for q in &p.protos {
            protos.push(self.proto(q, depth + 1)?);
        }
        let vm = &*self.vm;
        Ok(ProtoW {
            name: p.name.to_string(),
            code: p.code.clone(),
            offsets: p.offsets.clone(),
            consts,
            names: p
                .names
                .iter()
                .map(|s| vm.interner.name(*s).to_string())
                .collect(),
            kw_lists: p
                .kw_lists
                .iter()
                .map(|l| l.iter().map(|n| n.to_string()).collect())
                .collect(),
            protos,
            params: p.params.iter().map(|n| n.to_string()).collect(),
            nrequired: p.nrequired as u32,
            nregs: p.nregs as u32,
            captures: p
                .captures
                .iter()
                .map(|c| match *c {
                    Capture::Local(r) => (true, r),
                    Capture::Upval(i) => (false, i),
                })
                .collect(),
            is_generator: p.is_generator,
            is_method: p.is_method,
            source,
            def_offset: p.def_offset,
        })
    }

    /// Lists the globals a prototype and its nested ones name.
    fn proto_globals(&mut self, p: &Rc<Proto>, depth: usize) -> VmResult<()> {
        if depth > crate::value::MAX_NESTING {
            return Ok(());
        }
        for slot in global_slots(&p.code).collect::<Vec<_>>() {
            self.global(slot, depth)?;
        }
        for q in &p.protos {
            self.proto_globals(q, depth + 1)?;
        }
        Ok(())
    }

    /// Lists global `slot` (with its value when it can travel) unless the
    /// receiver has it already: a builtin, or a slot below the horizon.
    fn global(&mut self, slot: u32, depth: usize) -> VmResult<()> {
        let g = &self.vm.globals;
        let owner = g.owners.get(slot as usize).copied().unwrap_or(0);
        if owner == 0 || self.horizon.has_global(slot) || self.seen.contains_key(&slot) {
            return Ok(());
        }
        self.seen.insert(slot, ());
        let name = g.names[slot as usize].to_string();
        let value = g.values[slot as usize].clone();
        let value = match value {
            Value::Undef => None,
            // a global that cannot travel (a file, a generator) is simply not
            // defined in the receiver; using it there is a NameError
            v => {
                // a global's value is rebuilt on its own, before the message's
                // value: it must not refer back into closures open here
                let open = std::mem::take(&mut self.open_closures);
                let w = self.wire(&v, depth + 1).ok();
                self.open_closures = open;
                w
            }
        };
        self.globals.push((slot, owner, name, value));
        Ok(())
    }
}

fn cannot_send(v: &Value) -> Exc {
    Exc::type_error(format!(
        "a {} cannot be sent to another process",
        v.type_name()
    ))
}

struct Dec<'a> {
    vm: &'a mut Vm,
    sources: Vec<Rc<Source>>,
    /// The sender's global slots to this process's.
    slots: FxHashMap<u32, u32>,
    /// Closures rebuilt so far, by their id in the message.
    closures: FxHashMap<u64, Value>,
}

impl Dec<'_> {
    fn value(&mut self, w: Wire) -> VmResult<Value> {
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
                    out.push(self.value(x)?);
                }
                Value::list(out)
            }
            Wire::Ints(packed) => Value::list(
                unpack_ints(&packed)
                    .ok_or_else(|| corrupt("the message is corrupt (a list of ints)".into()))?,
            ),
            Wire::Map(pairs) => {
                let mut m = MapData::default();
                for (k, v) in pairs {
                    let k = Key::new(self.value(k)?)
                        .map_err(|_| corrupt("the message has an unhashable map key".into()))?;
                    m.insert(k, self.value(v)?);
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
            Wire::Builtin(name) => match self.vm.globals.get(0, &name) {
                Some(v @ Value::Native(_)) => v.clone(),
                _ => return Err(corrupt(format!("the message names no builtin `{name}`"))),
            },
            Wire::Instance { class, fields } => {
                let Some(cls) = find_class(self.vm, &class) else {
                    return Err(Exc::type_error(format!(
                        "received an instance of class `{class}`, which this process does not have"
                    )));
                };
                let mut map = rustc_hash::FxHashMap::default();
                for (k, v) in fields {
                    let v = self.value(v)?;
                    map.insert(self.vm.interner.intern(&k), v);
                }
                Value::Instance(Rc::new(Instance {
                    class: cls,
                    fields: RefCell::new(map),
                    native: RefCell::new(None),
                }))
            }
            Wire::Handle { type_name, id } => match self.vm.lookup_handle(id) {
                Some(h) => h,
                None => {
                    return Err(Exc::type_error(format!(
                        "received a {type_name} this process does not have: a handle can only \
                     go to processes forked after it was made (create it before spawning \
                     the process or the pool)"
                    )));
                }
            },
            Wire::Func { id, proto, upvals } => {
                let proto = self.proto(*proto)?;
                self.closure(id, proto, upvals)?
            }
            Wire::FuncRef { id, serial, upvals } => {
                let proto = self.vm.proto_by_serial(serial).ok_or_else(|| {
                    corrupt("the message names a function this process does not have".into())
                })?;
                self.closure(id, proto, upvals)?
            }
            Wire::ClosureRef(id) => self
                .closures
                .get(&id)
                .cloned()
                .ok_or_else(|| corrupt("the message refers to an unknown closure".into()))?,
            Wire::Portable { tag, data } => {
                let data = self.value(*data)?;
                crate::runtime::revive(self.vm, &tag, data)?
            }
            Wire::Bound { receiver, method } => {
                let receiver = self.value(*receiver)?;
                let sym = self.vm.interner.intern(&method);
                self.vm.get_attr(&receiver, sym)?
            }
        })
    }

    /// Rebuilds a closure: made first with empty cells and recorded under
    /// `id`, so that its captured values can refer back to it.
    fn closure(&mut self, id: u64, proto: Rc<Proto>, upvals: Vec<Wire>) -> VmResult<Value> {
        if upvals.len() != proto.captures.len() {
            return Err(corrupt(
                "the message has a closure with the wrong captures".into(),
            ));
        }
        let cells: Vec<crate::value::CellRef> = (0..upvals.len())
            .map(|_| Rc::new(RefCell::new(Value::Nil)))
            .collect();
        let f = Value::Func(Rc::new(Closure {
            proto,
            upvals: cells.clone().into_boxed_slice(),
        }));
        self.closures.insert(id, f.clone());
        for (cell, u) in cells.iter().zip(upvals) {
            let v = self.value(u)?;
            *cell.borrow_mut() = v;
        }
        Ok(f)
    }

    fn proto(&mut self, p: ProtoW) -> VmResult<Rc<Proto>> {
        let bad = |what: &str| corrupt(format!("the message has a malformed function ({what})"));
        let source = self
            .sources
            .get(p.source as usize)
            .cloned()
            .ok_or_else(|| bad("source"))?;
        if p.offsets.len() != p.code.len() || p.nregs as usize > u16::MAX as usize + 1 {
            return Err(bad("code"));
        }
        let mut code = p.code;
        for op in code.iter_mut() {
            match op {
                Op::GetGlobal { slot, .. }
                | Op::SetGlobal { slot, .. }
                | Op::CallGlobal { slot, .. } => {
                    if let Some(&mine) = self.slots.get(slot) {
                        *slot = mine;
                    } else if *slot as usize >= self.vm.globals.values.len() {
                        return Err(bad("global"));
                    }
                }
                _ => {}
            }
        }
        let mut consts = Vec::with_capacity(p.consts.len());
        for k in p.consts {
            consts.push(self.value(k)?);
        }
        let mut protos = Vec::with_capacity(p.protos.len());
        for q in p.protos {
            protos.push(self.proto(q)?);
        }
        let names = p.names.iter().map(|n| self.vm.interner.intern(n)).collect();
        Ok(self.vm.register_proto(Proto {
            name: Rc::from(p.name),
            code,
            offsets: p.offsets,
            consts,
            names,
            kw_lists: p
                .kw_lists
                .into_iter()
                .map(|l| l.into_iter().map(Rc::from).collect::<Vec<Rc<str>>>().into())
                .collect(),
            protos,
            params: p.params.into_iter().map(Rc::from).collect(),
            nrequired: p.nrequired as usize,
            nregs: p.nregs as usize,
            captures: p
                .captures
                .into_iter()
                .map(|(local, i)| {
                    if local {
                        Capture::Local(i)
                    } else {
                        Capture::Upval(i)
                    }
                })
                .collect(),
            is_generator: p.is_generator,
            is_method: p.is_method,
            source,
            def_offset: p.def_offset,
            serial: 0,
            checked: false,
        }))
    }
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
    // one write for the length and the payload together (a reader waiting
    // for the frame wakes once)
    let header = (payload.len() as u32).to_le_bytes();
    let total = header.len() + payload.len();
    let mut done = 0;
    while done < total {
        let r = if done < header.len() {
            w.write_vectored(&[io::IoSlice::new(&header[done..]), io::IoSlice::new(payload)])
        } else {
            w.write(&payload[done - header.len()..])
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The whole length (header included) of the frame `bytes` starts with,
/// once its header has come.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(head.len() + u32::from_le_bytes(head) as usize)
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
    fn scalars_take_the_short_path_with_the_same_bytes() {
        let mut vm = vm();
        for v in [
            Value::Nil,
            Value::Bool(true),
            Value::Int(-5),
            Value::Int(i64::MAX),
            Value::Float(2.5),
        ] {
            let fast = encode_scalar(&v).unwrap();
            let msg = Message {
                sources: Vec::new(),
                globals: Vec::new(),
                value: Enc {
                    vm: &mut vm,
                    horizon: &Horizon::NONE,
                    sources: Vec::new(),
                    globals: Vec::new(),
                    seen: FxHashMap::default(),
                    open_closures: Vec::new(),
                }
                .wire(&v, 0)
                .unwrap(),
            };
            assert_eq!(fast, bincode::encode_to_vec(&msg, config()).unwrap());
            assert!(decode(&mut vm, &fast).unwrap().equals(&v));
        }
        let s = encode(&mut vm, &Value::str("héllo")).unwrap();
        assert!(decode(&mut vm, &s).unwrap().equals(&Value::str("héllo")));
    }

    #[test]
    fn int_lists_round_trip_packed() {
        let mut vm = vm();
        let ints = [
            0,
            1,
            -1,
            63,
            -64,
            64,
            127,
            128,
            -129,
            i64::MAX,
            i64::MIN,
            1 << 40,
        ];
        let v = Value::list(ints.iter().map(|&i| Value::Int(i)).collect());
        let bytes = encode(&mut vm, &v).unwrap();
        assert!(decode(&mut vm, &bytes).unwrap().equals(&v));
        let packed = pack_ints(&ints.map(Value::Int));
        let back = unpack_ints(&packed).unwrap();
        assert!(Value::list(back).equals(&v));
        assert_eq!(packed[0], 8);
        // each width, at its limits
        for (ints, width) in [
            (vec![-128, 127, 0], 1),
            (vec![-129, 127], 2),
            (vec![32767, -32768], 2),
            (vec![32768, -5], 4),
            (vec![i32::MIN.into(), i32::MAX.into()], 4),
            (vec![i64::from(i32::MAX) + 1], 8),
        ] {
            let items: Vec<Value> = ints.iter().map(|&i| Value::Int(i)).collect();
            let packed = pack_ints(&items);
            assert_eq!(packed[0], width);
            assert!(Value::list(unpack_ints(&packed).unwrap()).equals(&Value::list(items)));
        }
        // an item cut short, an unknown width, and nothing at all are corrupt
        assert!(unpack_ints(&packed[..packed.len() - 1]).is_none());
        assert!(unpack_ints(&[3, 1, 2, 3]).is_none());
        assert!(unpack_ints(&[]).is_none());
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
