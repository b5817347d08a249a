//! Behavioural tests of managers (section 13) that need killing, signals or
//! counting processes: a client killed while holding a manager lock, scripts
//! that end without shutting their manager down, a killed owner, Ctrl-C while
//! waiting on the server; and never a process left behind.

mod support;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_lock_held_by_a_killed_client_is_released() {
    let r = run(
        r#"
fn holder(lk, ready) {
    lk.acquire()
    ready.put(getpid())
    while true {
        sleep(0.05)
    }
}
with manager() as m {
    let lk = m.lock()
    let ready = m.queue()
    let p = spawn holder(lk, ready)
    let pid = ready.get(timeout: 20)
    print(lk.acquire(block: false))
    p.kill()
    p.join()
    print(lk.acquire(timeout: 10), lk.locked())
    lk.release()
    print("holder", pid)
}
"#,
        LIMIT,
    );
    assert!(!r.timed_out, "timed out; stderr: {}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[..2], ["false", "true true"], "stderr: {}", r.stderr);
    let pid = lines[2].strip_prefix("holder ").expect("the holder's pid");
    assert!(
        r.stderr.contains(&format!(
            "warning: process {pid} ended while holding a manager lock"
        )),
        "stderr: {}",
        r.stderr
    );
    assert_eq!(r.code, Some(0));
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}

#[test]
fn a_script_that_never_shuts_its_manager_down_leaves_nothing_behind() {
    let endings = [
        ("", Some(0)),
        ("exit(3)", Some(3)),
        ("throw \"failed\"", Some(1)),
    ];
    for (ending, code) in endings {
        let r = run(
            &format!(
                r#"
fn child_with_its_own_manager() {{
    let mine = manager()
    mine.dict()["x"] = 1
    return "child done"
}}
fn user(d) {{
    sleep(0.2)
    d["late"] = "still served"
}}
let m = manager()
let d = m.dict()
d["x"] = 1
print((spawn child_with_its_own_manager()).join())
spawn user(d)
{ending}
"#
            ),
            LIMIT,
        );
        assert!(!r.timed_out, "{ending}: timed out; stderr: {}", r.stderr);
        assert_eq!(r.stdout, "child done\n", "{ending}: stderr: {}", r.stderr);
        assert!(
            !r.stderr.contains("has shut down"),
            "{ending}: a child outlived the manager: {}",
            r.stderr
        );
        assert_eq!(r.code, code, "{ending}: stderr: {}", r.stderr);
        assert!(
            r.leftovers.is_empty(),
            "{ending}: left behind: {:?}",
            r.leftovers
        );
    }
}

#[test]
fn the_server_dies_with_a_killed_owner() {
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
let m = manager()
let d = m.dict()
d["x"] = 1
print("ready", m)
while true {
    sleep(0.05)
}
"#,
    );
    let line = read_line_starting(&mut child, "ready", Duration::from_secs(20))
        .expect("the script starts its manager");
    assert!(line.contains("<Manager pid="), "{line}");
    child.kill().expect("SIGKILL the owner");
    let _ = child.wait();
    let left = wait_for_no_tagged(&tag, Duration::from_secs(10));
    assert!(left.is_empty(), "the server outlived its owner: {left:?}");
}

#[test]
fn ctrl_c_while_waiting_on_the_server_is_a_keyboard_interrupt() {
    let tag = new_tag();
    let mut child = start(
        &tag,
        r#"
with manager() as m {
    let q = m.queue()
    print("ready")
    try {
        q.get()
    } catch e {
        print("caught", e.kind)
    }
    # the server ignored Ctrl-C and the connection is still in step
    q.put(5)
    print(q.get(timeout: 10), q.qsize())
    q.get()
}
"#,
    );
    read_line_starting(&mut child, "ready", Duration::from_secs(20)).expect("ready");
    // the terminal sends SIGINT to the whole foreground group
    let group = -(child.id() as i32);
    let ctrl_c = || {
        // SAFETY: signalling the group this test created.
        unsafe { libc::kill(group, libc::SIGINT) };
    };
    ctrl_c();
    read_line_starting(
        &mut child,
        "caught KeyboardInterrupt",
        Duration::from_secs(20),
    )
    .expect("the first Ctrl-C is caught");
    read_line_starting(&mut child, "5 0", Duration::from_secs(20))
        .expect("the manager still works");
    // the last get is (very likely) waiting in the server by now
    std::thread::sleep(Duration::from_millis(100));
    ctrl_c();
    let r = finish(&tag, child, LIMIT);
    assert!(!r.timed_out);
    assert!(r.stderr.contains("KeyboardInterrupt"), "{}", r.stderr);
    assert_eq!(r.code, Some(130), "stderr: {}", r.stderr);
    assert!(r.leftovers.is_empty(), "left behind: {:?}", r.leftovers);
}
