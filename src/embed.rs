//! The host side of embedding (section 17): converting Rust values to and
//! from script values, registering Rust closures as builtins, and calling
//! script functions with Rust arguments.

use crate::value::func::NativeKind;
use crate::value::{Args, Exc, Key, MapData, Native, Value, VmResult};
use crate::vm::Vm;
use std::collections::HashMap;
use std::fmt::Display;
use std::rc::Rc;

/// A Rust type a script value converts to: `i64 i32 u32 usize f64 bool
/// String () Value`, and `Vec<T>`, `HashMap<String, T>`, `Option<T>` (nil is
/// `None`) of those. An `f64` accepts a script int. (`&str` only converts
/// into a value: a host function takes `String`.)
///
/// ```
/// use proc_lang::{FromValue, Value};
/// let v = Value::from(vec![1i64, 2]);
/// assert_eq!(Vec::<i64>::from_value(&v).unwrap(), [1, 2]);
/// let e = Vec::<String>::from_value(&v).unwrap_err();
/// assert_eq!(e.to_string(), "[0] must be a str, not int");
/// ```
pub trait FromValue: Sized {
    /// The value as `Self`, or what did not match (the host API turns it
    /// into a `TypeError` naming the function and argument).
    fn from_value(v: &Value) -> Result<Self, Mismatch>;
}

/// Why a script value does not convert to a Rust type: where in the value
/// (`""` for the value itself, `[2]`, `["key"]`...), what was expected and
/// what was found. `Display` gives `[2] must be a str, not int`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// The position inside the value, as index expressions.
    pub path: String,
    /// What was expected: `an int`, `a list`...
    pub expected: &'static str,
    /// The script type found: `str`, `nil`...
    pub found: String,
}

impl Mismatch {
    /// `v` is not what `expected` describes.
    pub fn new(expected: &'static str, v: &Value) -> Mismatch {
        Mismatch {
            path: String::new(),
            expected,
            found: v.type_name(),
        }
    }

    /// The same mismatch, found inside an item at `step` (`[0]`, `["k"]`).
    fn inside(mut self, step: String) -> Mismatch {
        self.path.insert_str(0, &step);
        self
    }
}

impl Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} must be {}, not {}",
            self.path, self.expected, self.found
        )
    }
}

/// A Rust type that converts to a script value: `i64 i32 u32 usize f64 bool
/// String &str () Value`, and `Vec<T>`, `HashMap<String, T>` (keys sorted),
/// `Option<T>` (`None` is nil) of those.
pub trait IntoValue {
    /// The script value.
    fn into_value(self) -> Value;
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        Ok(v.clone())
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

macro_rules! int_conversions {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self, Mismatch> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i)
                        .map_err(|_| Mismatch::new(concat!("an int that fits ", stringify!($t)), v)),
                    _ => Err(Mismatch::new("an int", v)),
                }
            }
        }
        impl IntoValue for $t {
            fn into_value(self) -> Value {
                // u32/i32/usize all fit an i64 on the platforms proc runs on
                Value::Int(self as i64)
            }
        }
    )*};
}
int_conversions!(i64, i32, u32, usize);

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => Err(Mismatch::new("a number", v)),
        }
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Float(self)
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(Mismatch::new("a bool", v)),
        }
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| Mismatch::new("a str", v))
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::string(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::str(self)
    }
}

impl FromValue for () {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::Nil => Ok(()),
            _ => Err(Mismatch::new("nil", v)),
        }
    }
}

impl IntoValue for () {
    fn into_value(self) -> Value {
        Value::Nil
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::Nil => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Nil, IntoValue::into_value)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::List(l) => l
                .borrow()
                .iter()
                .enumerate()
                .map(|(i, x)| T::from_value(x).map_err(|e| e.inside(format!("[{i}]"))))
                .collect(),
            _ => Err(Mismatch::new("a list", v)),
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::list(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: FromValue> FromValue for HashMap<String, T> {
    fn from_value(v: &Value) -> Result<Self, Mismatch> {
        match v {
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, x)| {
                    let k = k
                        .value()
                        .as_str()
                        .ok_or_else(|| Mismatch::new("a map with str keys", v))?;
                    let x = T::from_value(x).map_err(|e| e.inside(format!("[{k:?}]")))?;
                    Ok((k.to_string(), x))
                })
                .collect(),
            _ => Err(Mismatch::new("a map", v)),
        }
    }
}

impl<T: IntoValue> IntoValue for HashMap<String, T> {
    fn into_value(self) -> Value {
        let mut m = MapData::default();
        let mut entries: Vec<(String, T)> = self.into_iter().collect();
        // a HashMap has no order: give the script a stable one
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in entries {
            m.insert(Key::str(&k), v.into_value());
        }
        Value::map(m)
    }
}

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                x.into_value()
            }
        }
    )*};
}
value_from!(i32, u32, usize, ());

impl<T: IntoValue> From<Vec<T>> for Value {
    fn from(x: Vec<T>) -> Value {
        x.into_value()
    }
}

impl<T: IntoValue> From<Option<T>> for Value {
    fn from(x: Option<T>) -> Value {
        x.into_value()
    }
}

impl<T: IntoValue> From<HashMap<String, T>> for Value {
    fn from(x: HashMap<String, T>) -> Value {
        x.into_value()
    }
}

/// A conversion failure as the script sees it: `f(): argument 2[0] must be
/// a str, not int`.
pub(crate) fn type_error(fname: &str, what: &str, m: Mismatch) -> Exc {
    Exc::type_error(format!("{fname}(): {what}{m}"))
}

/// A Rust closure usable as a script builtin, for every arity up to six.
pub trait HostFunction<Marker>: 'static {
    /// Wraps the closure as a native function named `name`.
    fn into_native(self, name: Rc<str>) -> Value;
}

/// Return values of host closures: plain values or `Result<T, E: Display>`.
pub trait IntoHostReturn<M> {
    /// The script value or the error to raise.
    fn into_return(self) -> VmResult<Value>;
}

/// Marker: the closure returns a plain value.
pub struct Plain;
/// Marker: the closure returns a `Result`.
pub struct WithError;

impl<T: IntoValue> IntoHostReturn<Plain> for T {
    fn into_return(self) -> VmResult<Value> {
        Ok(self.into_value())
    }
}

impl<T: IntoValue, E: Display> IntoHostReturn<WithError> for Result<T, E> {
    fn into_return(self) -> VmResult<Value> {
        self.map(IntoValue::into_value)
            .map_err(|e| Exc::new("Error", e.to_string()))
    }
}

macro_rules! host_fn {
    ($n:expr; $($a:ident $i:tt $num:tt),*) => {
        impl<F, R, M, $($a),*> HostFunction<(M, R, $($a,)*)> for F
        where
            F: Fn($($a),*) -> R + 'static,
            R: IntoHostReturn<M>,
            $($a: FromValue,)*
        {
            #[allow(unused_variables, non_snake_case)]
            fn into_native(self, name: Rc<str>) -> Value {
                let fname = name.clone();
                let f = move |_vm: &mut Vm, args: Args| -> VmResult<Value> {
                    args.expect(&fname, $n, $n)?;
                    $(
                        let $a = $a::from_value(&args.pos[$i]).map_err(|m| {
                            type_error(&fname, concat!("argument ", stringify!($num)), m)
                        })?;
                    )*
                    (self)($($a),*).into_return()
                };
                Value::Native(Rc::new(Native {
                    name,
                    kind: NativeKind::Host(Rc::new(f)),
                }))
            }
        }
    };
}
host_fn!(0;);
host_fn!(1; A1 0 1);
host_fn!(2; A1 0 1, A2 1 2);
host_fn!(3; A1 0 1, A2 1 2, A3 2 3);
host_fn!(4; A1 0 1, A2 1 2, A3 2 3, A4 3 4);
host_fn!(5; A1 0 1, A2 1 2, A3 2 3, A4 3 4, A5 4 5);
host_fn!(6; A1 0 1, A2 1 2, A3 2 3, A4 3 4, A5 4 5, A6 5 6);

/// Arguments for `Interpreter::call`: a tuple of up to six convertible
/// values (`()` for none, `(x,)` for one), or a `Vec<Value>`.
pub trait IntoArgs {
    /// How the converted arguments are held: an array for a tuple (no
    /// allocation per call), a `Vec` for a `Vec`.
    type Values: AsRef<[Value]>;
    /// The arguments as script values.
    fn into_args(self) -> Self::Values;
}

impl IntoArgs for () {
    type Values = [Value; 0];
    fn into_args(self) -> [Value; 0] {
        []
    }
}

impl IntoArgs for Vec<Value> {
    type Values = Vec<Value>;
    fn into_args(self) -> Vec<Value> {
        self
    }
}

macro_rules! tuple_args {
    ($n:literal; $($a:ident $i:tt),*) => {
        impl<$($a: IntoValue),*> IntoArgs for ($($a,)*) {
            type Values = [Value; $n];
            fn into_args(self) -> [Value; $n] {
                [$(self.$i.into_value()),*]
            }
        }
    };
}
tuple_args!(1; A1 0);
tuple_args!(2; A1 0, A2 1);
tuple_args!(3; A1 0, A2 1, A3 2);
tuple_args!(4; A1 0, A2 1, A3 2, A4 3);
tuple_args!(5; A1 0, A2 1, A3 2, A4 3, A5 4);
tuple_args!(6; A1 0, A2 1, A3 2, A4 3, A5 4, A6 5);
