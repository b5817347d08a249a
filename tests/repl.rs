//! The REPL (section 16) driven through a pseudo-terminal, as a person uses
//! it: typing lines, Tab, Ctrl-C and Ctrl-D. Every wait is bounded by the
//! session's timeout.

use nix::sys::wait::WaitStatus;
use rexpect::session::{Options, PtySession, spawn_with_options};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest wait for any expected output.
const TIMEOUT_MS: u64 = 30_000;

/// A history file of this test's own.
fn history_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("proc-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn start_with(history: &PathBuf, colour: bool) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proc"));
    cmd.env("PROC_HISTORY", history).env("TERM", "xterm");
    if colour {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let options = Options::new()
        .timeout_ms(Some(TIMEOUT_MS))
        .strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, options).expect("the REPL starts");
    p.exp_string(">>> ").expect("first prompt");
    p
}

fn start(name: &str) -> PtySession {
    start_with(&history_file(name), false)
}

/// Sends a line and returns what was printed up to the next `>>> ` prompt.
fn enter(p: &mut PtySession, line: &str) -> String {
    p.send_line(line).unwrap();
    p.exp_string(">>> ")
        .unwrap_or_else(|e| panic!("no prompt after {line:?}: {e}"))
}

/// Types keys without Enter (the session's writer flushes only at a newline).
fn keys(p: &mut PtySession, text: &str) {
    p.send(text).unwrap();
    p.flush().unwrap();
}

fn quit(mut p: PtySession) -> String {
    p.send_control('d').unwrap();
    let rest = p.exp_eof().expect("the REPL ends on Ctrl-D");
    match p.process().wait() {
        Ok(WaitStatus::Exited(_, 0)) => {}
        other => panic!("REPL ended with {other:?}"),
    }
    rest
}

#[test]
fn evaluates_and_echoes_values() {
    let mut p = start("echo");
    assert!(enter(&mut p, "1 + 2").contains("3\r\n"));
    enter(&mut p, "let greeting = \"hi\"");
    assert!(enter(&mut p, "greeting").contains("\"hi\"\r\n"));
    assert!(enter(&mut p, "[1, 2.5, nil]").contains("[1, 2.5, nil]"));
    // nil prints nothing; print prints str form
    let out = enter(&mut p, "nil");
    assert!(out.trim_end().ends_with("nil"), "{out:?}");
    assert!(enter(&mut p, "print(greeting + \"!\")").contains("hi!\r\n"));
    quit(p);
}

#[test]
fn multi_line_definitions() {
    let mut p = start("multi");
    p.send_line("fn add(a, b) {").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("    return a +").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("        b").unwrap();
    p.exp_string("... ").unwrap();
    enter(&mut p, "}");
    assert!(enter(&mut p, "add(40, 2)").contains("42\r\n"));
    // an open bracket and a triple-quoted string continue too
    p.send_line("let xs = [1,").unwrap();
    p.exp_string("... ").unwrap();
    enter(&mut p, "2]");
    p.send_line("let s = \"\"\"one").unwrap();
    p.exp_string("... ").unwrap();
    enter(&mut p, "two\"\"\"");
    assert!(enter(&mut p, "len(xs) + len(s)").contains("9\r\n"));
    // lines pasted at once (no bracketed paste) are all read, in order
    keys(
        &mut p,
        "fn tri(n) {\n    return n * 3\n}\nlet t = tri(4)\nt + 1\n",
    );
    p.exp_string("13\r\n").unwrap();
    quit(p);
}

#[test]
fn an_error_keeps_earlier_definitions() {
    let mut p = start("errors");
    enter(&mut p, "let base = 10");
    enter(&mut p, "fn plus(x) { return base + x }");
    let out = enter(&mut p, "plus(1) / 0");
    assert!(out.contains("error: ZeroDivisionError"), "{out}");
    // the caret points into the entered text
    assert!(out.contains("1 | plus(1) / 0"), "{out}");
    assert!(out.contains("  |         ^"), "{out}");
    let out = enter(&mut p, "let = 5");
    assert!(out.contains("error: expected"), "{out}");
    let out = enter(&mut p, "nosuch + 1");
    assert!(out.contains("NameError"), "{out}");
    assert!(enter(&mut p, "plus(5)").contains("15\r\n"));
    quit(p);
}

#[test]
fn ctrl_c_interrupts_running_code_and_clears_the_line() {
    let mut p = start("ctrlc");
    enter(&mut p, "let kept = 42");
    // Ctrl-C once the code runs (the terminal is then back in its normal mode)
    p.send_line("print(\"spin\" + \"ning\"); while true { }")
        .unwrap();
    p.exp_string("spinning").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("KeyboardInterrupt").unwrap();
    p.exp_string(">>> ").unwrap();
    assert!(enter(&mut p, "kept").contains("42\r\n"));
    // at the prompt Ctrl-C drops the line being typed
    keys(&mut p, "garbage_name");
    p.exp_string("garbage_name").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(">>> ").unwrap();
    let out = enter(&mut p, "kept + 1");
    assert!(
        out.contains("43\r\n") && !out.contains("NameError"),
        "{out}"
    );
    // and drops an unfinished entry
    p.send_line("fn half() {").unwrap();
    p.exp_string("... ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(">>> ").unwrap();
    assert!(enter(&mut p, "kept * 2").contains("84\r\n"));
    quit(p);
}

#[test]
fn processes_and_pools_work() {
    let mut p = start("procs");
    enter(&mut p, "fn work(n) { return n * 2 }");
    // output still buffered when the fork happens is printed once, by the parent
    let mut out = enter(
        &mut p,
        "print(\"par\" + \"ent\", end: \" \"); let child = spawn work(21)",
    );
    out += &enter(&mut p, "child.join()");
    assert!(out.contains("42\r\n"), "{out}");
    assert_eq!(out.matches("parent").count(), 1, "{out}");
    assert!(enter(&mut p, "child.exitcode").contains("0\r\n"));
    enter(&mut p, "let pl = pool(2)");
    let out = enter(&mut p, "pl.map(fn(x) => x * x, [1, 2, 3])");
    assert!(out.contains("[1, 4, 9]"), "{out}");
    enter(&mut p, "pl.close(); pl.join()");
    quit(p);
}

#[test]
fn procs_lists_live_children() {
    let mut p = start("proclist");
    assert!(enter(&mut p, ":procs").contains("(no child processes or tasks)"));
    enter(&mut p, "fn nap() { sleep(30) }");
    enter(&mut p, "let napper = spawn nap()");
    let pid = enter(&mut p, "napper.pid");
    let pid = pid.lines().nth(1).unwrap_or("").trim().to_string();
    let out = enter(&mut p, ":procs");
    assert!(out.contains("PID") && out.contains("STATE"), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("Process-1"))
        .unwrap_or_else(|| panic!("no row for the child: {out}"));
    assert!(
        row.contains(&pid) && row.contains("running"),
        "{row} / {pid}"
    );
    // tasks are listed with the REPL's own pid
    enter(&mut p, "fn doze() { sleep(30) }");
    enter(&mut p, "let dozer = go doze()");
    enter(&mut p, "sleep(0.05)");
    let out = enter(&mut p, ":procs");
    let row = out
        .lines()
        .find(|l| l.contains("Task-1"))
        .unwrap_or_else(|| panic!("no row for the task: {out}"));
    assert!(row.contains("task") && row.contains("waiting"), "{row}");
    // a cancelled task ends when it next runs: at the next wait
    enter(&mut p, "dozer.cancel(); sleep(0.01)");
    enter(&mut p, "napper.terminate(); napper.join()");
    assert!(enter(&mut p, ":procs").contains("(no child processes or tasks)"));
    quit(p);
}

#[test]
fn tab_completes_a_method_name() {
    let mut p = start("complete");
    enter(&mut p, "let numbers = [3, 1]");
    keys(&mut p, "numbers.app");
    p.exp_string("numbers.app").unwrap();
    keys(&mut p, "\t");
    p.exp_string("numbers.append").unwrap();
    enter(&mut p, "(5)");
    assert!(enter(&mut p, "numbers").contains("[3, 1, 5]"));
    // globals complete too
    keys(&mut p, "numb");
    keys(&mut p, "\t");
    p.exp_string("numbers").unwrap();
    assert!(enter(&mut p, "").contains("[3, 1, 5]"));
    quit(p);
}

#[test]
fn ctrl_d_joins_children_and_exits() {
    let mut p = start("ctrld");
    enter(
        &mut p,
        "fn late() { sleep(0.5); print(\"child \" + \"finished\") }",
    );
    enter(&mut p, "let c = spawn late()");
    // a daemon is terminated rather than waited for
    enter(&mut p, "fn nap() { sleep(60) }");
    enter(
        &mut p,
        "let d = Process(target: nap, daemon: true); d.start()",
    );
    let out = enter(&mut p, "d.pid");
    let pid: i32 = out.lines().nth(1).unwrap_or("").trim().parse().unwrap();
    let start = Instant::now();
    let rest = quit(p);
    assert!(rest.contains("child finished"), "{rest:?}");
    assert!(start.elapsed() < Duration::from_secs(20));
    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None);
    assert_eq!(
        gone,
        Err(nix::errno::Errno::ESRCH),
        "daemon {pid} still there"
    );
}

#[test]
fn history_persists_across_sessions() {
    let history = history_file("history");
    let mut p = start_with(&history, false);
    enter(&mut p, "let remembered = 12345");
    quit(p);
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("let remembered = 12345"), "{saved}");
    let mut p = start_with(&history, false);
    // up-arrow recalls the previous session's entry
    keys(&mut p, "\x1b[A");
    p.exp_string("let remembered = 12345").unwrap();
    enter(&mut p, "");
    assert!(enter(&mut p, "remembered").contains("12345\r\n"));
    quit(p);
}

#[test]
fn meta_commands() {
    let mut p = start("meta");
    assert!(enter(&mut p, ":help").contains(":procs"));
    assert!(enter(&mut p, ":type [1]").contains("list\r\n"));
    let out = enter(&mut p, ":time 6 * 7");
    assert!(out.contains("42\r\n") && out.contains("time: "), "{out}");
    enter(&mut p, "let answer = 42");
    let out = enter(&mut p, ":vars");
    assert!(out.contains("answer: int = 42"), "{out}");
    let script = history_file("loaded.proc");
    std::fs::write(&script, "fn from_file() { return \"loaded\" }\n").unwrap();
    enter(&mut p, &format!(":load {}", script.display()));
    assert!(enter(&mut p, "from_file()").contains("\"loaded\""));
    assert!(enter(&mut p, ":nope").contains("unknown command"));
    let out = enter(&mut p, ":load /no/such/file.proc");
    assert!(out.contains("(os error 2)\r\n"), "{out:?}");
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// Reads the terminal until `needle` shows (escape sequences removed) after
/// `seen` characters of text; returns the text's new length. Polls the
/// descriptor, so the time measured is the REPL's, not a polling interval.
fn wait_for(pty: &mut std::fs::File, text: &mut String, seen: usize, needle: &str) -> usize {
    use nix::poll::{PollFd, PollFlags, poll};
    use std::io::Read;
    use std::os::fd::AsFd;
    let deadline = Instant::now() + Duration::from_millis(TIMEOUT_MS);
    let mut in_escape = false;
    loop {
        if let Some(at) = text[seen..].find(needle) {
            return seen + at + needle.len();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {needle:?}; got {text:?}"
        );
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(pty.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, ms).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = pty.read(&mut buf).expect("the REPL's terminal is readable");
        assert!(n > 0, "the REPL ended; got {text:?}");
        // escape sequences: ESC, then everything up to a letter
        for &b in &buf[..n] {
            if b == 0x1b {
                in_escape = true;
            } else if in_escape {
                in_escape = !b.is_ascii_alphabetic();
            } else {
                text.push(b as char);
            }
        }
    }
}

/// Typing stays instant with a 1,000-entry history: the time from a key to
/// its echo on the terminal, with colouring on, over 200 keys.
#[test]
fn keystrokes_are_fast_with_a_long_history() {
    use std::io::Write;
    let history = history_file("long");
    let lines: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                "let value_{i} = [{i}, \"{}\"] # entry {i}",
                "x".repeat(i % 50)
            )
        })
        .collect();
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proc"));
    cmd.env("PROC_HISTORY", &history)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let mut proc = rexpect::process::PtyProcess::new(cmd).expect("the REPL starts");
    proc.set_kill_timeout(Some(5_000));
    let mut pty = proc.get_file_handle().unwrap();
    let mut text = String::new();
    let mut seen = wait_for(&mut pty, &mut text, 0, ">>> ");
    // four lines of 50 keys (shorter than the terminal is wide; all their
    // 12-key tails differ), each dropped with Ctrl-C
    let line: String = (0..30)
        .map(|i| format!("{i}, "))
        .fold(String::from("let s = ["), |acc, x| acc + &x)
        .chars()
        .take(50)
        .collect();
    let mut times = Vec::new();
    for _ in 0..4 {
        for (i, c) in line.char_indices() {
            let typed = &line[..i + c.len_utf8()];
            let tail = &typed[typed.len().saturating_sub(12)..];
            let t = Instant::now();
            pty.write_all(c.to_string().as_bytes()).unwrap();
            // the redrawn line ends with what has been typed so far
            seen = wait_for(&mut pty, &mut text, seen, tail);
            times.push(t.elapsed());
        }
        pty.write_all(b"\x03").unwrap();
        seen = wait_for(&mut pty, &mut text, seen, ">>> ");
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    eprintln!(
        "key to echo, 1,000-entry history, colour on, {} keys: mean {mean:?}, median {median:?}, max {worst:?}",
        times.len()
    );
    // instant to a person is well under 50 ms; a loaded CI machine gets slack
    assert!(median < Duration::from_millis(20), "median {median:?}");
    pty.write_all(b"\x04").unwrap();
    match proc.wait() {
        Ok(WaitStatus::Exited(_, 0)) => {}
        other => panic!("REPL ended with {other:?}"),
    }
}
