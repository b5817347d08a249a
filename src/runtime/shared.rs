//! Shared values of section 13: `value(x)` and `array(typecode, items)`.
//!
//! Layout: each object is one shared mapping that starts with the robust
//! mutex behind its `.lock` attribute, followed by the data as 64-bit atomic
//! words (an int's bits, a float's bits, or 0/1 for a bool). Every single read
//! and write is atomic, and `add` is an atomic read-modify-write; a
//! read-then-write such as `n.value += 1` needs `with n.lock { ... }`.
//!
//! The type of a Value and the typecode of an Array are fixed when they are
//! made: assigning another type is a TypeError (an int converts to a float
//! where a float is stored, as in Python's `array("d")`).

use crate::runtime::shm::RobustMutex;
use crate::runtime::sync::{Lock, Shared, init_mutex, publish};
use crate::value::format::float_repr;
use crate::value::func::want_str;
use crate::value::{Args, Exc, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

pub const FUNCS: &[(&str, NativeFn)] = &[("value", value), ("array", array)];

/// What the 64-bit words of a shared object hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
        }
    }

    fn decode(self, bits: u64) -> Value {
        match self {
            Kind::Int => Value::Int(bits as i64),
            Kind::Float => Value::Float(f64::from_bits(bits)),
            Kind::Bool => Value::Bool(bits != 0),
        }
    }

    /// The bits of `v` stored as this kind; None when `v` cannot be stored.
    fn encode(self, v: &Value) -> Option<u64> {
        match (self, v) {
            (Kind::Int, Value::Int(i)) => Some(*i as u64),
            (Kind::Float, Value::Float(f)) => Some(f.to_bits()),
            (Kind::Int | Kind::Bool, Value::Bool(b)) => Some(*b as u64),
            (Kind::Float, Value::Int(i)) => Some((*i as f64).to_bits()),
            (Kind::Float, Value::Bool(b)) => Some((*b as i64 as f64).to_bits()),
            _ => None,
        }
    }

    /// `encode`, with a TypeError naming `what` (the target) when it fails.
    fn encode_or(self, what: impl FnOnce() -> String, v: &Value) -> VmResult<u64> {
        self.encode(v).ok_or_else(|| {
            Exc::type_error(format!(
                "{} holds {}s, not {}",
                what(),
                self.name(),
                v.type_name()
            ))
        })
    }

    fn show(self, bits: u64) -> String {
        match self {
            Kind::Int => (bits as i64).to_string(),
            Kind::Float => float_repr(f64::from_bits(bits)),
            Kind::Bool => (bits != 0).to_string(),
        }
    }
}

/// The start of every shared value and array: its lock and its length.
#[repr(C)]
struct Header {
    lock: RobustMutex,
    len: u64,
}

/// Maps a header followed by `len` zeroed words.
fn map_words(what: &str, len: usize) -> VmResult<Shared<Header>> {
    let extra = len
        .checked_mul(8)
        .ok_or_else(|| Exc::new("OverflowError", format!("{what}() is too large")))?;
    // SAFETY: the header's mutex is initialised and its length written; the
    // words are zeroed memory, a valid AtomicU64 each; the user mutex is at 0.
    unsafe {
        Shared::new(what, extra, Some(0), |h: *mut Header| {
            init_mutex(&mut (*h).lock);
            (*h).len = len as u64;
        })
    }
}

/// The words after a header.
fn words(h: &Shared<Header>) -> &[AtomicU64] {
    // SAFETY: `map_words` mapped `len` words right after the header (whose
    // size is a multiple of 8, so they are aligned), zeroed or written since;
    // they live as long as `h`.
    unsafe { std::slice::from_raw_parts(h.tail().cast::<AtomicU64>(), h.len as usize) }
}

// ---------------------------------------------------------------------------
// value(x)

pub struct SharedValue {
    cell: Shared<Header>,
    kind: Kind,
    /// The `.lock` handle, made with the value so that it is the same object
    /// every time and in every process forked later.
    lock: Value,
    id: u64,
}

const VALUE_METHODS: &[&str] = &["add"];

impl SharedValue {
    fn word(&self) -> &AtomicU64 {
        &words(&self.cell)[0]
    }

    fn get(&self) -> Value {
        self.kind.decode(self.word().load(Ordering::SeqCst))
    }

    /// `add(d)`: atomically adds and returns the new value.
    fn add(&self, args: Args) -> VmResult<Value> {
        let [d] = args.bind("add", ["d"], 1)?;
        let d = d.unwrap_or_default();
        let word = self.word();
        let mut err = None;
        let result = match self.kind {
            Kind::Int => {
                let d = match d {
                    Value::Int(i) => i,
                    Value::Bool(b) => b as i64,
                    other => {
                        return Err(Exc::type_error(format!(
                            "add() on an int Value needs an int, not {}",
                            other.type_name()
                        )));
                    }
                };
                word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                    let sum = (bits as i64).checked_add(d);
                    if sum.is_none() {
                        err = Some(Exc::new(
                            "OverflowError",
                            format!("add(): {} + {d} is out of the int range", bits as i64),
                        ));
                    }
                    sum.map(|s| s as u64)
                })
                .map(|old| Value::Int((old as i64).wrapping_add(d)))
            }
            Kind::Float => {
                let d = d.as_f64().ok_or_else(|| {
                    Exc::type_error(format!(
                        "add() on a float Value needs a number, not {}",
                        d.type_name()
                    ))
                })?;
                word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                    Some((f64::from_bits(bits) + d).to_bits())
                })
                .map(|old| Value::Float(f64::from_bits(old) + d))
            }
            Kind::Bool => {
                return Err(Exc::type_error(
                    "add() needs an int or float Value, not a bool one",
                ));
            }
        };
        result.map_err(|_| err.unwrap_or_else(|| Exc::new("OverflowError", "add() overflowed")))
    }
}

impl Object for SharedValue {
    fn type_name(&self) -> &'static str {
        "Value"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        format!(
            "<Value {}>",
            self.kind.show(self.word().load(Ordering::SeqCst))
        )
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "value" => self.get(),
            "lock" => self.lock.clone(),
            _ => return None,
        }))
    }

    fn set_attr(&self, _vm: &mut Vm, name: &str, v: Value) -> VmResult<()> {
        match name {
            "value" => {
                let bits = self.kind.encode_or(|| "this Value".into(), &v)?;
                self.word().store(bits, Ordering::SeqCst);
                Ok(())
            }
            _ => Err(Exc::new(
                "AttributeError",
                format!("cannot set attribute `{name}` of Value (only `value`)"),
            )),
        }
    }

    fn call_method(
        &self,
        _vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        match name {
            "add" => Some(self.add(args)),
            _ => None,
        }
    }

    fn method_names(&self) -> &'static [&'static str] {
        VALUE_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `value(x)`: x an int, float or bool.
fn value(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [x] = args.bind("value", ["x"], 1)?;
    let x = x.unwrap_or_default();
    let kind = match x {
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Bool(_) => Kind::Bool,
        other => {
            return Err(Exc::type_error(format!(
                "value() holds an int, float or bool, not {}",
                other.type_name()
            )));
        }
    };
    let cell = map_words("value", 1)?;
    words(&cell)[0].store(kind.encode_or(|| "value()".into(), &x)?, Ordering::SeqCst);
    let lock = Lock::handle(vm, cell.project(|h| &h.lock));
    Ok(publish(vm, |id| SharedValue {
        cell,
        kind,
        lock,
        id,
    }))
}

// ---------------------------------------------------------------------------
// array(typecode, items)

/// The most elements an array may have (8 bytes each: 2 GiB of shared memory).
const MAX_ARRAY: usize = 1 << 28;

pub struct SharedArray {
    cells: Shared<Header>,
    kind: Kind,
    lock: Value,
    id: u64,
}

const ARRAY_METHODS: &[&str] = &["list"];

impl SharedArray {
    fn items(&self) -> &[AtomicU64] {
        words(&self.cells)
    }

    fn index(&self, fname: &str, i: &Value) -> VmResult<usize> {
        let len = self.items().len();
        let Value::Int(i) = i else {
            return Err(Exc::type_error(format!(
                "Array indices must be ints, not {}",
                i.type_name()
            )));
        };
        let at = if *i < 0 { *i + len as i64 } else { *i };
        if at < 0 || at >= len as i64 {
            let what = if fname == "set_item" {
                "assignment index"
            } else {
                "index"
            };
            return Err(Exc::new(
                "IndexError",
                format!("Array {what} {i} out of range (length {len})"),
            ));
        }
        Ok(at as usize)
    }

    fn get(&self, at: usize) -> Value {
        self.kind.decode(self.items()[at].load(Ordering::SeqCst))
    }

    fn to_list(&self) -> Value {
        Value::list((0..self.items().len()).map(|i| self.get(i)).collect())
    }

    fn typecode(&self) -> &'static str {
        if self.kind == Kind::Int { "i" } else { "d" }
    }
}

impl Object for SharedArray {
    fn type_name(&self) -> &'static str {
        "Array"
    }

    /// Like a list: `[1, 2, 3]`.
    fn repr(&self, _vm: &mut Vm) -> String {
        let items: Vec<String> = self
            .items()
            .iter()
            .map(|w| self.kind.show(w.load(Ordering::SeqCst)))
            .collect();
        format!("[{}]", items.join(", "))
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "lock" => self.lock.clone(),
            "typecode" => Value::str(self.typecode()),
            _ => return None,
        }))
    }

    fn call_method(
        &self,
        _vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "get_item" => args
                .expect("get_item", 1, 1)
                .and_then(|a| self.index("get_item", &a[0]))
                .map(|at| self.get(at)),
            "set_item" => args.expect("set_item", 2, 2).and_then(|a| {
                let at = self.index("set_item", &a[0])?;
                let what = || format!("this Array (typecode \"{}\")", self.typecode());
                let bits = self.kind.encode_or(what, &a[1])?;
                self.items()[at].store(bits, Ordering::SeqCst);
                Ok(Value::Nil)
            }),
            "len" => args
                .expect("len", 0, 0)
                .map(|_| Value::Int(self.items().len() as i64)),
            "list" => args.expect("list", 0, 0).map(|_| self.to_list()),
            "iter" => args.expect("iter", 0, 0).map(|_| {
                Value::object(ArrayIter {
                    array: this.clone(),
                    next: Cell::new(0),
                })
            }),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        ARRAY_METHODS
    }

    fn shared_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `for x in xs`: reads each element when the loop gets to it.
struct ArrayIter {
    array: Value,
    next: Cell<usize>,
}

impl Object for ArrayIter {
    fn type_name(&self) -> &'static str {
        "ArrayIterator"
    }

    fn is_iterator(&self) -> bool {
        true
    }

    fn next(&self, _vm: &mut Vm, _this: &Value) -> Option<VmResult<Option<Value>>> {
        let Value::Object(h) = &self.array else {
            return Some(Ok(None));
        };
        let a = h.downcast::<SharedArray>()?;
        let i = self.next.get();
        if i >= a.items().len() {
            return Some(Ok(None));
        }
        self.next.set(i + 1);
        Some(Ok(Some(a.get(i))))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `array(typecode, list_or_len)`: typecode "i" (ints) or "d" (floats).
fn array(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [typecode, items] = args.bind("array", ["typecode", "items"], 2)?;
    let typecode = typecode.unwrap_or_default();
    let kind = match want_str("array", "typecode", &typecode)? {
        "i" => Kind::Int,
        "d" => Kind::Float,
        other => {
            return Err(Exc::value_error(format!(
                "array(): typecode must be \"i\" (int) or \"d\" (float), not {}",
                crate::value::format::quote_str(other)
            )));
        }
    };
    let items = items.unwrap_or_default();
    let values = match &items {
        Value::Int(n) => {
            if *n < 0 {
                return Err(Exc::value_error(format!(
                    "array(): the length must be 0 or more, not {n}"
                )));
            }
            None
        }
        other => Some(vm.collect(other).map_err(|_| {
            Exc::type_error(format!(
                "array() needs a length or a list of numbers, not {}",
                other.type_name()
            ))
        })?),
    };
    let len = match (&values, &items) {
        (Some(v), _) => v.len(),
        (None, Value::Int(n)) => usize::try_from(*n).unwrap_or(usize::MAX),
        (None, _) => 0,
    };
    if len > MAX_ARRAY {
        return Err(Exc::new(
            "OverflowError",
            format!("array(): {len} elements is too many (the limit is {MAX_ARRAY})"),
        ));
    }
    let cells = map_words("array", len)?;
    if let Some(values) = values {
        let code = if kind == Kind::Int { "i" } else { "d" };
        let what = || format!("an Array with typecode \"{code}\"");
        for (w, v) in words(&cells).iter().zip(&values) {
            w.store(kind.encode_or(what, v)?, Ordering::SeqCst);
        }
    }
    let lock = Lock::handle(vm, cells.project(|h| &h.lock));
    Ok(publish(vm, |id| SharedArray {
        cells,
        kind,
        lock,
        id,
    }))
}
