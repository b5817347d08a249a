//! Maps: insertion-ordered hash maps whose keys are nil, bool, int, float, str or
//! bytes (section 3). `1` and `1.0` are the same key, as in Python.

use super::{Exc, Value, VmResult};
use indexmap::IndexMap;
use rustc_hash::FxHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};

pub type MapData = IndexMap<Key, Value, BuildHasherDefault<FxHasher>>;

/// A value usable as a map key. Construct with `Key::new`, which rejects unhashable values.
#[derive(Clone)]
pub struct Key(Value);

impl Key {
    pub fn new(v: Value) -> VmResult<Key> {
        match v {
            Value::Nil
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::Bytes(_) => Ok(Key(v)),
            other => Err(Exc::new(
                "TypeError",
                format!(
                    "unhashable type: {} (map keys are nil, bool, int, float, str or bytes)",
                    other.type_name()
                ),
            )),
        }
    }
    /// A key from a string, which is always hashable.
    pub fn str(s: &str) -> Key {
        Key(Value::str(s))
    }
    pub fn value(&self) -> &Value {
        &self.0
    }
    pub fn into_value(self) -> Value {
        self.0
    }
}

/// The hash shared by map keys and `hash(x)`: numbers that compare equal hash equal.
pub fn hash_value(v: &Value) -> Option<u64> {
    let mut h = FxHasher::default();
    match v {
        Value::Nil => 0u8.hash(&mut h),
        Value::Bool(b) => (*b as i64).hash(&mut h),
        Value::Int(i) => i.hash(&mut h),
        Value::Float(f) => {
            if f.fract() == 0.0 && *f >= -9.223_372_036_854_776e18 && *f < 9.223_372_036_854_776e18
            {
                (*f as i64).hash(&mut h)
            } else {
                f.to_bits().hash(&mut h)
            }
        }
        Value::Str(s) => s.as_str().hash(&mut h),
        Value::Bytes(b) => {
            1u8.hash(&mut h);
            b.as_slice().hash(&mut h)
        }
        _ => return None,
    }
    Some(h.finish())
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(hash_value(&self.0).unwrap_or(0))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (&self.0, &other.0) {
            // bytes and str never compare equal even with the same content
            (Value::Str(a), Value::Str(b)) => a.as_str() == b.as_str(),
            (a, b) => a.equals(b),
        }
    }
}
impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_and_float_keys_coincide() {
        let mut m = MapData::default();
        m.insert(Key::new(Value::Int(1)).unwrap(), Value::str("int"));
        m.insert(Key::new(Value::Float(1.0)).unwrap(), Value::str("float"));
        assert_eq!(m.len(), 1);
        assert!(Key::new(Value::list(vec![])).is_err());
    }
}
