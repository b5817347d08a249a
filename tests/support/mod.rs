//! Shared by the behavioural tests: running a script with the `proc` binary
//! under a time limit, in its own process group, tagged so that any process it
//! leaves behind can be found afterwards.

#![allow(dead_code)]

pub mod group;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Run {
    pub stdout: String,
    pub stderr: String,
    /// The exit status; None when killed by a signal or timed out.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub leftovers: Vec<i32>,
}

static COUNT: AtomicU32 = AtomicU32::new(0);

/// A unique tag for one test run: put in the environment of the script, so
/// every process it forks carries it.
pub fn new_tag() -> String {
    format!(
        "proc-test-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Writes `text` to a temporary script file and returns its path.
pub fn script_file(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{tag}.proc"));
    std::fs::write(&path, text).expect("write a temporary script");
    path
}

/// Starts `proc SCRIPT` in its own process group, tagged with `tag`.
pub fn start(tag: &str, text: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let path = script_file(tag, text);
    Command::new(env!("CARGO_BIN_EXE_proc"))
        .arg(&path)
        .env("PROC_TEST_TAG", tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start proc")
}

/// Waits for `child` at most `limit`; kills its whole group on expiry.
pub fn finish(tag: &str, mut child: Child, limit: Duration) -> Run {
    let pgid = child.id() as i32;
    let deadline = Instant::now() + limit;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st);
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // SAFETY: signalling a process group this test created.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // anything still holding the pipes open is a leftover: give it a moment
    let leftovers = wait_for_no_tagged(tag, Duration::from_secs(3));
    if !leftovers.is_empty() {
        for &p in &leftovers {
            // SAFETY: killing processes this test started (they carry its tag).
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{tag}.proc")));
    Run {
        stdout: reader.join().unwrap_or_default(),
        stderr: ereader.join().unwrap_or_default(),
        code: status.and_then(|s| s.code()),
        timed_out,
        leftovers,
    }
}

/// Runs a script to completion (at most `limit`).
pub fn run(text: &str, limit: Duration) -> Run {
    let tag = new_tag();
    let child = start(&tag, text);
    finish(&tag, child, limit)
}

/// Pids of live (non-zombie) processes whose environment carries `tag`.
pub fn tagged(tag: &str) -> Vec<i32> {
    let needle = format!("PROC_TEST_TAG={tag}");
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) && !is_zombie(pid) {
            found.push(pid);
        }
    }
    found
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Waits until no tagged process is left (at most `limit`); returns those left.
pub fn wait_for_no_tagged(tag: &str, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = tagged(tag);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads stdout lines of a running child until one starts with `prefix`.
pub fn read_line_starting(child: &mut Child, prefix: &str, limit: Duration) -> Option<String> {
    let out = child.stdout.as_mut()?;
    let deadline = Instant::now() + limit;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while Instant::now() < deadline {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
            continue;
        }
        match out.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) if byte[0] == b'\n' => {
                let s = String::from_utf8_lossy(&line).into_owned();
                if s.starts_with(prefix) {
                    return Some(s);
                }
                line.clear();
            }
            Ok(_) => line.push(byte[0]),
            Err(_) => return None,
        }
    }
    None
}
