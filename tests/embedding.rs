//! The embedding API of section 17, as a host program uses it: every builder
//! switch and limit, every conversion both ways, errors as data, state kept
//! after errors, interrupts from another thread.
//!
//! These tests run on the test harness's threads, so the process always has
//! several threads and forking is refused: process features are tested in
//! `embedding_processes.rs`, a single-threaded test program.

use proc_lang::{Error, Interpreter, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn quiet() -> Interpreter {
    Interpreter::builder()
        .stdout(std::io::sink())
        .stderr(std::io::sink())
        .build()
}

/// `kind: message` of the error `code` raises, or "ok".
fn outcome(interp: &mut Interpreter, code: &str) -> String {
    match interp.eval_value(code) {
        Ok(_) => "ok".into(),
        Err(e) => format!("{}: {}", e.kind(), e.message()),
    }
}

#[test]
fn section_17_example() {
    let out = Sink::default();
    let mut interp = Interpreter::builder()
        .allow_processes(true)
        .allow_files(false)
        .max_instructions(Some(50_000_000))
        .stdout(out.clone())
        .build();
    interp.register_fn("http_get", |url: String| -> Result<String, String> {
        if url.starts_with("https://") {
            Ok(format!("<body of {url}>"))
        } else {
            Err(format!("refusing {url}"))
        }
    });
    interp.set_global("config", Value::from(vec![1i64, 2, 3]));
    let n: i64 = interp.eval("1 + 2").unwrap();
    assert_eq!(n, 3);
    let path = std::env::temp_dir().join(format!("embed-job-{}.proc", std::process::id()));
    std::fs::write(
        &path,
        "fn total(xs) { return sum(xs) }\nprint(http_get(\"https://x\"), sum(config))\n",
    )
    .unwrap();
    interp.run_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let total: f64 = interp.call("total", (vec![1.5, 2.5],)).unwrap();
    assert_eq!(total, 4.0);
    let e = interp.eval::<String>("http_get(\"ftp://x\")").unwrap_err();
    assert_eq!((e.kind(), e.message()), ("Error", "refusing ftp://x"));
    assert_eq!(out.text(), "<body of https://x> 6\n");
}

// ------------------------------------------------------------ builder switches

#[test]
fn allow_files_false_refuses_every_file_builtin() {
    let mut interp = Interpreter::builder().allow_files(false).build();
    for call in [
        "open(\"x\")",
        "read_file(\"x\")",
        "write_file(\"x\", \"\")",
        "listdir(\".\")",
        "mkdir(\"x\")",
        "exists(\".\")",
        "remove(\"x\")",
        "import \"lib.proc\" as lib",
    ] {
        let got = outcome(&mut interp, call);
        assert!(
            got.starts_with("NotSupported") && got.contains("allow_files"),
            "{call}: {got}"
        );
    }
    // everything else still works
    assert_eq!(outcome(&mut interp, "len(str(getpid()))"), "ok");
}

#[test]
fn allow_files_true_reads_and_writes() {
    let mut interp = Interpreter::builder().allow_files(true).build();
    let path = std::env::temp_dir().join(format!("embed-files-{}.txt", std::process::id()));
    interp.set_global("path", path.to_string_lossy().as_ref());
    interp
        .eval::<()>("write_file(path, \"hello\")")
        .expect("write");
    let s: String = interp.eval("read_file(path)").unwrap();
    assert_eq!(s, "hello");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn allow_processes_false_refuses_every_process_builtin() {
    let mut interp = Interpreter::builder().allow_processes(false).build();
    interp.eval::<()>("fn work() { return 1 }").unwrap();
    for call in [
        "spawn work()",
        "Process(target: work).start()",
        "pool(2)",
        "manager()",
        "fork()",
        "waitpid(1)",
        "kill(1)",
    ] {
        let got = outcome(&mut interp, call);
        assert!(
            got.starts_with("NotSupported") && got.contains("allow_processes"),
            "{call}: {got}"
        );
    }
    // queues, locks and shared values need no process and stay available
    assert_eq!(
        outcome(&mut interp, "let q = queue()\nq.put(1)\nq.get()"),
        "ok"
    );
    assert_eq!(outcome(&mut interp, "let l = lock()\nwith l { 1 }"), "ok");
}

#[test]
fn processes_in_a_threaded_host_are_refused_clearly() {
    // the test harness runs this on one of several threads
    let mut interp = quiet();
    interp.eval::<()>("fn work() { return 1 }").unwrap();
    for call in ["spawn work()", "pool(2)", "fork()"] {
        let got = outcome(&mut interp, call);
        assert!(
            got.starts_with("NotSupported") && got.contains("other threads"),
            "{call}: {got}"
        );
    }
}

#[test]
fn stdout_and_stderr_writers_get_print_and_eprint() {
    let (out, err) = (Sink::default(), Sink::default());
    let mut interp = Interpreter::builder()
        .stdout(out.clone())
        .stderr(err.clone())
        .build();
    interp
        .eval::<()>("print(\"to out\", 1)\neprint(\"to err\")\nprint([1, 2])")
        .unwrap();
    assert_eq!(out.text(), "to out 1\n[1, 2]\n");
    assert_eq!(err.text(), "to err\n");
    // output written before an error is not lost
    let _ = interp.eval::<()>("print(\"before\")\n1 / 0");
    assert!(out.text().ends_with("before\n"));
}

// ------------------------------------------------------------------- limits

#[test]
fn max_instructions_stops_a_loop_and_scripts_cannot_catch_it() {
    let mut interp = Interpreter::builder()
        .max_instructions(Some(200_000))
        .build();
    let start = Instant::now();
    let e = interp
        .eval::<()>(
            "let n = 0\ntry { while true { n += 1 } } catch e { n = -1 } finally { n = -2 }",
        )
        .unwrap_err();
    assert_eq!(e.kind(), "InstructionLimit", "{e}");
    assert!(e.message().contains("200000"), "{}", e.message());
    assert!(start.elapsed() < Duration::from_secs(5));
    // the budget is spent: more code is refused, but the data is still there
    assert_eq!(
        interp.eval::<()>("1 + 1").unwrap_err().kind(),
        "InstructionLimit"
    );
    // `catch` did not run (`finally` may run until it needs more budget)
    assert_ne!(interp.get_global::<i64>("n"), Some(-1));
}

#[test]
fn max_instructions_counts_over_calls_and_allows_small_work() {
    let mut interp = Interpreter::builder()
        .max_instructions(Some(1_000_000))
        .build();
    interp.eval::<()>("fn step(x) { return x + 1 }").unwrap();
    let mut x = 0i64;
    let mut stopped = None;
    for i in 0..1_000_000 {
        match interp.call::<i64>("step", (x,)) {
            Ok(v) => x = v,
            Err(e) => {
                stopped = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = stopped.expect("the limit is reached");
    assert_eq!(e.kind(), "InstructionLimit");
    assert!(i > 1000, "stopped after {i} calls");
}

#[test]
fn max_call_depth_raises_recursion_error_scripts_can_catch() {
    let mut interp = Interpreter::builder().max_call_depth(64).build();
    interp
        .eval::<()>("fn down(n) { return down(n + 1) }\nfn depth(n) { if n == 0 { return 0 } return 1 + depth(n - 1) }")
        .unwrap();
    let e = interp.call::<()>("down", (0,)).unwrap_err();
    assert_eq!(e.kind(), "RecursionError");
    assert!(!e.traceback().is_empty());
    assert!(e.to_string().contains("previous line repeated"), "{e}");
    let caught: String = interp
        .eval("let k = nil\ntry { down(0) } catch e { k = e.kind }\nk")
        .unwrap();
    assert_eq!(caught, "RecursionError");
    assert_eq!(interp.call::<i64>("depth", (50,)).unwrap(), 50);
    assert_eq!(
        interp.call::<()>("depth", (70,)).unwrap_err().kind(),
        "RecursionError"
    );
}

#[test]
fn the_default_depth_is_deep_and_does_not_overflow_the_host_stack() {
    let mut interp = quiet();
    interp
        .eval::<()>("fn depth(n) { if n == 0 { return 0 } return 1 + depth(n - 1) }")
        .unwrap();
    assert_eq!(interp.call::<i64>("depth", (9_000,)).unwrap(), 9_000);
    assert_eq!(
        interp.call::<()>("depth", (20_000,)).unwrap_err().kind(),
        "RecursionError"
    );
}

// ---------------------------------------------------------------- interrupts

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

/// Runs `code`, interrupts it after `after`, and returns how long the script
/// took to stop once interrupted (the best of three tries: the machine may be
/// busy with other work).
fn time_to_stop(code: &str, after: Duration) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let mut interp = quiet();
        let handle = interp.interrupt_handle();
        let sent = Arc::new(Mutex::new(None));
        let sent2 = sent.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(after);
            *sent2.lock().unwrap() = Some(Instant::now());
            handle.interrupt();
        });
        let e = interp.eval::<()>(code).unwrap_err();
        let stopped = Instant::now();
        t.join().unwrap();
        assert_eq!(e.kind(), "KeyboardInterrupt", "{code}");
        let sent = sent.lock().unwrap().expect("the interrupt was sent");
        best = best.min(stopped.saturating_duration_since(sent));
        // the interpreter stays usable
        assert_eq!(interp.eval::<i64>("2 + 2").unwrap(), 4);
    }
    best
}

#[test]
fn interrupt_stops_running_and_waiting_scripts_within_100_ms() {
    assert_send_sync_clone::<proc_lang::InterruptHandle>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<proc_lang::Server>();
    assert_send_sync::<proc_lang::Error>();
    for code in [
        "while true { }",
        "fn spin() { while true { } }\nspin()",
        "sleep(30)",
        "let q = queue()\nq.get()",
        "let q = queue()\nq.get(timeout: 30)",
        "let l = lock()\nl.acquire()\nl.acquire()",
        "event().wait()",
        "let a = pipe()\na[0].recv()",
    ] {
        let took = time_to_stop(code, Duration::from_millis(150));
        assert!(
            took < Duration::from_millis(100),
            "{code}: stopped {took:?} after the interrupt"
        );
    }
}

#[test]
fn scripts_can_catch_keyboard_interrupt() {
    let mut interp = quiet();
    let handle = interp.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        handle.interrupt();
    });
    let k: String = interp
        .eval("let k = nil\ntry { sleep(10) } catch e { k = e.kind }\nk")
        .unwrap();
    t.join().unwrap();
    assert_eq!(k, "KeyboardInterrupt");
}

// --------------------------------------------------------------- conversions

/// Round-trips `x` through a script identity function and back.
fn round_trip<T>(interp: &mut Interpreter, x: T) -> T
where
    T: proc_lang::IntoValue + proc_lang::FromValue,
{
    interp.call("id", (x,)).unwrap()
}

#[test]
fn every_conversion_round_trips() {
    let mut interp = quiet();
    interp.eval::<()>("fn id(x) { return x }").unwrap();
    assert_eq!(round_trip(&mut interp, i64::MIN), i64::MIN);
    assert_eq!(round_trip(&mut interp, -7i32), -7);
    assert_eq!(round_trip(&mut interp, u32::MAX), u32::MAX);
    assert_eq!(round_trip(&mut interp, 12usize), 12);
    assert_eq!(round_trip(&mut interp, 2.5f64), 2.5);
    assert!(round_trip(&mut interp, true));
    assert_eq!(round_trip(&mut interp, "héllo".to_string()), "héllo");
    assert_eq!(round_trip(&mut interp, vec![1i64, 2, 3]), [1, 2, 3]);
    assert_eq!(
        round_trip(&mut interp, vec![vec!["a".to_string()], vec![]]),
        [vec!["a".to_string()], vec![]]
    );
    let m = HashMap::from([("a".to_string(), 1.5f64), ("b".to_string(), -2.0)]);
    assert_eq!(round_trip(&mut interp, m.clone()), m);
    assert_eq!(round_trip(&mut interp, Some(3i64)), Some(3));
    assert_eq!(round_trip(&mut interp, None::<i64>), None);
    round_trip(&mut interp, ());
    let v = round_trip(&mut interp, Value::from("v"));
    assert_eq!(v.as_str(), Some("v"));
    // &str converts in
    let s: String = interp.call("id", ("borrowed",)).unwrap();
    assert_eq!(s, "borrowed");
    // what the script sees
    let kinds: Vec<String> = interp
        .call(
            "id",
            (vec![
                Value::from(1i32),
                Value::from(1u32),
                Value::from(1usize),
                Value::from(1.0),
                Value::from(true),
                Value::from(()),
                Value::from(vec![1i64]),
                Value::from(HashMap::<String, i64>::new()),
                Value::from(Some(1i64)),
                Value::from("s"),
            ],),
        )
        .map(|v: Vec<Value>| v.iter().map(Value::type_name).collect())
        .unwrap();
    assert_eq!(
        kinds,
        [
            "int", "int", "int", "float", "bool", "nil", "list", "map", "int", "str"
        ]
    );
    // an f64 accepts a script int; a HashMap gives the script sorted keys
    assert_eq!(interp.eval::<f64>("3").unwrap(), 3.0);
    interp.set_global(
        "m",
        HashMap::from([("b", 2i64), ("a", 1)].map(|(k, v)| (k.to_string(), v))),
    );
    assert_eq!(
        interp.eval::<String>("str(m)").unwrap(),
        "{\"a\": 1, \"b\": 2}"
    );
}

#[test]
fn a_failed_conversion_is_a_type_error_naming_function_and_argument() {
    let mut interp = quiet();
    interp.register_fn("takes", |a: i64, b: Vec<String>, c: Option<bool>| {
        format!("{a} {b:?} {c:?}")
    });
    interp.register_fn("small", |x: i32| x);
    interp.register_fn("count", |x: usize| x);
    interp.register_fn("ratio", |x: f64| x);
    interp.register_fn("named", |m: HashMap<String, i64>| m.len());
    interp.eval::<()>("fn id(x) { return x }").unwrap();
    let cases = [
        (
            "takes(\"1\", [], nil)",
            "takes(): argument 1 must be an int, not str",
        ),
        (
            "takes(1, [\"a\", 1], nil)",
            "takes(): argument 2[1] must be a str, not int",
        ),
        (
            "takes(1, {}, nil)",
            "takes(): argument 2 must be a list, not map",
        ),
        (
            "takes(1, [], 0)",
            "takes(): argument 3 must be a bool, not int",
        ),
        (
            "small(2 ** 40)",
            "small(): argument 1 must be an int that fits i32, not int",
        ),
        (
            "count(-1)",
            "count(): argument 1 must be an int that fits usize, not int",
        ),
        (
            "ratio(\"1.0\")",
            "ratio(): argument 1 must be a number, not str",
        ),
        (
            "named({1: 2})",
            "named(): argument 1 must be a map with str keys, not map",
        ),
        (
            "named({\"a\": \"b\"})",
            "named(): argument 1[\"a\"] must be an int, not str",
        ),
    ];
    for (code, want) in cases {
        let e = interp.eval::<Value>(code).unwrap_err();
        assert_eq!((e.kind(), e.message()), ("TypeError", want), "{code}");
        assert_eq!(e.line(), Some(1), "{code}");
    }
    let e = interp.eval::<()>("takes(1)").unwrap_err();
    assert_eq!(e.kind(), "TypeError");
    assert!(e.message().contains("takes()"), "{}", e.message());
    assert_eq!(
        interp.eval::<String>("takes(1, [\"x\"], true)").unwrap(),
        "1 [\"x\"] Some(true)"
    );
    // results converted for the host name the function too
    let e = interp.call::<i64>("id", ("s",)).unwrap_err();
    assert_eq!(e.message(), "id(): the result must be an int, not str");
    let e = interp.eval::<Vec<i64>>("[1, \"a\"]").unwrap_err();
    assert_eq!(e.message(), "eval(): the result[1] must be an int, not str");
    let e = interp.eval::<String>("nil").unwrap_err();
    assert_eq!(e.message(), "eval(): the result must be a str, not nil");
}

#[test]
fn host_functions_of_every_arity_and_both_return_kinds() {
    let mut interp = quiet();
    interp.register_fn("zero", || 0i64);
    interp.register_fn("six", |a: i64, b: i64, c: i64, d: i64, e: i64, f: i64| {
        a + b + c + d + e + f
    });
    interp.register_fn("nothing", || {});
    interp.register_fn("fails", |x: i64| -> Result<i64, std::io::Error> {
        Err(std::io::Error::other(format!("disk {x} is gone")))
    });
    let counter = Arc::new(Mutex::new(0));
    let c = counter.clone();
    interp.register_fn("bump", move |by: i64| {
        *c.lock().unwrap() += by;
    });
    assert_eq!(
        interp
            .eval::<i64>("zero() + six(1, 2, 3, 4, 5, 6)")
            .unwrap(),
        21
    );
    interp
        .eval::<()>("nothing()\nfor i in range(5) { bump(i) }")
        .unwrap();
    assert_eq!(*counter.lock().unwrap(), 10);
    let e = interp.eval::<i64>("fails(3)").unwrap_err();
    assert_eq!((e.kind(), e.message()), ("Error", "disk 3 is gone"));
    let caught: String = interp
        .eval("let m = nil\ntry { fails(4) } catch e { m = f\"{e.kind}: {e.message}\" }\nm")
        .unwrap();
    assert_eq!(caught, "Error: disk 4 is gone");
    // host functions are values: passed around, called by script code
    let v: Vec<i64> = interp.eval("[f() for f in [zero, zero]]").unwrap();
    assert_eq!(v, [0, 0]);
    assert_eq!(interp.eval::<String>("type(bump)").unwrap(), "function");
}

// ----------------------------------------------------------- errors as data

#[test]
fn parse_errors_as_data() {
    let mut interp = quiet();
    let e = interp.eval::<()>("let ok = 1\nlet x = (1 +").unwrap_err();
    assert!(matches!(e, Error::Parse(_)));
    assert_eq!(e.kind(), "ParseError");
    assert_eq!(e.line(), Some(2));
    assert!(e.column().is_some());
    assert!(e.traceback().is_empty());
    assert!(e.to_string().starts_with("error: "), "{e}");
    assert!(e.to_string().contains("<eval 1>:2:"), "{e}");
    // nothing of a text that does not parse runs
    assert_eq!(interp.get_global::<i64>("ok"), None);
    let e = interp.run_source("bad.proc", "fn f( {").unwrap_err();
    assert_eq!(
        (e.kind(), e.line(), e.column()),
        ("ParseError", Some(1), Some(7))
    );
    assert!(e.to_string().contains(" --> bad.proc:1:7"), "{e}");
}

#[test]
fn compile_errors_as_data() {
    let mut interp = quiet();
    let e = interp.run_source("c.proc", "let a = 1\nb = 2").unwrap_err();
    assert!(matches!(e, Error::Compile(_)), "{e:?}");
    assert_eq!(
        (e.kind(), e.line(), e.column()),
        ("NameError", Some(2), Some(1))
    );
    assert!(e.message().contains("never declared"), "{}", e.message());
    // nothing of a text that does not compile runs
    assert_eq!(interp.get_global::<i64>("a"), None);
}

#[test]
fn runtime_errors_as_data() {
    let mut interp = quiet();
    let e = interp
        .run_source(
            "calc.proc",
            "fn inner(m) {\n    return m[\"missing\"]\n}\nfn outer() { return inner({}) }\nouter()",
        )
        .unwrap_err();
    assert!(matches!(e, Error::Runtime(_)));
    assert_eq!(e.kind(), "KeyError");
    assert_eq!((e.line(), e.column()), (Some(2), Some(14)));
    let frames: Vec<(usize, &str)> = e
        .traceback()
        .iter()
        .map(|f| (f.line, f.function.as_str()))
        .collect();
    assert_eq!(frames, [(5, "<script>"), (4, "outer"), (2, "inner")]);
    assert!(e.traceback().iter().all(|f| f.file == "calc.proc"));
    // the Display is the CLI's diagnostic
    let text = e.to_string();
    assert!(text.starts_with("error: KeyError: "), "{text}");
    assert!(text.contains(" --> calc.proc:2:14\n"), "{text}");
    assert!(
        text.contains("traceback (most recent call last):\n"),
        "{text}"
    );
    // thrown values and exit
    let e = interp.eval::<()>("throw \"custom\"").unwrap_err();
    assert_eq!((e.kind(), e.message()), ("Error", "custom"));
    let e = interp.eval::<()>("exit(3)").unwrap_err();
    assert!(matches!(e, Error::Exit { code: 3 }));
    assert_eq!((e.kind(), e.exit_code()), ("SystemExit", 3));
    let e = interp.run_file("/nonexistent/job.proc").unwrap_err();
    assert_eq!(e.kind(), "IOError");
    assert!(e.message().contains("/nonexistent/job.proc"));
    let e = interp.call::<()>("nope", ()).unwrap_err();
    assert_eq!((e.kind(), e.line()), ("NameError", None));
}

#[test]
fn state_is_kept_after_errors() {
    let mut interp = quiet();
    interp
        .eval::<()>("let items = [1]\nfn add(x) { items.append(x)\nreturn len(items) }")
        .unwrap();
    // a runtime error part way: what ran before it stays done
    let e = interp
        .eval::<()>("add(2)\nlet later = 1\n1 / 0\nadd(3)")
        .unwrap_err();
    assert_eq!((e.kind(), e.line()), ("ZeroDivisionError", Some(3)));
    assert_eq!(interp.get_global::<Vec<i64>>("items"), Some(vec![1, 2]));
    assert_eq!(interp.get_global::<i64>("later"), Some(1));
    // parse and compile errors change nothing
    let _ = interp.eval::<()>("items = []\nlet (").unwrap_err();
    assert_eq!(interp.get_global::<Vec<i64>>("items"), Some(vec![1, 2]));
    // errors in calls, host conversions and host functions leave it usable
    let _ = interp.call::<()>("add", ()).unwrap_err();
    let _ = interp.call::<String>("add", (4,)).unwrap_err();
    assert_eq!(interp.call::<i64>("add", (5,)).unwrap(), 4);
    assert_eq!(interp.eval::<Vec<i64>>("items").unwrap(), [1, 2, 4, 5]);
    interp.set_global("items", Vec::<i64>::new());
    assert_eq!(interp.call::<i64>("add", (9,)).unwrap(), 1);
}

#[test]
fn eval_continues_the_program() {
    let mut interp = quiet();
    assert!(interp.eval_value("let a = 1").unwrap().is_nil());
    interp
        .eval::<()>("fn f() { return a * 10 }\nclass P { fn init(x) { self.x = x } }")
        .unwrap();
    assert_eq!(interp.eval::<i64>("a = 4\nf()").unwrap(), 40);
    assert_eq!(interp.eval::<i64>("P(7).x").unwrap(), 7);
    assert_eq!(interp.get_global::<i64>("a"), Some(4));
    interp.set_global("a", 5i64);
    assert_eq!(interp.call::<i64>("f", ()).unwrap(), 50);
    // a value from one eval passed back into another call keeps its identity
    let list = interp.eval_value("let shared = []\nshared").unwrap();
    interp.eval::<()>("fn push(xs) { xs.append(1) }").unwrap();
    interp.call::<()>("push", (list.clone(),)).unwrap();
    assert_eq!(interp.eval::<Vec<i64>>("shared").unwrap(), [1]);
    assert_eq!(list.to_string(), "[1]");
}

#[test]
fn several_interpreters_share_nothing() {
    let mut a = quiet();
    let mut b = quiet();
    a.eval::<()>("let x = 1").unwrap();
    b.eval::<()>("let x = 2").unwrap();
    assert_eq!(a.get_global::<i64>("x"), Some(1));
    assert_eq!(b.get_global::<i64>("x"), Some(2));
    a.register_fn("only_a", || 1i64);
    assert_eq!(b.eval::<i64>("only_a()").unwrap_err().kind(), "NameError");
}
