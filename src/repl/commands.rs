//! Meta-commands: lines that start with `:`. They talk to the interpreter
//! through the same API as code entries; `:procs` reads the runtime's
//! bookkeeping (`runtime::process::child_rows`).

use super::{Flow, Repl};
use crate::Value;
use std::time::Instant;

const HELP: &str = "\
Enter code to run it; the value of an expression is printed.
An entry continues on `... ` lines while it is incomplete (open brackets or
blocks, a trailing operator, an open triple-quoted string); Ctrl-C drops it.
Write `} else {` on one line: a complete `if` runs at once.

  :help          this text
  :quit          leave (as Ctrl-D); child processes are joined first
  :load FILE     run a script file here; its definitions stay
  :vars          the globals defined so far, with their types and values
  :type EXPR     the type of EXPR's value
  :time EXPR     run EXPR and print how long it took
  :procs         the child processes and tasks of this session (pid, name, state)

Tab completes names, and after `.` the methods of the value's type.
Ctrl-C interrupts running code with KeyboardInterrupt; Ctrl-D exits.
";

/// Runs a meta-command line (already trimmed, starting with `:`).
pub(crate) fn run(repl: &mut Repl, line: &str) -> Flow {
    let (name, arg) = match line.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (line, ""),
    };
    match name {
        ":help" | ":h" | ":?" => print!("{HELP}"),
        ":quit" | ":q" | ":exit" => return Flow::Exit(0),
        ":load" => return load(repl, arg),
        ":vars" => vars(repl),
        ":type" => return with_expr(repl, ":type", arg, false),
        ":time" => return with_expr(repl, ":time", arg, true),
        ":procs" => procs(repl),
        _ => eprintln!("error: unknown command `{name}` (:help lists them)"),
    }
    Flow::Continue
}

fn load(repl: &mut Repl, path: &str) -> Flow {
    if path.is_empty() {
        eprintln!("error: usage: :load FILE");
        return Flow::Continue;
    }
    let result = {
        let mut interp = repl.interp.borrow_mut();
        // imports from the file resolve beside it, but only while it runs
        let dir = interp.vm.script_dir.clone();
        let r = interp.run_file(path);
        interp.vm.script_dir = dir;
        r
    };
    match result {
        Ok(()) => Flow::Continue,
        Err(e) => repl.report(e),
    }
}

/// `:type EXPR` and `:time EXPR`.
fn with_expr(repl: &mut Repl, name: &str, expr: &str, timed: bool) -> Flow {
    if expr.is_empty() {
        eprintln!("error: usage: {name} EXPR");
        return Flow::Continue;
    }
    let start = Instant::now();
    let result = repl.eval(expr);
    let elapsed = start.elapsed();
    match result {
        Ok(v) if timed => {
            repl.echo(&v);
            println!("time: {}", format_duration(elapsed.as_secs_f64()));
            Flow::Continue
        }
        Ok(v) => {
            println!("{}", v.type_name());
            Flow::Continue
        }
        Err(e) => {
            let flow = repl.report(e);
            if timed {
                println!("time: {}", format_duration(elapsed.as_secs_f64()));
            }
            flow
        }
    }
}

fn format_duration(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

/// Longest value shown by `:vars`.
const VAR_WIDTH: usize = 60;

fn vars(repl: &mut Repl) {
    let globals: Vec<(String, Value)> = {
        let mut interp = repl.interp.borrow_mut();
        let vm = &mut interp.vm;
        let mut slots: Vec<(u32, &std::rc::Rc<str>)> = vm.globals.units[vm.main_unit]
            .iter()
            .map(|(n, &s)| (s, n))
            .collect();
        slots.sort();
        slots
            .into_iter()
            .filter(|(_, n)| !n.starts_with('#') && &***n != "args")
            .filter_map(|(s, n)| {
                let v = vm.globals.values[s as usize].clone();
                (!matches!(v, Value::Undef)).then(|| (n.to_string(), v))
            })
            .collect()
    };
    if globals.is_empty() {
        println!("(no variables yet)");
    }
    for (name, v) in globals {
        let mut shown = repl.repr(&v);
        if shown.chars().count() > VAR_WIDTH {
            shown = shown.chars().take(VAR_WIDTH - 3).collect::<String>() + "...";
        }
        println!("{name}: {} = {shown}", v.type_name());
    }
}

/// The rows `:procs` prints: the child processes, then this process's
/// unfinished tasks (their pid is the REPL's own).
pub(crate) fn proc_rows(repl: &mut Repl) -> Vec<[String; 4]> {
    let mut interp = repl.interp.borrow_mut();
    let vm = &mut interp.vm;
    let mut rows: Vec<[String; 4]> = crate::runtime::process::child_rows(vm)
        .into_iter()
        .map(|r| {
            let kind = if r.daemon { "daemon" } else { "process" };
            [r.pid.to_string(), r.name, kind.to_string(), r.state]
        })
        .collect();
    let pid = std::process::id().to_string();
    for (name, state) in vm.task_rows() {
        rows.push([pid.clone(), name, "task".to_string(), state.to_string()]);
    }
    rows
}

fn procs(repl: &mut Repl) {
    let rows = proc_rows(repl);
    if rows.is_empty() {
        println!("(no child processes or tasks)");
        return;
    }
    let header = ["PID", "NAME", "KIND", "STATE"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
