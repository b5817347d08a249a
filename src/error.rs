//! The one error type at the library's boundary. Its `Display` is exactly the
//! diagnostic the `proc` command prints.

use crate::diagnostic::{Diagnostic, Frame};
use crate::value::ErrorValue;

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
    Exit { code: i32 },
    /// Reading a script failed.
    #[error("error: IOError: {message}")]
    Io { message: String },
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
pub fn runtime_diagnostic(e: &ErrorValue) -> Diagnostic {
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
