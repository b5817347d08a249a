//! Issues 3 and 4's benchmarks: processes, IPC and pools in proc, CPython's multiprocessing
//! (fork start method) and, where there is one, the C limit of the machine
//! (`../shared/bench/limits.c`), run in one go and printed side by side.
//!
//! Run: `cargo bench --bench processes`.

mod common;
use common::*;
use std::path::PathBuf;

/// One workload: its metric, N, whether lower is better, the C figure's
/// metric (if any) and the targets as (vs CPython, vs C) speed-up factors.
struct Workload {
    name: &'static str,
    metric: &'static str,
    n: &'static str,
    lower_is_better: bool,
    c_metric: Option<&'static str>,
    target: &'static str,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "spawn_join",
        metric: "spawn_join_us",
        n: "200",
        lower_is_better: true,
        c_metric: Some("fork_waitpid_us"),
        target: ">= 10x CPython, <= 1.5x C",
    },
    Workload {
        name: "queue_throughput",
        metric: "queue_items_per_s",
        n: "200000",
        lower_is_better: false,
        c_metric: None,
        target: ">= 40x CPython",
    },
    Workload {
        name: "pipe_pingpong",
        metric: "pipe_roundtrip_us",
        n: "20000",
        lower_is_better: true,
        c_metric: Some("socketpair_roundtrip_us"),
        target: ">= 3x CPython, <= 1.5x C",
    },
    Workload {
        name: "lock_counter",
        metric: "lock_incr_per_s",
        n: "100000",
        lower_is_better: false,
        c_metric: None,
        target: ">= 5x CPython",
    },
    Workload {
        name: "manager_dict",
        metric: "manager_updates_per_s",
        n: "5000",
        lower_is_better: false,
        c_metric: None,
        target: ">= 10x CPython",
    },
    Workload {
        name: "pool_map",
        metric: "pool_map_items_per_s",
        n: "200000",
        lower_is_better: false,
        c_metric: None,
        target: ">= 2x CPython",
    },
    Workload {
        name: "pool_apply_async",
        metric: "pool_apply_async_per_s",
        n: "20000",
        lower_is_better: false,
        c_metric: None,
        target: ">= 10x CPython",
    },
];

/// Builds the C reference program; its output lines are `metric value`.
fn c_limits() -> Option<String> {
    let cc = which("gcc").or_else(|| which("cc"))?;
    let exe = std::env::temp_dir().join("proc-bench-limits");
    let src = shared_bench().join("limits.c");
    let src = src.to_string_lossy().into_owned();
    let out = exe.to_string_lossy().into_owned();
    run(&cc, &["-O2", &src, "-o", &out])?;
    run(&PathBuf::from(&exe), &[])
}

fn main() {
    let python = which("python3");
    let limits = c_limits();
    println!(
        "{:<17} {:>14} {:>14} {:>12} {:>9} {:>9}   target",
        "workload", "proc", "CPython", "C", "speedup", "vs C"
    );
    for w in WORKLOADS {
        let script = root().join(format!("benches/proc/{}.proc", w.name));
        if !script.exists() {
            println!("{:<17} (no proc workload yet)", w.name);
            continue;
        }
        let measure = |cmd: &std::path::Path, script: PathBuf| {
            let script = script.to_string_lossy().into_owned();
            best_of(3, w.lower_is_better, || {
                run(cmd, &[&script, w.n]).and_then(|o| number_after(&o, w.metric))
            })
        };
        let p = measure(&proc_bin(), script);
        let c = python
            .as_ref()
            .and_then(|py| measure(py, shared_bench().join(format!("python/{}.py", w.name))));
        let lim = w
            .c_metric
            .and_then(|m| limits.as_deref().and_then(|t| number_after(t, m)));
        // speed-up: how many times better proc is (time ratio or rate ratio)
        let better = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                let x = if w.lower_is_better { b / a } else { a / b };
                format!("{x:.2}x")
            }
            _ => "n/a".into(),
        };
        let vs_c = match (p, lim) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "".into(),
        };
        println!(
            "{:<17} {:>14} {:>14} {:>12} {:>9} {:>9}   {}",
            w.name,
            fmt(p, ""),
            fmt(c, ""),
            fmt(lim, ""),
            better(p, c),
            vs_c,
            w.target
        );
    }
    println!("(times in µs, rates per second; speedup = how many times better than CPython;");
    println!(" vs C = proc's time over C's for the same operation)");
}
