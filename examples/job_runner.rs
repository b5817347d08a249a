//! A job runner: the host exposes a function (a checksum it computes in
//! Rust), a script fans the jobs out to a pool of worker processes that call
//! it, and the host collects the results. The pool's workers are forks of
//! this process, so the host function registered before the pool works in
//! them too.
//!
//! `spawn` and `pool` need a single-threaded host (see docs/embedding.md):
//! this program starts no threads.
//!
//! Run: `cargo run --example job_runner`

use proc_lang::Interpreter;
use std::io::Write;

const SCRIPT: &str = r#"
fn work(job) {
    # runs in a worker process
    return {"name": job, "sum": checksum(job), "worker": getpid() != host_pid}
}

fn run_jobs(jobs, workers) {
    let results = nil
    with pool(workers) as p {
        results = p.map(work, jobs)
    }
    return results
}
"#;

/// FNV-1a: the "expensive" host-side work.
fn checksum(text: String) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h >> 16) as i64
}

/// Runs the jobs through a pool of two workers, writing the report to `out`.
pub fn run(out: &mut dyn Write) -> Result<(), Box<dyn std::error::Error>> {
    let mut runner = Interpreter::builder()
        .allow_files(false)
        .stdout(std::io::sink())
        .build();
    runner.register_fn("checksum", checksum);
    runner.set_global("host_pid", std::process::id() as i64);
    runner.run_source("jobs.proc", SCRIPT)?;
    let jobs: Vec<String> = (1..=6).map(|i| format!("job-{i}")).collect();
    let results: Vec<std::collections::HashMap<String, proc_lang::Value>> =
        runner.call("run_jobs", (jobs.clone(), 2))?;
    let mut all_in_workers = true;
    for (job, r) in jobs.iter().zip(&results) {
        let sum = r["sum"].as_int().unwrap_or(-1);
        assert_eq!(
            sum,
            checksum(job.clone()),
            "the worker computed what the host would"
        );
        all_in_workers &= r["worker"].as_bool() == Some(true);
        writeln!(out, "{}: {sum:x}", r["name"])?;
    }
    writeln!(
        out,
        "{} jobs, all in worker processes: {all_in_workers}",
        results.len()
    )?;
    // a job that fails in a worker comes back as an error the host can read
    runner.eval::<()>("fn bad(job) { return checksum(job) }")?;
    let e = runner
        .eval::<()>("with pool(2) as p { p.map(bad, [\"ok\", 3]) }")
        .unwrap_err();
    writeln!(out, "bad job: {}: {}", e.kind(), e.message())?;
    Ok(())
}

#[allow(dead_code)]
fn main() {
    if let Err(e) = run(&mut std::io::stdout()) {
        eprint!("{e}");
        std::process::exit(1);
    }
}
