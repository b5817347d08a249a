//! `str.format` (section 9): Python's replacement fields.
//!
//! `{}` takes the next positional argument, `{0}` a numbered one, `{name}` a
//! named one; a field may go on with `.attr` and `[index]`, convert with `!r`
//! or `!s`, and format with `:spec` (the f-string mini-language, whose own
//! `{...}` fields are filled first, as in `{:>{width}}`). `{{` and `}}` are
//! literal braces. Mixing `{}` with `{0}` is a ValueError, a missing argument
//! an IndexError or KeyError, as in Python.

use crate::value::format::{format_value, to_display, to_repr};
use crate::value::{Args, Exc, MethodFn, Value, VmResult};
use crate::vm::Vm;

/// How positional fields were numbered so far.
enum Numbering {
    None,
    Auto(usize),
    Manual,
}

struct Formatter<'a> {
    args: Args<'a>,
    numbering: Numbering,
}

fn bad(message: &str) -> Exc {
    Exc::value_error(format!("format(): {message}"))
}

/// Fills the replacement fields of `template` from `args`.
pub fn format_template(vm: &mut Vm, template: &str, args: Args) -> VmResult<String> {
    let mut f = Formatter {
        args,
        numbering: Numbering::None,
    };
    f.expand(vm, template, 0)
}

impl Formatter<'_> {
    fn expand(&mut self, vm: &mut Vm, template: &str, depth: usize) -> VmResult<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let brace = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if after.as_bytes().first() == Some(&brace) {
                out.push(brace as char);
                rest = &after[1..];
                continue;
            }
            if brace == b'}' {
                return Err(bad(
                    "single `}` in the format string (write `}}` for a literal brace)",
                ));
            }
            let end = field_end(after).ok_or_else(|| bad("`{` without a matching `}`"))?;
            if depth > 1 {
                return Err(bad("format specs are nested too deeply"));
            }
            let text = self.field(vm, &after[..end], depth)?;
            out.push_str(&text);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// One replacement field (the text between its braces), formatted.
    fn field(&mut self, vm: &mut Vm, field: &str, depth: usize) -> VmResult<String> {
        let name_end = name_end(field);
        let (name, mut tail) = field.split_at(name_end);
        let mut conversion = None;
        if let Some(t) = tail.strip_prefix('!') {
            let mut chars = t.chars();
            conversion = chars.next();
            tail = chars.as_str();
            if !matches!(conversion, Some('r' | 's' | 'a')) {
                return Err(bad("a conversion must be `!r` or `!s`"));
            }
            if !tail.is_empty() && !tail.starts_with(':') {
                return Err(bad("expected `:` after the conversion"));
            }
        }
        // the field's own argument is numbered before those of its spec
        let value = self.lookup(vm, name)?;
        let spec = match tail.strip_prefix(':') {
            Some(spec) if spec.contains('{') => self.expand(vm, spec, depth + 1)?,
            Some(spec) => spec.to_string(),
            None => String::new(),
        };
        let value = match conversion {
            Some('r' | 'a') => Value::string(to_repr(vm, &value)?),
            Some(_) => Value::string(to_display(vm, &value)?),
            None => value,
        };
        format_value(vm, &value, &spec)
    }

    /// The value a field name refers to: `name`, `0`, or nothing, then any
    /// `.attr` and `[index]` parts.
    fn lookup(&mut self, vm: &mut Vm, name: &str) -> VmResult<Value> {
        let first_end = name.find(['.', '[']).unwrap_or(name.len());
        let (first, mut rest) = name.split_at(first_end);
        let mut value = if first.is_empty() {
            let i = match self.numbering {
                Numbering::Manual => {
                    return Err(bad(
                        "cannot switch from numbered fields ({0}) to automatic ones ({})",
                    ));
                }
                Numbering::None => 0,
                Numbering::Auto(i) => i,
            };
            self.numbering = Numbering::Auto(i + 1);
            self.positional(i)?
        } else if first.bytes().all(|b| b.is_ascii_digit()) {
            if let Numbering::Auto(_) = self.numbering {
                return Err(bad(
                    "cannot switch from automatic fields ({}) to numbered ones ({0})",
                ));
            }
            self.numbering = Numbering::Manual;
            self.positional(first.parse().unwrap_or(usize::MAX))?
        } else {
            self.args.named(first).cloned().ok_or_else(|| {
                Exc::new("KeyError", format!("format(): no argument named {first:?}"))
            })?
        };
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad("empty attribute name in a field"));
                }
                let sym = vm.interner.intern(&r[..end]);
                value = vm.get_attr(&value, sym)?;
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| bad("`[` without `]` in a field"))?;
                let key = &r[..end];
                let key = match key.parse::<i64>() {
                    Ok(i) if key.bytes().all(|b| b.is_ascii_digit()) => Value::Int(i),
                    _ => Value::str(key),
                };
                value = vm.get_index(&value, &key)?;
                rest = &r[end + 1..];
            } else {
                return Err(bad("expected `.` or `[` in a field name"));
            }
        }
        Ok(value)
    }

    fn positional(&self, i: usize) -> VmResult<Value> {
        self.args.pos.get(i).cloned().ok_or_else(|| {
            Exc::new(
                "IndexError",
                format!(
                    "format(): field {i} is out of range ({} positional arguments)",
                    self.args.pos.len()
                ),
            )
        })
    }
}

/// Where a field's name ends: at `!` or `:` outside brackets.
fn name_end(field: &str) -> usize {
    let mut in_brackets = false;
    for (i, c) in field.char_indices() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            '!' | ':' if !in_brackets => return i,
            _ => {}
        }
    }
    field.len()
}

/// The offset of the `}` that closes a field starting just after its `{`.
fn field_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn format(vm: &mut Vm, this: &Value, args: Args) -> VmResult<Value> {
    let Value::Str(s) = this else {
        return Err(Exc::type_error(format!(
            "format() was called on {}",
            this.type_name()
        )));
    };
    Ok(Value::string(format_template(vm, s.as_str(), args)?))
}

pub const METHODS: &[(&str, MethodFn)] = &[("format", format)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::Config;

    fn fmt(template: &str, pos: Vec<Value>) -> Result<String, String> {
        let mut vm = Vm::new(
            Config::default(),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        );
        format_template(&mut vm, template, Args::new(&pos)).map_err(|e| e.kind().to_string())
    }

    #[test]
    fn fields_like_python() {
        let (a, b) = (|| Value::str("a"), || Value::Int(7));
        let ok = |s: &str| Ok(s.to_string());
        let err = |s: &str| Err(s.to_string());
        assert_eq!(fmt("{} + {}", vec![a(), b()]), ok("a + 7"));
        assert_eq!(fmt("{1}{0}{1}", vec![a(), b()]), ok("7a7"));
        assert_eq!(fmt("{{{}}}", vec![b()]), ok("{7}"));
        assert_eq!(fmt("{:>4}|{0!r:5}|", vec![a()]), err("ValueError"));
        assert_eq!(fmt("{0:>4}|{0!r:5}|", vec![a()]), ok("   a|\"a\"  |"));
        assert_eq!(fmt("{:{}}|", vec![a(), Value::Int(3)]), ok("a  |"));
        assert_eq!(fmt("{0[1]}", vec![Value::list(vec![a(), b()])]), ok("7"));
        assert_eq!(fmt("{:05.1f}", vec![Value::Float(2.25)]), ok("002.2"));
        assert_eq!(fmt("{} {}", vec![a()]), err("IndexError"));
        assert_eq!(fmt("{x}", vec![]), err("KeyError"));
        assert_eq!(fmt("a } b", vec![]), err("ValueError"));
        assert_eq!(fmt("a { b", vec![]), err("ValueError"));
    }
}
