//! The rustyline helper: completion (`complete.rs`) and colouring
//! (`highlight.rs`). No hinter and no validator: nothing runs per keystroke
//! over the history, and whether an entry is complete is decided by the REPL
//! loop with the parser when Enter is pressed.

use super::complete;
use super::highlight;
use super::lexer::State;
use crate::Interpreter;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub struct ReplHelper {
    interp: Rc<RefCell<Interpreter>>,
    colour: bool,
    /// Where the line being edited starts (inside a triple-quoted string opened
    /// on an earlier line of the entry, or not); set by the loop per line.
    pub start: Cell<State>,
    /// Whether to mark the bracket matching the cursor's (not on the final
    /// redraw of an accepted line).
    mark_bracket: Cell<bool>,
    files: FilenameCompleter,
}

impl ReplHelper {
    pub fn new(interp: Rc<RefCell<Interpreter>>, colour: bool) -> ReplHelper {
        ReplHelper {
            interp,
            colour,
            start: Cell::new(State::Code),
            mark_bracket: Cell::new(true),
            files: FilenameCompleter::new(),
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if let Some(rest) = line.strip_prefix(":load ") {
            let skip = line.len() - rest.len();
            if pos >= skip {
                let (start, c) = self.files.complete(rest, pos - skip, ctx)?;
                return Ok((start + skip, c));
            }
        }
        // the interpreter is never running while a line is edited; if it
        // were borrowed anyway, offer nothing rather than fail
        let Ok(interp) = self.interp.try_borrow() else {
            return Ok((pos, Vec::new()));
        };
        let (start, names) = complete::complete(&interp.vm, line, pos, self.start.get());
        let pairs = names
            .into_iter()
            .map(|n| Pair {
                display: n.clone(),
                replacement: n,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if !self.colour {
            return Cow::Borrowed(line);
        }
        let cursor = self.mark_bracket.get().then_some(pos);
        Cow::Owned(highlight::highlight(line, self.start.get(), cursor))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        // every edit may change colours (a word becoming a keyword, a quote
        // opening a string), so the line is redrawn; the final redraw of an
        // accepted line drops the bracket mark
        let forced = kind == CmdKind::ForcedRefresh;
        self.mark_bracket.set(!forced);
        self.colour && !forced
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}
