//! proc: a small scripting language whose concurrency primitives are real
//! operating-system objects. This crate is a library first; the `proc` command,
//! the REPL and the tests are clients of this API.
//!
//! ```
//! let mut interp = proc_lang::Interpreter::new();
//! let v = interp.eval_value("1 + 2").unwrap();
//! assert_eq!(v.as_int(), Some(3));
//! ```

pub mod compile;
pub mod diagnostic;
pub mod embed;
mod error;
pub mod runtime;
pub mod stdlib;
pub mod syntax;
pub mod value;
pub mod vm;
pub mod wire;

pub use error::Error;
pub use value::Value;

use compile::Proto;
use compile::compiler::Mode;
use diagnostic::{Diagnostic, Source};
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
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

/// An interpreter: a VM with its globals, kept across `eval` calls.
pub struct Interpreter {
    vm: Vm,
    evals: usize,
}

impl Default for Interpreter {
    fn default() -> Self {
        Interpreter::new()
    }
}

/// Builds an `Interpreter` with capability switches, limits and output writers.
pub struct Builder {
    config: Config,
    stdout: Option<Box<dyn Write>>,
    stderr: Option<Box<dyn Write>>,
}

impl Builder {
    pub fn allow_processes(mut self, yes: bool) -> Self {
        self.config.allow_processes = yes;
        self
    }
    pub fn allow_files(mut self, yes: bool) -> Self {
        self.config.allow_files = yes;
        self
    }
    pub fn max_instructions(mut self, n: Option<u64>) -> Self {
        self.config.max_instructions = n;
        self
    }
    pub fn max_call_depth(mut self, n: usize) -> Self {
        self.config.max_call_depth = n;
        self
    }
    pub fn stdout(mut self, w: impl Write + 'static) -> Self {
        self.stdout = Some(Box::new(w));
        self
    }
    pub fn stderr(mut self, w: impl Write + 'static) -> Self {
        self.stderr = Some(Box::new(w));
        self
    }
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
    pub fn new() -> Interpreter {
        Interpreter::builder().build()
    }

    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            stdout: None,
            stderr: None,
        }
    }

    /// The VM, for embedding code that needs more than this API.
    pub fn vm(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// Sets the `args` list scripts see.
    pub fn set_args(&mut self, args: Vec<String>) {
        let list = Value::list(args.into_iter().map(Value::string).collect());
        self.vm.globals.define_builtin("args", list);
    }

    /// Runs `text` as a continuation of the program and returns the value of its
    /// final expression statement (nil otherwise).
    pub fn eval_value(&mut self, text: &str) -> Result<Value, Error> {
        self.evals += 1;
        let source = Source::new(format!("<eval {}>", self.evals), text);
        self.run(&source, Mode::Eval)
    }

    /// Runs a script file as the main program.
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

    /// Runs script text given with a name for diagnostics.
    pub fn run_source(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let source = Source::new(name, text);
        self.run(&source, Mode::Script).map(|_| ())
    }

    /// Decodes a script, reporting invalid UTF-8 at its position.
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

    /// Parses and compiles only (`proc --check`).
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
        let r = self.vm.run_proto(proto);
        self.vm.flush();
        r.map_err(|e| self.error_from(e))
    }

    fn error_from(&mut self, e: Exc) -> Error {
        let err = e.error();
        if let Some(code) = err.exit_code {
            return Error::Exit { code };
        }
        Error::Runtime(Box::new(error::runtime_diagnostic(err)))
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) {
        self.vm.flush();
    }

    /// Runs `text` as a continuation of the program (section 17) and converts
    /// the value of its last expression statement (nil otherwise) to `T`.
    pub fn eval<T: embed::FromValue>(&mut self, text: &str) -> Result<T, Error> {
        let v = self.eval_value(text)?;
        T::from_value(&v)
            .map_err(|want| self.error_from(embed::type_error("eval", "the result", want, &v)))
    }

    /// Calls the script function `name` (a global) with `args` (a tuple).
    pub fn call<T: embed::FromValue>(
        &mut self,
        name: &str,
        args: impl embed::IntoArgs,
    ) -> Result<T, Error> {
        let unit = self.vm.main_unit;
        let f = match self.vm.globals.get(unit, name) {
            Some(f) => f.clone(),
            None => {
                let e = Exc::new("NameError", format!("name `{name}` is not defined"));
                return Err(self.error_from(e));
            }
        };
        let args = args.into_args();
        let r = self.vm.call(&f, &args);
        self.vm.flush();
        let v = r.map_err(|e| self.error_from(e))?;
        T::from_value(&v)
            .map_err(|want| self.error_from(embed::type_error(name, "the result", want, &v)))
    }

    /// Makes a Rust closure a builtin that scripts call as `name(...)`. It
    /// may take up to six arguments of any `FromValue` type and return any
    /// `IntoValue` type or a `Result<T, E: Display>` (an `Err` raises kind
    /// `Error` with the error's text). A wrong argument is a `TypeError`
    /// naming the function and the argument. Registered before a spawn, it
    /// works in the children too (they are copies of this process).
    pub fn register_fn<M>(&mut self, name: &str, f: impl embed::HostFunction<M>) {
        let v = f.into_native(Rc::from(name));
        self.vm.globals.define_builtin(name, v);
    }

    /// Sets a global of the program.
    pub fn set_global(&mut self, name: &str, value: impl embed::IntoValue) {
        let unit = self.vm.main_unit;
        self.vm.globals.set(unit, name, value.into_value());
    }

    /// A global of the program, converted; None when it is not defined or
    /// does not convert.
    pub fn get_global<T: embed::FromValue>(&self, name: &str) -> Option<T> {
        let v = self.vm.globals.get(self.vm.main_unit, name)?;
        T::from_value(v).ok()
    }

    /// A handle that interrupts the running script from any thread: the
    /// script gets `KeyboardInterrupt` at its next check (within
    /// milliseconds, also while it waits).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.vm.interrupt.clone())
    }

    /// Waits for the child processes the scripts started (section 10: the
    /// non-daemon ones are joined, the daemon ones terminated). Dropping the
    /// interpreter does the same.
    pub fn join_children(&mut self) {
        runtime::process::finish(&mut self.vm);
    }

    /// A flag that, once set (from any thread or a signal handler), raises
    /// `KeyboardInterrupt` in the running script at its next check.
    pub fn interrupt_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.vm.interrupt.clone()
    }
}

/// Interrupts a running interpreter from another thread (`Clone + Send`).
#[derive(Clone)]
pub struct InterruptHandle(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl InterruptHandle {
    /// Raises `KeyboardInterrupt` in the running script.
    pub fn interrupt(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        self.join_children();
    }
}
