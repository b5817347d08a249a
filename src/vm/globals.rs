//! Global variables: one slot array shared by every compilation unit (the main
//! program, each imported module), numbered in creation order. Each unit maps its
//! own names to slots; unit 0 holds the builtins, which every unit can read.

use crate::value::Value;
use rustc_hash::FxHashMap;
use std::rc::Rc;

pub const BUILTINS: usize = 0;

#[derive(Default)]
pub struct Globals {
    pub values: Vec<Value>,
    /// The name of each slot (for NameError messages and for sending functions).
    pub names: Vec<Rc<str>>,
    /// For each slot, the unit that declared it.
    pub owners: Vec<u32>,
    pub units: Vec<FxHashMap<Rc<str>, u32>>,
}

impl Globals {
    pub fn new() -> Globals {
        let mut g = Globals::default();
        g.units.push(FxHashMap::default()); // builtins
        g
    }

    /// Every unit's number, the main program's and modules' after the builtins.
    pub fn units(&self) -> std::ops::Range<usize> {
        0..self.units.len()
    }

    pub fn new_unit(&mut self) -> usize {
        self.units.push(FxHashMap::default());
        self.units.len() - 1
    }

    /// The slot `name` reads in `unit`: the unit's own, else a builtin.
    pub fn lookup(&self, unit: usize, name: &str) -> Option<u32> {
        self.units[unit]
            .get(name)
            .or_else(|| self.units[BUILTINS].get(name))
            .copied()
    }

    /// True when `name` in `unit` is a builtin the unit has not redeclared.
    pub fn is_builtin(&self, unit: usize, name: &str) -> bool {
        unit != BUILTINS
            && !self.units[unit].contains_key(name)
            && self.units[BUILTINS].contains_key(name)
    }

    /// The unit's own slot for `name`, created (unset) if needed.
    pub fn declare(&mut self, unit: usize, name: &str) -> u32 {
        if let Some(&s) = self.units[unit].get(name) {
            return s;
        }
        let slot = self.values.len() as u32;
        let rc: Rc<str> = Rc::from(name);
        self.values.push(Value::Undef);
        self.names.push(rc.clone());
        self.owners.push(unit as u32);
        self.units[unit].insert(rc, slot);
        slot
    }

    /// Defines a builtin (unit 0).
    pub fn define_builtin(&mut self, name: &str, value: Value) {
        let slot = self.declare(BUILTINS, name);
        self.values[slot as usize] = value;
    }

    pub fn get(&self, unit: usize, name: &str) -> Option<&Value> {
        self.units[unit]
            .get(name)
            .map(|&s| &self.values[s as usize])
            .filter(|v| !matches!(v, Value::Undef))
    }

    /// Sets (declaring if needed) a global of `unit`.
    pub fn set(&mut self, unit: usize, name: &str, value: Value) {
        let slot = self.declare(unit, name);
        self.values[slot as usize] = value;
    }
}
