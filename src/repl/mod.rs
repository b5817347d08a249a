//! The REPL (section 16): a loop of `Interpreter::eval_value` calls on
//! rustyline. An entry is read line by line (`>>> `, then `... `) until the
//! parser says it is complete (`syntax::is_complete`); expression values are
//! echoed in repr form; an error prints the CLI's diagnostic and keeps every
//! definition. Lines starting with `:` are meta-commands (`commands.rs`).
//!
//! It reads the interpreter's VM directly (completion, `:vars`, `:procs`):
//! the REPL is part of the crate, not a host using only the public API.
//!
//! Owns the terminal only between entries: while code runs the terminal is in
//! its normal mode, so Ctrl-C is a SIGINT that the `proc` command's handler
//! turns into `KeyboardInterrupt`. Starts no threads (fork copies only the
//! calling thread).
//!
//! - `lexer.rs`: the colouring scanner (per keystroke, current entry only)
//! - `highlight.rs`: colours and the matching-bracket mark
//! - `complete.rs`: keywords, globals, members after `.`, meta-commands
//! - `helper.rs`: the rustyline `Helper` joining them
//! - `commands.rs`: `:help :quit :load :vars :type :time :procs`

mod commands;
mod complete;
mod helper;
mod highlight;
mod lexer;

use crate::{Error, Interpreter, Value};
use helper::ReplHelper;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{CompletionType, Config, Editor};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// How many entries the history file keeps.
const HISTORY_SIZE: usize = 10_000;

/// Where the history is kept: `$PROC_HISTORY` if set (empty: nowhere), else
/// `$XDG_DATA_HOME/proc/history`, else `~/.local/share/proc/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROC_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    let data = std::env::var_os("XDG_DATA_HOME")
        .and_then(nonempty)
        .or_else(|| {
            Some(
                std::env::var_os("HOME")
                    .and_then(nonempty)?
                    .join(".local/share"),
            )
        })?;
    Some(data.join("proc").join("history"))
}

/// What reading one entry gave.
enum Entry {
    /// A complete entry (code or a meta-command), possibly several lines.
    Text(String),
    /// Ctrl-C: the entry was dropped.
    Cancelled,
    /// Ctrl-D, or the terminal went away.
    End,
}

/// What the loop does after an entry.
pub(crate) enum Flow {
    Continue,
    /// Leave the REPL with this exit status.
    Exit(i32),
}

pub(crate) struct Repl {
    pub(crate) interp: Rc<RefCell<Interpreter>>,
    /// The REPL's own pid: code that calls `fork()` returns in the child too,
    /// which must then end instead of reading the terminal.
    pid: u32,
}

/// Runs the REPL on the terminal until Ctrl-D, `:quit` or `exit(n)`; returns
/// the exit status. The children the session started are joined (daemons
/// terminated) before it returns, as at the end of a script.
pub fn run(interp: Interpreter) -> i32 {
    let interp = Rc::new(RefCell::new(interp));
    let mut editor = match new_editor(&interp) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: IOError: cannot start the REPL: {e}");
            return 1;
        }
    };
    let history = history_path();
    if let Some(path) = &history {
        // a missing file is a first session
        let _ = editor.load_history(path);
    }
    println!(
        "proc {} (REPL: :help for commands, Ctrl-D to exit)",
        env!("CARGO_PKG_VERSION")
    );
    let mut repl = Repl {
        interp: interp.clone(),
        pid: std::process::id(),
    };
    let code = loop {
        let text = match read_entry(&mut editor) {
            Entry::Text(t) => t,
            Entry::Cancelled => continue,
            Entry::End => break 0,
        };
        if text.trim().is_empty() {
            continue;
        }
        remember(&mut editor, history.as_ref(), &text);
        match repl.entry(&text) {
            Flow::Continue => {}
            Flow::Exit(code) => break code,
        }
    };
    interp.borrow_mut().join_children();
    code
}

fn new_editor(
    interp: &Rc<RefCell<Interpreter>>,
) -> rustyline::Result<Editor<ReplHelper, FileHistory>> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .max_history_size(HISTORY_SIZE)?
        .completion_type(CompletionType::List)
        .build();
    let mut editor = Editor::with_config(config)?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    editor.set_helper(Some(ReplHelper::new(interp.clone(), colour)));
    Ok(editor)
}

/// Adds an entry to the history and appends it to the file at once, so that
/// a session that is killed loses nothing.
fn remember(editor: &mut Editor<ReplHelper, FileHistory>, path: Option<&PathBuf>, text: &str) {
    let text = text.trim_end_matches('\n');
    if !matches!(editor.history_mut().add(text), Ok(true)) {
        return;
    }
    if let Some(path) = path {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // history is a convenience: a read-only home must not stop the REPL
        let _ = editor.append_history(path);
    }
}

/// Reads lines until they make a complete entry. A meta-command is one line.
fn read_entry(editor: &mut Editor<ReplHelper, FileHistory>) -> Entry {
    let mut text = String::new();
    loop {
        let prompt = if text.is_empty() { ">>> " } else { "... " };
        if let Some(h) = editor.helper_mut() {
            h.start.set(lexer::end_state(&text));
        }
        match editor.readline(prompt) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(ReadlineError::Interrupted) => return Entry::Cancelled,
            Err(ReadlineError::Eof) => return Entry::End,
            Err(ReadlineError::Signal(_)) => return Entry::Cancelled,
            Err(e) => {
                eprintln!("error: IOError: cannot read the terminal: {e}");
                return Entry::End;
            }
        }
        if entry_is_done(&text) {
            return Entry::Text(text);
        }
    }
}

/// True when the lines read so far make an entry to run: a blank line, a
/// meta-command, or code the parser finds complete (it parses, or fails before
/// its end: an error to show now rather than a reason to read more).
pub fn entry_is_done(text: &str) -> bool {
    let first = text.trim_start();
    first.is_empty() || first.starts_with(':') || crate::syntax::is_complete(text)
}

impl Repl {
    /// Runs one entry: a meta-command or code.
    pub(crate) fn entry(&mut self, text: &str) -> Flow {
        let trimmed = text.trim();
        if trimmed.starts_with(':') {
            return commands::run(self, trimmed);
        }
        match self.eval(text) {
            Ok(v) => {
                self.echo(&v);
                self.after_fork_check(0)
            }
            Err(e) => self.report(e),
        }
    }

    /// Evaluates code with a fresh interrupt flag (a Ctrl-C pressed between
    /// entries must not interrupt the next one).
    pub(crate) fn eval(&mut self, text: &str) -> Result<Value, Error> {
        let mut interp = self.interp.borrow_mut();
        interp.interrupt_flag().store(false, Ordering::SeqCst);
        interp.eval_value(text)
    }

    /// Prints a value in repr form, nothing for nil.
    pub(crate) fn echo(&mut self, v: &Value) {
        if matches!(v, Value::Nil) {
            return;
        }
        let text = self.repr(v);
        let mut interp = self.interp.borrow_mut();
        interp.vm.write_out(&text);
        interp.vm.write_out("\n");
        interp.flush();
    }

    /// `repr(v)`; a failing `str` method of an instance shows as its error.
    pub(crate) fn repr(&mut self, v: &Value) -> String {
        let mut interp = self.interp.borrow_mut();
        match crate::value::format::to_repr(&mut interp.vm, v) {
            Ok(s) => s,
            Err(e) => format!("<repr failed: {}: {}>", e.error().kind, e.error().message),
        }
    }

    /// Prints an error's diagnostic; `exit(n)` leaves the REPL.
    pub(crate) fn report(&mut self, mut e: Error) -> Flow {
        if let Error::Exit { code } = e {
            return Flow::Exit(code);
        }
        self.interp.borrow_mut().flush();
        if let Error::Runtime(d) = &mut e {
            // one frame is the entry itself, which the location already shows
            if d.traceback.len() == 1 {
                d.traceback.clear();
            }
        }
        if e.kind() == "KeyboardInterrupt" {
            // after the terminal's `^C`
            eprintln!();
        }
        let text = e.to_string();
        // diagnostics end with a newline; an I/O error's one line does not
        if text.ends_with('\n') {
            eprint!("{text}");
        } else {
            eprintln!("{text}");
        }
        let _ = std::io::stderr().flush();
        self.after_fork_check(e.exit_code())
    }

    /// In a child made by `fork()` at the prompt, the entry's end is the
    /// child's end: it finishes as a script would instead of reading the
    /// terminal alongside its parent.
    fn after_fork_check(&mut self, code: i32) -> Flow {
        if std::process::id() == self.pid {
            return Flow::Continue;
        }
        self.interp.borrow_mut().join_children();
        std::process::exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::entry_is_done;

    #[test]
    fn entries_continue_exactly_while_incomplete() {
        let more = [
            "fn f(a) {\n",
            "fn f(a) {\n    return a +\n",
            "let xs = [1,\n",
            "print(1,\n  2\n",
            "let m = {\"a\": 1,\n",
            "let s = \"\"\"one\n",
            "let s = f\"\"\"a {x}\n",
            "let x = 1 +\n",
            "let x = not\n",
            "class A extends\n",
            "try {\n} \n",
            "if x {\n    while true {\n",
        ];
        for text in more {
            assert!(!entry_is_done(text), "{text:?} should read another line");
        }
        let done = [
            "\n",
            "   \n",
            "1 + 2\n",
            "fn f(a) {\n    return a\n}\n",
            "let s = \"\"\"one\ntwo\"\"\"\n",
            "# a comment\n",
            ":load x.proc\n",
            "  :vars\n",
            // errors before the end are shown at once
            "let x = )\n",
            "let 1 = 2\n",
            "\"abc\n",
            "fn f() { return 1 } }\n",
        ];
        for text in done {
            assert!(entry_is_done(text), "{text:?} should run");
        }
    }
}
