//! Runtime errors as values (section 8): every error has a kind and a message, and
//! collects a traceback as it unwinds through script frames.

use crate::diagnostic::Source;
use std::cell::RefCell;
use std::rc::Rc;

/// One script frame an error passed through.
#[derive(Clone)]
pub struct TraceEntry {
    pub source: Rc<Source>,
    /// Byte offset of the instruction that was running.
    pub offset: u32,
    /// The function's name (`<script>` for the top level).
    pub func: Rc<str>,
    /// The frame's serial number: a frame is recorded once even if the error is
    /// caught and rethrown in it.
    pub serial: u32,
}

pub struct ErrorValue {
    pub kind: Rc<str>,
    pub message: String,
    /// Innermost frame first; filled in by the VM while unwinding.
    pub trace: RefCell<Vec<TraceEntry>>,
    /// `catch` does not see it (exit(), host limits); `finally` blocks still run.
    pub catchable: bool,
    /// Set by `exit(n)`: the process exit status.
    pub exit_code: Option<i32>,
}

/// What a native function or an instruction can fail with.
pub enum Exc {
    Error(Rc<ErrorValue>),
}

pub type VmResult<T> = Result<T, Exc>;

impl Exc {
    pub fn new(kind: &str, message: impl Into<String>) -> Exc {
        Exc::Error(Rc::new(ErrorValue::new(kind, message)))
    }
    pub fn type_error(message: impl Into<String>) -> Exc {
        Exc::new("TypeError", message)
    }
    pub fn value_error(message: impl Into<String>) -> Exc {
        Exc::new("ValueError", message)
    }
    /// An error that `catch` cannot intercept.
    pub fn uncatchable(kind: &str, message: impl Into<String>) -> Exc {
        let mut e = ErrorValue::new(kind, message);
        e.catchable = false;
        Exc::Error(Rc::new(e))
    }
    pub fn exit(code: i32) -> Exc {
        let mut e = ErrorValue::new("SystemExit", format!("exit({code})"));
        e.catchable = false;
        e.exit_code = Some(code);
        Exc::Error(Rc::new(e))
    }
    pub fn error(&self) -> &Rc<ErrorValue> {
        match self {
            Exc::Error(e) => e,
        }
    }
    pub fn kind(&self) -> &str {
        &self.error().kind
    }
}

impl ErrorValue {
    pub fn new(kind: &str, message: impl Into<String>) -> ErrorValue {
        ErrorValue {
            kind: Rc::from(kind),
            message: message.into(),
            trace: RefCell::new(Vec::new()),
            catchable: true,
            exit_code: None,
        }
    }
}

impl std::fmt::Debug for Exc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.error();
        write!(f, "{}: {}", e.kind, e.message)
    }
}
