//! An interpreter in a process of its own (section 17's fork server, for
//! hosts with threads): `Interpreter::into_server` forks the interpreter,
//! with everything the host set up, while the host is still single-threaded.
//! The copy runs single-threaded forever, so its scripts may `spawn`, `pool`
//! and `fork` safely; the host's threads, started afterwards, send it script
//! text and calls over a socket and get values or errors back.
//!
//! Values cross as the wire module's messages (section 10), errors as their
//! diagnostic's fields. The server never returns into the host's code: it
//! ends with `_exit` when the host drops the `Server`.

use crate::diagnostic::{Diagnostic, Frame};
use crate::value::{Exc, Value};
use crate::vm::{Config, Vm};
use crate::{Error, FromValue, Interpreter, IntoArgs};
use bincode::{Decode, Encode};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

#[derive(Encode, Decode)]
enum Request {
    Eval(String),
    RunFile(String),
    /// A function name and the wire message of the argument list.
    Call(String, Vec<u8>),
}

#[derive(Encode, Decode)]
enum Reply {
    /// The wire message of the result.
    Value(Vec<u8>),
    Error(ErrorData),
}

/// An `Error` in transit.
#[derive(Encode, Decode)]
struct ErrorData {
    /// 0 parse, 1 compile, 2 runtime, 3 exit, 4 I/O.
    variant: u8,
    kind: String,
    message: String,
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    source_line: Option<String>,
    traceback: Vec<(String, usize, String)>,
    code: i32,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

impl ErrorData {
    fn from_error(e: &Error) -> ErrorData {
        let (variant, d) = match e {
            Error::Parse(d) => (0, Some(d)),
            Error::Compile(d) => (1, Some(d)),
            Error::Runtime(d) => (2, Some(d)),
            Error::Exit { .. } => (3, None),
            Error::Io { .. } => (4, None),
        };
        ErrorData {
            variant,
            kind: e.kind().to_string(),
            message: e.message().to_string(),
            file: d.map(|d| d.file.clone()).unwrap_or_default(),
            line: e.line(),
            column: e.column(),
            source_line: d.and_then(|d| d.source_line.clone()),
            traceback: e
                .traceback()
                .iter()
                .map(|f| (f.file.clone(), f.line, f.function.clone()))
                .collect(),
            code: e.exit_code(),
        }
    }

    fn into_error(self) -> Error {
        let d = Box::new(Diagnostic {
            kind: self.kind,
            message: self.message.clone(),
            file: self.file,
            line: self.line,
            column: self.column,
            source_line: self.source_line,
            traceback: self
                .traceback
                .into_iter()
                .map(|(file, line, function)| Frame {
                    file,
                    line,
                    function,
                })
                .collect(),
        });
        match self.variant {
            0 => Error::Parse(d),
            1 => Error::Compile(d),
            3 => Error::Exit { code: self.code },
            4 => Error::Io {
                message: self.message,
            },
            _ => Error::Runtime(d),
        }
    }
}

/// A runtime error raised on the host side of a server call.
fn local_error(kind: &str, message: String) -> Error {
    Error::Runtime(Box::new(Diagnostic {
        kind: kind.into(),
        message,
        file: String::new(),
        line: None,
        column: None,
        source_line: None,
        traceback: Vec::new(),
    }))
}

fn lost(e: impl std::fmt::Display) -> Error {
    local_error(
        "ProcessError",
        format!("the interpreter server is gone: {e}"),
    )
}

/// An [`Interpreter`] running in a process of its own, made by
/// [`Interpreter::into_server`]. It is `Send + Sync`: any thread of the host
/// may use it (calls are served one at a time). Its scripts may start
/// processes whatever threads the host has, because the server process has
/// one thread.
///
/// Values come back converted to `T` as with [`Interpreter::eval`]; they
/// travel as section 10's wire messages, so they must be data (or functions):
/// handles of the server's processes and queues stay there. Scripts print
/// to the writers the interpreter had when it was turned into a server (the
/// server's copies of them: use ones backed by file descriptors).
///
/// Dropping the `Server` ends the server process after its scripts' children
/// are joined.
pub struct Server {
    stream: Mutex<UnixStream>,
    pid: i32,
}

impl Server {
    /// Runs `text` in the server as [`Interpreter::eval`] does.
    pub fn eval<T: FromValue>(&self, text: &str) -> Result<T, Error> {
        self.request(Request::Eval(text.to_string()), "eval")
    }

    /// Runs a script file in the server as [`Interpreter::run_file`] does.
    pub fn run_file(&self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        let path = path.as_ref().to_string_lossy().into_owned();
        self.request::<Value>(Request::RunFile(path), "run_file")
            .map(|_| ())
    }

    /// Calls the server's global function `name` as [`Interpreter::call`]
    /// does.
    pub fn call<T: FromValue>(&self, name: &str, args: impl IntoArgs) -> Result<T, Error> {
        let mut vm = scratch_vm();
        let list = Value::list(args.into_args().as_ref().to_vec());
        let bytes = crate::wire::encode(&mut vm, &list).map_err(|e| exc_error(&e))?;
        self.request(Request::Call(name.to_string(), bytes), name)
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Raises `KeyboardInterrupt` in the script the server is running, as
    /// [`InterruptHandle::interrupt`](crate::InterruptHandle::interrupt)
    /// does for a local interpreter: call it from another thread to stop a
    /// request that takes too long (waits notice it within about 50 ms).
    pub fn interrupt(&self) {
        // SIGUSR1: the server's handler sets its interrupt flag
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGUSR1,
        );
    }

    fn request<T: FromValue>(&self, req: Request, fname: &str) -> Result<T, Error> {
        let payload = bincode::encode_to_vec(&req, config()).map_err(lost)?;
        let reply = {
            // a poisoned lock only means another thread panicked mid-call:
            // the stream may be out of step, which the decode below detects
            let mut s = self.stream.lock().unwrap_or_else(|p| p.into_inner());
            crate::wire::write_frame(&mut *s, &payload).map_err(lost)?;
            crate::wire::read_frame(&mut *s)
                .map_err(lost)?
                .ok_or_else(|| lost("it closed the connection"))?
        };
        let (reply, _): (Reply, usize) =
            bincode::decode_from_slice(&reply, config()).map_err(lost)?;
        match reply {
            Reply::Error(e) => Err(e.into_error()),
            Reply::Value(bytes) => {
                let mut vm = scratch_vm();
                let v = crate::wire::decode(&mut vm, &bytes).map_err(|e| exc_error(&e))?;
                T::from_value(&v)
                    .map_err(|m| exc_error(&crate::embed::type_error(fname, "the result", m)))
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(s) = self.stream.get_mut() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// The server's interrupt flag, for its SIGUSR1 handler (set once, in the
/// server process only).
static INTERRUPT: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

extern "C" fn on_interrupt(_: libc::c_int) {
    // only an atomic load and store: async-signal-safe
    if let Some(flag) = INTERRUPT.get() {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Makes SIGUSR1 (from `Server::interrupt`) set the server VM's interrupt
/// flag. Not SA_RESTART, so a blocking call returns EINTR and checks it.
fn listen_for_interrupts(vm: &Vm) {
    let _ = INTERRUPT.set(vm.interrupt.clone());
    // SAFETY: the handler only touches an atomic; the sigaction struct is
    // fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_interrupt as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// A VM for converting values on the host side of a call.
fn scratch_vm() -> Vm {
    Vm::new(
        Config::default(),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
}

fn exc_error(e: &Exc) -> Error {
    let err = e.error();
    local_error(&err.kind, err.message.clone())
}

impl Interpreter {
    /// Moves this interpreter, with its globals, loaded scripts and host
    /// functions, into a process of its own, and returns the [`Server`] that
    /// talks to it. Call it while the host has a single thread (before it
    /// starts any); afterwards any number of host threads may use the server,
    /// and its scripts can `spawn` and use pools safely (a fork server, as
    /// section 17 puts it). With other threads already running it is
    /// refused with `NotSupported`, as `spawn` is.
    ///
    /// ```
    /// let mut interp = proc_lang::Interpreter::builder().stdout(std::io::sink()).build();
    /// interp.register_fn("weight", |x: i64| x * 10);
    /// interp.eval::<()>("fn job(x) { return weight(x) + 1 }")?;
    /// # // doctests run on a thread of their own: skip when there are others
    /// # if std::fs::read_to_string("/proc/self/status").unwrap().contains("Threads:\t1\n") {
    /// let server = interp.into_server()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let v: Vec<i64> = server
    ///             .eval("let r = nil\nwith pool(2) as p { r = p.map(job, [1, 2]) }\nr")
    ///             .unwrap();
    ///         assert_eq!(v, [11, 21]);
    ///     });
    /// });
    /// # }
    /// # Ok::<(), proc_lang::Error>(())
    /// ```
    pub fn into_server(mut self) -> Result<Server, Error> {
        let (host_end, server_end) = UnixStream::pair().map_err(|e| Error::Io {
            message: format!("into_server(): cannot make a socket pair: {e}"),
        })?;
        let host_pid = std::process::id() as i32;
        let pid = match crate::runtime::process::fork_raw(&mut self.vm, "into_server") {
            Ok(pid) => pid,
            Err(e) => return Err(self.error_from(e)),
        };
        if pid == 0 {
            drop(host_end);
            // the server ends with the host, like a spawned child
            crate::runtime::process::set_death_signal(host_pid);
            listen_for_interrupts(&self.vm);
            // never return into the host's code in this process
            let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.serve(server_end);
                self.join_children();
                self.vm.flush();
            }))
            .map_or(101, |_| 0);
            // SAFETY: ending the server process without running the host's
            // destructors or atexit handlers (they belong to the host).
            unsafe { libc::_exit(status) }
        }
        drop(server_end);
        Ok(Server {
            stream: Mutex::new(host_end),
            pid,
        })
    }

    /// The server's loop: one request, one reply, until the host hangs up.
    fn serve(&mut self, mut stream: UnixStream) {
        while let Ok(Some(frame)) = crate::wire::read_frame(&mut stream) {
            let reply = match bincode::decode_from_slice::<Request, _>(&frame, config()) {
                Ok((req, _)) => self.answer(req),
                Err(e) => Reply::Error(ErrorData::from_error(&local_error(
                    "ProcessError",
                    format!("a corrupt request: {e}"),
                ))),
            };
            let Ok(bytes) = bincode::encode_to_vec(&reply, config()) else {
                return;
            };
            if crate::wire::write_frame(&mut stream, &bytes).is_err() {
                return;
            }
        }
    }

    fn answer(&mut self, req: Request) -> Reply {
        let result = match req {
            Request::Eval(text) => self.eval_value(&text),
            Request::RunFile(path) => self.run_file(path).map(|_| Value::Nil),
            Request::Call(name, args) => match crate::wire::decode(&mut self.vm, &args) {
                Ok(Value::List(l)) => {
                    let args = l.borrow().clone();
                    self.call::<Value>(&name, args)
                }
                Ok(_) => Err(local_error("ProcessError", "corrupt arguments".into())),
                Err(e) => Err(self.error_from(e)),
            },
        };
        let encoded = result
            .and_then(|v| crate::wire::encode(&mut self.vm, &v).map_err(|e| self.error_from(e)));
        match encoded {
            Ok(bytes) => Reply::Value(bytes),
            Err(e) => Reply::Error(ErrorData::from_error(&e)),
        }
    }
}
