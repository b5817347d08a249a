//! Behavioural tests of section 15's tasks that need timing, other processes
//! or scale: tasks sleeping together, a task waiting for a child while another
//! runs, a queue fed by a child, cancel and timeouts, and 100,000 sleeping
//! tasks. Every wait in the scripts has a timeout, and every run a time limit.

mod support;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn ok(r: &Run) {
    assert!(
        !r.timed_out,
        "timed out; stdout: {} stderr: {}",
        r.stdout, r.stderr
    );
    assert_eq!(r.code, Some(0), "stdout: {} stderr: {}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn tasks_interleave_deterministically_with_pause() {
    let script = r#"
fn worker(name, n) {
    for i in range(n) {
        print(name, i)
        pause()
    }
    return n
}
let ts = [go worker(name, n) for [name, n] in [["a", 3], ["b", 1], ["c", 2]]]
print(join_all(ts, timeout: 10))
"#;
    let want = "a 0\nb 0\nc 0\na 1\nc 1\na 2\n[3, 1, 2]\n";
    for _ in 0..5 {
        let r = run(script, LIMIT);
        ok(&r);
        assert_eq!(r.stdout, want);
    }
}

#[test]
fn ten_tasks_sleeping_a_fifth_of_a_second_finish_together() {
    // timing is the behaviour here: sequential sleeps would take 2 s
    let r = run(
        r#"
fn nap(i) {
    sleep(0.2)
    return i
}
let t0 = monotonic()
let rs = join_all([go nap(i) for i in range(10)], timeout: 10)
let took = monotonic() - t0
print(rs, took >= 0.2, took < 0.5)
"#,
        LIMIT,
    );
    ok(&r);
    assert_eq!(r.stdout, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9] true true\n");
}

#[test]
fn a_task_waiting_on_process_join_lets_another_task_run() {
    let r = run(
        r#"
fn child() {
    sleep(0.4)
    return "child result"
}
fn ticker() {
    let ticks = 0
    while not waiter.done() {
        ticks += 1
        sleep(0.02)
    }
    return ticks
}
let p = spawn child()
let waiter = go p.join(timeout: 10)
let t = go ticker()
print(waiter.join(timeout: 10))
let ticks = t.join(timeout: 10)
print(ticks >= 5, p.exitcode)
"#,
        LIMIT,
    );
    ok(&r);
    assert_eq!(r.stdout, "child result\ntrue 0\n");
}

#[test]
fn a_task_blocked_on_queue_get_while_a_child_puts() {
    let r = run(
        r#"
let q = queue()
fn child() {
    for i in range(5) {
        sleep(0.05)
        q.put(i)
    }
}
fn consumer() {
    let got = []
    for i in range(5) {
        got.append(q.get(timeout: 10))
    }
    return got
}
fn counter() {
    let n = 0
    while not c.done() {
        n += 1
        pause()
    }
    return n
}
let p = spawn child()
let c = go consumer()
let k = go counter()
print(c.join(timeout: 10), k.join(timeout: 10) > 10)
p.join(timeout: 10)
"#,
        LIMIT,
    );
    ok(&r);
    assert_eq!(r.stdout, "[0, 1, 2, 3, 4] true\n");
}

#[test]
fn cancel_and_join_timeouts() {
    let r = run(
        r#"
fn long() {
    try {
        sleep(60)
    } finally {
        print("finally")
    }
}
let t = go long()
try {
    t.join(timeout: 0.05)
} catch e {
    print(e.kind, t.done())
}
print(t.cancel())
try {
    t.join(timeout: 10)
} catch e {
    print(e.kind, t.done(), t.cancel())
}
"#,
        LIMIT,
    );
    ok(&r);
    assert_eq!(
        r.stdout,
        "Timeout false\ntrue\nfinally\nCancelledError true false\n"
    );
}

#[test]
fn main_ending_drops_unfinished_tasks() {
    let r = run(
        r#"
fn forever() {
    while true {
        sleep(0.01)
    }
}
go forever()
sleep(0.05)
print("main done")
"#,
        LIMIT,
    );
    ok(&r);
    assert_eq!(r.stdout, "main done\n");
}

#[test]
fn a_failure_nobody_joined_is_reported_at_the_end() {
    let r = run(
        r#"
fn fail() {
    throw error("Oops", "lost")
}
go fail()
pause()
print("end")
"#,
        LIMIT,
    );
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stdout, "end\n");
    assert!(r.stderr.contains("Oops: lost"), "stderr: {}", r.stderr);
}

/// 100,000 tasks each blocked in `sleep` at once, under 200 MB of peak RSS;
/// `cargo test --test tasks -- --nocapture` prints the bytes per task.
#[test]
fn a_hundred_thousand_sleeping_tasks() {
    let r = run(
        r#"
fn peak_kb() {
    for line in read_file("/proc/self/status").split("\n") {
        if line.startswith("VmHWM:") {
            return int(line.split()[1])
        }
    }
    return 0
}
let base = peak_kb()
fn nap(i) {
    sleep(1.0)
    return i
}
let n = 100000
let ts = [go nap(i) for i in range(n)]
pause()
let rs = join_all(ts, timeout: 60)
let total = 0
for x in rs {
    total += x
}
let peak = peak_kb()
print(len(rs), total == n * (n - 1) // 2, peak < 200 * 1024)
eprint(f"peak RSS {peak} kB; {(peak - base) * 1024 // n} bytes per task")
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out");
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    eprintln!("{}", r.stderr.trim());
    assert_eq!(r.stdout, "100000 true true\n");
}
