//! Tab completion: keywords and globals, meta-commands, and after `.` the
//! members of the receiver's type. The receiver is looked up only when it is
//! a plain name or attribute chain (`q`, `mod.pool`), by reading globals,
//! fields and method tables: completion never runs script code.

use super::lexer::{self, Kind, State};
use crate::value::Value;
use crate::vm::Vm;
use crate::vm::globals::BUILTINS;
use crate::vm::module::Module;

/// Meta-commands, for completing a line that starts with `:`.
pub const COMMANDS: &[&str] = &[
    ":help", ":quit", ":load", ":vars", ":type", ":time", ":procs",
];

/// What Tab inserts where nothing precedes it on the line.
pub const INDENT: &str = "    ";

/// What completes the text before `pos` of a line that starts in `state`:
/// the byte offset where the replaced word starts, and the candidates, sorted.
pub fn complete(vm: &Vm, line: &str, pos: usize, state: State) -> (usize, Vec<String>) {
    let pos = floor_boundary(line, pos);
    let before = &line[..pos];
    // Tab at the start of a line indents (also when code with tabs is pasted)
    if before.rsplit('\n').next().unwrap_or("").trim().is_empty() {
        return (pos, vec![INDENT.to_string()]);
    }
    if before.starts_with(':') && !before.contains(char::is_whitespace) {
        return (0, matching(COMMANDS.iter().map(|c| c.to_string()), before));
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '_')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[start..];
    if word.starts_with(|c: char| c.is_ascii_digit()) || in_string_or_comment(before, state) {
        return (start, Vec::new());
    }
    let names = match before[..start].strip_suffix('.') {
        Some(receiver) => members_of_receiver(vm, receiver),
        None => global_names(vm),
    };
    (start, matching(names.into_iter(), word))
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn matching(names: impl Iterator<Item = String>, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = names
        .filter(|n| n.starts_with(prefix) && !n.starts_with('#'))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// True when the cursor is inside a string or a comment (nothing to complete).
fn in_string_or_comment(before: &str, start: State) -> bool {
    let (tokens, state) = lexer::scan(before, start);
    if state != State::Code {
        return true;
    }
    match tokens.last() {
        Some(t) if t.end == before.len() => match t.kind {
            Kind::Comment => true,
            // an unterminated one-line string runs to the end
            Kind::Str => !closed_string(&before[t.start..t.end]),
            _ => false,
        },
        _ => false,
    }
}

fn closed_string(s: &str) -> bool {
    let body = s.trim_start_matches(['f', 'b', 'r']);
    body.len() >= 2 && body.ends_with(&body[..1]) && !body.ends_with("\\\"")
}

/// Keywords, the program's globals and the builtins.
fn global_names(vm: &Vm) -> Vec<String> {
    let mut names: Vec<String> = lexer::KEYWORDS.iter().map(|k| k.to_string()).collect();
    for unit in [BUILTINS, vm.main_unit] {
        for (name, &slot) in &vm.globals.units[unit] {
            if !matches!(vm.globals.values[slot as usize], Value::Undef) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The members of what the text before a `.` ends with, when that is a
/// name chain or a string literal; nothing otherwise.
fn members_of_receiver(vm: &Vm, before_dot: &str) -> Vec<String> {
    let (tokens, _) = lexer::scan(before_dot, State::Code);
    if let Some(t) = tokens.last().filter(|t| t.end == before_dot.len()) {
        if t.kind == Kind::Str {
            let text = &before_dot[t.start..t.end];
            let v = if text.starts_with('b') {
                Value::Bytes(Default::default())
            } else {
                Value::str("")
            };
            return member_names(vm, &v);
        }
    }
    // the trailing `name(.name)*` chain, if the text ends with one
    let chain_start = before_dot
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '_' || c == '.')
        .last()
        .map_or(before_dot.len(), |(i, _)| i);
    let chain = &before_dot[chain_start..];
    let parts: Vec<&str> = chain.split('.').collect();
    let plain = parts
        .iter()
        .all(|p| !p.is_empty() && !p.starts_with(|c: char| c.is_ascii_digit()));
    if chain.is_empty() || !plain {
        return Vec::new();
    }
    match resolve(vm, &parts) {
        Some(v) => member_names(vm, &v),
        None => Vec::new(),
    }
}

/// The value a name chain refers to, read without running anything.
pub fn resolve(vm: &Vm, parts: &[&str]) -> Option<Value> {
    let (first, rest) = parts.split_first()?;
    let slot = vm.globals.lookup(vm.main_unit, first)?;
    let mut v = vm.globals.values.get(slot as usize)?.clone();
    for name in rest {
        v = member(vm, &v, name)?;
    }
    (!matches!(v, Value::Undef)).then_some(v)
}

fn member(vm: &Vm, v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Object(h) => {
            let m = h.downcast::<Module>()?;
            vm.globals.get(m.unit, name).cloned()
        }
        Value::Instance(i) => {
            let sym = vm.interner.lookup(name)?;
            let field = i.fields.borrow().get(&sym).cloned();
            field.or_else(|| i.class.methods.get(&sym).cloned())
        }
        Value::Class(c) => c.methods.get(&vm.interner.lookup(name)?).cloned(),
        _ => None,
    }
}

/// The attribute and method names of a value.
pub fn member_names(vm: &Vm, v: &Value) -> Vec<String> {
    let syms = |table: &rustc_hash::FxHashMap<crate::vm::Sym, _>| -> Vec<String> {
        table
            .keys()
            .map(|s| vm.interner.name(*s).to_string())
            .collect()
    };
    let t = &vm.types;
    let mut names = match v {
        Value::Str(_) => syms(&t.str_),
        Value::Bytes(_) => syms(&t.bytes),
        Value::List(_) => syms(&t.list),
        Value::Map(_) => syms(&t.map),
        Value::Range(_) => syms(&t.range),
        Value::Error(_) => syms(&t.error),
        Value::Instance(i) => {
            let mut n: Vec<String> = i
                .fields
                .borrow()
                .keys()
                .map(|s| vm.interner.name(*s).to_string())
                .collect();
            if let Some(st) = i.native.borrow().as_ref() {
                n.extend(st.attr_names().iter().map(|s| s.to_string()));
            }
            n.extend(
                i.class
                    .methods
                    .keys()
                    .map(|s| vm.interner.name(*s).to_string()),
            );
            n
        }
        Value::Class(c) => {
            let mut n: Vec<String> = c
                .methods
                .keys()
                .map(|s| vm.interner.name(*s).to_string())
                .collect();
            n.push("name".into());
            n
        }
        Value::Object(h) => match h.downcast::<Module>() {
            Some(m) => vm.globals.units[m.unit]
                .keys()
                .map(|k| k.to_string())
                .collect(),
            None => h.0.method_names().iter().map(|s| s.to_string()).collect(),
        },
        _ => Vec::new(),
    };
    match v {
        Value::Range(_) => names.extend(["start", "stop", "step"].map(String::from)),
        Value::Error(_) => names.extend(["kind", "message"].map(String::from)),
        _ => {}
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interpreter;

    fn names(interp: &mut Interpreter, line: &str) -> (usize, Vec<String>) {
        complete(&interp.vm, line, line.len(), State::Code)
    }

    #[test]
    fn keywords_globals_and_commands() {
        let mut interp = Interpreter::new();
        interp
            .eval_value("let counter = 1; fn count_up() {}")
            .unwrap();
        let (start, c) = names(&mut interp, "x = cou");
        assert_eq!(start, 4);
        assert_eq!(c, ["count_up", "counter"]);
        assert!(names(&mut interp, "whi").1.contains(&"while".to_string()));
        assert!(names(&mut interp, "pri").1.contains(&"print".to_string()));
        assert_eq!(names(&mut interp, ":ty").1, [":type"]);
        assert!(names(&mut interp, "# cou").1.is_empty());
        assert!(names(&mut interp, "\"cou").1.is_empty());
        assert!(names(&mut interp, "1").1.is_empty());
        assert_eq!(names(&mut interp, "  "), (2, vec![INDENT.to_string()]));
        assert_eq!(
            names(&mut interp, "fn f() {\n"),
            (9, vec![INDENT.to_string()])
        );
        // inside a triple-quoted string opened on an earlier line
        let line = "more cou";
        let c = complete(&interp.vm, line, line.len(), State::Triple(b'"'));
        assert!(c.1.is_empty());
    }

    #[test]
    fn methods_after_a_dot() {
        let mut interp = Interpreter::new();
        interp
            .eval_value("let xs = [1]; let s = 'a'; class P { fn init() { self.size = 1 } fn grow() {} }; let p = P()")
            .unwrap();
        let (start, c) = names(&mut interp, "xs.app");
        assert_eq!((start, c), (3, vec!["append".to_string()]));
        assert!(names(&mut interp, "s.up").1.contains(&"upper".to_string()));
        assert!(
            names(&mut interp, "'abc'.up")
                .1
                .contains(&"upper".to_string())
        );
        let (_, c) = names(&mut interp, "p.");
        assert!(c.contains(&"grow".to_string()) && c.contains(&"size".to_string()));
        assert_eq!(names(&mut interp, "p.size.").1, Vec::<String>::new());
        // a call is never made to find the receiver
        assert!(names(&mut interp, "f().").1.is_empty());
        assert!(names(&mut interp, "nosuch.").1.is_empty());
    }

    #[test]
    fn handles_and_processes() {
        let mut interp = Interpreter::new();
        interp
            .eval_value("let q = queue(); let pr = Process(target: print)")
            .unwrap();
        assert!(names(&mut interp, "q.pu").1.contains(&"put".to_string()));
        let c = names(&mut interp, "pr.").1;
        assert!(c.contains(&"join".to_string()) && c.contains(&"pid".to_string()));
    }
}
