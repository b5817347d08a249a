//! Source text → AST. pest does the recognising (grammar/proc.pest); this module
//! turns its pairs into `ast` nodes, decodes literals, and converts pest's errors
//! into our own `SyntaxError`. It is the only place that sees pest types.
//!
//! Never panics on any input: nesting is bounded (`MAX_DEPTH`) so neither pest's
//! recursion nor ours can exhaust the stack, and every literal is checked.

use super::ast::*;
use pest::Parser as _;
use pest::error::InputLocation;
use pest::iterators::{Pair, Pairs};
use std::rc::Rc;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/proc.pest"]
struct ProcParser;

/// How deeply brackets and blocks may nest. Checked before pest runs (pest's
/// recursion is what limits it): CPython allows 200 nested parentheses.
pub const MAX_DEPTH: usize = 200;

/// A parse or compile error at a byte offset of the source.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// `"ParseError"`, or the kind of a compile-time error (`"NameError"`, `"OverflowError"`...).
    pub kind: &'static str,
    pub message: String,
    pub offset: usize,
    /// True when the text ended before the construct did (the REPL reads more lines).
    pub incomplete: bool,
}

impl SyntaxError {
    pub fn new(kind: &'static str, message: impl Into<String>, offset: usize) -> SyntaxError {
        SyntaxError {
            kind,
            message: message.into(),
            offset,
            incomplete: false,
        }
    }
    fn parse(message: impl Into<String>, offset: usize) -> SyntaxError {
        SyntaxError::new("ParseError", message, offset)
    }
}

type R<T> = Result<T, SyntaxError>;

/// Stack reserved for parsing, whatever the calling thread has (a host may call
/// `eval` from a thread with a small stack). `MAX_DEPTH` levels need far less.
const PARSE_STACK: usize = 32 * 1024 * 1024;

/// Parses a whole program.
pub fn parse_program(src: &str) -> R<Block> {
    prescan(src)?;
    stacker::maybe_grow(PARSE_STACK / 2, PARSE_STACK, || parse_checked(src))
}

fn parse_checked(src: &str) -> R<Block> {
    pest::set_error_detail(true);
    let mut pairs = ProcParser::parse(Rule::program, src).map_err(|e| convert_error(src, e))?;
    let program = pairs
        .next()
        .expect("pest returns the program pair on success");
    let body = program
        .into_inner()
        .next()
        .expect("program contains its body");
    let mut b = Builder { depth: 0 };
    b.stmts(body.into_inner())
}

/// True when `src` cannot be the start of a longer valid program, i.e. it parses,
/// or it fails somewhere before its end. The REPL asks for another line otherwise.
pub fn is_complete(src: &str) -> bool {
    match parse_program(src) {
        Ok(_) => true,
        // an error at the very end (`try { }` before its `catch` line) may be
        // resolved by the next line as well
        Err(e) => !(e.incomplete || e.offset >= src.trim_end().len()),
    }
}

// ---------------------------------------------------------------------------
// Before pest: reject what would make it misbehave.

/// Checks for NUL characters (the grammar's block marker; CPython also rejects
/// them) and for nesting deeper than `MAX_DEPTH`, with string- and comment-aware
/// bracket counting. Unterminated strings are reported here at their opening quote.
fn prescan(src: &str) -> R<()> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    // Positions of unclosed f-string holes: a `}` at that bracket depth resumes the string.
    let mut fstring_holes: Vec<(usize, u8, bool)> = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            0 => return Err(SyntaxError::parse("source contains a NUL character", i)),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let is_f =
                    i > 0 && matches!(bytes[i - 1], b'f' | b'F') && !ident_before(bytes, i - 1);
                i = skip_string(src, i, is_f, &mut fstring_holes, depth)?;
                if let Some(&(d, _, _)) = fstring_holes.last() {
                    if d == depth + 1 && i < bytes.len() && bytes[i] == b'{' {
                        // skip_string stopped at a hole: the hole is one bracket level
                        depth += 1;
                        i += 1;
                        if depth > MAX_DEPTH {
                            return Err(too_deep(i - 1));
                        }
                    }
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(i));
                }
            }
            b')' | b']' | b'}' => {
                if c == b'}' {
                    if let Some(&(d, quote, triple)) = fstring_holes.last() {
                        if d == depth {
                            // end of an f-string hole: continue scanning the string
                            fstring_holes.pop();
                            depth = depth.saturating_sub(1);
                            i = continue_fstring(
                                src,
                                i + 1,
                                quote,
                                triple,
                                &mut fstring_holes,
                                depth,
                            )?;
                            if let Some(&(d2, _, _)) = fstring_holes.last() {
                                if d2 == depth + 1 && i < bytes.len() && bytes[i] == b'{' {
                                    depth += 1;
                                    i += 1;
                                    if depth > MAX_DEPTH {
                                        return Err(too_deep(i - 1));
                                    }
                                }
                            }
                            continue;
                        }
                    }
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn too_deep(offset: usize) -> SyntaxError {
    SyntaxError::parse(
        format!("too many nested brackets or blocks (the limit is {MAX_DEPTH})"),
        offset,
    )
}

fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] >= 0x80)
}

/// Skips the string starting with the quote at `start`; returns the offset after
/// it, or, for an f-string that reaches a `{` hole, the offset of that `{` with the
/// hole recorded in `holes`.
fn skip_string(
    src: &str,
    start: usize,
    is_f: bool,
    holes: &mut Vec<(usize, u8, bool)>,
    depth: usize,
) -> R<usize> {
    let bytes = src.as_bytes();
    let quote = bytes[start];
    let triple = bytes.len() >= start + 3 && bytes[start + 1] == quote && bytes[start + 2] == quote;
    let body = if triple { start + 3 } else { start + 1 };
    if is_f {
        return scan_fstring_body(src, start, body, quote, triple, holes, depth);
    }
    scan_body(src, start, body, quote, triple, false)
}

fn continue_fstring(
    src: &str,
    from: usize,
    quote: u8,
    triple: bool,
    holes: &mut Vec<(usize, u8, bool)>,
    depth: usize,
) -> R<usize> {
    scan_fstring_body(src, from, from, quote, triple, holes, depth)
}

fn scan_fstring_body(
    src: &str,
    start: usize,
    body: usize,
    quote: u8,
    triple: bool,
    holes: &mut Vec<(usize, u8, bool)>,
    depth: usize,
) -> R<usize> {
    let bytes = src.as_bytes();
    let mut i = body;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                holes.push((depth + 1, quote, triple));
                return Ok(i);
            }
            b'\n' if !triple => break,
            c if c == quote => {
                if !triple {
                    return Ok(i + 1);
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return Ok(i + 3);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Err(unterminated(src, start, triple))
}

fn scan_body(src: &str, start: usize, body: usize, quote: u8, triple: bool, _f: bool) -> R<usize> {
    let bytes = src.as_bytes();
    let mut i = body;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => break,
            c if c == quote => {
                if !triple {
                    return Ok(i + 1);
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return Ok(i + 3);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Err(unterminated(src, start, triple))
}

fn unterminated(src: &str, start: usize, triple: bool) -> SyntaxError {
    let mut e = SyntaxError::parse("unterminated string", start);
    // A triple-quoted string may legitimately continue on the next line.
    e.incomplete = triple || src[start..].ends_with('\\');
    e
}

// ---------------------------------------------------------------------------
// pest errors → SyntaxError, in exactly one place.

fn convert_error(src: &str, e: pest::error::Error<Rule>) -> SyntaxError {
    let offset = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = e.parse_attempts() {
        for t in attempts.expected_tokens() {
            // ParsingToken is not nameable outside pest; its Display gives the literal,
            // `a..z` for a character range and BUILTIN_RULE for XID_START and the like.
            let shown = t.to_string();
            let text = if shown == "BUILTIN_RULE"
                || (shown.chars().count() == 4 && shown.contains(".."))
            {
                "<expr>".to_string()
            } else {
                shown
            };
            expected.push(text);
        }
    }
    let found = describe_found(src, offset);
    let at_end = src[offset.min(src.len())..].trim().is_empty();
    let mut err = SyntaxError::parse(
        format!("expected {}, found {}", describe_expected(&expected), found),
        offset,
    );
    err.incomplete = at_end;
    err
}

/// Turns pest's expected tokens into the short list a person wants to read:
/// closing brackets and separators first; otherwise "an expression".
fn describe_expected(tokens: &[String]) -> String {
    const STRUCTURAL: &[&str] = &[
        ")", "]", "}", ",", ":", "=", "{", "=>", "in", "as", "else", "\n", ";",
    ];
    let mut structural: Vec<&str> = Vec::new();
    let mut wants_expr = false;
    for t in tokens {
        let t = t.as_str();
        if STRUCTURAL.contains(&t) {
            if !structural.contains(&t) {
                structural.push(t);
            }
        } else if t == "<expr>"
            || t == "("
            || t == "["
            || t == "\""
            || t == "-"
            || t.chars().all(|c| c.is_alphabetic())
        {
            wants_expr = true;
        }
    }
    structural.sort_by_key(|t| STRUCTURAL.iter().position(|s| s == t));
    let newline_ok = structural.contains(&"\n") || structural.contains(&";");
    structural.retain(|t| *t != "\n" && *t != ";");
    let mut items: Vec<String> = structural.iter().map(|t| format!("`{t}`")).collect();
    if newline_ok {
        items.push("end of statement".into());
    }
    if items.is_empty()
        || (wants_expr && items.len() < 2 && !newline_ok && items.iter().all(|i| i != "`)`"))
    {
        if wants_expr && items.is_empty() {
            return "an expression".into();
        }
        if items.is_empty() {
            return "a statement".into();
        }
    }
    match items.len() {
        1 => items.pop().unwrap_or_default(),
        _ => {
            let last = items.pop().unwrap_or_default();
            format!("{} or {}", items.join(", "), last)
        }
    }
}

fn describe_found(src: &str, offset: usize) -> String {
    let rest = &src[offset.min(src.len())..];
    let mut chars = rest.chars();
    match chars.next() {
        None => "end of input".into(),
        Some('\n') => "end of line".into(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .take(24)
                .collect();
            format!("`{word}`")
        }
        Some(c) => format!("`{c}`"),
    }
}

// ---------------------------------------------------------------------------
// pairs → AST

struct Builder {
    depth: usize,
}

fn span_of(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident {
        name: Rc::from(p.as_str()),
        span: span_of(&p),
    }
}

fn is_bracket(r: Rule) -> bool {
    matches!(
        r,
        Rule::open_paren
            | Rule::close_paren
            | Rule::open_bracket
            | Rule::close_bracket
            | Rule::open_map
            | Rule::close_map
            | Rule::open_block
            | Rule::close_block
    )
}

/// The children of a pair without bracket tokens.
fn inner<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> + use<'i> {
    p.into_inner().filter(|c| !is_bracket(c.as_rule()))
}

fn expr_of(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

impl Builder {
    fn enter(&mut self, span: Span) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH * 2 {
            return Err(SyntaxError::parse(
                "expression is too deeply nested",
                span.start as usize,
            ));
        }
        Ok(())
    }

    fn stmts(&mut self, pairs: Pairs<Rule>) -> R<Block> {
        let mut out = Vec::new();
        for p in pairs {
            match p.as_rule() {
                Rule::EOI => {}
                r if is_bracket(r) => {}
                _ => out.push(self.stmt(p)?),
            }
        }
        Ok(out)
    }

    fn block(&mut self, p: Pair<Rule>) -> R<Block> {
        debug_assert_eq!(p.as_rule(), Rule::block);
        self.enter(span_of(&p))?;
        let b = self.stmts(p.into_inner());
        self.depth -= 1;
        b
    }

    fn stmt(&mut self, p: Pair<Rule>) -> R<Stmt> {
        let span = span_of(&p);
        let rule = p.as_rule();
        let mut it = inner(p);
        let kind = match rule {
            Rule::let_stmt => {
                it.next(); // let
                let target = self.pattern(it.next().expect("let has a pattern"))?;
                let value = self.expr(it.next().expect("let has a value"))?;
                StmtKind::Let { target, value }
            }
            Rule::expr_stmt => {
                let first = self.expr(it.next().expect("expression statement"))?;
                let Some(op_pair) = it.next() else {
                    return Ok(Stmt {
                        kind: StmtKind::Expr(first),
                        span,
                    });
                };
                let value = self.expr(it.next().expect("assignment has a value"))?;
                let target = to_target(first)?;
                let op = match op_pair.as_str() {
                    "=" => None,
                    s => Some(binop_of(&s[..s.len() - 1])),
                };
                if op.is_some() && matches!(target, Target::List(..)) {
                    return Err(SyntaxError::parse(
                        "cannot use an augmented assignment with a list of targets",
                        span.start as usize,
                    ));
                }
                StmtKind::Assign { target, op, value }
            }
            Rule::return_stmt => {
                it.next();
                StmtKind::Return(it.next().map(|e| self.expr(e)).transpose()?)
            }
            Rule::break_stmt => StmtKind::Break,
            Rule::continue_stmt => StmtKind::Continue,
            Rule::throw_stmt => {
                it.next();
                StmtKind::Throw(self.expr(it.next().expect("throw has a value"))?)
            }
            Rule::import_stmt => {
                it.next();
                let s = it.next().expect("import has a path");
                let off = s.as_span().start();
                let path = self.string_literal(s)?;
                let _ = off;
                it.next(); // as
                let alias = ident(it.next().expect("import has an alias"));
                StmtKind::Import {
                    path: path.to_string(),
                    alias,
                }
            }
            Rule::if_stmt => {
                it.next(); // if
                let cond = self.expr(it.next().expect("if condition"))?;
                let body = self.block(it.next().expect("if body"))?;
                let mut branches = vec![(cond, body)];
                let mut otherwise = None;
                for part in it {
                    let is_elif = part.as_rule() == Rule::elif_part;
                    let mut pi = part.into_inner();
                    pi.next(); // keyword
                    if is_elif {
                        let c = self.expr(pi.next().expect("elif condition"))?;
                        let b = self.block(pi.next().expect("elif body"))?;
                        branches.push((c, b));
                    } else {
                        otherwise = Some(self.block(pi.next().expect("else body"))?);
                    }
                }
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            Rule::while_stmt => {
                it.next();
                let cond = self.expr(it.next().expect("while condition"))?;
                let body = self.block(it.next().expect("while body"))?;
                StmtKind::While { cond, body }
            }
            Rule::for_stmt => {
                it.next();
                let target = self.pattern(it.next().expect("for target"))?;
                it.next(); // in
                let iter = self.expr(it.next().expect("for iterable"))?;
                let body = self.block(it.next().expect("for body"))?;
                StmtKind::For { target, iter, body }
            }
            Rule::fn_decl => StmtKind::Fn(self.fn_decl(span, it)?),
            Rule::class_decl => {
                it.next(); // class
                let name = ident(it.next().expect("class name"));
                let mut parent = None;
                let mut methods = Vec::new();
                for part in it {
                    match part.as_rule() {
                        Rule::kw_extends => {}
                        Rule::postfix => parent = Some(self.postfix(part)?),
                        Rule::class_body => {
                            for m in inner(part) {
                                let ms = span_of(&m);
                                methods.push(self.fn_decl(ms, inner(m))?);
                            }
                        }
                        _ => {}
                    }
                }
                StmtKind::Class(Rc::new(ClassDef {
                    name,
                    parent,
                    methods,
                    span,
                }))
            }
            Rule::try_stmt => {
                it.next();
                let body = self.block(it.next().expect("try body"))?;
                let mut catch = None;
                let mut finally = None;
                for part in it {
                    match part.as_rule() {
                        Rule::catch_part => {
                            let mut name = None;
                            let mut blk = None;
                            for c in part.into_inner() {
                                match c.as_rule() {
                                    Rule::ident => name = Some(ident(c)),
                                    Rule::block => blk = Some(self.block(c)?),
                                    _ => {}
                                }
                            }
                            catch = Some((name, blk.expect("catch has a block")));
                        }
                        Rule::finally_part => {
                            let b = part
                                .into_inner()
                                .find(|c| c.as_rule() == Rule::block)
                                .expect("finally block");
                            finally = Some(self.block(b)?);
                        }
                        _ => {}
                    }
                }
                if catch.is_none() && finally.is_none() {
                    return Err(SyntaxError::parse(
                        "expected `catch` or `finally` after a `try` block",
                        span.end as usize,
                    ));
                }
                StmtKind::Try {
                    body,
                    catch,
                    finally,
                }
            }
            Rule::with_stmt => {
                it.next();
                let subject = self.expr(it.next().expect("with subject"))?;
                let mut name = None;
                let mut body = None;
                for part in it {
                    match part.as_rule() {
                        Rule::ident => name = Some(ident(part)),
                        Rule::block => body = Some(self.block(part)?),
                        _ => {}
                    }
                }
                StmtKind::With {
                    subject,
                    name,
                    body: body.expect("with body"),
                }
            }
            other => unreachable!("unexpected statement rule {other:?}"),
        };
        Ok(Stmt { kind, span })
    }

    fn fn_decl<'i>(
        &mut self,
        span: Span,
        mut it: impl Iterator<Item = Pair<'i, Rule>>,
    ) -> R<Rc<FnDef>> {
        it.next(); // fn
        let name = ident(it.next().expect("fn name"));
        let params = self.params(it.next().expect("fn params"))?;
        let body = self.block(it.next().expect("fn body"))?;
        Ok(Rc::new(FnDef {
            is_generator: contains_yield(&body),
            name,
            params,
            body,
            span,
        }))
    }

    fn params(&mut self, p: Pair<Rule>) -> R<Vec<Param>> {
        let mut out: Vec<Param> = Vec::new();
        for param in inner(p) {
            let mut pi = param.into_inner();
            let name = ident(pi.next().expect("param name"));
            let default = pi.next().map(|d| self.expr(d)).transpose()?;
            if out.iter().any(|q| q.name.name == name.name) {
                return Err(SyntaxError::parse(
                    format!("duplicate parameter `{}`", name.name),
                    name.span.start as usize,
                ));
            }
            if default.is_none() && out.iter().any(|q| q.default.is_some()) {
                return Err(SyntaxError::parse(
                    format!(
                        "parameter `{}` without a default follows one with a default",
                        name.name
                    ),
                    name.span.start as usize,
                ));
            }
            out.push(Param { name, default });
        }
        Ok(out)
    }

    fn pattern(&mut self, p: Pair<Rule>) -> R<Pattern> {
        let child = p.into_inner().next().expect("pattern has a child");
        match child.as_rule() {
            Rule::ident => Ok(Pattern::Name(ident(child))),
            Rule::list_pattern => {
                let span = span_of(&child);
                let items = inner(child)
                    .map(|c| self.pattern(c))
                    .collect::<R<Vec<_>>>()?;
                Ok(Pattern::List(items, span))
            }
            other => unreachable!("unexpected pattern rule {other:?}"),
        }
    }

    // ---- expressions ----

    fn expr(&mut self, p: Pair<Rule>) -> R<Expr> {
        if p.as_rule() != Rule::expr {
            return self.expr_inner(p);
        }
        self.enter(span_of(&p))?;
        let e = self.expr_inner(p);
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self, p: Pair<Rule>) -> R<Expr> {
        let span = span_of(&p);
        match p.as_rule() {
            Rule::expr | Rule::arg => {
                let child = p.into_inner().next().expect("expression has a child");
                self.expr(child)
            }
            Rule::yield_expr => {
                let mut it = p.into_inner();
                it.next(); // yield
                match it.next() {
                    None => Ok(expr_of(ExprKind::Yield(None), span)),
                    Some(k) if k.as_rule() == Rule::kw_from => {
                        let e = self.expr(it.next().expect("yield from operand"))?;
                        Ok(expr_of(ExprKind::YieldFrom(Box::new(e)), span))
                    }
                    Some(e) => Ok(expr_of(
                        ExprKind::Yield(Some(Box::new(self.expr(e)?))),
                        span,
                    )),
                }
            }
            Rule::ternary => {
                let mut it = p.into_inner();
                let value = self.expr(it.next().expect("ternary value"))?;
                if it.next().is_none() {
                    return Ok(value);
                }
                let cond = self.expr(it.next().expect("ternary condition"))?;
                it.next(); // else
                let otherwise = self.expr(it.next().expect("ternary else"))?;
                Ok(expr_of(
                    ExprKind::Ternary {
                        cond: Box::new(cond),
                        then: Box::new(value),
                        otherwise: Box::new(otherwise),
                    },
                    span,
                ))
            }
            Rule::or_expr | Rule::and_expr => {
                let is_or = p.as_rule() == Rule::or_expr;
                let mut it = p
                    .into_inner()
                    .filter(|c| !matches!(c.as_rule(), Rule::kw_or | Rule::kw_and));
                let mut acc = self.expr(it.next().expect("operand"))?;
                for rhs in it {
                    let r = self.expr(rhs)?;
                    let s = Span {
                        start: acc.span.start,
                        end: r.span.end,
                    };
                    acc = expr_of(
                        if is_or {
                            ExprKind::Or(Box::new(acc), Box::new(r))
                        } else {
                            ExprKind::And(Box::new(acc), Box::new(r))
                        },
                        s,
                    );
                }
                Ok(acc)
            }
            Rule::not_expr => {
                let children: Vec<Pair<Rule>> = p.into_inner().collect();
                let (nots, rest) = children.split_at(children.len() - 1);
                let mut e = self.expr(rest[0].clone())?;
                for n in nots.iter().rev() {
                    let s = Span {
                        start: span_of(n).start,
                        end: e.span.end,
                    };
                    e = expr_of(ExprKind::Not(Box::new(e)), s);
                }
                Ok(e)
            }
            Rule::comparison => {
                let mut it = p.into_inner();
                let first = self.expr(it.next().expect("comparison operand"))?;
                let mut rest = Vec::new();
                while let Some(op) = it.next() {
                    let op_span = span_of(&op);
                    let text: String = op.as_str().split_whitespace().collect::<Vec<_>>().join(" ");
                    let cmp = match text.as_str() {
                        "==" => CmpOp::Eq,
                        "!=" => CmpOp::Ne,
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        ">=" => CmpOp::Ge,
                        "in" => CmpOp::In,
                        _ => CmpOp::NotIn,
                    };
                    let rhs = self.expr(it.next().expect("comparison operand"))?;
                    rest.push((cmp, rhs, op_span));
                }
                if rest.is_empty() {
                    return Ok(first);
                }
                Ok(expr_of(
                    ExprKind::Compare {
                        first: Box::new(first),
                        rest,
                    },
                    span,
                ))
            }
            Rule::bit_or
            | Rule::bit_xor
            | Rule::bit_and
            | Rule::shift
            | Rule::sum
            | Rule::product => {
                let mut it = p.into_inner();
                let mut acc = self.expr(it.next().expect("operand"))?;
                while let Some(op) = it.next() {
                    let op_span = span_of(&op);
                    let bop = binop_of(op.as_str());
                    let rhs = self.expr(it.next().expect("operand"))?;
                    let s = Span {
                        start: acc.span.start,
                        end: rhs.span.end,
                    };
                    acc = expr_of(
                        ExprKind::Binary {
                            op: bop,
                            left: Box::new(acc),
                            right: Box::new(rhs),
                            op_span,
                        },
                        s,
                    );
                }
                Ok(acc)
            }
            Rule::unary => {
                let children: Vec<Pair<Rule>> = p.into_inner().collect();
                let (prefixes, rest) = children.split_at(children.len() - 1);
                let e = self.expr(rest[0].clone())?;
                Ok(apply_prefixes(prefixes, e))
            }
            Rule::power => self.power(p),
            Rule::postfix => self.postfix(p),
            _ => self.primary(p),
        }
    }

    /// `a ** -b ** c` → `a ** (-(b ** c))`: right-associative, prefixes bind looser.
    fn power(&mut self, p: Pair<Rule>) -> R<Expr> {
        let mut it = p.into_inner().peekable();
        let base = self.postfix(it.next().expect("power base"))?;
        // operands after each `**`, with their prefix operators
        let mut links: Vec<(Span, Vec<Pair<Rule>>, Expr)> = Vec::new();
        while let Some(op) = it.next() {
            let op_span = span_of(&op);
            let mut prefixes = Vec::new();
            while it.peek().is_some_and(|c| c.as_rule() == Rule::prefix_op) {
                prefixes.push(it.next().expect("peeked"));
            }
            let operand = self.postfix(it.next().expect("power operand"))?;
            links.push((op_span, prefixes, operand));
        }
        if links.is_empty() {
            return Ok(base);
        }
        // fold from the right
        let (mut acc_span, mut acc_prefixes, mut acc) = links.pop().expect("non-empty");
        while let Some((op_span, prefixes, operand)) = links.pop() {
            let rhs = apply_prefixes(&acc_prefixes, acc);
            let s = Span {
                start: operand.span.start,
                end: rhs.span.end,
            };
            acc = expr_of(
                ExprKind::Binary {
                    op: BinOp::Pow,
                    left: Box::new(operand),
                    right: Box::new(rhs),
                    op_span: acc_span,
                },
                s,
            );
            acc_span = op_span;
            acc_prefixes = prefixes;
        }
        let rhs = apply_prefixes(&acc_prefixes, acc);
        let s = Span {
            start: base.span.start,
            end: rhs.span.end,
        };
        Ok(expr_of(
            ExprKind::Binary {
                op: BinOp::Pow,
                left: Box::new(base),
                right: Box::new(rhs),
                op_span: acc_span,
            },
            s,
        ))
    }

    fn postfix(&mut self, p: Pair<Rule>) -> R<Expr> {
        let mut it = p.into_inner();
        let mut acc = self.primary(it.next().expect("postfix primary"))?;
        for op in it {
            let op_span = span_of(&op);
            let s = Span {
                start: acc.span.start,
                end: op_span.end,
            };
            acc = match op.as_rule() {
                Rule::call_args => {
                    let mut args = Vec::new();
                    let mut named: Vec<(Ident, Expr)> = Vec::new();
                    for a in inner(op) {
                        let child = a.into_inner().next().expect("argument");
                        if child.as_rule() == Rule::named_arg {
                            let mut ni = child.into_inner();
                            let name = ident(ni.next().expect("named arg name"));
                            let value = self.expr(ni.next().expect("named arg value"))?;
                            if named.iter().any(|(n, _)| n.name == name.name) {
                                return Err(SyntaxError::parse(
                                    format!("argument `{}` given twice", name.name),
                                    name.span.start as usize,
                                ));
                            }
                            named.push((name, value));
                        } else {
                            if !named.is_empty() {
                                return Err(SyntaxError::parse(
                                    "a positional argument cannot follow a named one",
                                    span_of(&child).start as usize,
                                ));
                            }
                            args.push(self.expr(child)?);
                        }
                    }
                    // the call's own location is its opening bracket
                    let call_span = Span {
                        start: op_span.start,
                        end: op_span.end,
                    };
                    let _ = call_span;
                    expr_of(
                        ExprKind::Call {
                            callee: Box::new(acc),
                            args,
                            named,
                        },
                        s,
                    )
                }
                Rule::index => {
                    let parts: Vec<Pair<Rule>> = inner(op).collect();
                    let is_slice = parts.iter().any(|p| p.as_rule() == Rule::colon);
                    let mut exprs = Vec::new();
                    for sp in parts
                        .into_iter()
                        .filter(|p| p.as_rule() == Rule::slice_part)
                    {
                        exprs.push(
                            sp.into_inner()
                                .next()
                                .map(|e| self.expr(e).map(Box::new))
                                .transpose()?,
                        );
                    }
                    let mut exprs = exprs.into_iter();
                    let lo = exprs.next().flatten();
                    if is_slice {
                        let hi = exprs.next().flatten();
                        let step = exprs.next().flatten();
                        expr_of(
                            ExprKind::Slice {
                                obj: Box::new(acc),
                                lo,
                                hi,
                                step,
                            },
                            s,
                        )
                    } else {
                        let Some(index) = lo else {
                            return Err(SyntaxError::parse(
                                "expected an index",
                                op_span.end as usize - 1,
                            ));
                        };
                        expr_of(
                            ExprKind::Index {
                                obj: Box::new(acc),
                                index,
                            },
                            s,
                        )
                    }
                }
                Rule::attr => {
                    let name = ident(op.into_inner().next().expect("attribute name"));
                    expr_of(
                        ExprKind::Attr {
                            obj: Box::new(acc),
                            name,
                        },
                        s,
                    )
                }
                other => unreachable!("unexpected postfix rule {other:?}"),
            };
        }
        Ok(acc)
    }

    fn primary(&mut self, p: Pair<Rule>) -> R<Expr> {
        let span = span_of(&p);
        let kind = match p.as_rule() {
            Rule::int => ExprKind::Int(parse_int(p.as_str(), span.start as usize)?),
            Rule::float => {
                let text: String = p.as_str().chars().filter(|c| *c != '_').collect();
                let v: f64 = text.parse().map_err(|_| {
                    SyntaxError::parse("invalid float literal", span.start as usize)
                })?;
                ExprKind::Float(v)
            }
            Rule::string => ExprKind::Str(self.string_literal(p)?),
            Rule::bytes => {
                let body = p.into_inner().next().expect("bytes body");
                let off = body.as_span().start();
                ExprKind::Bytes(Rc::from(
                    decode_escapes(body.as_str(), off, true)?.into_bytes_lossless(),
                ))
            }
            Rule::fstring => ExprKind::FString(self.fstring(p)?),
            Rule::kw_nil => ExprKind::Nil,
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::kw_self => ExprKind::SelfRef,
            Rule::ident => ExprKind::Name(ident(p)),
            Rule::super_attr => {
                let name = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::ident)
                    .expect("super attribute");
                ExprKind::SuperAttr(ident(name))
            }
            Rule::paren => {
                let e = inner(p).next().expect("parenthesised expression");
                let mut e = self.expr(e)?;
                e.span = span;
                return Ok(e);
            }
            Rule::lambda => {
                let mut it = inner(p);
                it.next(); // fn
                let params = self.params(it.next().expect("lambda params"))?;
                let body_pair = it.next().expect("lambda body");
                let body = if body_pair.as_rule() == Rule::block {
                    self.block(body_pair)?
                } else {
                    let e = self.expr(body_pair)?;
                    let s = e.span;
                    vec![Stmt {
                        kind: StmtKind::Return(Some(e)),
                        span: s,
                    }]
                };
                let name = Ident {
                    name: Rc::from("<lambda>"),
                    span,
                };
                ExprKind::Lambda(Rc::new(FnDef {
                    is_generator: contains_yield(&body),
                    name,
                    params,
                    body,
                    span,
                }))
            }
            Rule::spawn_expr | Rule::go_expr => {
                let is_spawn = p.as_rule() == Rule::spawn_expr;
                let target = p.into_inner().nth(1).expect("spawn/go operand");
                let e = Box::new(self.postfix(target)?);
                if is_spawn {
                    ExprKind::Spawn(e)
                } else {
                    ExprKind::Go(e)
                }
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut clauses = Vec::new();
                for c in inner(p) {
                    if c.as_rule() == Rule::comp_for {
                        clauses.push(self.comp_for(c)?);
                    } else {
                        items.push(self.expr(c)?);
                    }
                }
                if clauses.is_empty() {
                    ExprKind::List(items)
                } else {
                    let elem = Box::new(items.pop().expect("a comprehension has an element"));
                    ExprKind::ListComp { elem, clauses }
                }
            }
            Rule::map => {
                let mut entries = Vec::new();
                let mut clauses = Vec::new();
                for c in inner(p) {
                    if c.as_rule() == Rule::comp_for {
                        clauses.push(self.comp_for(c)?);
                        continue;
                    }
                    let mut ei = c.into_inner();
                    let k = self.expr(ei.next().expect("map key"))?;
                    let v = self.expr(ei.next().expect("map value"))?;
                    entries.push((k, v));
                }
                if clauses.is_empty() {
                    ExprKind::Map(entries)
                } else {
                    let (key, value) = entries.pop().expect("a comprehension has an entry");
                    ExprKind::MapComp {
                        key: Box::new(key),
                        value: Box::new(value),
                        clauses,
                    }
                }
            }
            Rule::expr | Rule::ternary | Rule::postfix => return self.expr(p),
            other => unreachable!("unexpected primary rule {other:?}"),
        };
        Ok(expr_of(kind, span))
    }

    fn comp_for(&mut self, p: Pair<Rule>) -> R<CompFor> {
        let mut it = p.into_inner();
        it.next(); // for
        let target = self.pattern(it.next().expect("comprehension target"))?;
        it.next(); // in
        let iter = self.expr(it.next().expect("comprehension iterable"))?;
        let mut conds = Vec::new();
        for c in it {
            let e = c.into_inner().nth(1).expect("comprehension condition");
            conds.push(self.expr(e)?);
        }
        Ok(CompFor {
            target,
            iter,
            conds,
        })
    }

    fn string_literal(&mut self, p: Pair<Rule>) -> R<Rc<str>> {
        let body = p.into_inner().next().expect("string body");
        let off = body.as_span().start();
        Ok(Rc::from(
            decode_escapes(body.as_str(), off, false)?.into_string(),
        ))
    }

    fn fstring(&mut self, p: Pair<Rule>) -> R<Vec<FPart>> {
        let mut parts = Vec::new();
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::fs_dq | Rule::fs_sq => {
                    let off = part.as_span().start();
                    let text = decode_escapes(part.as_str(), off, false)?.into_string();
                    parts.push(FPart::Lit(text.replace("{{", "{").replace("}}", "}")));
                }
                Rule::fs_hole => {
                    let mut expr = None;
                    let mut repr = false;
                    let mut spec = None;
                    for c in inner(part) {
                        match c.as_rule() {
                            Rule::expr => expr = Some(self.expr(c)?),
                            Rule::fs_conv => repr = c.as_str() == "!r",
                            Rule::fs_spec => spec = Some(c.as_str()[1..].to_string()),
                            _ => {}
                        }
                    }
                    parts.push(FPart::Hole {
                        expr: expr.expect("f-string hole has an expression"),
                        repr,
                        spec,
                    });
                }
                _ => {}
            }
        }
        Ok(parts)
    }
}

fn apply_prefixes(prefixes: &[Pair<Rule>], mut e: Expr) -> Expr {
    for op in prefixes.iter().rev() {
        let s = Span {
            start: span_of(op).start,
            end: e.span.end,
        };
        let un = if op.as_str() == "-" {
            UnOp::Neg
        } else {
            UnOp::BitNot
        };
        // fold `-<number literal>` so that the most negative integer can be written
        let span = e.span;
        e = match (un, e.into_kind()) {
            (UnOp::Neg, ExprKind::Float(f)) => expr_of(ExprKind::Float(-f), s),
            (UnOp::Neg, ExprKind::Int(i)) => expr_of(ExprKind::Int(-i), s),
            (_, kind) => expr_of(
                ExprKind::Unary {
                    op: un,
                    expr: Box::new(Expr { kind, span }),
                },
                s,
            ),
        };
    }
    e
}

fn binop_of(s: &str) -> BinOp {
    match s.trim() {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "//" => BinOp::FloorDiv,
        "%" => BinOp::Mod,
        "**" => BinOp::Pow,
        "&" => BinOp::BitAnd,
        "|" => BinOp::BitOr,
        "^" => BinOp::BitXor,
        "<<" => BinOp::Shl,
        _ => BinOp::Shr,
    }
}

fn to_target(e: Expr) -> R<Target> {
    let span = e.span;
    match e.into_kind() {
        ExprKind::Name(id) => Ok(Target::Name(id)),
        ExprKind::Index { obj, index } => Ok(Target::Index {
            obj: *obj,
            index: *index,
        }),
        ExprKind::Attr { obj, name } => Ok(Target::Attr { obj: *obj, name }),
        ExprKind::List(items) => Ok(Target::List(
            items.into_iter().map(to_target).collect::<R<_>>()?,
            span,
        )),
        _ => Err(SyntaxError::parse(
            "cannot assign to this expression",
            span.start as usize,
        )),
    }
}

fn parse_int(text: &str, offset: usize) -> R<i64> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else {
        (lower.as_str(), 10)
    };
    // Parsed as u64 so that `-9223372036854775808` works after negation folding;
    // values above i64::MAX are rejected here.
    match u64::from_str_radix(digits, radix) {
        Ok(v) if v <= i64::MAX as u64 => Ok(v as i64),
        _ => Err(SyntaxError::new(
            "OverflowError",
            "integer literal is too large for a 64-bit integer",
            offset,
        )),
    }
}

/// Decoded text of a string or bytes literal.
enum Decoded {
    Text(String),
    Bytes(Vec<u8>),
}

impl Decoded {
    fn into_string(self) -> String {
        match self {
            Decoded::Text(s) => s,
            Decoded::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        }
    }
    fn into_bytes_lossless(self) -> Vec<u8> {
        match self {
            Decoded::Text(s) => s.into_bytes(),
            Decoded::Bytes(b) => b,
        }
    }
}

/// Decodes `\n \t \r \0 \\ \" \' \xNN \u{...}` and backslash-newline (a line
/// continuation). `offset` is where `raw` starts in the source, for errors.
fn decode_escapes(raw: &str, offset: usize, bytes: bool) -> R<Decoded> {
    let mut text = String::with_capacity(raw.len());
    let mut out_bytes: Vec<u8> = Vec::new();
    let mut chars = raw.char_indices().peekable();
    let push = |text: &mut String, out_bytes: &mut Vec<u8>, c: char| {
        if bytes {
            let mut buf = [0u8; 4];
            out_bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            text.push(c);
        }
    };
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            if bytes && !c.is_ascii() {
                return Err(SyntaxError::parse(
                    "bytes literals may contain only ASCII characters",
                    offset + i,
                ));
            }
            push(&mut text, &mut out_bytes, c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err(SyntaxError::parse(
                "unterminated escape sequence",
                offset + i,
            ));
        };
        match e {
            'n' => push(&mut text, &mut out_bytes, '\n'),
            't' => push(&mut text, &mut out_bytes, '\t'),
            'r' => push(&mut text, &mut out_bytes, '\r'),
            '0' => push(&mut text, &mut out_bytes, '\0'),
            '\\' => push(&mut text, &mut out_bytes, '\\'),
            '"' => push(&mut text, &mut out_bytes, '"'),
            '\'' => push(&mut text, &mut out_bytes, '\''),
            '{' => push(&mut text, &mut out_bytes, '{'),
            '}' => push(&mut text, &mut out_bytes, '}'),
            '\n' => {}
            'x' => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match chars.next().and_then(|(_, h)| h.to_digit(16)) {
                        Some(d) => v = v * 16 + d,
                        None => {
                            return Err(SyntaxError::parse(
                                "`\\x` must be followed by two hex digits",
                                offset + i,
                            ));
                        }
                    }
                }
                if bytes {
                    out_bytes.push(v as u8);
                } else {
                    text.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
            }
            'u' if !bytes => {
                if chars.next().map(|(_, c)| c) != Some('{') {
                    return Err(SyntaxError::parse(
                        "`\\u` must be followed by `{hex digits}`",
                        offset + i,
                    ));
                }
                let mut v: u32 = 0;
                let mut n = 0;
                loop {
                    match chars.next() {
                        Some((_, '}')) if n > 0 => break,
                        Some((_, h)) if h.is_ascii_hexdigit() && n < 6 => {
                            v = v * 16 + h.to_digit(16).unwrap_or(0);
                            n += 1;
                        }
                        _ => {
                            return Err(SyntaxError::parse(
                                "`\\u{...}` takes 1 to 6 hex digits",
                                offset + i,
                            ));
                        }
                    }
                }
                match char::from_u32(v) {
                    Some(c) => text.push(c),
                    None => {
                        return Err(SyntaxError::parse(
                            format!("`\\u{{{v:x}}}` is not a valid character"),
                            offset + i,
                        ));
                    }
                }
            }
            other => {
                return Err(SyntaxError::parse(
                    format!("invalid escape sequence `\\{other}`"),
                    offset + i,
                ));
            }
        }
    }
    Ok(if bytes {
        Decoded::Bytes(out_bytes)
    } else {
        Decoded::Text(text)
    })
}

// ---------------------------------------------------------------------------
// Generator detection: a function is a generator when its own body (not a nested
// function's) contains `yield`.

fn contains_yield(body: &Block) -> bool {
    body.iter().any(stmt_yields)
}

fn stmt_yields(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Let { value, .. } => expr_yields(value),
        StmtKind::Assign { target, value, .. } => target_yields(target) || expr_yields(value),
        StmtKind::Expr(e) | StmtKind::Throw(e) => expr_yields(e),
        StmtKind::Return(e) => e.as_ref().is_some_and(expr_yields),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .any(|(c, b)| expr_yields(c) || contains_yield(b))
                || otherwise.as_ref().is_some_and(contains_yield)
        }
        StmtKind::While { cond, body } => expr_yields(cond) || contains_yield(body),
        StmtKind::For { iter, body, .. } => expr_yields(iter) || contains_yield(body),
        StmtKind::Try {
            body,
            catch,
            finally,
        } => {
            contains_yield(body)
                || catch.as_ref().is_some_and(|(_, b)| contains_yield(b))
                || finally.as_ref().is_some_and(contains_yield)
        }
        StmtKind::With { subject, body, .. } => expr_yields(subject) || contains_yield(body),
        StmtKind::Class(c) => c.parent.as_ref().is_some_and(expr_yields),
        StmtKind::Break | StmtKind::Continue | StmtKind::Fn(_) | StmtKind::Import { .. } => false,
    }
}

fn target_yields(t: &Target) -> bool {
    match t {
        Target::Name(_) => false,
        Target::Index { obj, index } => expr_yields(obj) || expr_yields(index),
        Target::Attr { obj, .. } => expr_yields(obj),
        Target::List(items, _) => items.iter().any(target_yields),
    }
}

fn expr_yields(e: &Expr) -> bool {
    stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || expr_yields_here(e))
}

fn expr_yields_here(e: &Expr) -> bool {
    use ExprKind::*;
    match &e.kind {
        Yield(_) | YieldFrom(_) => true,
        Nil | Bool(_) | Int(_) | Float(_) | Str(_) | Bytes(_) | Name(_) | SelfRef
        | SuperAttr(_) | Lambda(_) => false,
        FString(parts) => parts
            .iter()
            .any(|p| matches!(p, FPart::Hole { expr, .. } if expr_yields(expr))),
        List(items) => items.iter().any(expr_yields),
        Map(entries) => entries
            .iter()
            .any(|(k, v)| expr_yields(k) || expr_yields(v)),
        ListComp { elem, clauses } => expr_yields(elem) || clauses_yield(clauses),
        MapComp {
            key,
            value,
            clauses,
        } => expr_yields(key) || expr_yields(value) || clauses_yield(clauses),
        Unary { expr, .. } | Not(expr) | Spawn(expr) | Go(expr) => expr_yields(expr),
        Binary { left, right, .. } | And(left, right) | Or(left, right) => {
            expr_yields(left) || expr_yields(right)
        }
        Compare { first, rest } => {
            expr_yields(first) || rest.iter().any(|(_, e, _)| expr_yields(e))
        }
        Ternary {
            cond,
            then,
            otherwise,
        } => expr_yields(cond) || expr_yields(then) || expr_yields(otherwise),
        Call {
            callee,
            args,
            named,
        } => {
            expr_yields(callee)
                || args.iter().any(expr_yields)
                || named.iter().any(|(_, e)| expr_yields(e))
        }
        Index { obj, index } => expr_yields(obj) || expr_yields(index),
        Slice { obj, lo, hi, step } => {
            expr_yields(obj)
                || [lo, hi, step]
                    .iter()
                    .any(|p| p.as_ref().is_some_and(|e| expr_yields(e)))
        }
        Attr { obj, .. } => expr_yields(obj),
    }
}

fn clauses_yield(clauses: &[CompFor]) -> bool {
    clauses
        .iter()
        .any(|c| expr_yields(&c.iter) || c.conds.iter().any(expr_yields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Block {
        match parse_program(src) {
            Ok(b) => b,
            Err(e) => panic!("{src:?}: {e:?}"),
        }
    }
    fn err(src: &str) -> SyntaxError {
        parse_program(src).expect_err(src)
    }

    #[test]
    fn newlines_inside_brackets_are_whitespace() {
        assert_eq!(ok("f(1,\n 2\n)\nprint(3)").len(), 2);
        assert_eq!(ok("let x = (1\n + 2)\nx").len(), 2);
        assert_eq!(ok("let m = {\n\"a\": 1,\n\"b\": 2\n}\n").len(), 1);
        assert_eq!(ok("let x = 1 +\n 2").len(), 1);
        assert_eq!(ok("let x =\n 2").len(), 1);
        assert_eq!(ok("f(fn(x) {\n let y = x\n return y\n}, 2)").len(), 1);
    }

    #[test]
    fn block_needs_no_separator() {
        assert_eq!(ok("if x { return 1 } return 2").len(), 2);
        assert_eq!(ok("if x { 1 }\nelse { 2 }").len(), 1);
    }

    #[test]
    fn newline_before_operator_ends_statement() {
        let e = err("let x = 1\n+ 2");
        assert_eq!(e.offset, 10);
    }

    #[test]
    fn parse_error_location_and_message() {
        let src = "let x = 1\nfn broken(a, b {\n    return a\n}\n";
        let e = err(src);
        assert_eq!(e.offset, src.find('{').unwrap());
        assert!(e.message.contains("`)`"), "{}", e.message);
        assert!(e.message.contains("found `{`"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_a_diagnostic() {
        let src = "(".repeat(20_000) + &")".repeat(20_000);
        assert!(err(&src).message.contains("nested"));
        let src = "[".repeat(150) + &"]".repeat(150);
        ok(&src);
        let src = "x".to_string() + &"[x".repeat(150) + &"]".repeat(150);
        ok(&src);
        let src = "f(fn() {\n".repeat(60) + &"}\n)".repeat(60);
        ok(&src);
    }

    #[test]
    fn max_depth_fits_on_a_small_thread_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                for (open, close) in [
                    ("(", ")"),
                    ("[", "]"),
                    ("{1:", "}"),
                    ("f(", ")"),
                    ("x[", "]"),
                ] {
                    let n = MAX_DEPTH - 2;
                    let src = "let a = ".to_string() + &open.repeat(n) + "1" + &close.repeat(n);
                    assert!(parse_program(&src).is_ok(), "{open}");
                }
            })
            .expect("spawn");
        handle
            .join()
            .expect("parsing at the depth limit must not overflow");
    }

    #[test]
    fn literals() {
        ok("let a = 0xff + 0o17 + 0b1010 + 1_000_000 + 2.5e3 + 1e-9");
        assert_eq!(err("let a = 99999999999999999999").kind, "OverflowError");
        ok("let s = \"a\\n\\u{1F600}\\x41\" + 'q' + \"\"\"multi\nline\"\"\"");
        ok("let b = b\"\\x00abc\"");
        ok("let s = f\"n = {n}, t = {t:.2f} {{x}} {m[\"k\"]}\"");
        assert!(err("let s = \"abc").message.contains("unterminated"));
        assert!(err("let s = \"\\q\"").message.contains("escape"));
    }

    #[test]
    fn incomplete_input() {
        assert!(!is_complete("fn f() {"));
        assert!(!is_complete("let x = [1,"));
        assert!(!is_complete("let x = 1 +"));
        assert!(!is_complete("let s = \"\"\"abc"));
        assert!(!is_complete("try {\n}\n"));
        assert!(is_complete("let x = 1"));
        assert!(is_complete("let x = )"));
    }

    #[test]
    fn generator_detection() {
        let b = ok("fn g() { let f = fn() { yield 1 }; return 2 }\nfn h() { if x { yield } }");
        let StmtKind::Fn(g) = &b[0].kind else {
            panic!()
        };
        let StmtKind::Fn(h) = &b[1].kind else {
            panic!()
        };
        assert!(!g.is_generator);
        assert!(h.is_generator);
    }

    #[test]
    fn nul_is_rejected() {
        assert!(err("let x = 1\0").message.contains("NUL"));
    }
}
