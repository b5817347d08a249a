//! AST → bytecode, one function at a time (statements here, expressions in
//! `expr.rs`).
//!
//! Registers: a function's locals occupy fixed registers in declaration order,
//! temporaries sit above them and are released at the end of each statement.
//! Names resolve at compile time to a register, a captured cell (upvalue) or a
//! global slot, so the VM never looks a variable up by name.

use super::chunk::{Capture, Proto};
use super::opcode::{Op, Reg};
use super::scope::{NameSet, captured_names, top_level_names};
use crate::diagnostic::Source;
use crate::syntax::SyntaxError;
use crate::syntax::ast::*;
use crate::value::Value;
use crate::vm::{Sym, Vm};
use rustc_hash::FxHashMap;
use std::rc::Rc;

/// What kind of top-level chunk is being compiled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// A script file or `-e` text: returns nil.
    Script,
    /// An `eval`/REPL entry: returns the value of a final expression statement.
    Eval,
    /// An imported file.
    Module,
}

pub(super) type CResult<T> = Result<T, SyntaxError>;

/// Compiles a top-level chunk of `unit` (the main program, a REPL session or a module).
pub fn compile_unit(
    vm: &mut Vm,
    unit: usize,
    source: Rc<Source>,
    body: &Block,
    mode: Mode,
) -> CResult<Rc<Proto>> {
    stacker::maybe_grow(1024 * 1024, 16 * 1024 * 1024, || {
        for name in top_level_names(body) {
            vm.globals.declare(unit, &name);
        }
        let mut c = Compiler {
            vm,
            unit,
            source,
            fns: Vec::new(),
        };
        let name: Rc<str> = Rc::from(if mode == Mode::Module {
            "<module>"
        } else {
            "<script>"
        });
        c.fns.push(FnState::new(
            name,
            true,
            false,
            false,
            captured_names(body),
            0,
        ));
        c.top_block(body, mode)?;
        Ok(c.finish_fn())
    })
}

pub(super) struct Local {
    pub name: Rc<str>,
    pub reg: Reg,
    pub is_cell: bool,
    /// Declared at the start of its block (a captured `let`, see `hoist_lets`):
    /// its `let` statement assigns the existing cell.
    pub hoisted: bool,
}

/// Something to undo when control leaves a region early (break, continue, return).
pub(super) enum Cleanup<'a> {
    /// An exception handler is active: pop it.
    Handler,
    /// A `finally` block: run it.
    Finally(&'a Block),
    /// A `with` block: call `R[reg].exit(nil)`.
    WithExit(Reg),
}

pub(super) struct LoopCtx {
    pub cleanup_depth: usize,
    /// Jumps to patch to the loop's continue point and exit.
    pub continues: Vec<usize>,
    pub breaks: Vec<usize>,
}

pub(super) struct FnState<'a> {
    pub proto: Proto,
    pub const_index: FxHashMap<ConstKey, u16>,
    pub name_index: FxHashMap<Sym, u16>,
    pub locals: Vec<Local>,
    /// For each open block scope: where its locals start and the register mark at its start.
    pub scopes: Vec<(usize, usize)>,
    pub next_reg: usize,
    pub upvals: Vec<Rc<str>>,
    pub captured: NameSet,
    pub loops: Vec<LoopCtx>,
    pub cleanups: Vec<Cleanup<'a>>,
    /// The top-level chunk: its outermost `let`s declare globals.
    pub is_script: bool,
    pub is_method: bool,
    pub offset: u32,
    /// A compare-and-jump could not reach its target: compile again with long jumps.
    pub jump_overflow: bool,
    pub long_jumps: bool,
}

#[derive(PartialEq, Eq, Hash)]
pub(super) enum ConstKey {
    Int(i64),
    Float(u64),
    Str(Rc<str>),
}

impl<'a> FnState<'a> {
    fn new(
        name: Rc<str>,
        is_script: bool,
        is_method: bool,
        is_generator: bool,
        captured: NameSet,
        def_offset: u32,
    ) -> FnState<'a> {
        FnState {
            proto: Proto {
                name,
                code: Vec::new(),
                offsets: Vec::new(),
                consts: Vec::new(),
                names: Vec::new(),
                kw_lists: Vec::new(),
                protos: Vec::new(),
                params: Vec::new(),
                nrequired: 0,
                nregs: 0,
                captures: Vec::new(),
                is_generator,
                is_method,
                source: Source::new("", ""),
                def_offset,
                serial: 0,
                checked: false,
            },
            const_index: FxHashMap::default(),
            name_index: FxHashMap::default(),
            locals: Vec::new(),
            scopes: Vec::new(),
            next_reg: if is_method { 1 } else { 0 },
            upvals: Vec::new(),
            captured,
            loops: Vec::new(),
            cleanups: Vec::new(),
            is_script,
            is_method,
            offset: def_offset,
            jump_overflow: false,
            long_jumps: false,
        }
    }
}

/// Where a name lives.
pub(super) enum Place {
    Local(Reg),
    Cell(Reg),
    Upval(u16),
    Global(u32),
}

pub(super) struct Compiler<'a, 'vm> {
    pub vm: &'vm mut Vm,
    pub unit: usize,
    pub source: Rc<Source>,
    pub fns: Vec<FnState<'a>>,
}

pub(super) fn err(kind: &'static str, msg: impl Into<String>, offset: u32) -> SyntaxError {
    SyntaxError::new(kind, msg, offset as usize)
}

impl<'a, 'vm> Compiler<'a, 'vm> {
    // ---- the function being compiled -------------------------------------------

    pub fn f(&mut self) -> &mut FnState<'a> {
        self.fns
            .last_mut()
            .expect("a function is always being compiled")
    }
    pub fn fr(&self) -> &FnState<'a> {
        self.fns
            .last()
            .expect("a function is always being compiled")
    }

    pub fn set_offset(&mut self, offset: u32) {
        self.f().offset = offset;
    }

    pub fn emit(&mut self, op: Op) -> usize {
        let f = self.f();
        let off = f.offset;
        f.proto.code.push(op);
        f.proto.offsets.push(off);
        f.proto.code.len() - 1
    }

    pub fn here(&self) -> usize {
        self.fr().proto.code.len()
    }

    /// Points the jump at `at` to the next instruction to be emitted.
    pub fn patch_here(&mut self, at: usize) {
        let target = self.here();
        self.patch_to(at, target);
    }

    pub fn patch_to(&mut self, at: usize, target: usize) {
        let off = target as i64 - (at as i64 + 1);
        let f = self.f();
        if !f.proto.code[at].set_offset(off as i32) {
            f.jump_overflow = true;
        }
    }

    /// Emits a backward jump to `target`.
    pub fn jump_back(&mut self, target: usize) {
        let at = self.emit(Op::Jump { off: 0 });
        self.patch_to(at, target);
    }

    // ---- registers -------------------------------------------------------------------

    pub fn alloc(&mut self) -> CResult<Reg> {
        self.alloc_n(1)
    }

    /// Allocates `n` consecutive registers and returns the first.
    pub fn alloc_n(&mut self, n: usize) -> CResult<Reg> {
        let f = self.f();
        let r = f.next_reg;
        f.next_reg += n;
        if f.next_reg > u16::MAX as usize - 8 {
            let off = f.offset;
            return Err(err(
                "ParseError",
                "function is too large (too many registers)",
                off,
            ));
        }
        if f.next_reg > f.proto.nregs {
            f.proto.nregs = f.next_reg;
        }
        Ok(r as Reg)
    }

    pub fn reg_mark(&self) -> usize {
        self.fr().next_reg
    }

    pub fn free_to(&mut self, mark: usize) {
        self.f().next_reg = mark;
    }

    /// The first register above every live local: registers from here are temporaries.
    pub fn locals_top(&self) -> usize {
        let f = self.fr();
        f.locals
            .last()
            .map_or(if f.is_method { 1 } else { 0 }, |l| l.reg as usize + 1)
    }

    // ---- constants and names -----------------------------------------------------------

    pub fn const_index(&mut self, key: ConstKey, v: Value) -> CResult<u16> {
        if let Some(&i) = self.fr().const_index.get(&key) {
            return Ok(i);
        }
        let f = self.f();
        let i = f.proto.consts.len();
        if i >= u16::MAX as usize {
            let off = f.offset;
            return Err(err("ParseError", "function has too many constants", off));
        }
        f.proto.consts.push(v);
        f.const_index.insert(key, i as u16);
        Ok(i as u16)
    }

    pub fn str_const(&mut self, s: &Rc<str>) -> CResult<u16> {
        self.const_index(ConstKey::Str(s.clone()), Value::str(s))
    }

    pub fn name_index(&mut self, name: &str) -> CResult<u16> {
        let sym = self.vm.interner.intern(name);
        if let Some(&i) = self.fr().name_index.get(&sym) {
            return Ok(i);
        }
        let f = self.f();
        let i = f.proto.names.len();
        if i >= u16::MAX as usize {
            let off = f.offset;
            return Err(err("ParseError", "function uses too many names", off));
        }
        f.proto.names.push(sym);
        f.name_index.insert(sym, i as u16);
        Ok(i as u16)
    }

    pub fn kw_list(&mut self, names: &[(Ident, Expr)]) -> CResult<u16> {
        let list: Rc<[Rc<str>]> = names.iter().map(|(n, _)| n.name.clone()).collect();
        let f = self.f();
        f.proto.kw_lists.push(list);
        Ok((f.proto.kw_lists.len() - 1) as u16)
    }

    // ---- scopes and names ----------------------------------------------------------------

    pub fn push_scope(&mut self) {
        let f = self.f();
        let entry = (f.locals.len(), f.next_reg);
        f.scopes.push(entry);
    }

    /// Closes a block scope: its locals and every register allocated since it opened are released.
    pub fn pop_scope(&mut self) {
        let f = self.f();
        let (locals, mark) = f.scopes.pop().expect("balanced scopes");
        f.locals.truncate(locals);
        f.next_reg = mark;
    }

    /// At the outermost level of the top-level chunk, where `let` makes globals.
    pub fn at_global_level(&self) -> bool {
        let f = self.fr();
        f.is_script && f.scopes.is_empty() && self.fns.len() == 1
    }

    /// Declares a local in register `reg` (which the caller has filled), boxing it
    /// in a cell when an inner function uses its name.
    pub fn declare_local(&mut self, name: &Rc<str>, reg: Reg) {
        let is_cell = self.fr().captured.contains(name);
        if is_cell {
            self.emit(Op::NewCell { reg });
        }
        self.f().locals.push(Local {
            name: name.clone(),
            reg,
            is_cell,
            hoisted: false,
        });
    }

    pub fn resolve(&mut self, name: &str) -> Option<Place> {
        let depth = self.fns.len() - 1;
        if let Some(p) = self.resolve_in(depth, name) {
            return Some(p);
        }
        self.vm.globals.lookup(self.unit, name).map(Place::Global)
    }

    fn find_local(&self, depth: usize, name: &str) -> Option<(Reg, bool)> {
        self.fns[depth]
            .locals
            .iter()
            .rev()
            .find(|l| &*l.name == name)
            .map(|l| (l.reg, l.is_cell))
    }

    /// Resolves `name` as a local or upvalue of function `depth`.
    fn resolve_in(&mut self, depth: usize, name: &str) -> Option<Place> {
        if let Some((reg, cell)) = self.find_local(depth, name) {
            return Some(if cell {
                Place::Cell(reg)
            } else {
                Place::Local(reg)
            });
        }
        if let Some(i) = self.fns[depth].upvals.iter().position(|u| &**u == name) {
            return Some(Place::Upval(i as u16));
        }
        if depth == 0 {
            return None;
        }
        let capture = match self.resolve_in(depth - 1, name)? {
            Place::Cell(reg) => Capture::Local(reg),
            Place::Upval(i) => Capture::Upval(i),
            // A plain local of the enclosing function cannot be captured: the
            // analysis in scope.rs boxes every name a nested function uses.
            Place::Local(_) | Place::Global(_) => return None,
        };
        let f = &mut self.fns[depth];
        f.upvals.push(Rc::from(name));
        f.proto.captures.push(capture);
        Some(Place::Upval((f.upvals.len() - 1) as u16))
    }

    /// The global slot of `name` for reading: an unknown name gets a slot that
    /// stays unset, so using it is a NameError at run time (it may be defined by
    /// then, e.g. by a later REPL entry).
    pub fn global_for_read(&mut self, name: &str) -> u32 {
        match self.vm.globals.lookup(self.unit, name) {
            Some(slot) => slot,
            None => self.vm.globals.declare(self.unit, name),
        }
    }

    /// The slot of a hidden builtin (`#spawn`, `#go`).
    pub fn builtin_slot(&mut self, name: &str) -> u32 {
        self.vm
            .globals
            .lookup(0, name)
            .expect("hidden builtins are registered at start-up")
    }

    // ---- functions -------------------------------------------------------------------

    /// Finishes the innermost function and returns its prototype.
    pub fn finish_fn(&mut self) -> Rc<Proto> {
        let mut f = self.fns.pop().expect("a function is being compiled");
        f.proto.source = self.source.clone();
        if f.proto.nregs == 0 {
            f.proto.nregs = 1;
        }
        self.vm.register_proto(f.proto)
    }

    /// Compiles a function definition and returns its index among the current
    /// function's nested prototypes.
    pub fn function(&mut self, def: &'a FnDef, is_method: bool) -> CResult<u16> {
        let proto = self.function_proto(def, is_method, false)?;
        let proto = if proto.1 {
            self.function_proto(def, is_method, true)?.0
        } else {
            proto.0
        };
        let f = self.f();
        f.proto.protos.push(proto);
        if f.proto.protos.len() > u16::MAX as usize {
            let off = f.offset;
            return Err(err("ParseError", "too many nested functions", off));
        }
        Ok((f.proto.protos.len() - 1) as u16)
    }

    /// Returns the prototype and whether a jump overflowed (then compile again with `long_jumps`).
    fn function_proto(
        &mut self,
        def: &'a FnDef,
        is_method: bool,
        long_jumps: bool,
    ) -> CResult<(Rc<Proto>, bool)> {
        let mut captured = captured_names(&def.body);
        for p in &def.params {
            if let Some(d) = &p.default {
                captured.extend(super::scope::captured_names_expr(d));
            }
        }
        let mut st = FnState::new(
            def.name.name.clone(),
            false,
            is_method,
            def.is_generator,
            captured,
            def.span.start,
        );
        st.long_jumps = long_jumps;
        self.fns.push(st);
        let result = self.function_body(def);
        if let Err(e) = result {
            self.fns.pop();
            return Err(e);
        }
        let overflow = self.fr().jump_overflow;
        Ok((self.finish_fn(), overflow && !long_jumps))
    }

    fn function_body(&mut self, def: &'a FnDef) -> CResult<()> {
        self.push_scope();
        if self.fr().is_method {
            // `self` is register 0
            let name: Rc<str> = Rc::from("self");
            self.f().locals.push(Local {
                name: name.clone(),
                reg: 0,
                is_cell: false,
                hoisted: false,
            });
        }
        let nparams = def.params.len();
        let first = self.alloc_n(nparams)?;
        let f = self.f();
        f.proto.params = def.params.iter().map(|p| p.name.name.clone()).collect();
        f.proto.nrequired = def
            .params
            .iter()
            .take_while(|p| p.default.is_none())
            .count();
        // Parameters are locals from the start; defaults are evaluated at each call.
        for (i, p) in def.params.iter().enumerate() {
            let reg = first + i as Reg;
            self.f().locals.push(Local {
                name: p.name.name.clone(),
                reg,
                is_cell: false,
                hoisted: false,
            });
            if let Some(d) = &p.default {
                self.set_offset(d.span.start);
                let skip = self.emit(Op::JumpIfGiven { reg, off: 0 });
                let mark = self.reg_mark();
                self.expr_to(d, reg)?;
                self.free_to(mark);
                self.patch_here(skip);
            }
        }
        // Box captured parameters (including `self`) now that their values are final.
        let n = self.fr().locals.len();
        for i in 0..n {
            let (name, reg) = {
                let l = &self.fr().locals[i];
                (l.name.clone(), l.reg)
            };
            if self.fr().captured.contains(&name) {
                self.emit(Op::NewCell { reg });
                self.f().locals[i].is_cell = true;
            }
        }
        self.block_body(&def.body)?;
        self.set_offset(def.span.end.saturating_sub(1));
        self.emit(Op::ReturnNil);
        Ok(())
    }

    // ---- statements --------------------------------------------------------------------

    fn top_block(&mut self, body: &'a Block, mode: Mode) -> CResult<()> {
        self.hoist_fns(body)?;
        let last_expr = match (mode, body.last()) {
            (
                Mode::Eval,
                Some(Stmt {
                    kind: StmtKind::Expr(_),
                    ..
                }),
            ) => body.len() - 1,
            _ => usize::MAX,
        };
        for (i, s) in body.iter().enumerate() {
            if i == last_expr {
                let StmtKind::Expr(e) = &s.kind else {
                    unreachable!()
                };
                self.set_offset(s.span.start);
                let r = self.expr_any(e)?;
                self.emit(Op::Return { src: r });
                return Ok(());
            }
            self.stmt(s)?;
        }
        self.emit(Op::ReturnNil);
        Ok(())
    }

    /// A block in its own scope.
    pub fn block(&mut self, body: &'a Block) -> CResult<()> {
        self.push_scope();
        let r = self.block_body(body);
        self.pop_scope();
        r
    }

    /// The statements of a block, in the current scope, with `fn`s hoisted.
    fn block_body(&mut self, body: &'a Block) -> CResult<()> {
        self.hoist_lets(body)?;
        self.hoist_fns(body)?;
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    /// A `let` in this block whose variable an inner function captures gets its
    /// cell at the start of the block, so that functions hoisted above the `let`
    /// capture the same variable. The cell is new each time the block runs, so a
    /// loop body still binds afresh per iteration.
    fn hoist_lets(&mut self, body: &'a Block) -> CResult<()> {
        if self.at_global_level() {
            return Ok(());
        }
        let mut names = Vec::new();
        for s in body {
            if let StmtKind::Let { target, .. } = &s.kind {
                super::scope::pattern_names(target, &mut names);
            }
        }
        for name in names {
            let in_block = self.fr().scopes.last().map_or(0, |s| s.0);
            let already = self.fr().locals[in_block..]
                .iter()
                .any(|l| l.name == name && l.hoisted);
            if already || !self.fr().captured.contains(&name) {
                continue;
            }
            let reg = self.alloc()?;
            self.emit(Op::LoadNil { dst: reg });
            self.emit(Op::NewCell { reg });
            self.f().locals.push(Local {
                name,
                reg,
                is_cell: true,
                hoisted: true,
            });
        }
        Ok(())
    }

    /// `fn` declarations are hoisted within their block: all their variables exist
    /// (and hold their closures) before the block's first statement runs, so they
    /// can call each other.
    fn hoist_fns(&mut self, body: &'a Block) -> CResult<()> {
        let fns: Vec<&'a Rc<FnDef>> = body
            .iter()
            .filter_map(|s| {
                if let StmtKind::Fn(f) = &s.kind {
                    Some(f)
                } else {
                    None
                }
            })
            .collect();
        if fns.is_empty() {
            return Ok(());
        }
        if self.at_global_level() {
            for def in fns {
                self.set_offset(def.span.start);
                let idx = self.function(def, false)?;
                let mark = self.reg_mark();
                let r = self.alloc()?;
                self.emit(Op::Closure { dst: r, proto: idx });
                let slot = self.vm.globals.declare(self.unit, &def.name.name);
                self.emit(Op::SetGlobal { src: r, slot });
                self.free_to(mark);
            }
            return Ok(());
        }
        // Locals first (cells when captured, e.g. by recursion), then the closures.
        for def in &fns {
            self.set_offset(def.span.start);
            let r = self.alloc()?;
            self.emit(Op::LoadNil { dst: r });
            self.declare_local(&def.name.name, r);
        }
        for def in fns {
            self.set_offset(def.span.start);
            let idx = self.function(def, false)?;
            let mark = self.reg_mark();
            let t = self.alloc()?;
            self.emit(Op::Closure { dst: t, proto: idx });
            self.store_local(&def.name.name, t)?;
            self.free_to(mark);
        }
        Ok(())
    }

    /// Stores R[src] into the innermost variable `name` of the current function.
    fn store_local(&mut self, name: &str, src: Reg) -> CResult<()> {
        match self.resolve(name) {
            Some(Place::Local(r)) => {
                self.emit(Op::Move { dst: r, src });
            }
            Some(Place::Cell(r)) => {
                self.emit(Op::SetCell { cell: r, src });
            }
            _ => unreachable!("store_local on a declared local"),
        }
        Ok(())
    }

    pub fn stmt(&mut self, s: &'a Stmt) -> CResult<()> {
        self.set_offset(s.span.start);
        let mark = self.reg_mark();
        match &s.kind {
            StmtKind::Let { target, value } => self.let_stmt(target, value)?,
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value)?,
            StmtKind::Expr(e) => {
                self.expr_discard(e)?;
            }
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(branches, otherwise.as_ref())?,
            StmtKind::While { cond, body } => self.while_stmt(cond, body)?,
            StmtKind::For { target, iter, body } => self.for_stmt(target, iter, body)?,
            StmtKind::Break | StmtKind::Continue => {
                self.break_continue(matches!(s.kind, StmtKind::Break), s.span.start)?
            }
            StmtKind::Return(value) => self.return_stmt(value.as_ref(), s.span.start)?,
            StmtKind::Fn(_) => {} // hoisted
            StmtKind::Class(def) => self.class_stmt(def)?,
            StmtKind::Try {
                body,
                catch,
                finally,
            } => self.try_stmt(body, catch.as_ref(), finally.as_ref())?,
            StmtKind::Throw(e) => {
                let r = self.expr_any(e)?;
                self.set_offset(s.span.start);
                self.emit(Op::Throw { src: r });
            }
            StmtKind::With {
                subject,
                name,
                body,
            } => self.with_stmt(subject, name.as_ref(), body)?,
            StmtKind::Import { path, alias } => {
                let k = self.str_const(&Rc::from(path.as_str()))?;
                let r = self.alloc()?;
                self.emit(Op::Import { dst: r, path: k });
                self.bind_new(&alias.name, r)?;
            }
        }
        // temporaries die with the statement (a `let` keeps its registers)
        let top = self.locals_top().max(mark);
        self.free_to(top);
        Ok(())
    }

    /// Binds a new variable `name` to the value in R[src]: a global at the top
    /// level, otherwise a local that takes over register `src`, which must be the
    /// most recently allocated one.
    pub fn bind_new(&mut self, name: &Rc<str>, src: Reg) -> CResult<()> {
        if self.at_global_level() {
            let slot = self.vm.globals.declare(self.unit, name);
            self.emit(Op::SetGlobal { src, slot });
            return Ok(());
        }
        let in_block = self.fr().scopes.last().map_or(0, |s| s.0);
        let hoisted = self.fr().locals[in_block..]
            .iter()
            .rev()
            .find(|l| &l.name == name && l.hoisted)
            .map(|l| l.reg);
        match hoisted {
            Some(cell) => {
                self.emit(Op::SetCell { cell, src });
            }
            None => self.declare_local(name, src),
        }
        Ok(())
    }

    fn let_stmt(&mut self, target: &'a Pattern, value: &'a Expr) -> CResult<()> {
        let r = self.alloc()?;
        self.expr_to(value, r)?;
        self.bind_pattern(target, r)
    }

    /// Binds a pattern to R[src] (a fresh register at the top, which becomes the
    /// variable's register when the pattern is a name).
    pub fn bind_pattern(&mut self, target: &'a Pattern, src: Reg) -> CResult<()> {
        match target {
            Pattern::Name(id) => self.bind_new(&id.name, src),
            Pattern::List(items, span) => {
                let first = self.alloc_n(items.len())?;
                self.set_offset(span.start);
                self.emit(Op::Unpack {
                    dst: first,
                    src,
                    count: items.len() as u16,
                });
                for (i, item) in items.iter().enumerate() {
                    let r = first + i as Reg;
                    match item {
                        Pattern::Name(id) => self.bind_new(&id.name, r)?,
                        Pattern::List(..) => {
                            // nested: unpack into fresh registers above
                            self.bind_pattern(item, r)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn assign(&mut self, target: &'a Target, op: Option<BinOp>, value: &'a Expr) -> CResult<()> {
        match target {
            Target::Name(id) => {
                let place = self.resolve(&id.name).ok_or_else(|| {
                    err(
                        "NameError",
                        format!(
                            "cannot assign to `{}`: it was never declared (write `let {} = ...`)",
                            id.name, id.name
                        ),
                        id.span.start,
                    )
                })?;
                if matches!(place, Place::Global(_))
                    && self.vm.globals.is_builtin(self.unit, &id.name)
                {
                    return Err(err(
                        "NameError",
                        format!(
                            "cannot assign to builtin `{}` (declare your own with `let`)",
                            id.name
                        ),
                        id.span.start,
                    ));
                }
                match (place, op) {
                    (Place::Local(r), None) if is_simple(value) => self.expr_to(value, r),
                    (Place::Local(r), Some(op)) => {
                        if let (BinOp::Add | BinOp::Sub, ExprKind::Int(v)) = (op, &value.kind) {
                            let v = if op == BinOp::Sub {
                                v.checked_neg()
                            } else {
                                Some(*v)
                            };
                            if let Some(v) = v.and_then(|v| i16::try_from(v).ok()) {
                                self.set_offset(value.span.start);
                                self.emit(Op::AddInt { dst: r, a: r, v });
                                return Ok(());
                            }
                        }
                        let rhs = self.expr_any(value)?;
                        self.binop(op, r, r, rhs, value.span.start)
                    }
                    (place, op) => {
                        let t = self.alloc()?;
                        match op {
                            None => self.expr_to(value, t)?,
                            Some(op) => {
                                self.load_place(&place, t);
                                let rhs = self.expr_any(value)?;
                                self.binop(op, t, t, rhs, value.span.start)?;
                            }
                        }
                        self.store_place(&place, t);
                        Ok(())
                    }
                }
            }
            Target::Index { obj, index } => {
                let o = self.expr_any(obj)?;
                let i = self.expr_any(index)?;
                let v = match op {
                    None => self.expr_any(value)?,
                    Some(op) => {
                        let t = self.alloc()?;
                        self.emit(Op::GetIndex {
                            dst: t,
                            obj: o,
                            index: i,
                        });
                        let rhs = self.expr_any(value)?;
                        self.binop(op, t, t, rhs, value.span.start)?;
                        t
                    }
                };
                self.set_offset(index.span.start);
                self.emit(Op::SetIndex {
                    obj: o,
                    index: i,
                    src: v,
                });
                Ok(())
            }
            Target::Attr { obj, name } => {
                let o = self.expr_any(obj)?;
                let n = self.name_index(&name.name)?;
                let v = match op {
                    None => self.expr_any(value)?,
                    Some(op) => {
                        let t = self.alloc()?;
                        self.set_offset(name.span.start);
                        self.emit(Op::GetAttr {
                            dst: t,
                            obj: o,
                            name: n,
                        });
                        let rhs = self.expr_any(value)?;
                        self.binop(op, t, t, rhs, value.span.start)?;
                        t
                    }
                };
                self.set_offset(name.span.start);
                self.emit(Op::SetAttr {
                    obj: o,
                    name: n,
                    src: v,
                });
                Ok(())
            }
            Target::List(items, span) => {
                let v = self.alloc()?;
                self.expr_to(value, v)?;
                self.assign_unpack(items, v, span.start)
            }
        }
    }

    /// `[a, b] = R[src]`: assigns each element to an existing target.
    fn assign_unpack(&mut self, items: &'a [Target], src: Reg, offset: u32) -> CResult<()> {
        let first = self.alloc_n(items.len())?;
        self.set_offset(offset);
        self.emit(Op::Unpack {
            dst: first,
            src,
            count: items.len() as u16,
        });
        for (i, t) in items.iter().enumerate() {
            let r = first + i as Reg;
            self.assign_from_reg(t, r)?;
        }
        Ok(())
    }

    fn assign_from_reg(&mut self, t: &'a Target, r: Reg) -> CResult<()> {
        match t {
            Target::Name(id) => {
                let place = self.resolve(&id.name).ok_or_else(|| {
                    err(
                        "NameError",
                        format!(
                            "cannot assign to `{}`: it was never declared (write `let {} = ...`)",
                            id.name, id.name
                        ),
                        id.span.start,
                    )
                })?;
                self.store_place(&place, r);
            }
            Target::Index { obj, index } => {
                let o = self.expr_any(obj)?;
                let i = self.expr_any(index)?;
                self.emit(Op::SetIndex {
                    obj: o,
                    index: i,
                    src: r,
                });
            }
            Target::Attr { obj, name } => {
                let o = self.expr_any(obj)?;
                let n = self.name_index(&name.name)?;
                self.emit(Op::SetAttr {
                    obj: o,
                    name: n,
                    src: r,
                });
            }
            Target::List(items, span) => self.assign_unpack(items, r, span.start)?,
        }
        Ok(())
    }

    pub fn load_place(&mut self, place: &Place, dst: Reg) {
        match *place {
            Place::Local(r) => {
                if r != dst {
                    self.emit(Op::Move { dst, src: r });
                }
            }
            Place::Cell(r) => {
                self.emit(Op::GetCell { dst, cell: r });
            }
            Place::Upval(i) => {
                self.emit(Op::GetUpval { dst, idx: i });
            }
            Place::Global(slot) => {
                self.emit(Op::GetGlobal { dst, slot });
            }
        }
    }

    pub fn store_place(&mut self, place: &Place, src: Reg) {
        match *place {
            Place::Local(r) => {
                if r != src {
                    self.emit(Op::Move { dst: r, src });
                }
            }
            Place::Cell(r) => {
                self.emit(Op::SetCell { cell: r, src });
            }
            Place::Upval(i) => {
                self.emit(Op::SetUpval { src, idx: i });
            }
            Place::Global(slot) => {
                self.emit(Op::SetGlobal { src, slot });
            }
        }
    }

    fn if_stmt(
        &mut self,
        branches: &'a [(Expr, Block)],
        otherwise: Option<&'a Block>,
    ) -> CResult<()> {
        let mut to_end = Vec::new();
        for (i, (cond, body)) in branches.iter().enumerate() {
            self.set_offset(cond.span.start);
            let mark = self.reg_mark();
            let skip = self.cond_jump(cond, false)?;
            self.free_to(mark);
            self.block(body)?;
            let last = i + 1 == branches.len() && otherwise.is_none();
            if !last {
                to_end.push(self.emit(Op::Jump { off: 0 }));
            }
            for j in skip {
                self.patch_here(j);
            }
        }
        if let Some(b) = otherwise {
            self.block(b)?;
        }
        for j in to_end {
            self.patch_here(j);
        }
        Ok(())
    }

    fn while_stmt(&mut self, cond: &'a Expr, body: &'a Block) -> CResult<()> {
        // Loop inversion: the condition sits at the bottom, so each iteration
        // runs one conditional jump.
        self.set_offset(cond.span.start);
        let to_cond = self.emit(Op::Jump { off: 0 });
        let top = self.here();
        let depth = self.fr().cleanups.len();
        self.f().loops.push(LoopCtx {
            cleanup_depth: depth,
            continues: Vec::new(),
            breaks: Vec::new(),
        });
        self.block(body)?;
        let ctx = self.f().loops.pop().expect("loop context");
        self.patch_here(to_cond);
        for c in ctx.continues {
            self.patch_here(c);
        }
        self.set_offset(cond.span.start);
        let mark = self.reg_mark();
        let jumps = self.cond_jump(cond, true)?;
        self.free_to(mark);
        for j in jumps {
            self.patch_to(j, top);
        }
        for b in ctx.breaks {
            self.patch_here(b);
        }
        Ok(())
    }

    fn for_stmt(&mut self, target: &'a Pattern, iter: &'a Expr, body: &'a Block) -> CResult<()> {
        let it = self.alloc_n(2)?; // the iterator and the item
        self.expr_to(iter, it)?;
        self.set_offset(iter.span.start);
        self.emit(Op::IterPrep { dst: it, src: it });
        let top = self.here();
        let exit = self.emit(Op::ForIter { iter: it, off: 0 });
        let depth = self.fr().cleanups.len();
        self.f().loops.push(LoopCtx {
            cleanup_depth: depth,
            continues: Vec::new(),
            breaks: Vec::new(),
        });
        self.push_scope();
        match target {
            Pattern::Name(id) => {
                // the item register is the variable: a fresh cell each iteration when captured
                self.declare_local(&id.name, it + 1);
            }
            Pattern::List(..) => {
                let r = self.alloc()?;
                self.emit(Op::Move {
                    dst: r,
                    src: it + 1,
                });
                self.bind_pattern(target, r)?;
            }
        }
        self.block_body(body)?;
        self.pop_scope();
        let ctx = self.f().loops.pop().expect("loop context");
        for c in ctx.continues {
            self.patch_to(c, top);
        }
        self.jump_back(top);
        self.patch_here(exit);
        for b in ctx.breaks {
            self.patch_here(b);
        }
        Ok(())
    }

    fn break_continue(&mut self, is_break: bool, offset: u32) -> CResult<()> {
        let Some(depth) = self.fr().loops.last().map(|l| l.cleanup_depth) else {
            let what = if is_break { "break" } else { "continue" };
            return Err(err(
                "ParseError",
                format!("`{what}` outside a loop"),
                offset,
            ));
        };
        self.run_cleanups(depth)?;
        self.set_offset(offset);
        let j = self.emit(Op::Jump { off: 0 });
        let l = self.f().loops.last_mut().expect("checked above");
        if is_break {
            l.breaks.push(j)
        } else {
            l.continues.push(j)
        }
        Ok(())
    }

    fn return_stmt(&mut self, value: Option<&'a Expr>, offset: u32) -> CResult<()> {
        if self.fns.len() == 1 {
            return Err(err("ParseError", "`return` outside a function", offset));
        }
        let no_cleanups = self.fr().cleanups.is_empty();
        let r = match value {
            // a local is returned from its own register (unless a finally block
            // could change it after the value was taken)
            Some(Expr {
                kind: ExprKind::Name(id),
                ..
            }) if no_cleanups && matches!(self.resolve(&id.name), Some(Place::Local(_))) => {
                match self.resolve(&id.name) {
                    Some(Place::Local(r)) => Some(r),
                    _ => None,
                }
            }
            Some(v) => {
                let r = self.alloc()?;
                self.expr_to(v, r)?;
                Some(r)
            }
            None => None,
        };
        self.run_cleanups(0)?;
        self.set_offset(offset);
        match r {
            Some(src) => self.emit(Op::Return { src }),
            None => self.emit(Op::ReturnNil),
        };
        Ok(())
    }

    /// Emits what leaving the current region for an outer one (at cleanup depth
    /// `depth`) must do: pop handlers, run `finally` blocks, call `exit`.
    fn run_cleanups(&mut self, depth: usize) -> CResult<()> {
        let mut i = self.fr().cleanups.len();
        while i > depth {
            i -= 1;
            match self.fr().cleanups[i] {
                Cleanup::Handler => {
                    self.emit(Op::PopHandler);
                }
                Cleanup::Finally(block) => {
                    // compile the finally body as if we were outside its try statement
                    let saved: Vec<Cleanup<'a>> = self.f().cleanups.drain(i..).collect();
                    let loops = std::mem::take(&mut self.f().loops);
                    let r = self.block(block);
                    self.f().loops = loops;
                    self.f().cleanups.extend(saved);
                    r?;
                }
                Cleanup::WithExit(mgr) => {
                    let mark = self.reg_mark();
                    self.call_exit(mgr, None)?;
                    self.free_to(mark);
                }
            }
        }
        Ok(())
    }

    /// Emits `R[mgr].exit(R[err] or nil)`, result in a temporary that is returned.
    fn call_exit(&mut self, mgr: Reg, err_reg: Option<Reg>) -> CResult<Reg> {
        let t = self.alloc_n(2)?;
        self.emit(Op::Move { dst: t, src: mgr });
        match err_reg {
            Some(e) => self.emit(Op::Move { dst: t + 1, src: e }),
            None => self.emit(Op::LoadNil { dst: t + 1 }),
        };
        let n = self.name_index("exit")?;
        self.emit(Op::CallMethod {
            base: t,
            name: n,
            nargs: 1,
        });
        Ok(t)
    }

    fn try_stmt(
        &mut self,
        body: &'a Block,
        catch: Option<&'a (Option<Ident>, Block)>,
        finally: Option<&'a Block>,
    ) -> CResult<()> {
        let Some(fin) = finally else {
            return self.try_catch(body, catch);
        };
        // try { try { body } catch { ... } } finally { fin }
        let e = self.alloc()?;
        let handler = self.emit(Op::PushHandler {
            reg: e,
            finally: true,
            off: 0,
        });
        self.f().cleanups.push(Cleanup::Finally(fin));
        self.f().cleanups.push(Cleanup::Handler);
        let r = match catch {
            Some(_) => self.try_catch(body, catch),
            None => self.block(body),
        };
        self.f().cleanups.pop();
        self.f().cleanups.pop();
        r?;
        self.emit(Op::PopHandler);
        self.block(fin)?;
        let to_end = self.emit(Op::Jump { off: 0 });
        self.patch_here(handler);
        self.block(fin)?;
        self.emit(Op::Throw { src: e });
        self.patch_here(to_end);
        Ok(())
    }

    fn try_catch(
        &mut self,
        body: &'a Block,
        catch: Option<&'a (Option<Ident>, Block)>,
    ) -> CResult<()> {
        let Some((name, cbody)) = catch else {
            return self.block(body);
        };
        let e = self.alloc()?;
        let handler = self.emit(Op::PushHandler {
            reg: e,
            finally: false,
            off: 0,
        });
        self.f().cleanups.push(Cleanup::Handler);
        let r = self.block(body);
        self.f().cleanups.pop();
        r?;
        self.emit(Op::PopHandler);
        let to_end = self.emit(Op::Jump { off: 0 });
        self.patch_here(handler);
        self.push_scope();
        if let Some(id) = name {
            // the caught error is the catch variable (a local of the catch block)
            let v = self.alloc()?;
            self.emit(Op::Move { dst: v, src: e });
            self.declare_local(&id.name, v);
        }
        let r = self.block_body(cbody);
        self.pop_scope();
        r?;
        self.patch_here(to_end);
        Ok(())
    }

    fn with_stmt(
        &mut self,
        subject: &'a Expr,
        name: Option<&'a Ident>,
        body: &'a Block,
    ) -> CResult<()> {
        let mgr = self.alloc()?;
        self.expr_to(subject, mgr)?;
        self.set_offset(subject.span.start);
        self.push_scope();
        let v = self.alloc()?;
        self.emit(Op::Move { dst: v, src: mgr });
        let enter = self.name_index("enter")?;
        self.emit(Op::CallMethod {
            base: v,
            name: enter,
            nargs: 0,
        });
        if let Some(id) = name {
            self.declare_local(&id.name, v);
        }
        let e = self.alloc()?;
        let handler = self.emit(Op::PushHandler {
            reg: e,
            finally: true,
            off: 0,
        });
        self.f().cleanups.push(Cleanup::WithExit(mgr));
        self.f().cleanups.push(Cleanup::Handler);
        let r = self.block(body);
        self.f().cleanups.pop();
        self.f().cleanups.pop();
        r?;
        self.emit(Op::PopHandler);
        let mark = self.reg_mark();
        self.call_exit(mgr, None)?;
        self.free_to(mark);
        let to_end = self.emit(Op::Jump { off: 0 });
        self.patch_here(handler);
        // an error: exit(err) may suppress it by returning a true value
        let t = self.call_exit(mgr, Some(e))?;
        let suppressed = self.emit(Op::JumpIfTrue { cond: t, off: 0 });
        self.emit(Op::Throw { src: e });
        self.patch_here(suppressed);
        self.patch_here(to_end);
        self.pop_scope();
        Ok(())
    }

    fn class_stmt(&mut self, def: &'a ClassDef) -> CResult<()> {
        let n = def.methods.len();
        if n > u16::MAX as usize - 2 {
            return Err(err(
                "ParseError",
                "class has too many methods",
                def.span.start,
            ));
        }
        let start = self.alloc_n(n + 2)?;
        let k = self.str_const(&def.name.name)?;
        self.emit(Op::LoadConst { dst: start, k });
        match &def.parent {
            Some(p) => self.expr_to(p, start + 1)?,
            None => {
                self.emit(Op::LoadNil { dst: start + 1 });
            }
        }
        for (i, m) in def.methods.iter().enumerate() {
            if def.methods[..i].iter().any(|o| o.name.name == m.name.name) {
                return Err(err(
                    "ParseError",
                    format!("method `{}` is defined twice", m.name.name),
                    m.name.span.start,
                ));
            }
            self.set_offset(m.span.start);
            let idx = self.function(m, true)?;
            self.emit(Op::Closure {
                dst: start + 2 + i as Reg,
                proto: idx,
            });
        }
        self.set_offset(def.span.start);
        let dst = self.alloc()?;
        self.emit(Op::MakeClass {
            dst,
            start,
            count: n as u16,
        });
        if self.at_global_level() {
            let slot = self.vm.globals.declare(self.unit, &def.name.name);
            self.emit(Op::SetGlobal { src: dst, slot });
        } else {
            // the class variable takes the first register of the block we used
            self.emit(Op::Move {
                dst: start,
                src: dst,
            });
            self.free_to(start as usize + 1);
            self.declare_local(&def.name.name, start);
        }
        Ok(())
    }
}

/// Expressions that read all their operands before writing their destination,
/// so they may target a live local's register directly.
fn is_simple(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Nil
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Name(_)
            | ExprKind::Binary { .. }
            | ExprKind::Unary { .. }
            | ExprKind::Attr { .. }
            | ExprKind::Index { .. }
    )
}

impl<'a, 'vm> Compiler<'a, 'vm> {
    /// A function of no arguments that returns `e` (for `spawn`/`go` of anything
    /// but a plain call). Returns its index among the nested prototypes.
    pub fn thunk(&mut self, e: &'a Expr) -> CResult<u16> {
        let captured = super::scope::captured_names_expr(e);
        self.fns.push(FnState::new(
            Rc::from("<spawn>"),
            false,
            false,
            false,
            captured,
            e.span.start,
        ));
        let r = match self.alloc() {
            Ok(r) => r,
            Err(err) => {
                self.fns.pop();
                return Err(err);
            }
        };
        if let Err(err) = self.expr_to(e, r) {
            self.fns.pop();
            return Err(err);
        }
        self.emit(Op::Return { src: r });
        let proto = self.finish_fn();
        let f = self.f();
        f.proto.protos.push(proto);
        Ok((f.proto.protos.len() - 1) as u16)
    }
}
