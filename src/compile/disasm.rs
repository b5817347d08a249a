//! `proc --disasm FILE`: prints every function's instructions with their source
//! lines, constants and captures. The main tool for reading what the compiler did.

use super::chunk::Proto;
use crate::vm::Interner;
use std::fmt::Write;

pub fn disassemble(proto: &Proto, interner: &Interner) -> String {
    let mut out = String::new();
    write_proto(&mut out, proto, interner);
    out
}

fn write_proto(out: &mut String, p: &Proto, interner: &Interner) {
    let (line, _) = p.source.line_col(p.def_offset as usize);
    let _ = writeln!(
        out,
        "fn {} ({}:{}) params={:?} required={} regs={}{}{}",
        p.name,
        p.source.name,
        line,
        p.params.iter().map(|s| &**s).collect::<Vec<_>>(),
        p.nrequired,
        p.nregs,
        if p.is_method { " method" } else { "" },
        if p.is_generator { " generator" } else { "" },
    );
    if !p.captures.is_empty() {
        let _ = writeln!(out, "  captures: {:?}", p.captures);
    }
    for (i, k) in p.consts.iter().enumerate() {
        let _ = writeln!(out, "  K{i} = {}", crate::value::format::repr_plain(k));
    }
    for (i, s) in p.names.iter().enumerate() {
        let _ = writeln!(out, "  N{i} = {}", interner.name(*s));
    }
    let mut last_line = 0;
    for (ip, op) in p.code.iter().enumerate() {
        let (line, _) = p.source.line_col(p.offset_at(ip) as usize);
        let shown = if line != last_line {
            format!("{line:>4}")
        } else {
            "   |".to_string()
        };
        last_line = line;
        let _ = writeln!(out, "  {shown} {ip:>5}  {op:?}");
    }
    for child in &p.protos {
        out.push('\n');
        write_proto(out, child, interner);
    }
}
