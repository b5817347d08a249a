//! Issue 5's benchmark: generator resumes per second (`next(g)` on a
//! generator that counts) in proc, CPython 3 (`../shared/bench/python/
//! generator.py`) and Lua 5.4 coroutines, side by side. Targets: proc at
//! least 2x CPython's rate and at least Lua's.
//!
//! Run: `cargo bench --bench coro`. Each figure is the best of five runs.

mod common;
use common::*;

fn main() {
    let python = which("python3");
    let lua = which("lua5.4").or_else(|| which("lua"));
    let n = "2000000";
    let key = "generator_resumes_per_s";
    let rate = |cmd: &std::path::Path, script: std::path::PathBuf| {
        let script = script.to_string_lossy().into_owned();
        best_of(5, false, || {
            run(cmd, &[&script, n]).and_then(|o| number_after(&o, key))
        })
    };
    let p = rate(&proc_bin(), root().join("benches/proc/generator.proc"));
    let c = python
        .as_ref()
        .and_then(|py| rate(py, shared_bench().join("python/generator.py")));
    let l = lua
        .as_ref()
        .and_then(|lu| rate(lu, root().join("benches/lua/generator.lua")));
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "workload", "proc", "CPython", "Lua 5.4", "proc/CPython", "proc/Lua"
    );
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "generator resumes/s",
        fmt(p, ""),
        fmt(c, ""),
        fmt(l, ""),
        ratio(p, c),
        ratio(p, l)
    );
}
