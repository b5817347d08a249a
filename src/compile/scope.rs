//! Name analysis done before code generation.
//!
//! * `captured_names`: every name used inside functions nested in a body. A local
//!   of that body with such a name lives in a cell (captured by reference). This
//!   over-approximates (a shadowed name may be boxed needlessly), which costs a
//!   little speed and never correctness.
//! * `top_level_names`: what a unit declares at its top level (lets, fns, classes,
//!   imports), so that functions can use globals declared further down the file.

use crate::syntax::ast::*;
use rustc_hash::FxHashSet;
use std::rc::Rc;

pub type NameSet = FxHashSet<Rc<str>>;

/// Names used by functions nested (at any depth) in `body`.
pub fn captured_names(body: &Block) -> NameSet {
    let mut out = NameSet::default();
    for s in body {
        nested_in_stmt(s, &mut out);
    }
    out
}

/// Like `captured_names` for a single expression (spawn/go thunks, default values).
pub fn captured_names_expr(e: &Expr) -> NameSet {
    let mut out = NameSet::default();
    nested_in_expr(e, &mut out);
    out
}

pub fn top_level_names(body: &Block) -> Vec<Rc<str>> {
    let mut out = Vec::new();
    for s in body {
        match &s.kind {
            StmtKind::Let { target, .. } => pattern_names(target, &mut out),
            StmtKind::Fn(f) => out.push(f.name.name.clone()),
            StmtKind::Class(c) => out.push(c.name.name.clone()),
            StmtKind::Import { alias, .. } => out.push(alias.name.clone()),
            _ => {}
        }
    }
    out
}

pub fn pattern_names(p: &Pattern, out: &mut Vec<Rc<str>>) {
    match p {
        Pattern::Name(id) => out.push(id.name.clone()),
        Pattern::List(items, _) => items.iter().for_each(|i| pattern_names(i, out)),
    }
}

// ---- walking: `nested_in_*` looks for nested functions; once inside one,
// `all_in_*` records every name used.

fn nested_in_fn(f: &FnDef, out: &mut NameSet) {
    for p in &f.params {
        out.insert(p.name.name.clone());
        if let Some(d) = &p.default {
            all_in_expr(d, out);
        }
    }
    for s in &f.body {
        all_in_stmt(s, out);
    }
}

fn nested_in_stmt(s: &Stmt, out: &mut NameSet) {
    walk_stmt(s, out, nested_in_stmt, nested_in_expr, nested_in_fn);
}

fn nested_in_expr(e: &Expr, out: &mut NameSet) {
    match &e.kind {
        ExprKind::Lambda(f) => nested_in_fn(f, out),
        // a spawn/go of anything but a plain call is compiled as a thunk function
        ExprKind::Spawn(inner) | ExprKind::Go(inner) => all_in_expr(inner, out),
        _ => walk_expr(e, out, nested_in_expr, nested_in_fn),
    }
}

fn all_in_fn(f: &FnDef, out: &mut NameSet) {
    nested_in_fn(f, out);
}

fn all_in_stmt(s: &Stmt, out: &mut NameSet) {
    match &s.kind {
        StmtKind::Assign { target, .. } => target_names(target, out),
        StmtKind::Fn(f) => {
            out.insert(f.name.name.clone());
        }
        StmtKind::Class(c) => {
            out.insert(c.name.name.clone());
        }
        _ => {}
    }
    walk_stmt(s, out, all_in_stmt, all_in_expr, all_in_fn);
}

fn target_names(t: &Target, out: &mut NameSet) {
    match t {
        Target::Name(id) => {
            out.insert(id.name.clone());
        }
        Target::List(items, _) => items.iter().for_each(|i| target_names(i, out)),
        _ => {}
    }
}

fn all_in_expr(e: &Expr, out: &mut NameSet) {
    match &e.kind {
        ExprKind::Name(id) => {
            out.insert(id.name.clone());
        }
        ExprKind::SelfRef | ExprKind::SuperAttr(_) => {
            out.insert(Rc::from("self"));
        }
        _ => {}
    }
    walk_expr(e, out, all_in_expr, all_in_fn);
}

type StmtFn = fn(&Stmt, &mut NameSet);
type ExprFn = fn(&Expr, &mut NameSet);
type FnFn = fn(&FnDef, &mut NameSet);

/// Visits the direct sub-statements, sub-expressions and nested functions of a statement.
fn walk_stmt(s: &Stmt, out: &mut NameSet, on_stmt: StmtFn, on_expr: ExprFn, on_fn: FnFn) {
    let block = |b: &Block, out: &mut NameSet| b.iter().for_each(|s| on_stmt(s, out));
    match &s.kind {
        StmtKind::Let { value, .. } => on_expr(value, out),
        StmtKind::Assign { target, value, .. } => {
            walk_target(target, out, on_expr);
            on_expr(value, out);
        }
        StmtKind::Expr(e) | StmtKind::Throw(e) => on_expr(e, out),
        StmtKind::Return(e) => {
            if let Some(e) = e {
                on_expr(e, out)
            }
        }
        StmtKind::If {
            branches,
            otherwise,
        } => {
            for (c, b) in branches {
                on_expr(c, out);
                block(b, out);
            }
            if let Some(b) = otherwise {
                block(b, out);
            }
        }
        StmtKind::While { cond, body } => {
            on_expr(cond, out);
            block(body, out);
        }
        StmtKind::For { iter, body, .. } => {
            on_expr(iter, out);
            block(body, out);
        }
        StmtKind::Fn(f) => on_fn(f, out),
        StmtKind::Class(c) => {
            if let Some(p) = &c.parent {
                on_expr(p, out);
            }
            for m in &c.methods {
                on_fn(m, out);
            }
        }
        StmtKind::Try {
            body,
            catch,
            finally,
        } => {
            block(body, out);
            if let Some((_, b)) = catch {
                block(b, out);
            }
            if let Some(b) = finally {
                block(b, out);
            }
        }
        StmtKind::With { subject, body, .. } => {
            on_expr(subject, out);
            block(body, out);
        }
        StmtKind::Break | StmtKind::Continue | StmtKind::Import { .. } => {}
    }
}

fn walk_target(t: &Target, out: &mut NameSet, on_expr: ExprFn) {
    match t {
        Target::Name(_) => {}
        Target::Index { obj, index } => {
            on_expr(obj, out);
            on_expr(index, out);
        }
        Target::Attr { obj, .. } => on_expr(obj, out),
        Target::List(items, _) => items.iter().for_each(|t| walk_target(t, out, on_expr)),
    }
}

/// Visits the direct sub-expressions and nested functions of an expression.
fn walk_expr(e: &Expr, out: &mut NameSet, on_expr: ExprFn, on_fn: FnFn) {
    use super::expr::{STACK_RED_ZONE, STACK_SEGMENT};
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
        walk_expr_here(e, out, on_expr, on_fn)
    })
}

fn walk_expr_here(e: &Expr, out: &mut NameSet, on_expr: ExprFn, on_fn: FnFn) {
    use ExprKind::*;
    match &e.kind {
        Nil | Bool(_) | Int(_) | Float(_) | Str(_) | Bytes(_) | Name(_) | SelfRef
        | SuperAttr(_) => {}
        FString(parts) => {
            for p in parts {
                if let FPart::Hole { expr, .. } = p {
                    on_expr(expr, out);
                }
            }
        }
        List(items) => items.iter().for_each(|i| on_expr(i, out)),
        Map(entries) => {
            for (k, v) in entries {
                on_expr(k, out);
                on_expr(v, out);
            }
        }
        ListComp { elem, clauses } => {
            on_expr(elem, out);
            walk_clauses(clauses, out, on_expr);
        }
        MapComp {
            key,
            value,
            clauses,
        } => {
            on_expr(key, out);
            on_expr(value, out);
            walk_clauses(clauses, out, on_expr);
        }
        Unary { expr, .. } | Not(expr) | Spawn(expr) | Go(expr) | YieldFrom(expr) => {
            on_expr(expr, out)
        }
        Yield(v) => {
            if let Some(v) = v {
                on_expr(v, out)
            }
        }
        Binary { left, right, .. } | And(left, right) | Or(left, right) => {
            on_expr(left, out);
            on_expr(right, out);
        }
        Compare { first, rest } => {
            on_expr(first, out);
            rest.iter().for_each(|(_, e, _)| on_expr(e, out));
        }
        Ternary {
            cond,
            then,
            otherwise,
        } => {
            on_expr(cond, out);
            on_expr(then, out);
            on_expr(otherwise, out);
        }
        Call {
            callee,
            args,
            named,
        } => {
            on_expr(callee, out);
            args.iter().for_each(|a| on_expr(a, out));
            named.iter().for_each(|(_, a)| on_expr(a, out));
        }
        Index { obj, index } => {
            on_expr(obj, out);
            on_expr(index, out);
        }
        Slice { obj, lo, hi, step } => {
            on_expr(obj, out);
            for p in [lo, hi, step].into_iter().flatten() {
                on_expr(p, out);
            }
        }
        Attr { obj, .. } => on_expr(obj, out),
        Lambda(f) => on_fn(f, out),
    }
}

fn walk_clauses(clauses: &[CompFor], out: &mut NameSet, on_expr: ExprFn) {
    for c in clauses {
        on_expr(&c.iter, out);
        c.conds.iter().for_each(|e| on_expr(e, out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_program;

    #[test]
    fn finds_names_used_by_nested_functions() {
        let b = parse_program(
            "let n = 0\nlet m = 1\nlet f = fn() { n += 1 }\nfn g() { return fn() => self }",
        )
        .unwrap();
        let names = captured_names(&b);
        assert!(names.contains("n"));
        assert!(!names.contains("m"));
        assert!(names.contains("self"));
    }

    #[test]
    fn top_level_declarations() {
        let b =
            parse_program("let [a, [b]] = x\nfn f() {}\nclass C {}\nif x { let y = 1 }").unwrap();
        let names: Vec<String> = top_level_names(&b).iter().map(|s| s.to_string()).collect();
        assert_eq!(names, ["a", "b", "f", "C"]);
    }
}
