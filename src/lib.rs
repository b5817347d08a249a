//! proc: a small scripting language whose concurrency primitives are real
//! operating-system objects (`spawn` is `fork()`, queues and locks live in
//! shared memory). This crate is a library first; the `proc` command, the REPL
//! and the tests are clients of this API (section 17 of the language
//! contract).
//!
//! The whole public surface is on this page:
//!
//! - [`Interpreter`] runs scripts; [`Builder`] sets its capability switches,
//!   limits and output writers; [`InterruptHandle`] stops a running script
//!   from another thread; [`Function`] is a script function held by the
//!   host; [`Server`] is an interpreter in a process of its own.
//! - [`Value`] is a script value; [`FromValue`] and [`IntoValue`] convert
//!   between it and Rust types (`i64 i32 u32 usize f64 bool String &str
//!   Vec<T> HashMap<String, T> Option<T> ()`); with the `serde` feature,
//!   `to_value` and `from_value` convert any `Serialize`/`Deserialize` type.
//! - [`Error`] is every failure, as data (`kind`, `message`, `line`,
//!   `column`, `traceback`) and as the diagnostic the CLI prints.
//!
//! ```
//! use proc_lang::{Interpreter, Value};
//!
//! let mut interp = Interpreter::builder()
//!     .allow_files(false)
//!     .max_instructions(Some(50_000_000))
//!     .stdout(std::io::sink())
//!     .build();
//! interp.register_fn("double", |x: i64| x * 2);
//! interp.set_global("config", Value::from(vec![1i64, 2, 3]));
//! let n: i64 = interp.eval("double(sum(config))")?;
//! assert_eq!(n, 12);
//! interp.eval::<()>("fn total(xs) { return sum(xs) }")?;
//! let total: f64 = interp.call("total", (vec![1.5, 2.5],))?;
//! assert_eq!(total, 4.0);
//! # Ok::<(), proc_lang::Error>(())
//! ```
//!
//! Processes: `spawn`, `pool`, `fork` and `manager` fork the host process.
//! They work while the host has a single thread; in a host that has started
//! other threads they raise `NotSupported` (a `fork()` from a multi-threaded
//! process can deadlock the child on a lock another thread held). A host
//! with threads moves an interpreter into a process of its own first, with
//! [`Interpreter::into_server`], and runs such scripts there from any thread
//! through the [`Server`]. `docs/embedding.md` has the details.

#![deny(missing_docs)]

pub(crate) mod compile;
pub(crate) mod diagnostic;
mod embed;
mod error;
pub(crate) mod runtime;
#[cfg(feature = "serde")]
mod serde_value;
mod server;
pub(crate) mod stdlib;
pub(crate) mod syntax;
pub(crate) mod value;
pub(crate) mod vm;
pub(crate) mod wire;

pub use diagnostic::{Diagnostic, Frame, Source};
pub use embed::{FromValue, HostFunction, IntoArgs, IntoHostReturn, IntoValue, Mismatch};
pub use error::Error;
#[cfg(feature = "serde")]
pub use serde_value::{from_value, to_value};
pub use server::Server;
pub use value::Value;

use compile::Proto;
use compile::compiler::Mode;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use value::Exc;
use vm::{Config, Vm};

/// The REPL (section 16) that `proc` starts on a terminal.
pub mod repl;

/// Parses and compiles `source` into unit `unit` of `vm`.
pub(crate) fn compile_source(
    vm: &mut Vm,
    source: &Rc<Source>,
    unit: usize,
    mode: Mode,
) -> Result<Rc<Proto>, Box<Diagnostic>> {
    let to_diag =
        |e: syntax::SyntaxError| Box::new(Diagnostic::at(e.kind, e.message, source, e.offset));
    let ast = syntax::parse_program(&source.text).map_err(to_diag)?;
    compile::compile_unit(vm, unit, source.clone(), &ast, mode).map_err(to_diag)
}

/// Whether `text` is a complete program, or needs more lines (an open
/// bracket, block or string): what a REPL asks before running an entry.
/// The parser and the REPL share this one definition.
///
/// ```
/// assert!(proc_lang::is_complete("let x = 1"));
/// assert!(!proc_lang::is_complete("fn f() {"));
/// ```
pub fn is_complete(text: &str) -> bool {
    syntax::is_complete(text)
}

/// An interpreter: one program's globals, functions and children, kept across
/// [`eval`](Interpreter::eval), [`run_file`](Interpreter::run_file) and
/// [`call`](Interpreter::call). Several interpreters may live in one process;
/// they share nothing. An interpreter is not `Send`: it stays on the thread
/// that built it (use an [`InterruptHandle`] to stop it from elsewhere).
///
/// Dropping it waits for the child processes its scripts started (see
/// [`join_children`](Interpreter::join_children)).
pub struct Interpreter {
    vm: Vm,
    evals: usize,
}

impl Default for Interpreter {
    fn default() -> Self {
        Interpreter::new()
    }
}

/// Builds an [`Interpreter`] with capability switches, limits and output
/// writers. Every switch is enforced by the runtime: a disallowed builtin
/// raises `NotSupported` naming the switch.
///
/// ```
/// use proc_lang::Interpreter;
///
/// let mut interp = Interpreter::builder()
///     .allow_processes(false)
///     .allow_files(false)
///     .max_instructions(Some(1_000_000))
///     .max_call_depth(100)
///     .build();
/// let e = interp.eval::<()>("read_file(\"/etc/passwd\")").unwrap_err();
/// assert_eq!(e.kind(), "NotSupported");
/// assert!(e.message().contains("allow_files"));
/// ```
pub struct Builder {
    config: Config,
    stdout: Option<Box<dyn Write>>,
    stderr: Option<Box<dyn Write>>,
}

impl Builder {
    /// Whether scripts may start processes: `spawn`, `pool`, `manager`,
    /// `fork`, `waitpid`, `kill` (default `true`). When `false` they raise
    /// `NotSupported` naming `allow_processes`.
    pub fn allow_processes(mut self, yes: bool) -> Self {
        self.config.allow_processes = yes;
        self
    }

    /// Whether scripts may touch the file system: `open`, `read_file`,
    /// `write_file`, `listdir`, `mkdir`, `remove`, `exists`... (default
    /// `true`). When `false` they raise `NotSupported` naming `allow_files`.
    /// The host's own [`Interpreter::run_file`] is not affected.
    pub fn allow_files(mut self, yes: bool) -> Self {
        self.config.allow_files = yes;
        self
    }

    /// The most bytecode instructions one interpreter runs, over all its
    /// `eval`/`call`s (default `None`: no limit). Past it the script stops
    /// with `InstructionLimit`, which scripts cannot catch; the host gets it
    /// as an [`Error`], and the interpreter refuses to run more code.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::builder()
    ///     .max_instructions(Some(100_000))
    ///     .build();
    /// let e = interp.eval::<()>("while true { }").unwrap_err();
    /// assert_eq!(e.kind(), "InstructionLimit");
    /// ```
    pub fn max_instructions(mut self, n: Option<u64>) -> Self {
        self.config.max_instructions = n;
        self
    }

    /// The deepest nesting of script calls (default 10 000). Deeper calls
    /// raise `RecursionError`.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::builder().max_call_depth(50).build();
    /// let e = interp
    ///     .eval::<()>("fn f(n) { return f(n + 1) }\nf(0)")
    ///     .unwrap_err();
    /// assert_eq!(e.kind(), "RecursionError");
    /// ```
    pub fn max_call_depth(mut self, n: usize) -> Self {
        self.config.max_call_depth = n;
        self
    }

    /// Where `print` writes (default: the process's standard output). The
    /// writer belongs to this process: child processes the script starts
    /// write to their own copy of it, so use a file or pipe (not an
    /// in-memory buffer) if their output matters.
    pub fn stdout(mut self, w: impl Write + 'static) -> Self {
        self.stdout = Some(Box::new(w));
        self
    }

    /// Where `eprint` writes (default: the process's standard error).
    pub fn stderr(mut self, w: impl Write + 'static) -> Self {
        self.stderr = Some(Box::new(w));
        self
    }

    /// The interpreter, with the standard library loaded.
    pub fn build(self) -> Interpreter {
        let out = self.stdout.unwrap_or_else(|| Box::new(std::io::stdout()));
        let err = self.stderr.unwrap_or_else(|| Box::new(std::io::stderr()));
        Interpreter {
            vm: Vm::new(self.config, out, err),
            evals: 0,
        }
    }
}

impl Interpreter {
    /// An interpreter with every capability on, no instruction limit, and the
    /// process's standard output and error.
    pub fn new() -> Interpreter {
        Interpreter::builder().build()
    }

    /// A [`Builder`] to choose capabilities, limits and writers.
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            stdout: None,
            stderr: None,
        }
    }

    /// The VM, for the crate's own unit tests.
    #[cfg(test)]
    pub(crate) fn vm(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// Sets the `args` list scripts see (the CLI passes its arguments).
    pub fn set_args(&mut self, args: Vec<String>) {
        let list = Value::list(args.into_iter().map(Value::string).collect());
        self.vm.globals.define_builtin("args", list);
    }

    /// Sets the directory `import` resolves relative paths from (by default
    /// the current directory, or the directory of the last
    /// [`run_file`](Interpreter::run_file)).
    pub fn set_script_dir(&mut self, dir: impl AsRef<Path>) {
        self.vm.script_dir = dir.as_ref().to_path_buf();
    }

    /// Like [`eval`](Interpreter::eval), returning the [`Value`] itself.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// let v = interp.eval_value("[1, 2] + [3]")?;
    /// assert_eq!(v.to_string(), "[1, 2, 3]");
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn eval_value(&mut self, text: &str) -> Result<Value, Error> {
        self.evals += 1;
        let source = Source::new(format!("<eval {}>", self.evals), text);
        self.run(&source, Mode::Eval)
    }

    /// Runs `text` as a continuation of the program (globals and functions
    /// from earlier `eval`s and `run_file`s stay visible) and converts the
    /// value of its last expression statement (nil when it ends with another
    /// kind of statement) to `T`. A value that does not convert is a
    /// `TypeError` naming `eval()`.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.eval::<()>("let base = 40")?;
    /// let n: i64 = interp.eval("base + 2")?;
    /// assert_eq!(n, 42);
    /// let e = interp.eval::<i64>("\"text\"").unwrap_err();
    /// assert_eq!(e.kind(), "TypeError");
    /// assert_eq!(e.message(), "eval(): the result must be an int, not str");
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn eval<T: FromValue>(&mut self, text: &str) -> Result<T, Error> {
        let v = self.eval_value(text)?;
        T::from_value(&v).map_err(|m| self.error_from(embed::type_error("eval", "the result", m)))
    }

    /// Runs a script file as (a continuation of) the main program; `import`
    /// then resolves from the file's directory.
    pub fn run_file(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let name = path.to_string_lossy().into_owned();
        if let Some(dir) = path.parent() {
            self.vm.script_dir = dir.to_path_buf();
        }
        let source = Self::source_from_bytes(&name, bytes)?;
        self.run(&source, Mode::Script).map(|_| ())
    }

    /// Runs script text, named `name` in diagnostics and tracebacks.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// let e = interp.run_source("rules.proc", "let x = 1\nx / 0").unwrap_err();
    /// assert_eq!((e.kind(), e.line(), e.column()), ("ZeroDivisionError", Some(2), Some(3)));
    /// assert!(e.to_string().contains("rules.proc:2:3"));
    /// ```
    pub fn run_source(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let source = Source::new(name, text);
        self.run(&source, Mode::Script).map(|_| ())
    }

    /// Decodes script bytes, reporting invalid UTF-8 as a `ParseError` at its
    /// position.
    pub fn source_from_bytes(name: &str, bytes: Vec<u8>) -> Result<Rc<Source>, Error> {
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let src = Source::new(name, text);
                let prefix = String::from_utf8_lossy(&bytes[..at]).len();
                Err(Error::Parse(Box::new(Diagnostic::at(
                    "ParseError",
                    "source is not valid UTF-8",
                    &src,
                    prefix,
                ))))
            }
        }
    }

    /// Parses and compiles `source` without running it (`proc --check`).
    pub fn check(&mut self, source: &Rc<Source>) -> Result<(), Error> {
        self.compile(source, Mode::Script).map(|_| ())
    }

    /// The bytecode of a script, as `proc --disasm` prints it.
    pub fn disassemble(&mut self, source: &Rc<Source>) -> Result<String, Error> {
        let proto = self.compile(source, Mode::Script)?;
        Ok(compile::disasm::disassemble(&proto, &self.vm.interner))
    }

    fn compile(&mut self, source: &Rc<Source>, mode: Mode) -> Result<Rc<Proto>, Error> {
        let unit = self.vm.main_unit;
        compile_source(&mut self.vm, source, unit, mode).map_err(|d| {
            if d.kind == "ParseError" {
                Error::Parse(d)
            } else {
                Error::Compile(d)
            }
        })
    }

    fn run(&mut self, source: &Rc<Source>, mode: Mode) -> Result<Value, Error> {
        let proto = self.compile(source, mode)?;
        self.charge_entry(proto.code.len())?;
        let r = self.vm.run_proto(proto);
        self.vm.flush();
        r.map_err(|e| self.error_from(e))
    }

    /// Charges code entered from the host to `max_instructions`, as the VM
    /// charges a call by its callee's length: otherwise straight-line code
    /// run by many `eval`s or `call`s would never reach the limit.
    fn charge_entry(&mut self, len: usize) -> Result<(), Error> {
        self.vm.budget -= len as i64;
        if self.vm.budget <= 0 {
            if let Err(e) = self.vm.checkpoint() {
                return Err(self.error_from(e));
            }
        }
        Ok(())
    }

    fn error_from(&mut self, e: Exc) -> Error {
        let err = e.error();
        if let Some(code) = err.exit_code {
            return Error::Exit { code };
        }
        Error::Runtime(Box::new(error::runtime_diagnostic(err)))
    }

    /// Writes what `print` and `eprint` have buffered. (Every `eval`, `call`
    /// and `run_file` flushes when it returns.)
    pub fn flush(&mut self) {
        self.vm.flush();
    }

    /// Calls the script function `name` (a global of the program) with
    /// `args`, a tuple of [`IntoValue`]s (`()` for none, `(x,)` for one), and
    /// converts its result to `T`.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.eval::<()>("fn scale(xs, k) { return [x * k for x in xs] }")?;
    /// let v: Vec<f64> = interp.call("scale", (vec![1.0, 2.5], 2))?;
    /// assert_eq!(v, [2.0, 5.0]);
    /// let e = interp.call::<()>("missing", ()).unwrap_err();
    /// assert_eq!(e.kind(), "NameError");
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn call<T: FromValue>(&mut self, name: &str, args: impl IntoArgs) -> Result<T, Error> {
        match self.vm.globals.get(self.vm.main_unit, name) {
            Some(f) => {
                let f = f.clone();
                self.call_value(&f, name, args)
            }
            None => Err(self.name_error(name)),
        }
    }

    fn name_error(&mut self, name: &str) -> Error {
        let e = Exc::new("NameError", format!("name `{name}` is not defined"));
        self.error_from(e)
    }

    /// The global `name` as a [`Function`] handle, to call many times
    /// without looking the name up each time. A `NameError` when it is not
    /// defined; anything callable (a script function, a class, a builtin, a
    /// host function) is accepted.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.eval::<()>("fn inc(x) { return x + 1 }")?;
    /// let inc = interp.function("inc")?;
    /// let mut x = 0;
    /// for _ in 0..3 {
    ///     x = interp.call_function(&inc, (x,))?;
    /// }
    /// assert_eq!(x, 3);
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn function(&mut self, name: &str) -> Result<Function, Error> {
        match self.vm.globals.get(self.vm.main_unit, name) {
            Some(f) => Ok(Function {
                value: f.clone(),
                name: Rc::from(name),
            }),
            None => Err(self.name_error(name)),
        }
    }

    /// Calls a [`Function`] handle with `args` (as [`call`](Interpreter::call)
    /// does) and converts its result to `T`.
    pub fn call_function<T: FromValue>(
        &mut self,
        f: &Function,
        args: impl IntoArgs,
    ) -> Result<T, Error> {
        self.call_value(&f.value, &f.name, args)
    }

    /// Calls `f` (named `fname` in errors) from the host.
    fn call_value<T: FromValue>(
        &mut self,
        f: &Value,
        fname: &str,
        args: impl IntoArgs,
    ) -> Result<T, Error> {
        let args = args.into_args();
        self.charge_entry(match f {
            Value::Func(c) => c.proto.code.len(),
            _ => 1,
        })?;
        let r = self.vm.call(f, args.as_ref());
        self.vm.flush();
        let v = r.map_err(|e| self.error_from(e))?;
        T::from_value(&v).map_err(|m| self.error_from(embed::type_error(fname, "the result", m)))
    }

    /// Makes a Rust closure a builtin that scripts call as `name(...)`. It
    /// may take up to six arguments of any [`FromValue`] type and return any
    /// [`IntoValue`] type or a `Result<T, E: Display>` (an `Err` raises kind
    /// `Error` with the error's text, which scripts can catch). A wrong
    /// argument is a `TypeError` naming the function and the argument.
    /// Registered before a spawn, it works in the children too (they are
    /// copies of this process, closure state included).
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.register_fn("checked_sqrt", |x: f64| -> Result<f64, String> {
    ///     if x < 0.0 { Err(format!("{x} is negative")) } else { Ok(x.sqrt()) }
    /// });
    /// assert_eq!(interp.eval::<f64>("checked_sqrt(16)")?, 4.0);
    /// let e = interp.eval::<f64>("checked_sqrt(-1)").unwrap_err();
    /// assert_eq!((e.kind(), e.message()), ("Error", "-1 is negative"));
    /// let e = interp.eval::<f64>("checked_sqrt(\"x\")").unwrap_err();
    /// assert_eq!(e.message(), "checked_sqrt(): argument 1 must be a number, not str");
    /// // scripts can catch host errors
    /// let msg: String = interp.eval(
    ///     "let m = nil\ntry { checked_sqrt(-4) } catch e { m = e.message }\nm",
    /// )?;
    /// assert_eq!(msg, "-4 is negative");
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn register_fn<M>(&mut self, name: &str, f: impl HostFunction<M>) {
        let v = f.into_native(Rc::from(name));
        self.vm.globals.define_builtin(name, v);
    }

    /// Sets (or defines) a global of the program.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.set_global("limits", HashMap::from([("cpu".to_string(), 2i64)]));
    /// interp.set_global("name", "job-1");
    /// assert_eq!(interp.eval::<String>("f\"{name}: {limits[\"cpu\"]}\"")?, "job-1: 2");
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn set_global(&mut self, name: &str, value: impl IntoValue) {
        let unit = self.vm.main_unit;
        self.vm.globals.set(unit, name, value.into_value());
    }

    /// A global of the program converted to `T`; `None` when it is not
    /// defined or does not convert.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.eval::<()>("let hits = [1, 2]")?;
    /// assert_eq!(interp.get_global::<Vec<i64>>("hits"), Some(vec![1, 2]));
    /// assert_eq!(interp.get_global::<String>("hits"), None);
    /// assert_eq!(interp.get_global::<i64>("nothing"), None);
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn get_global<T: FromValue>(&self, name: &str) -> Option<T> {
        let v = self.vm.globals.get(self.vm.main_unit, name)?;
        T::from_value(v).ok()
    }

    /// The names of the program's globals that have a value (functions,
    /// classes, variables), sorted; with `builtins`, the builtins and host
    /// functions too. What a REPL completes, or a host lists to see what a
    /// script defines.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// interp.register_fn("host_fn", || 1i64);
    /// interp.eval::<()>("let x = 1\nfn handler() {}\nclass Rule {}")?;
    /// assert_eq!(interp.global_names(false), ["Rule", "handler", "x"]);
    /// let all = interp.global_names(true);
    /// assert!(all.iter().any(|n| n == "host_fn") && all.iter().any(|n| n == "print"));
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn global_names(&self, builtins: bool) -> Vec<String> {
        let g = &self.vm.globals;
        let mut units = vec![self.vm.main_unit];
        if builtins {
            units.push(vm::globals::BUILTINS);
        }
        let mut names: Vec<String> = units
            .into_iter()
            .flat_map(|u| g.units[u].iter())
            .filter(|(_, slot)| !matches!(g.values[**slot as usize], Value::Undef))
            .map(|(name, _)| name.to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A handle that interrupts the running script from any thread: the
    /// script gets `KeyboardInterrupt` at its next check, within
    /// milliseconds while it computes and within 100 ms while it waits
    /// (`sleep`, `queue.get`, `join`, a lock...). An interrupt given while no
    /// script runs is raised at the next script's first check.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::new();
    /// let handle = interp.interrupt_handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     handle.interrupt();
    /// });
    /// let e = interp.eval::<()>("while true { }").unwrap_err();
    /// assert_eq!(e.kind(), "KeyboardInterrupt");
    /// assert_eq!(interp.eval::<i64>("1 + 1").unwrap(), 2); // still usable
    /// ```
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.vm.interrupt.clone())
    }

    /// Waits for the child processes the scripts started (section 10: the
    /// non-daemon ones are joined, the daemon ones terminated). Dropping the
    /// interpreter does the same, so a script that left a child running
    /// forever makes the drop wait. Terminate such children first (from a
    /// script: `p.terminate()`); each interrupt from the [`InterruptHandle`]
    /// ends the wait for the one child being waited for, leaving it running.
    pub fn join_children(&mut self) {
        runtime::process::finish(&mut self.vm);
    }

    /// The flag behind [`interrupt_handle`](Interpreter::interrupt_handle),
    /// for a signal handler (storing `true` is async-signal-safe): the CLI
    /// turns Ctrl-C into `KeyboardInterrupt` with it.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.vm.interrupt.clone()
    }
}

/// A script function (or any callable global) held by the host: see
/// [`Interpreter::function`]. It keeps the function alive even if the script
/// later rebinds the name. Belongs to the interpreter that gave it.
#[derive(Clone, Debug)]
pub struct Function {
    value: Value,
    name: Rc<str>,
}

impl Function {
    /// The name it was looked up by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The function as a value (to pass to a script, for instance).
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// Interrupts a running [`Interpreter`] from another thread (`Clone + Send +
/// Sync`).
#[derive(Clone, Debug)]
pub struct InterruptHandle(Arc<AtomicBool>);

impl InterruptHandle {
    /// Raises `KeyboardInterrupt` in the running script (see
    /// [`Interpreter::interrupt_handle`]).
    pub fn interrupt(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        self.join_children();
    }
}
