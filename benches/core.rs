//! Issue 2's benchmark: fib(30) and a 10M-iteration while-loop in proc, CPython 3
//! and Lua 5.4, side by side. Targets: proc's time at most 1.0x Lua's and at
//! most 0.33x CPython's on both.
//!
//! Run: `cargo bench --bench core`.

mod common;
use common::*;

fn main() {
    let python = which("python3");
    let lua = which("lua5.4").or_else(|| which("lua"));
    let proc_dir = root().join("benches/proc");
    let lua_dir = root().join("benches/lua");
    let py_dir = shared_bench().join("python");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "workload", "proc", "CPython", "Lua 5.4", "proc/CPython", "proc/Lua"
    );
    for (name, arg) in [("fib", "30"), ("loop", "10000000")] {
        let time = |cmd: &std::path::Path, script: std::path::PathBuf| {
            let script = script.to_string_lossy().into_owned();
            best_of(3, true, || {
                run(cmd, &[&script, arg]).and_then(|o| number_after(&o, "seconds"))
            })
        };
        let p = time(&proc_bin(), proc_dir.join(format!("{name}.proc")));
        let c = python
            .as_ref()
            .and_then(|py| time(py, py_dir.join(format!("{name}.py"))));
        let l = lua
            .as_ref()
            .and_then(|lu| time(lu, lua_dir.join(format!("{name}.lua"))));
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>12} {:>12}",
            name,
            fmt(p, "s"),
            fmt(c, "s"),
            fmt(l, "s"),
            ratio(p, c),
            ratio(p, l)
        );
    }
}
