//! The one error type at the library's boundary. Its `Display` is exactly the
//! diagnostic the `proc` command prints.

use crate::diagnostic::{Diagnostic, Frame};
use crate::value::ErrorValue;

/// Every failure the library reports: a parse, compile or runtime error of a
/// script (with its location and traceback), a script's `exit(code)`, or a
/// script file that cannot be read.
///
/// `Display` is exactly what the `proc` command prints for the error; the
/// accessors give the same data as values.
///
/// ```
/// let mut interp = proc_lang::Interpreter::new();
/// let e = interp.run_source("calc.proc", "fn f(x) {\n  return x / 0\n}\nf(1)").unwrap_err();
/// assert_eq!(e.kind(), "ZeroDivisionError");
/// assert_eq!(e.message(), "division by zero");
/// assert_eq!((e.line(), e.column()), (Some(2), Some(12)));
/// let frames: Vec<_> = e.traceback().iter().map(|f| (f.line, f.function.as_str())).collect();
/// assert_eq!(frames, [(4, "<script>"), (2, "f")]);
/// assert!(e.to_string().starts_with("error: ZeroDivisionError: division by zero\n"));
///
/// let e = interp.eval::<()>("let = 3").unwrap_err();
/// assert_eq!((e.kind(), e.line(), e.column()), ("ParseError", Some(1), Some(5)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid proc.
    #[error("{0}")]
    Parse(Box<Diagnostic>),
    /// It parsed, but cannot be compiled (e.g. assignment to an undeclared name).
    #[error("{0}")]
    Compile(Box<Diagnostic>),
    /// An uncaught error while running.
    #[error("{0}")]
    Runtime(Box<Diagnostic>),
    /// The script called `exit(code)`.
    #[error("exit({code})")]
    Exit {
        /// The status passed to `exit`.
        code: i32,
    },
    /// Reading a script failed.
    #[error("error: IOError: {message}")]
    Io {
        /// What could not be read, and why.
        message: String,
    },
}

impl Error {
    fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Parse(d) | Error::Compile(d) | Error::Runtime(d) => Some(d),
            _ => None,
        }
    }
    /// The error's kind: `"ParseError"`, `"NameError"`, `"ZeroDivisionError"`...
    pub fn kind(&self) -> &str {
        match self {
            Error::Exit { .. } => "SystemExit",
            Error::Io { .. } => "IOError",
            other => other.diagnostic().map_or("Error", |d| &d.kind),
        }
    }
    /// The message, without kind or location.
    pub fn message(&self) -> &str {
        match self {
            Error::Exit { .. } => "exit",
            Error::Io { message } => message,
            other => other.diagnostic().map_or("", |d| &d.message),
        }
    }
    /// 1-based line of the error, when it has a location.
    pub fn line(&self) -> Option<usize> {
        self.diagnostic().and_then(|d| d.line)
    }
    /// 1-based column (in characters) of the error, when it has a location.
    pub fn column(&self) -> Option<usize> {
        self.diagnostic().and_then(|d| d.column)
    }
    /// The script frames the error passed through, most recent call last.
    pub fn traceback(&self) -> &[Frame] {
        self.diagnostic().map_or(&[], |d| &d.traceback)
    }
    /// The process exit status the `proc` command uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exit { code } => *code,
            // as a shell reports a process ended by Ctrl-C
            _ if self.kind() == "KeyboardInterrupt" => 130,
            _ => 1,
        }
    }
}

/// The diagnostic of a runtime error: located at its innermost frame.
pub(crate) fn runtime_diagnostic(e: &ErrorValue) -> Diagnostic {
    let trace = e.trace.borrow();
    let mut d = match trace.first() {
        Some(t) => Diagnostic::at(&e.kind, e.message.clone(), &t.source, t.offset as usize),
        None => Diagnostic {
            kind: e.kind.to_string(),
            message: e.message.clone(),
            file: String::new(),
            line: None,
            column: None,
            source_line: None,
            traceback: Vec::new(),
        },
    };
    d.traceback = trace
        .iter()
        .rev()
        .map(|t| Frame {
            file: t.source.name.clone(),
            line: t.source.line_col(t.offset as usize).0,
            function: t.func.to_string(),
        })
        .collect();
    d
}
