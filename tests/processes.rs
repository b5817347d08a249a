//! Behavioural tests of section 10 that need timing, signals or counting
//! processes: many children at once, a killed parent, Ctrl-C, and no process
//! left behind by any of them.

mod support;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_hundred_and_fifty_children_at_once() {
    let r = run(
        r#"
fn work(i) {
    sleep(0.3)          # all alive at the same time
    return i
}
let ps = [spawn work(i) for i in range(150)]
let total = 0
for p in ps {
    total += p.join()
}
print(total, len([p for p in ps if p.exitcode == 0]))
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    assert_eq!(r.stdout, "11175 150\n", "stderr: {}", r.stderr);
    assert_eq!(r.code, Some(0));
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn children_die_with_a_killed_parent() {
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
fn forever() {
    while true {
        sleep(0.05)
    }
}
let ps = [spawn forever() for i in range(3)]
print("pids", ps[0].pid, ps[1].pid, ps[2].pid)
while true {
    sleep(0.05)
}
"#,
    );
    let line = read_line_starting(&mut child, "pids", Duration::from_secs(20))
        .expect("the script prints its children's pids");
    let pids: Vec<i32> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3);
    child.kill().expect("SIGKILL the parent");
    let _ = child.wait();
    let left = wait_for_no_tagged(&tag, Duration::from_secs(10));
    assert!(left.is_empty(), "children outlived their parent: {left:?}");
}

#[test]
fn ctrl_c_interrupts_the_parent_once_and_children_end_quietly() {
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
fn forever() {
    while true {
        sleep(0.05)
    }
}
let ps = [spawn forever() for i in range(3)]
print("ready")
while true {
    sleep(0.05)
}
"#,
    );
    read_line_starting(&mut child, "ready", Duration::from_secs(20)).expect("ready");
    // the terminal sends SIGINT to the whole foreground group
    // SAFETY: signalling the group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let r = finish(&tag, child, LIMIT);
    assert!(!r.timed_out);
    assert_eq!(r.code, Some(130), "stderr: {}", r.stderr);
    assert_eq!(
        r.stderr.matches("KeyboardInterrupt").count(),
        1,
        "stderr: {}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("Process Process-"),
        "stderr: {}",
        r.stderr
    );
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn uncaught_error_in_main_still_joins_children() {
    let r = run(
        r#"
fn late() {
    sleep(0.2)
    print("child done")
}
spawn late()
throw "main failed"
"#,
        LIMIT,
    );
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout, "child done\n");
    assert!(
        r.stderr.contains("error: Error: main failed"),
        "{}",
        r.stderr
    );
    assert!(r.leftovers.is_empty());
}

#[test]
fn grandchildren_are_joined_by_their_parents() {
    let r = run(
        r#"
fn leaf(i) {
    sleep(0.1)
    return i
}
fn branch(i) {
    let ps = [spawn leaf(i * 10 + k) for k in range(3)]
    return [p.join() for p in ps]
}
let ps = [spawn branch(i) for i in range(3)]
print([p.join() for p in ps])
"#,
        LIMIT,
    );
    assert_eq!(
        r.stdout, "[[0, 1, 2], [10, 11, 12], [20, 21, 22]]\n",
        "{}",
        r.stderr
    );
    assert!(r.leftovers.is_empty());
}

#[test]
fn raw_fork_children_are_reaped_by_waitpid() {
    let r = run(
        r#"
let pid = fork()
if pid == 0 {
    exit(5)
}
print(waitpid(pid))
"#,
        LIMIT,
    );
    assert_eq!(r.stdout, "5\n", "{}", r.stderr);
    assert!(r.leftovers.is_empty());
}
