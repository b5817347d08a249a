//! Iteration: turning a value into a `for` loop's state and stepping it. Used by
//! the dispatch loop (IterPrep/ForIter) and by builtins that consume iterables.

use super::Vm;
use crate::value::{Exc, Iter, Value, VmResult};
use std::cell::RefCell;
use std::rc::Rc;

impl Vm {
    /// The iteration state for `for x in v`.
    pub fn make_iter(&mut self, v: &Value) -> VmResult<Iter> {
        Ok(match v {
            Value::Range(r) => Iter::Range {
                next: r.start,
                stop: r.stop,
                step: r.step,
            },
            Value::List(l) => Iter::List {
                list: l.clone(),
                index: 0,
            },
            Value::Map(m) => Iter::Items {
                items: m.borrow().keys().map(|k| k.value().clone()).collect(),
                index: 0,
            },
            Value::Str(s) => Iter::Str {
                s: s.clone(),
                byte: 0,
            },
            Value::Bytes(b) => Iter::Bytes {
                b: b.clone(),
                index: 0,
            },
            Value::Object(h) if h.0.is_iterator() => Iter::Object(v.clone()),
            Value::Object(h) => {
                let h = h.clone();
                match h
                    .0
                    .call_method(self, v, "iter", crate::value::Args::new(&[]))
                {
                    Some(r) => {
                        let inner = r?;
                        return self.make_iter(&inner);
                    }
                    None => return Err(not_iterable(v)),
                }
            }
            Value::Iter(it) => {
                // already an iterator: share its position
                return Ok(Iter::Object(Value::Iter(it.clone())));
            }
            other => return Err(not_iterable(other)),
        })
    }

    /// The next item of an iteration state, or None when it is exhausted.
    pub fn iter_next(&mut self, it: &Rc<RefCell<Iter>>) -> VmResult<Option<Value>> {
        let object = {
            let mut state = it.borrow_mut();
            match &mut *state {
                Iter::Range { next, stop, step } => {
                    if (*step > 0 && *next < *stop) || (*step < 0 && *next > *stop) {
                        let v = *next;
                        match next.checked_add(*step) {
                            Some(n) => *next = n,
                            None => *stop = v,
                        }
                        return Ok(Some(Value::Int(v)));
                    }
                    return Ok(None);
                }
                Iter::List { list, index } => {
                    let v = list.borrow().get(*index).cloned();
                    *index += 1;
                    return Ok(v);
                }
                Iter::Items { items, index } => {
                    let v = items.get(*index).cloned();
                    *index += 1;
                    return Ok(v);
                }
                Iter::Str { s, byte } => {
                    let rest = &s.as_str()[*byte..];
                    return Ok(rest.chars().next().map(|c| {
                        *byte += c.len_utf8();
                        Value::string(c.to_string())
                    }));
                }
                Iter::Bytes { b, index } => {
                    let v = b.get(*index).map(|x| Value::Int(*x as i64));
                    *index += 1;
                    return Ok(v);
                }
                Iter::Object(v) => v.clone(),
            }
        };
        match &object {
            Value::Object(h) => {
                let h = h.clone();
                match h.0.next(self, &object) {
                    Some(r) => r,
                    None => Err(not_iterable(&object)),
                }
            }
            Value::Iter(inner) => {
                let inner = inner.clone();
                self.iter_next(&inner)
            }
            other => Err(not_iterable(other)),
        }
    }

    /// Every item of an iterable, as a vector (`list(x)`, `sorted`, `sum`...).
    pub fn collect(&mut self, v: &Value) -> VmResult<Vec<Value>> {
        match v {
            Value::List(l) => Ok(l.borrow().clone()),
            Value::Range(r) => {
                let n = r.len();
                if n > (1 << 28) {
                    return Err(Exc::new(
                        "OverflowError",
                        "range is too large to make a list of",
                    ));
                }
                Ok((0..n).map(|i| Value::Int(r.nth(i))).collect())
            }
            _ => {
                let it = Rc::new(RefCell::new(self.make_iter(v)?));
                let mut out = Vec::new();
                while let Some(x) = self.iter_next(&it)? {
                    out.push(x);
                }
                Ok(out)
            }
        }
    }
}

pub(crate) fn not_iterable(v: &Value) -> Exc {
    Exc::type_error(format!("{} is not iterable", v.type_name()))
}
