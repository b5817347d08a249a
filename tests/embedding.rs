//! The embedding API of section 17, as a host program uses it.

use proc_lang::{Interpreter, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn eval_call_globals_and_host_functions() {
    let out = Sink::default();
    let mut interp = Interpreter::builder()
        .allow_files(false)
        .max_instructions(Some(50_000_000))
        .stdout(out.clone())
        .build();
    interp.register_fn("double", |x: i64| x * 2);
    interp.register_fn("greet", |name: String, punct: Option<String>| {
        format!("hello {name}{}", punct.unwrap_or_default())
    });
    interp.register_fn("checked", |x: f64| -> Result<f64, String> {
        if x < 0.0 {
            Err("negative".into())
        } else {
            Ok(x.sqrt())
        }
    });
    interp.set_global("config", Value::from(vec![1i64, 2, 3]));
    let n: i64 = interp.eval("1 + 2").unwrap();
    assert_eq!(n, 3);
    let d: i64 = interp.eval("double(21)").unwrap();
    assert_eq!(d, 42);
    let s: String = interp.eval("greet(\"bob\", \"!\")").unwrap();
    assert_eq!(s, "hello bob!");
    let total: i64 = interp.eval("sum(config)").unwrap();
    assert_eq!(total, 6);
    interp
        .run_source(
            "job.proc",
            "fn total(xs) { return sum(xs) }\nprint(\"loaded\")",
        )
        .unwrap();
    let t: f64 = interp.call("total", (vec![1.5, 2.5],)).unwrap();
    assert_eq!(t, 4.0);
    let m: HashMap<String, i64> = interp.eval("({\"a\": 1, \"b\": 2})").unwrap();
    assert_eq!(m["b"], 2);
    let none: Option<i64> = interp.eval("nil").unwrap();
    assert_eq!(none, None);
    let e = interp.eval::<f64>("checked(-1.0)").unwrap_err();
    assert_eq!(e.kind(), "Error");
    assert_eq!(e.message(), "negative");
    let e = interp.eval::<i64>("double(\"x\")").unwrap_err();
    assert_eq!(e.kind(), "TypeError");
    assert!(e.message().contains("double()"), "{}", e.message());
    let e = interp.eval::<i64>("\"not an int\"").unwrap_err();
    assert_eq!(e.kind(), "TypeError");
    // state is kept after errors
    assert_eq!(interp.get_global::<Vec<i64>>("config"), Some(vec![1, 2, 3]));
    let e = interp.eval::<()>("1 / 0").unwrap_err();
    assert_eq!(e.kind(), "ZeroDivisionError");
    assert_eq!(e.line(), Some(1));
    let r: i64 = interp.call("total", (vec![1i64, 2],)).unwrap();
    assert_eq!(r, 3);
    drop(interp);
    assert_eq!(
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
        "loaded\n"
    );
}

#[test]
fn parse_errors_as_data() {
    let mut interp = Interpreter::new();
    let e = interp.eval::<()>("let x = (1 +").unwrap_err();
    assert_eq!(e.kind(), "ParseError");
    assert_eq!(e.line(), Some(1));
    assert!(e.to_string().starts_with("error: "));
}

#[test]
fn interrupt_from_another_thread() {
    let mut interp = Interpreter::new();
    let h = interp.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        h.interrupt();
    });
    let start = std::time::Instant::now();
    let e = interp.eval::<()>("while true { }").unwrap_err();
    t.join().unwrap();
    assert_eq!(e.kind(), "KeyboardInterrupt");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let v: i64 = interp.eval("2 + 2").unwrap();
    assert_eq!(v, 4);
}

#[test]
fn instruction_limit_stops_a_loop() {
    let mut interp = Interpreter::builder()
        .max_instructions(Some(100_000))
        .build();
    let e = interp.eval::<()>("while true { }").unwrap_err();
    assert_eq!(e.kind(), "InstructionLimit");
}
