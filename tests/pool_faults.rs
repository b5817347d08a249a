//! Behavioural tests of the process pool (section 14) that need signals or
//! counting processes: nothing left behind, Ctrl-C, a killed parent, workers
//! dying over and over. Each script runs in its own process group, tagged
//! through its environment so that any worker it leaves behind is found.

mod support;
use std::time::{Duration, Instant};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Pids listed after `prefix` on a line of stdout.
fn pids_after(line: &str) -> Vec<i32> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    // signal 0: only checks that the process exists; a zombie still does
    // SAFETY: kill with signal 0 sends nothing.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .map(|r| !r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
}

#[test]
fn no_worker_is_left_after_pools_used_every_way() {
    let r = run(
        r#"
fn sq(x) { return x * x }
fn slow(x) {
    sleep(30)
    return x
}
# close and join
let p = pool(3)
let total = sum(p.map(sq, range(100)))
p.apply_async(sq, [3], callback: fn(v) { total += v })
for v in p.imap_unordered(sq, range(10)) {
    total += v
}
p.close()
p.join()
# with
with pool(2) as q {
    total += q.apply(sq, [4])
    total += sum(q.starmap(fn(a, b) => a * b, [[1, 2], [3, 4]]))
}
# a half-consumed imap, then terminate with busy workers
let t = pool(2)
for v in t.imap(fn(x) { if x > 2 { sleep(30) } return x }, range(8)) {
    if v == 2 {
        break
    }
}
t.apply_async(slow, [1])
t.terminate()
# dead and retiring workers
let d = pool(2, maxtasksperchild: 2)
for x in range(6) {
    try {
        d.apply(fn(x) { if x % 3 == 0 { kill(getpid(), 9) } return x }, [x])
    } catch e {
        total += 1000
    }
}
d.close()
d.join()
# exit() in a task
let e = pool(1)
try {
    e.apply(fn() => exit(2))
} catch err {
    total += 10000
}
e.close()
e.join()
# a pool inside a task, and a pool in a spawned child
let n = pool(2)
total += sum(n.apply(fn() {
    with pool(2) as inner {
        return inner.map(sq, range(3))
    }
}))
n.close()
n.join()
fn child_pool() {
    let c = pool(2)
    c.apply_async(slow, [1])
    return c.apply(sq, [5])
}
total += (spawn child_pool()).join()
# left open with busy workers at the end of the script
let open = pool(2)
open.map_async(slow, range(4))
open.apply_async(slow, [2])
print(total)
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    // 328350 + 9 + 285 + 16 + 14 + 2 deaths * 1000 + 10000 for exit() + 5 + 25
    assert_eq!(r.stdout, "340704\n", "stderr: {}", r.stderr);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn workers_of_a_pool_never_closed_are_gone_after_exit() {
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
let p = pool(4)
let pids = p.map(fn(x) { sleep(0.2); return getpid() }, range(4), chunksize: 1)
print("pids", " ".join([str(x) for x in pids]))
p.apply_async(fn() { sleep(60) })
sleep(0.2)
"#,
    );
    let line = read_line_starting(&mut child, "pids", Duration::from_secs(20))
        .expect("the script prints its workers' pids");
    let pids = pids_after(&line);
    assert_eq!(pids.len(), 4, "{line}");
    let r = finish(&tag, child, LIMIT);
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
    for pid in pids {
        assert!(!alive(pid), "worker {pid} outlived the script");
    }
}

#[test]
fn workers_of_a_dropped_pool_do_not_pile_up() {
    // a pool that is no longer reachable (made in a function that returned)
    // ends its workers, as Python's does when it is garbage-collected
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
fn use_a_pool() {
    let p = pool(4)
    return p.apply(fn() => 1)
}
let n = 0
for i in range(20) {
    n += use_a_pool()
}
sleep(0.5)
print("made", n)
sleep(60)
"#,
    );
    let line = read_line_starting(&mut child, "made", Duration::from_secs(30))
        .expect("the script makes its pools");
    assert_eq!(line, "made 20");
    // the script, and at most the workers of the last pool (a reference to
    // it may linger in the interpreter until something overwrites it)
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = tagged(&tag).len();
    while count > 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        count = tagged(&tag).len();
    }
    // SAFETY: signalling the group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let r = finish(&tag, child, LIMIT);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
    assert!(
        count <= 5,
        "{} processes alive (the script and {} workers of dropped pools)",
        count,
        count - 1
    );
}

fn ctrl_c_during_map(script: &str) {
    let tag = new_tag();
    let mut child = start(&tag, script);
    read_line_starting(&mut child, "ready", Duration::from_secs(20)).expect("ready");
    // let the map get going
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    // the terminal sends SIGINT to the whole foreground group
    // SAFETY: signalling the group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let r = finish(&tag, child, LIMIT);
    let took = sent.elapsed();
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.code, Some(130), "stderr: {}", r.stderr);
    assert_eq!(
        r.stderr.matches("KeyboardInterrupt").count(),
        1,
        "stderr: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("PoolWorker"), "stderr: {}", r.stderr);
    assert!(!r.stdout.contains("finished"), "stdout: {}", r.stdout);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
    // with 100 tasks of 0.5 s on 2 workers, waiting for them takes 25 s
    assert!(
        took < Duration::from_secs(10),
        "Ctrl-C took {took:?} to end the script"
    );
}

#[test]
fn ctrl_c_during_a_long_map_ends_the_script_once() {
    ctrl_c_during_map(
        r#"
fn slow(x) {
    sleep(0.5)
    return x
}
let p = pool(2)
print("ready", flush: true)
print(sum(p.map(slow, range(100), chunksize: 1)))
print("finished")
"#,
    );
}

#[test]
fn ctrl_c_during_a_long_map_in_a_with_block_ends_the_script_once() {
    ctrl_c_during_map(
        r#"
fn slow(x) {
    sleep(0.5)
    return x
}
with pool(2) as p {
    print("ready", flush: true)
    print(sum(p.map(slow, range(100), chunksize: 1)))
}
print("finished")
"#,
    );
}

#[test]
fn ctrl_c_while_iterating_imap_with_busy_workers() {
    ctrl_c_during_map(
        r#"
fn spin(x) {
    let n = 0
    while true {
        n += 1
    }
}
let p = pool(2)
print("ready", flush: true)
for v in p.imap(spin, range(10)) {
    print(v)
}
print("finished")
"#,
    );
}

#[test]
fn ctrl_c_during_join_ends_the_script_once() {
    ctrl_c_during_map(
        r#"
fn slow(x) {
    sleep(0.5)
    return x
}
let p = pool(2)
let rs = [p.apply_async(slow, [x]) for x in range(100)]
p.close()
print("ready", flush: true)
p.join()
print("finished")
"#,
    );
}

#[test]
fn ctrl_c_during_get_and_sleep_ends_the_script_once() {
    for wait in ["r.get()", "r.get(timeout: 50)", "r.wait()", "sleep(50)"] {
        ctrl_c_during_map(&format!(
            r#"
let p = pool(2)
let r = p.apply_async(fn() {{ sleep(50) }})
p.map_async(fn(x) {{ sleep(0.5) }}, range(100), chunksize: 1)
print("ready", flush: true)
{wait}
print("finished")
"#
        ));
    }
}

#[test]
fn workers_die_with_a_killed_parent() {
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let tag = new_tag();
        let mut child = start(
            &tag,
            r#"
fn busy(x) {
    if x % 2 == 0 {
        while true {
        }
    }
    sleep(60)
    return x
}
let p = pool(4)
let pids = p.map(fn(x) { sleep(0.2); return getpid() }, range(4), chunksize: 1)
let r = p.map_async(busy, range(8), chunksize: 1)
sleep(0.3)
print("pids", " ".join([str(x) for x in pids]))
r.get(timeout: 60)
"#,
        );
        let line = read_line_starting(&mut child, "pids", Duration::from_secs(20))
            .expect("the script prints its workers' pids");
        let pids = pids_after(&line);
        assert_eq!(pids.len(), 4, "{line}");
        // SAFETY: signalling only the script's own process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let _ = child.wait();
        let left = wait_for_no_tagged(&tag, Duration::from_secs(5));
        for &p in &left {
            // SAFETY: killing processes this test started (they carry its tag).
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        assert!(
            left.is_empty(),
            "workers outlived their parent (signal {signal}): {left:?}"
        );
    }
}

#[test]
fn eight_workers_dying_after_every_task_still_sum_right() {
    let started = Instant::now();
    let r = run(
        r#"
let p = pool(8, maxtasksperchild: 1)
let pids = p.map(fn(x) => [x * x, getpid()], range(200), chunksize: 1)
print(sum([x[0] for x in pids]), len({x[1]: true for x in pids}))
let rs = [p.apply_async(fn(x) => x + 1, [x]) for x in range(200)]
print(sum([r.get(timeout: 30) for r in rs]))
let it = 0
for v in p.imap_unordered(fn(x) => x, range(200)) {
    it += v
}
print(it)
p.close()
p.join()
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(
        r.stdout, "2646700 200\n20100\n19900\n",
        "stderr: {}",
        r.stderr
    );
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
    assert!(started.elapsed() < LIMIT);
}

#[test]
fn errors_in_tasks_are_sent_back_not_printed_by_workers() {
    let r = run(
        r#"
let p = pool(2)
for i in range(5) {
    try {
        p.apply(fn() { throw error("TaskError", "in a task") })
    } catch e {
    }
}
try {
    p.map(fn(x) => 1 // 0, range(10))
} catch e {
}
try {
    p.apply(fn() => exit(4))
} catch e {
    print(e.kind)
}
p.close()
p.join()
print("done")
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.stdout, "WorkerDied\ndone\n", "stderr: {}", r.stderr);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stderr, "", "workers printed something");
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn an_uncaught_task_error_ends_the_script_without_leftovers() {
    let r = run(
        r#"
fn slow(x) {
    sleep(30)
    return x
}
let p = pool(2)
p.apply_async(slow, [1])
p.apply(fn() { throw error("TaskError", "nobody catches this") })
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.code, Some(1), "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("TaskError: nobody catches this"),
        "stderr: {}",
        r.stderr
    );
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn workers_killed_from_outside_at_random_moments_never_lose_a_task() {
    // the parent kills a worker while tasks stream through the pool; every
    // task must end with its value or WorkerDied, never stay pending
    let r = run(
        r#"
let p = pool(4)
let lost = 0
let died = 0
let ok = 0
for round in range(1000) {
    let rs = [p.apply_async(fn(x) => getpid(), [x]) for x in range(20)]
    let pid = rs[0].get(timeout: 10)
    kill(pid, 9)
    for r in rs {
        try {
            r.get(timeout: 3)
            ok += 1
        } catch e {
            if e.kind == "Timeout" {
                lost += 1
            } else {
                died += 1
            }
        }
    }
}
print("lost", lost)
print("total", ok + died)
p.terminate()
"#,
        Duration::from_secs(200),
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.stdout, "lost 0\ntotal 20000\n", "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}
