//! Section 17's example as a host crate: a fork server made first, builder switches, a host function
//! returning `Result<String, MyError>`, globals, `eval`, `run_file`, `call`,
//! errors as data, processes and pools, an interrupt from another thread, and
//! what happens to `spawn` once the host has started threads.

use proc_lang::{Interpreter, Value};
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct MyError(String);

impl fmt::Display for MyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http: {}", self.0)
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), proc_lang::Error> {
    // a fork server is made first, while this host has one thread: an
    // interpreter set up like the one below, moved into a process of its own
    let server = {
        let mut setup = Interpreter::builder()
            .stdout(std::io::sink())
            .max_instructions(Some(50_000_000))
            .build();
        setup.set_global("config", Value::from(vec![1i64, 2, 3]));
        setup.register_fn("http_get", |url: String| format!("<html>{url}</html>"));
        setup.run_file(concat!(env!("CARGO_MANIFEST_DIR"), "/job.proc"))?;
        setup.into_server()?
    };
    let my_writer = Captured::default();
    let mut interp = Interpreter::builder()
        .allow_processes(true) // spawn, pool, fork, manager
        .allow_files(false) // open, read_file, listdir, ...
        .max_instructions(Some(50_000_000))
        .stdout(my_writer.clone()) // print goes here
        .build();
    interp.register_fn("http_get", |url: String| -> Result<String, MyError> {
        if url.starts_with("https://") {
            Ok(format!("<html>{url}</html>"))
        } else {
            Err(MyError(format!("refusing {url}")))
        }
    });
    interp.set_global("config", Value::from(vec![1i64, 2, 3]));
    let n: i64 = interp.eval("1 + 2")?;
    assert_eq!(n, 3);
    let job = concat!(env!("CARGO_MANIFEST_DIR"), "/job.proc");
    interp.run_file(job)?;
    let total: f64 = interp.call("total", (vec![1.5, 2.5],))?;
    assert_eq!(total, 4.0);
    let printed = String::from_utf8_lossy(&my_writer.0.lock().expect("not poisoned")).into_owned();
    assert_eq!(
        printed,
        "page 37 bytes; children [1, 4, 9]; pool [1, 4, 9]\n"
    );
    println!(
        "section 17: eval {n}, total {total}, script printed: {}",
        printed.trim_end()
    );

    // errors as data
    let e = interp.eval::<String>("http_get(\"ftp://x\")").unwrap_err();
    assert_eq!((e.kind(), e.message()), ("Error", "http: refusing ftp://x"));
    let e = interp.eval::<()>("let x = [1,\nlet").unwrap_err();
    assert_eq!(
        (e.kind(), e.line(), e.column()),
        ("ParseError", Some(2), Some(1))
    );
    let e = interp
        .eval::<()>("read_file(\"/etc/hostname\")")
        .unwrap_err();
    assert_eq!(e.kind(), "NotSupported");
    assert!(e.message().contains("allow_files"));
    println!("errors as data: ok");

    // other threads: an interrupt from one, and spawn refused while they run
    let handle = interp.interrupt_handle();
    let sent = Arc::new(Mutex::new(None));
    let sent2 = sent.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        *sent2.lock().expect("not poisoned") = Some(Instant::now());
        handle.interrupt();
    });
    let e = interp.eval::<()>("let q = queue()\nq.get()").unwrap_err();
    let took = sent.lock().expect("not poisoned").map(|s| s.elapsed());
    t.join().expect("the interrupting thread");
    assert_eq!(e.kind(), "KeyboardInterrupt");
    println!("interrupted a blocked queue.get from another thread after {took:?}");

    let (stop, wait) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let _ = wait.recv();
    });
    let e = interp.call::<i64>("total", (vec![1, 2],)).map(|t| t == 3);
    assert_eq!(e.ok(), Some(true), "scripts without processes still run");
    let e = interp.eval::<()>("spawn square(2)").unwrap_err();
    assert_eq!(e.kind(), "NotSupported");
    println!(
        "with a host thread running, spawn says: {}: {}",
        e.kind(),
        e.message()
    );
    drop(stop);
    worker.join().expect("the worker thread");

    // host threads run scripts that spawn processes and pools in the server
    let answers: Vec<Vec<i64>> = std::thread::scope(|s| {
        let jobs: Vec<_> = (1..=3i64)
            .map(|k| {
                let server = &server;
                s.spawn(move || {
                    let code = format!(
                        "let r = nil\nwith pool(2) as p {{ r = p.map(square, [x * {k} for x in config]) }}\nr + [(spawn square({k})).join()]"
                    );
                    server.eval::<Vec<i64>>(&code)
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("a host thread").expect("the script"))
            .collect()
    });
    assert_eq!(
        answers,
        [vec![1, 4, 9, 1], vec![4, 16, 36, 4], vec![9, 36, 81, 9]]
    );
    println!("three host threads ran spawn and pool scripts in the fork server: {answers:?}");
    let e = server.eval::<()>("total(nil)").unwrap_err();
    println!(
        "and got its errors as data: {} at line {:?}: {}",
        e.kind(),
        e.line(),
        e.message()
    );
    let total: f64 = server.call("total", (vec![0.5, 0.25],))?;
    assert_eq!(total, 0.75);
    Ok(())
}
