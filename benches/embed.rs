//! Issue 6's benchmark: the cost of one host→script call and one script→host
//! call, in proc and in Lua 5.4 (mlua, built from source), doing the same.
//!
//! - host→script: Rust calls the script function `f(x) = x + 1` with an int
//!   and converts the int result, through a function handle on both sides
//!   (`Interpreter::call_function` / mlua's `Function::call`); proc's `call`
//!   by name is shown too.
//! - script→host: a script loop calls a Rust closure `h(x) = x + 1`; the cost
//!   of the same loop without the call is subtracted.
//!
//! The machine may be busy: each figure is measured over several rounds and
//! printed as min / median / max.
//!
//! Run: `cargo bench --bench embed`.

use mlua::Lua;
use proc_lang::Interpreter;
use std::time::Instant;

const CALLS: i64 = 1_000_000;
const ROUNDS: usize = 7;

/// Nanoseconds per call of `f`, which makes `CALLS` calls.
fn ns_per_call(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

/// min, median, max of `ROUNDS` measurements.
fn spread(f: &mut dyn FnMut() -> f64) -> [f64; 3] {
    let mut xs: Vec<f64> = (0..ROUNDS).map(|_| f()).collect();
    xs.sort_by(f64::total_cmp);
    [xs[0], xs[ROUNDS / 2], xs[ROUNDS - 1]]
}

fn proc_host_to_script() -> f64 {
    let mut interp = Interpreter::new();
    interp
        .eval::<()>("fn f(x) { return x + 1 }")
        .expect("define f");
    let f = interp.function("f").expect("f");
    ns_per_call(&mut || {
        let mut acc = 0i64;
        for i in 0..CALLS {
            acc += interp.call_function::<i64>(&f, (i,)).expect("call f");
        }
        std::hint::black_box(acc);
    })
}

/// The same through `call` by name (a hash lookup per call).
fn proc_host_to_script_by_name() -> f64 {
    let mut interp = Interpreter::new();
    interp
        .eval::<()>("fn f(x) { return x + 1 }")
        .expect("define f");
    ns_per_call(&mut || {
        let mut acc = 0i64;
        for i in 0..CALLS {
            acc += interp.call::<i64>("f", (i,)).expect("call f");
        }
        std::hint::black_box(acc);
    })
}

fn proc_script_to_host() -> f64 {
    let mut interp = Interpreter::new();
    interp.register_fn("h", |x: i64| x + 1);
    interp.set_global("n", CALLS);
    interp
        .eval::<()>(
            "fn with_calls() { let i = 0\nlet s = 0\nwhile i < n { s = h(i)\ni += 1 } return s }\n\
             fn without() { let i = 0\nlet s = 0\nwhile i < n { s = i\ni += 1 } return s }",
        )
        .expect("define the loops");
    let with = ns_per_call(&mut || {
        interp.call::<i64>("with_calls", ()).expect("loop");
    });
    let without = ns_per_call(&mut || {
        interp.call::<i64>("without", ()).expect("loop");
    });
    with - without
}

fn lua_host_to_script() -> f64 {
    let lua = Lua::new();
    lua.load("function f(x) return x + 1 end")
        .exec()
        .expect("define f");
    let f: mlua::Function = lua.globals().get("f").expect("f");
    ns_per_call(&mut || {
        let mut acc = 0i64;
        for i in 0..CALLS {
            acc += f.call::<i64>(i).expect("call f");
        }
        std::hint::black_box(acc);
    })
}

fn lua_script_to_host() -> f64 {
    let lua = Lua::new();
    let h = lua
        .create_function(|_, x: i64| Ok(x + 1))
        .expect("create h");
    lua.globals().set("h", h).expect("set h");
    lua.globals().set("n", CALLS).expect("set n");
    lua.load(
        "function with_calls() local s = 0 for i = 0, n - 1 do s = h(i) end return s end\n\
         function without() local s = 0 for i = 0, n - 1 do s = i end return s end",
    )
    .exec()
    .expect("define the loops");
    let with: mlua::Function = lua.globals().get("with_calls").expect("with_calls");
    let without: mlua::Function = lua.globals().get("without").expect("without");
    let t_with = ns_per_call(&mut || {
        with.call::<i64>(()).expect("loop");
    });
    let t_without = ns_per_call(&mut || {
        without.call::<i64>(()).expect("loop");
    });
    t_with - t_without
}

fn show(name: &str, p: [f64; 3], l: [f64; 3]) {
    println!(
        "{name:<14} {:>6.0} {:>6.0} {:>6.0}   {:>6.0} {:>6.0} {:>6.0}   {:>5.2} {:>5.2} {:>5.2}",
        p[0],
        p[1],
        p[2],
        l[0],
        l[1],
        l[2],
        p[0] / l[0],
        p[1] / l[1],
        p[2] / l[2]
    );
}

fn main() {
    println!("ns per call, {ROUNDS} rounds of {CALLS} calls: min median max");
    println!(
        "{:<14} {:>20}   {:>20}   {:>17}",
        "", "proc", "Lua 5.4 (mlua)", "proc/Lua"
    );
    show(
        "host->script",
        spread(&mut proc_host_to_script),
        spread(&mut lua_host_to_script),
    );
    show(
        "  (by name)",
        spread(&mut proc_host_to_script_by_name),
        spread(&mut lua_host_to_script),
    );
    show(
        "script->host",
        spread(&mut proc_script_to_host),
        spread(&mut lua_script_to_host),
    );
}
