//! Runtime values (section 3 of the contract).
//!
//! `Value` is 16 bytes: a tag and either an immediate (nil, bool, int, float) or
//! one reference-counted pointer. The runtime is single-threaded (fork copies only
//! the calling thread), so `Rc`/`RefCell` are the sharing tools. Handles of later
//! sections (processes, queues, generators, files...) are `Object`s: a trait
//! object behind one more box so that `Value` stays two words.

pub mod class;
pub mod error;
pub mod format;
pub mod func;
pub mod map;
pub mod string;

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

pub use class::{Class, Instance, NativeState};
pub use error::{ErrorValue, Exc, VmResult};
pub use func::{Args, BoundMethod, Closure, MethodFn, Native, NativeFn};
pub use map::{Key, MapData};
pub use string::Str;

use crate::vm::Vm;

pub type List = RefCell<Vec<Value>>;
pub type Map = RefCell<MapData>;
pub type CellRef = Rc<RefCell<Value>>;

/// A script value (section 3 of the contract). Immediates (`nil`, bools,
/// ints, floats) are held inline; everything else is a reference-counted
/// pointer, so cloning a `Value` is cheap and clones share the object (a
/// list appended to through one clone changes for all).
///
/// Hosts usually convert instead of matching: [`FromValue`](crate::FromValue)
/// and [`IntoValue`](crate::IntoValue), or the accessors below. `Display`
/// is what the script's `str()` gives (instances of script classes show as
/// `<Name object>`), `Debug` is its `repr()`.
///
/// ```
/// use proc_lang::Value;
/// let v = Value::from(vec![1i64, 2]);
/// assert_eq!(v.type_name(), "list");
/// assert_eq!(format!("{v} {:?}", Value::from("a")), "[1, 2] \"a\"");
/// assert_eq!(Value::from(7i64).as_int(), Some(7));
/// ```
#[derive(Default)]
#[non_exhaustive]
pub enum Value {
    /// `nil`.
    #[default]
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// A 64-bit int (arithmetic overflow is an `OverflowError`).
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// An immutable string (use [`Value::as_str`]).
    Str(Rc<Str>),
    /// Immutable bytes.
    Bytes(Rc<Vec<u8>>),
    /// A mutable list, shared by every clone.
    List(Rc<List>),
    /// A mutable insertion-ordered map, shared by every clone.
    Map(Rc<Map>),
    /// `range(...)`.
    Range(Rc<Range>),
    /// A script function (a closure).
    Func(Rc<Closure>),
    /// A builtin or a host function.
    Native(Rc<Native>),
    /// A method bound to its receiver.
    Bound(Rc<BoundMethod>),
    /// A script class.
    Class(Rc<Class>),
    /// An instance of a script class.
    Instance(Rc<Instance>),
    /// An error value (what `catch e` binds).
    Error(Rc<ErrorValue>),
    /// A runtime handle: a process, queue, lock, pool, file...
    Object(Rc<Handle>),
    /// Internal: the iteration state of a `for` loop. Never visible to scripts.
    #[doc(hidden)]
    Iter(Rc<RefCell<Iter>>),
    /// Internal: a captured variable's box. Never visible to scripts.
    #[doc(hidden)]
    Cell(CellRef),
    /// Internal: an unset global or a missing argument. Never visible to scripts.
    #[doc(hidden)]
    Undef,
}

impl Clone for Value {
    /// Written out (not derived) so that it inlines into the dispatch loop:
    /// immediates copy, everything else bumps a reference count.
    #[inline(always)]
    fn clone(&self) -> Value {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Str(r) => Value::Str(r.clone()),
            Value::Bytes(r) => Value::Bytes(r.clone()),
            Value::List(r) => Value::List(r.clone()),
            Value::Map(r) => Value::Map(r.clone()),
            Value::Range(r) => Value::Range(r.clone()),
            Value::Func(r) => Value::Func(r.clone()),
            Value::Native(r) => Value::Native(r.clone()),
            Value::Bound(r) => Value::Bound(r.clone()),
            Value::Class(r) => Value::Class(r.clone()),
            Value::Instance(r) => Value::Instance(r.clone()),
            Value::Error(r) => Value::Error(r.clone()),
            Value::Object(r) => Value::Object(r.clone()),
            Value::Iter(r) => Value::Iter(r.clone()),
            Value::Cell(r) => Value::Cell(r.clone()),
            Value::Undef => Value::Undef,
        }
    }
}

/// `range(start, stop, step)`; step is never 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub start: i64,
    pub stop: i64,
    pub step: i64,
}

impl Range {
    pub fn len(&self) -> i64 {
        let (lo, hi, step) = (self.start as i128, self.stop as i128, self.step as i128);
        let n = if step > 0 {
            (hi - lo + step - 1) / step
        } else {
            (lo - hi - step - 1) / -step
        };
        n.max(0) as i64
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The i-th element, for 0 <= i < len.
    pub fn nth(&self, i: i64) -> i64 {
        self.start + i * self.step
    }
    pub fn contains(&self, x: i64) -> bool {
        let in_bounds = if self.step > 0 {
            x >= self.start && x < self.stop
        } else {
            x <= self.start && x > self.stop
        };
        in_bounds && (x as i128 - self.start as i128) % (self.step as i128) == 0
    }
}

/// The state of a `for` loop over a value.
pub enum Iter {
    Range {
        next: i64,
        stop: i64,
        step: i64,
    },
    List {
        list: Rc<List>,
        index: usize,
    },
    /// Snapshot of a map's keys, or any other materialised sequence.
    Items {
        items: Vec<Value>,
        index: usize,
    },
    Str {
        s: Rc<Str>,
        byte: usize,
    },
    Bytes {
        b: Rc<Vec<u8>>,
        index: usize,
    },
    /// A generator, or any object that implements `Object::next`.
    Object(Value),
}

/// A runtime handle: generators, files, modules, and the process/IPC objects.
pub trait Object: Any {
    /// The name `type()` returns.
    fn type_name(&self) -> &'static str;
    /// How `print`/`repr` show it.
    fn repr(&self, _vm: &mut Vm) -> String {
        format!("<{}>", self.type_name())
    }
    /// Reads an attribute (`h.name`); `None` when there is no such attribute.
    fn get_attr(&self, _vm: &mut Vm, _this: &Value, _name: &str) -> Option<VmResult<Value>> {
        None
    }
    /// Writes an attribute; the default refuses.
    fn set_attr(&self, _vm: &mut Vm, name: &str, _value: Value) -> VmResult<()> {
        Err(Exc::new(
            "AttributeError",
            format!("cannot set attribute `{name}` of {}", self.type_name()),
        ))
    }
    /// Calls a method (`h.name(args)`); `None` when there is no such method.
    fn call_method(
        &self,
        _vm: &mut Vm,
        _this: &Value,
        _name: &str,
        _args: Args,
    ) -> Option<VmResult<Value>> {
        None
    }
    /// The fast path of a `with` block: `enter()` done at once, without
    /// waiting (an uncontended lock). True when it was done (the value of
    /// `with x as name` is then `true`); false to make the ordinary
    /// `enter()` call, which may wait, yield to tasks or check interrupts.
    fn enter_now(&self, _vm: &mut Vm) -> bool {
        false
    }
    /// The fast path of leaving a `with` block without an error: `exit(nil)`
    /// done at once. `None` to make the ordinary `exit(nil)` call.
    fn exit_now(&self, _vm: &mut Vm) -> Option<VmResult<()>> {
        None
    }
    /// The method names, for error messages and REPL completion.
    fn method_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// True when `next` produces items (the object is its own iterator).
    fn is_iterator(&self) -> bool {
        false
    }
    /// Produces the next item when the object is iterated; `Ok(None)` ends the loop.
    /// `None` (the outer option) means the object is not iterable.
    fn next(&self, _vm: &mut Vm, _this: &Value) -> Option<VmResult<Option<Value>>> {
        None
    }
    /// For a handle shared across processes (section 10): its id, registered
    /// with `Vm::register_handle` when it was made. Messages carry the id.
    fn shared_id(&self) -> Option<u64> {
        None
    }
    /// For a handle any process can use (a manager proxy names a server by
    /// address): a tag and plain data that `runtime::revive` turns back into
    /// the handle in the receiver.
    fn portable(&self) -> Option<(&'static str, Value)> {
        None
    }
    fn as_any(&self) -> &dyn Any;
}

/// A boxed `Object`, so that `Value::Object` holds a thin pointer.
pub struct Handle(pub Box<dyn Object>);

impl Handle {
    pub fn downcast<T: Object>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::new(Str::new(s)))
    }
    /// A string value, taking the `String`.
    pub fn string(s: String) -> Value {
        Value::Str(Rc::new(Str::from_string(s)))
    }
    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }
    #[doc(hidden)]
    pub fn map(m: MapData) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }
    /// A bytes value.
    pub fn bytes(b: Vec<u8>) -> Value {
        Value::Bytes(Rc::new(b))
    }
    #[doc(hidden)]
    pub fn object<T: Object>(obj: T) -> Value {
        Value::Object(Rc::new(Handle(Box::new(obj))))
    }

    /// The name `type(x)` returns (section 3).
    pub fn type_name(&self) -> String {
        match self {
            Value::Instance(i) => i.class.name.to_string(),
            Value::Object(h) => h.0.type_name().to_string(),
            other => other.kind_name().to_string(),
        }
    }

    /// A static name for the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Range(_) => "range",
            Value::Func(_) | Value::Native(_) | Value::Bound(_) => "function",
            Value::Class(_) => "class",
            Value::Instance(_) => "instance",
            Value::Error(_) => "error",
            Value::Object(h) => h.0.type_name(),
            Value::Iter(_) => "iterator",
            Value::Cell(_) => "cell",
            Value::Undef => "undefined",
        }
    }

    /// Truthiness (section 3): nil, false, 0, 0.0, "", b"", [], {} and empty ranges are false.
    #[inline]
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil | Value::Undef => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.as_str().is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Range(r) => !r.is_empty(),
            _ => true,
        }
    }

    /// An int (or a bool, as 0 or 1).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A number as a float (ints and bools convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    /// Whether the value is `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// A bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Identity: the same object (for reference types) or the same immediate.
    pub fn is_same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => Rc::ptr_eq(a, b),
            (Value::Map(a), Value::Map(b)) => Rc::ptr_eq(a, b),
            (Value::Instance(a), Value::Instance(b)) => Rc::ptr_eq(a, b),
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(a, b),
            (Value::Class(a), Value::Class(b)) => Rc::ptr_eq(a, b),
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            (Value::Error(a), Value::Error(b)) => Rc::ptr_eq(a, b),
            (Value::Native(a), Value::Native(b)) => Rc::ptr_eq(a, b),
            (a, b) => a.equals(b),
        }
    }

    /// A stable identity number for `id(x)`.
    pub fn identity(&self) -> i64 {
        fn addr<T: ?Sized>(rc: &Rc<T>) -> i64 {
            Rc::as_ptr(rc) as *const u8 as usize as i64
        }
        match self {
            Value::Str(r) => addr(r),
            Value::Bytes(r) => addr(r),
            Value::List(r) => addr(r),
            Value::Map(r) => addr(r),
            Value::Range(r) => addr(r),
            Value::Func(r) => addr(r),
            Value::Native(r) => addr(r),
            Value::Bound(r) => addr(r),
            Value::Class(r) => addr(r),
            Value::Instance(r) => addr(r),
            Value::Error(r) => addr(r),
            Value::Object(r) => addr(r),
            Value::Iter(r) => addr(r),
            Value::Cell(r) => addr(r),
            Value::Int(i) => *i,
            Value::Float(f) => f.to_bits() as i64,
            Value::Bool(b) => *b as i64,
            Value::Nil | Value::Undef => 0,
        }
    }

    /// Structural equality (section 3): `1 == 1.0`, lists/maps/strings by content.
    /// Values nested deeper than `MAX_NESTING` compare unequal: use `try_equals`
    /// wherever the operands may be containers, so that case is an error.
    pub fn equals(&self, other: &Value) -> bool {
        equals_depth(self, other, 0).unwrap_or(false)
    }

    /// `==`: structural equality, a `RecursionError` for values nested too deeply.
    pub fn try_equals(&self, other: &Value) -> VmResult<bool> {
        equals_depth(self, other, 0).map_err(|TooDeep| {
            Exc::new("RecursionError", "values are nested too deeply to compare")
        })
    }
}

/// Equality gave up: the values nest deeper than `MAX_NESTING`.
struct TooDeep;

/// Deepest nesting that equality, printing and hashing follow before giving up,
/// so that a list nested a million levels deep cannot overflow the stack.
pub const MAX_NESTING: usize = 1000;

fn equals_depth(a: &Value, b: &Value, depth: usize) -> Result<bool, TooDeep> {
    if depth > MAX_NESTING {
        return Err(TooDeep);
    }
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(i), Value::Float(f)) | (Value::Float(f), Value::Int(i)) => int_float_eq(*i, *f),
        (Value::Bool(b), Value::Int(i)) | (Value::Int(i), Value::Bool(b)) => *b as i64 == *i,
        (Value::Bool(b), Value::Float(f)) | (Value::Float(f), Value::Bool(b)) => {
            *b as i64 as f64 == *f
        }
        (Value::Str(x), Value::Str(y)) => Rc::ptr_eq(x, y) || x.as_str() == y.as_str(),
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            let (x, y) = (x.borrow(), y.borrow());
            if x.len() != y.len() {
                return Ok(false);
            }
            for (a, b) in x.iter().zip(y.iter()) {
                if !equals_depth(a, b, depth + 1)? {
                    return Ok(false);
                }
            }
            true
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            let (x, y) = (x.borrow(), y.borrow());
            if x.len() != y.len() {
                return Ok(false);
            }
            for (k, v) in x.iter() {
                match y.get(k) {
                    Some(w) if equals_depth(v, w, depth + 1)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        (Value::Range(x), Value::Range(y)) => {
            let (lx, ly) = (x.len(), y.len());
            lx == ly && (lx == 0 || (x.start == y.start && (lx == 1 || x.step == y.step)))
        }
        (Value::Error(x), Value::Error(y)) => {
            Rc::ptr_eq(x, y) || (x.kind == y.kind && x.message == y.message)
        }
        (a, b) => a.is_same_ref(b),
    })
}

impl Value {
    fn is_same_ref(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(a, b),
            (Value::Native(a), Value::Native(b)) => Rc::ptr_eq(a, b) || a.name == b.name,
            (Value::Bound(a), Value::Bound(b)) => {
                Rc::ptr_eq(a, b) || (a.receiver.is_same(&b.receiver) && a.method.is_same(&b.method))
            }
            (Value::Class(a), Value::Class(b)) => Rc::ptr_eq(a, b),
            (Value::Instance(a), Value::Instance(b)) => Rc::ptr_eq(a, b),
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Exact comparison of an int with a float (as Python does: no rounding of the int).
pub fn int_float_eq(i: i64, f: f64) -> bool {
    int_float_cmp(i, f) == Some(std::cmp::Ordering::Equal)
}

/// Exact ordering of an int and a float; `None` when the float is NaN.
pub fn int_float_cmp(i: i64, f: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if f.is_nan() {
        return None;
    }
    if f >= 9.223_372_036_854_776e18 {
        return Some(Ordering::Less);
    }
    if f < -9.223_372_036_854_776e18 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    let ti = t as i64; // exact: |t| < 2^63
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        o => Some(o),
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", format::repr_plain(self))
    }
}

/// What `str(x)` gives, without running script code: strings unquoted,
/// everything else as `repr`.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s.as_str()),
            other => write!(f, "{}", format::repr_plain(other)),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::str(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::string(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        // results and options of values fit in the tag's unused values
        assert_eq!(std::mem::size_of::<Option<Value>>(), 16);
        assert_eq!(std::mem::size_of::<VmResult<Value>>(), 16);
    }

    #[test]
    fn int_float_comparisons_are_exact() {
        use std::cmp::Ordering::*;
        assert_eq!(int_float_cmp(1, 1.0), Some(Equal));
        assert_eq!(int_float_cmp(1, 1.5), Some(Less));
        assert_eq!(int_float_cmp(-1, -1.5), Some(Greater));
        assert_eq!(int_float_cmp(i64::MAX, 9.223372036854776e18), Some(Less));
        assert_eq!(int_float_cmp(0, f64::NAN), None);
        assert!(Value::Int(1).equals(&Value::Float(1.0)));
    }

    #[test]
    fn range_len_and_contains() {
        let r = Range {
            start: 0,
            stop: 10,
            step: 3,
        };
        assert_eq!(r.len(), 4);
        assert!(r.contains(9) && !r.contains(10) && !r.contains(4));
        let r = Range {
            start: 10,
            stop: 0,
            step: -2,
        };
        assert_eq!(r.len(), 5);
        assert!(r.contains(2) && !r.contains(0));
        assert_eq!(
            Range {
                start: 5,
                stop: 0,
                step: 1
            }
            .len(),
            0
        );
        assert_eq!(
            Range {
                start: i64::MIN,
                stop: i64::MAX,
                step: i64::MAX
            }
            .len(),
            3
        );
    }
}
