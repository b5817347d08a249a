//! Process features from an embedding host (section 17). A test program of
//! its own without the test harness (`harness = false` in Cargo.toml): the
//! harness runs tests on threads, and `spawn` is refused in a process with
//! several threads, so these checks run one after another on the main thread
//! of a single-threaded process, as a host would.

use proc_lang::Interpreter;
use std::time::{Duration, Instant};

fn quiet() -> Interpreter {
    Interpreter::builder()
        .stdout(std::io::sink())
        .stderr(std::io::sink())
        .build()
}

/// Host functions registered before a spawn work in the children: they are
/// copies of the host process, closures included.
fn host_functions_work_in_children() {
    let mut interp = quiet();
    let host_pid = std::process::id() as i64;
    interp.register_fn("where_am_i", |tag: String| {
        format!("{tag} in {}", std::process::id())
    });
    interp.register_fn("host_pid", move || host_pid);
    interp
        .eval::<()>("fn child_work(t) { return [where_am_i(t), getpid(), host_pid()] }")
        .unwrap();
    let got: Vec<proc_lang::Value> = interp
        .eval("let p = spawn child_work(\"child\")\np.join()")
        .unwrap();
    let (text, pid, parent) = (
        got[0].as_str().unwrap().to_string(),
        got[1].as_int().unwrap(),
        got[2].as_int().unwrap(),
    );
    assert_ne!(pid, host_pid, "ran in a child");
    assert_eq!(text, format!("child in {pid}"));
    assert_eq!(parent, host_pid);
    // a host function spawned directly
    let s: String = interp
        .eval("(spawn where_am_i(\"direct\")).join()")
        .unwrap();
    assert!(s.starts_with("direct in ") && !s.ends_with(&format!(" {host_pid}")));
    // an error raised by a host function in a child is the child's error
    interp.register_fn("refuse", || -> Result<i64, String> { Err("no".into()) });
    let e: String = interp
        .eval("let q = spawn refuse()\nq.join()\nstr(q.exitcode) + \" \" + str(q.error)")
        .unwrap();
    assert_eq!(e, "1 Error: no");
    println!("ok: host functions work in spawned children");
}

/// A pool's workers call host functions, and results come back in order.
fn pools_use_host_functions() {
    let mut interp = quiet();
    interp.register_fn("weigh", |x: i64| x * 100 + 1);
    let v: Vec<i64> = interp
        .eval("fn job(x) { return weigh(x) + getpid() - getpid() }\nlet r = nil\nwith pool(2) as p { r = p.map(job, range(6)) }\nr")
        .unwrap();
    assert_eq!(v, [1, 101, 201, 301, 401, 501]);
    let v: Vec<i64> = interp
        .eval("with pool(2) as p { r = p.map(weigh, [7, 8]) }\nr")
        .unwrap();
    assert_eq!(v, [701, 801]);
    println!("ok: pools call host functions");
}

/// With another thread alive, spawn is refused with NotSupported; once the
/// thread is gone, it works again.
fn spawn_follows_the_thread_count() {
    let mut interp = quiet();
    interp.eval::<()>("fn one() { return 1 }").unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    for code in ["spawn one()", "pool(2)", "manager()", "fork()"] {
        let e = interp.eval::<()>(code).unwrap_err();
        assert_eq!(e.kind(), "NotSupported", "{code}");
        assert!(e.message().contains("other threads"), "{code}: {e}");
    }
    drop(tx);
    t.join().unwrap();
    // the kernel drops the thread from the count right after it exits
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match interp.eval::<i64>("(spawn one()).join()") {
            Ok(v) => {
                assert_eq!(v, 1);
                break;
            }
            Err(e) if e.kind() == "NotSupported" && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    println!("ok: spawn refused while the host has threads, allowed after");
}

/// A host interrupting a script that waits for its child: the wait ends
/// within 100 ms, and the child can still be terminated.
fn interrupt_a_join() {
    let mut interp = quiet();
    interp
        .eval::<()>("fn forever() { sleep(60) }\nlet p = spawn forever()")
        .unwrap();
    // threads only after the spawn
    let handle = interp.interrupt_handle();
    let sent = std::sync::Arc::new(std::sync::Mutex::new(None));
    let sent2 = sent.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        *sent2.lock().unwrap() = Some(Instant::now());
        handle.interrupt();
    });
    let e = interp.eval::<()>("p.join()").unwrap_err();
    let stopped = Instant::now();
    t.join().unwrap();
    assert_eq!(e.kind(), "KeyboardInterrupt");
    let took = stopped.duration_since(sent.lock().unwrap().unwrap());
    assert!(took < Duration::from_millis(100), "took {took:?}");
    let code: i64 = interp.eval("p.terminate()\np.join()\np.exitcode").unwrap();
    assert_eq!(code, -15);
    println!("ok: an interrupted join returns within 100 ms ({took:?})");
}

/// An instruction limit stops a script that fans work out, and the host
/// gets the error; the children are reaped when the interpreter is dropped.
fn limits_with_children() {
    let mut interp = Interpreter::builder()
        .stdout(std::io::sink())
        .stderr(std::io::sink())
        .max_instructions(Some(2_000_000))
        .build();
    let e = interp
        .eval::<()>("fn busy() { let n = 0\nwhile n < 1000 { n += 1 } return n }\nlet ps = [spawn busy() for _ in range(2)]\nwhile true { }")
        .unwrap_err();
    assert_eq!(e.kind(), "InstructionLimit");
    drop(interp);
    println!("ok: limits stop a script with children; drop reaps them");
}

/// The fork server: an interpreter moved into a process of its own while the
/// host is single-threaded; the host's threads then run scripts in it that
/// spawn processes and use pools, and get values and errors back.
fn a_server_runs_process_scripts_for_a_threaded_host() {
    let mut interp = quiet();
    interp.register_fn("weight", |x: i64| x * 10);
    interp.set_global("base", 1i64);
    interp
        .eval::<()>("fn job(x) { return weight(x) + base }")
        .unwrap();
    let server = interp.into_server().expect("single-threaded here");
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let v: Vec<i64> = server
                    .eval("let r = nil\nwith pool(2) as p { r = p.map(job, [1, 2, 3]) }\nr")
                    .unwrap();
                assert_eq!(v, [11, 21, 31]);
                let c: i64 = server.eval("(spawn job(5)).join()").unwrap();
                assert_eq!(c, 51);
            });
        }
        // while those threads run, this process cannot fork itself
        let mut local = quiet();
        local.eval::<()>("fn one() { return 1 }").unwrap();
        let e = local.eval::<()>("spawn one()").unwrap_err();
        assert_eq!(e.kind(), "NotSupported");
        let e = quiet().into_server().err().expect("refused with threads");
        assert_eq!(e.kind(), "NotSupported");
    });
    // calls, state and errors as data
    assert_eq!(server.call::<i64>("job", (4,)).unwrap(), 41);
    server.eval::<()>("let kept = [1]\nkept.append(2)").unwrap();
    assert_eq!(server.eval::<Vec<i64>>("kept").unwrap(), [1, 2]);
    let e = server.eval::<()>("let z = 0\nkept[5]").unwrap_err();
    assert_eq!((e.kind(), e.line()), ("IndexError", Some(2)));
    assert!(e.to_string().starts_with("error: IndexError: "), "{e}");
    let e = server.eval::<()>("let (").unwrap_err();
    assert!(matches!(e, proc_lang::Error::Parse(_)));
    let e = server.call::<String>("job", (1,)).unwrap_err();
    assert_eq!(e.message(), "job(): the result must be a str, not int");
    assert_eq!(server.eval::<i64>("kept[0]").unwrap(), 1);
    // a request that waits forever is interrupted from another host thread
    std::thread::scope(|s| {
        let server = &server;
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            server.interrupt();
        });
        let started = Instant::now();
        let e = server.eval::<()>("let q = queue()\nq.get()").unwrap_err();
        assert_eq!(e.kind(), "KeyboardInterrupt");
        assert!(started.elapsed() < Duration::from_millis(300 + 200));
    });
    assert_eq!(server.eval::<i64>("kept[1]").unwrap(), 2);
    let pid = server.pid();
    drop(server);
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "the server is gone after the drop"
    );
    // a server that died is an error, not a hang or a crash of the host
    let server = quiet().into_server().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let e = server.eval::<i64>("1").unwrap_err();
    assert_eq!(e.kind(), "ProcessError");
    assert!(e.message().contains("server is gone"), "{e}");
    drop(server);
    println!("ok: a server runs spawn and pool scripts for a threaded host");
}

fn main() {
    let start = Instant::now();
    host_functions_work_in_children();
    pools_use_host_functions();
    spawn_follows_the_thread_count();
    interrupt_a_join();
    limits_with_children();
    a_server_runs_process_scripts_for_a_threaded_host();
    println!("embedding_processes: all passed in {:?}", start.elapsed());
}
