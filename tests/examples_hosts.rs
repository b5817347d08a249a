//! The host programs in `examples/`, run and checked. Without the test
//! harness (`harness = false`): the job runner starts a pool, which needs a
//! single-threaded process.

#[path = "../examples/job_runner.rs"]
mod job_runner;
#[path = "../examples/rules_engine.rs"]
mod rules_engine;

/// An example's `run`: writes its report to the writer.
type Example = fn(&mut dyn std::io::Write) -> Result<(), Box<dyn std::error::Error>>;

fn output(run: Example) -> String {
    let mut out = Vec::new();
    if let Err(e) = run(&mut out) {
        panic!("the example failed: {e}");
    }
    String::from_utf8(out).expect("utf-8 output")
}

fn main() {
    assert_eq!(
        output(rules_engine::run),
        "ann: shipping 4.5
bob: hold: over credit limit; free shipping
eve: error Error: unknown customer eve
update rejected: ParseError at 2:29
weekend rule failed: NameError at 2:29 (name `discount_rate` is not defined)
ann again: free shipping
"
    );
    println!("ok: rules_engine");
    let jobs = output(job_runner::run);
    assert!(jobs.starts_with("job-1: "), "{jobs}");
    assert!(
        jobs.ends_with(
            "6 jobs, all in worker processes: true
bad job: TypeError: checksum(): argument 1 must be a str, not int
"
        ),
        "{jobs}"
    );
    assert_eq!(jobs.lines().count(), 8, "{jobs}");
    println!("ok: job_runner");
}
