//! Interned names. Attribute, method and field names are resolved to `Sym`s at
//! compile time so that the VM compares integers, not strings.

use rustc_hash::FxHashMap;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

#[derive(Default)]
pub struct Interner {
    names: Vec<Rc<str>>,
    index: FxHashMap<Rc<str>, Sym>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(s) = self.index.get(name) {
            return *s;
        }
        let s = Sym(self.names.len() as u32);
        let rc: Rc<str> = Rc::from(name);
        self.names.push(rc.clone());
        self.index.insert(rc, s);
        s
    }
    /// The symbol of a name, if it was ever interned.
    pub fn lookup(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }
    pub fn name(&self, s: Sym) -> &Rc<str> {
        &self.names[s.0 as usize]
    }
}
