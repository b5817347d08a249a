//! Classes and instances (section 7). A class keeps its own methods and a
//! flattened table including inherited ones, so a method call is one lookup.

use super::{Value, VmResult};
use crate::vm::Sym;
use crate::vm::Vm;
use rustc_hash::FxHashMap;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Class {
    pub name: Rc<str>,
    pub parent: Option<Rc<Class>>,
    /// Methods defined in this class's body.
    pub own: FxHashMap<Sym, Value>,
    /// Own and inherited methods: what `obj.m` finds.
    pub methods: FxHashMap<Sym, Value>,
}

impl Class {
    pub fn new(name: Rc<str>, parent: Option<Rc<Class>>, own: FxHashMap<Sym, Value>) -> Class {
        let mut methods = parent
            .as_ref()
            .map(|p| p.methods.clone())
            .unwrap_or_default();
        for (k, v) in &own {
            methods.insert(*k, v.clone());
        }
        Class {
            name,
            parent,
            own,
            methods,
        }
    }
    /// True when `self` is `other` or inherits from it.
    pub fn is_subclass_of(&self, other: &Class) -> bool {
        let mut c = Some(self);
        while let Some(k) = c {
            if std::ptr::eq(k, other) {
                return true;
            }
            c = k.parent.as_deref();
        }
        false
    }
}

pub struct Instance {
    pub class: Rc<Class>,
    pub fields: RefCell<FxHashMap<Sym, Value>>,
    /// State of a built-in base class (e.g. `Process`), owned by its native methods.
    pub native: RefCell<Option<Rc<dyn NativeState>>>,
}

/// The state a built-in base class keeps in its instances (and their
/// subclasses' instances). Its attributes come before the instance's fields
/// when read and written, so that e.g. `p.exitcode` is always current.
pub trait NativeState: Any {
    /// Reads an attribute; `None` when this state has no such attribute.
    fn get_attr(&self, _vm: &mut Vm, _name: &str) -> Option<VmResult<Value>> {
        None
    }
    /// Writes an attribute; `None` when it is not this state's (then it
    /// becomes an ordinary field).
    fn set_attr(&self, _vm: &mut Vm, _name: &str, _value: &Value) -> Option<VmResult<()>> {
        None
    }
    /// The attribute names `get_attr` answers, for REPL completion.
    fn attr_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
}

impl Instance {
    /// The built-in base class state, if it has one of type `T`.
    pub fn native_state<T: NativeState>(&self) -> Option<Rc<T>> {
        let st = self.native.borrow().clone()?;
        st.into_any().downcast::<T>().ok()
    }
}

impl Instance {
    pub fn new(class: Rc<Class>) -> Instance {
        Instance {
            class,
            fields: RefCell::new(FxHashMap::default()),
            native: RefCell::new(None),
        }
    }
}
