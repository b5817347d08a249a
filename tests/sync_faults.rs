//! Section 12's promise that a lock held by a process that dies is not lost:
//! a child takes a lock (or semaphore units...) and is killed with SIGKILL
//! while holding it; the parent's next `acquire(timeout: 5)` must succeed and
//! stderr must carry a warning naming the dead pid. Also: blocking waits give
//! way to an interrupt from the host.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs `proc -e CODE`; returns (stdout, stderr, exit status).
fn run(code: &str) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_proc"))
        .arg("-e")
        .arg(code)
        .output()
        .expect("run proc");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A script in which a child runs `take` (acquiring `x`), tells the parent,
/// and sleeps until it is killed; the parent then prints the child's pid and
/// `after`'s value. With `reap`, the parent reaps the child before `after`;
/// without, the child is still a zombie while the parent recovers.
fn killed_holder(make: &str, take: &str, after: &str, reap: bool) -> String {
    let (reap_before, reap_after) = if reap {
        ("print(waitpid(pid))", "")
    } else {
        ("", "print(waitpid(pid))")
    };
    format!(
        r#"
let x = {make}
let held = event()
let pid = fork()
if pid == 0 {{
    {take}
    held.set()
    sleep(30)
    exit(0)
}}
print(held.wait(timeout: 5))
kill(pid, 9)
{reap_before}
print("pid", pid)
print({after})
{reap_after}
"#
    )
}

/// The pid the script printed as `pid N`.
fn pid_in(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .expect("the script prints the child's pid")
        .to_string()
}

fn check_recovered(script: &str, expect_out: &[&str], what: &str) {
    let started = Instant::now();
    let (out, err, status) = run(script);
    assert_eq!(status, 0, "stdout:\n{out}\nstderr:\n{err}");
    let pid = pid_in(&out);
    for line in expect_out {
        assert!(out.contains(line), "missing {line:?} in stdout:\n{out}");
    }
    let it = if what.ends_with('s') { "them" } else { "it" };
    let warning = format!("warning: {what} recovered from process {pid}, which died holding {it}");
    assert!(
        err.contains(&warning),
        "missing {warning:?} in stderr:\n{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn lock_of_a_killed_child_is_recovered() {
    let script = killed_holder("lock()", "x.acquire()", "x.acquire(timeout: 5)", true);
    check_recovered(&script, &["true\n-9\n", "\ntrue\n"], "lock");
}

#[test]
fn lock_of_an_unreaped_killed_child_is_recovered() {
    let script = killed_holder("lock()", "x.acquire()", "x.acquire(timeout: 5)", false);
    check_recovered(&script, &["\ntrue\n-9\n"], "lock");
}

#[test]
fn rlock_of_a_killed_child_is_recovered() {
    let script = killed_holder(
        "rlock()",
        "x.acquire(); x.acquire()",
        "[x.acquire(timeout: 5), x]",
        true,
    );
    check_recovered(&script, &["[true, <RLock locked, count 1>]"], "rlock");
}

#[test]
fn value_lock_of_a_killed_child_is_recovered() {
    let script = killed_holder(
        "value(5)",
        "x.lock.acquire(); x.value = 6",
        "[x.lock.acquire(timeout: 5), x.value]",
        true,
    );
    check_recovered(&script, &["[true, 6]"], "lock");
}

#[test]
fn semaphore_units_of_a_killed_child_are_recovered() {
    let script = killed_holder(
        "semaphore(2)",
        "x.acquire(); x.acquire()",
        "[x.acquire(timeout: 5), x.get_value()]",
        true,
    );
    check_recovered(&script, &["[true, 1]"], "2 semaphore units");
}

#[test]
fn semaphore_unit_of_a_zombie_child_is_recovered() {
    // not reaped: the child is a zombie while the parent acquires
    let script = killed_holder(
        "bounded_semaphore(1)",
        "x.acquire()",
        "[x.acquire(timeout: 5), x.get_value()]",
        false,
    );
    check_recovered(&script, &["[true, 0]\n-9"], "semaphore unit");
}

#[test]
fn killed_child_without_units_changes_nothing() {
    // the child takes a unit and gives it back: nothing to recover
    let script = killed_holder(
        "semaphore(1)",
        "x.acquire(); x.release()",
        "[x.acquire(timeout: 5), x.get_value()]",
        true,
    );
    let (out, err, status) = run(&script);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("[true, 0]"), "{out}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn timeouts_are_honoured() {
    let (out, err, status) = run(r#"
let l = lock()
l.acquire()
let t = monotonic()
print(l.acquire(timeout: 0.2), semaphore(0).acquire(timeout: 0.2), event().wait(timeout: 0.2))
let c = condition()
with c { print(c.wait(timeout: 0.2)) }
let b = barrier(2)
try { b.wait(timeout: 0.2) } catch e { print(e.kind) }
let spent = monotonic() - t
print(spent >= 0.9, spent < 5)
"#);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "false false false\nfalse\nBrokenBarrier\ntrue true\n");
}

/// Every blocking wait gives way to an interrupt (Ctrl-C, or the host's
/// interrupt flag) within a slice.
#[test]
fn blocking_waits_are_interruptible() {
    let waits = [
        "let l = lock(); l.acquire(); l.acquire()",
        "semaphore(0).acquire()",
        "event().wait()",
        "let c = condition(); with c { c.wait() }",
        "let c = condition(); with c { c.wait_for(fn() => false) }",
        "barrier(2).wait()",
    ];
    for code in waits {
        let mut interp = proc_lang::Interpreter::new();
        let flag = interp.interrupt_flag();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
        });
        let started = Instant::now();
        let r = interp.eval_value(code);
        setter.join().expect("the interrupting thread");
        let err = r.expect_err(code);
        assert_eq!(err.kind(), "KeyboardInterrupt", "{code}");
        assert!(started.elapsed() < Duration::from_secs(5), "{code}");
    }
}
