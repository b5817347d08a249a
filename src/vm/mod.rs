//! The virtual machine: per-interpreter state shared by every fiber (globals,
//! interned names, method tables, output, limits) and the entry points that run
//! code. The dispatch loop is in `exec.rs`; calls in `call.rs`; operators in
//! `ops.rs`; attribute and method lookup in `attr.rs`; generators in `generator.rs`.
//!
//! Several `Vm`s may exist in one process: nothing here is global.

mod attr;
mod call;
mod exec;
pub mod fiber;
pub mod generator;
pub mod globals;
mod iter;
pub mod module;
pub mod ops;
pub mod symbol;
pub mod task;

pub use fiber::Fiber;
pub use globals::Globals;
pub use symbol::{Interner, Sym};

use crate::compile::Proto;
use crate::value::{Closure, Exc, MethodFn, Value, VmResult};
use rustc_hash::FxHashMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Symbols the VM itself needs.
pub struct Syms {
    pub init: Sym,
    pub str_: Sym,
    pub enter: Sym,
    pub exit: Sym,
    pub kind: Sym,
    pub message: Sym,
}

/// Methods of the built-in types, by interned name.
#[derive(Default)]
pub struct TypeMethods {
    pub str_: FxHashMap<Sym, MethodFn>,
    pub bytes: FxHashMap<Sym, MethodFn>,
    pub list: FxHashMap<Sym, MethodFn>,
    pub map: FxHashMap<Sym, MethodFn>,
    pub range: FxHashMap<Sym, MethodFn>,
    pub error: FxHashMap<Sym, MethodFn>,
}

/// Where `print` and `eprint` go. Line-buffered: written through at each newline.
pub struct Output {
    sink: Box<dyn Write>,
    buf: Vec<u8>,
    /// Written to `sink` since its last flush. Flushing a clean sink is
    /// skipped: flushing stdout takes its lock, a write to a page that costs
    /// a copy-on-write fault in every freshly forked child.
    dirty: bool,
}

impl Output {
    pub fn new(sink: Box<dyn Write>) -> Output {
        Output {
            sink,
            buf: Vec::with_capacity(8192),
            dirty: false,
        }
    }
    pub fn write_str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
        if s.contains('\n') || self.buf.len() >= 8192 {
            self.flush();
        }
    }
    /// Writes what is buffered. Errors (a closed pipe) are ignored, as Python's
    /// print ignores them at exit; scripts cannot do anything useful about them.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.sink.write_all(&self.buf);
            self.buf.clear();
            self.dirty = true;
        }
        if self.dirty {
            let _ = self.sink.flush();
            self.dirty = false;
        }
    }
}

/// Capability switches and limits (section 17).
#[derive(Clone, Debug)]
pub struct Config {
    pub allow_processes: bool,
    pub allow_files: bool,
    pub max_instructions: Option<u64>,
    pub max_call_depth: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            allow_processes: true,
            allow_files: true,
            max_instructions: None,
            max_call_depth: 10_000,
        }
    }
}

/// How many instructions run between two checks of the interrupt flag and limits.
const CHECK_INTERVAL: i64 = 10_000;
/// Deepest nesting of native→script calls (e.g. `sorted` calling a key function
/// that calls `sorted`...): each level uses Rust stack.
const MAX_NATIVE_DEPTH: usize = 200;

pub struct Vm {
    pub globals: Globals,
    pub interner: Interner,
    pub syms: Syms,
    pub types: TypeMethods,
    pub out: Output,
    pub err: Output,
    pub config: Config,
    /// Set from another thread (or a signal handler) to raise KeyboardInterrupt.
    pub interrupt: Arc<AtomicBool>,
    /// Script frames alive across all fibers.
    pub depth: usize,
    native_depth: usize,
    pub(crate) frame_serial: u32,
    /// Instructions left before the next check (decremented by the dispatch loop).
    pub(crate) budget: i64,
    /// What `budget` was set to at the last check.
    budget_start: i64,
    /// Instructions run so far (counted at each check).
    pub executed: u64,
    spare_fibers: Vec<Fiber>,
    /// Modules already imported, by canonical path.
    pub modules: FxHashMap<PathBuf, Value>,
    /// Directory of the running script, for resolving imports.
    pub script_dir: PathBuf,
    /// The unit of the main program (and the REPL / eval).
    pub main_unit: usize,
    pub rng: crate::stdlib::random::Rng,
    /// Shared handles (queues, locks...) this process can name in messages.
    handles: FxHashMap<u64, std::rc::Weak<crate::value::Handle>>,
    handle_count: u64,
    /// This process's children, its own Process object and name numbering.
    pub procs: crate::runtime::process::Runtime,
    protos: FxHashMap<u64, std::rc::Weak<Proto>>,
    proto_count: u64,
    /// This process's connections to managers (section 13).
    pub managers: crate::runtime::manager::Clients,
    /// Tasks (section 15) and what they wait for.
    pub sched: task::Sched,
}

impl Vm {
    pub fn new(config: Config, stdout: Box<dyn Write>, stderr: Box<dyn Write>) -> Vm {
        let mut interner = Interner::default();
        let syms = Syms {
            init: interner.intern("init"),
            str_: interner.intern("str"),
            enter: interner.intern("enter"),
            exit: interner.intern("exit"),
            kind: interner.intern("kind"),
            message: interner.intern("message"),
        };
        let mut vm = Vm {
            globals: Globals::new(),
            interner,
            syms,
            types: TypeMethods::default(),
            out: Output::new(stdout),
            err: Output::new(stderr),
            config,
            interrupt: Arc::new(AtomicBool::new(false)),
            depth: 0,
            native_depth: 0,
            frame_serial: 0,
            budget: CHECK_INTERVAL,
            budget_start: CHECK_INTERVAL,
            executed: 0,
            spare_fibers: Vec::new(),
            modules: FxHashMap::default(),
            script_dir: PathBuf::from("."),
            main_unit: 0,
            rng: crate::stdlib::random::Rng::from_entropy(),
            handles: FxHashMap::default(),
            handle_count: 0,
            procs: Default::default(),
            protos: FxHashMap::default(),
            proto_count: 0,
            managers: Default::default(),
            sched: Default::default(),
        };
        crate::stdlib::register(&mut vm);
        crate::runtime::process::install(&mut vm);
        vm.main_unit = vm.globals.new_unit();
        vm
    }

    /// Registers a table of methods for a built-in type.
    pub fn register_methods(
        &mut self,
        table: fn(&mut TypeMethods) -> &mut FxHashMap<Sym, MethodFn>,
        methods: &[(&str, MethodFn)],
    ) {
        for (name, f) in methods {
            let sym = self.interner.intern(name);
            table(&mut self.types).insert(sym, *f);
        }
    }

    /// Runs a compiled top-level chunk and returns its value.
    pub fn run_proto(&mut self, proto: Rc<Proto>) -> VmResult<Value> {
        let closure = Value::Func(Rc::new(Closure {
            proto,
            upvals: Box::new([]),
        }));
        self.call(&closure, &[])
    }

    /// Flushes both outputs (before a fork, before exit, before reading input).
    pub fn flush(&mut self) {
        self.out.flush();
        self.err.flush();
    }

    pub fn write_out(&mut self, s: &str) {
        self.out.write_str(s);
    }

    pub fn write_err(&mut self, s: &str) {
        // keep the two streams in order when they go to the same terminal or file
        self.out.flush();
        self.err.write_str(s);
    }

    pub(crate) fn next_serial(&mut self) -> u32 {
        self.frame_serial = self.frame_serial.wrapping_add(1);
        self.frame_serial
    }

    /// Raises `KeyboardInterrupt` if an interrupt is pending. Every blocking wait
    /// calls it at least every 100 ms, so Ctrl-C and the host's interrupt
    /// handle are honoured while a script waits.
    pub fn check_interrupt(&mut self) -> VmResult<()> {
        if self.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Exc::new("KeyboardInterrupt", "interrupted"));
        }
        Ok(())
    }

    /// A new id for a shared handle, unique across the whole process tree:
    /// the creating pid and a per-process count.
    pub fn new_handle_id(&mut self) -> u64 {
        self.handle_count += 1;
        (std::process::id() as u64) << 32 | self.handle_count
    }

    /// Records a shared handle so that a message naming its id can be turned
    /// back into it in this process and in every process forked after now.
    pub fn register_handle(&mut self, id: u64, handle: &Value) {
        if let Value::Object(h) = handle {
            self.handles.insert(id, Rc::downgrade(h));
        }
    }

    /// Numbers a new prototype and records it (see `Proto::serial`), and checks
    /// its registers once for the dispatch loop (see `Proto::checked`).
    pub fn register_proto(&mut self, mut proto: Proto) -> Rc<Proto> {
        self.proto_count += 1;
        proto.serial = self.proto_count;
        proto.checked = proto.dispatch_safe();
        let p = Rc::new(proto);
        self.protos.insert(p.serial, Rc::downgrade(&p));
        p
    }

    /// The prototype numbered `serial` in this process, if it still exists.
    pub fn proto_by_serial(&self, serial: u64) -> Option<Rc<Proto>> {
        self.protos.get(&serial)?.upgrade()
    }

    /// How many prototypes this process has numbered so far.
    pub fn proto_count(&self) -> u64 {
        self.proto_count
    }

    /// The handle a message names, if this process has it.
    pub fn lookup_handle(&mut self, id: u64) -> Option<Value> {
        let h = self.handles.get(&id)?.upgrade();
        match h {
            Some(h) => Some(Value::Object(h)),
            None => {
                self.handles.remove(&id);
                None
            }
        }
    }

    /// Called every CHECK_INTERVAL instructions: interrupts and the instruction limit.
    pub(crate) fn checkpoint(&mut self) -> VmResult<()> {
        self.executed += (self.budget_start - self.budget).max(0) as u64;
        self.budget = CHECK_INTERVAL;
        if let Some(limit) = self.config.max_instructions {
            if self.executed >= limit {
                // stay exhausted: finally blocks cannot keep the script running
                self.budget = 0;
                self.budget_start = 0;
                return Err(Exc::uncatchable(
                    "InstructionLimit",
                    format!("the script ran more than {limit} instructions"),
                ));
            }
            self.budget = self.budget.min((limit - self.executed) as i64);
        }
        self.budget_start = self.budget;
        if self.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Exc::new("KeyboardInterrupt", "interrupted"));
        }
        Ok(())
    }

    /// A `str()` method's result for an instance that defines one.
    pub fn instance_str(&mut self, v: &Value) -> VmResult<Option<String>> {
        let Value::Instance(inst) = v else {
            return Ok(None);
        };
        let Some(m) = inst.class.methods.get(&self.syms.str_).cloned() else {
            return Ok(None);
        };
        let r = self.call_bound(v, &m, &[])?;
        match r {
            Value::Str(s) => Ok(Some(s.as_str().to_string())),
            other => Err(Exc::type_error(format!(
                "str() of {} returned {}, not a str",
                inst.class.name,
                other.type_name()
            ))),
        }
    }

    /// Enters a nested native→script call, bounding the Rust stack it uses.
    pub(crate) fn enter_native(&mut self) -> VmResult<()> {
        if self.native_depth >= MAX_NATIVE_DEPTH {
            return Err(Exc::new(
                "RecursionError",
                "maximum recursion depth exceeded (calls nested through builtins)",
            ));
        }
        self.native_depth += 1;
        Ok(())
    }

    pub(crate) fn leave_native(&mut self) {
        self.native_depth -= 1;
    }

    fn take_fiber(&mut self) -> Fiber {
        self.spare_fibers.pop().unwrap_or_default()
    }

    fn give_fiber(&mut self, mut f: Fiber) {
        if self.spare_fibers.len() < 16 {
            f.reset();
            self.spare_fibers.push(f);
        }
    }
}
