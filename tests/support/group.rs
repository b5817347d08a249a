//! Running one command in its own process group under a time limit, with its
//! output captured as bytes: what the golden and example harnesses share.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a command did.
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit status; None when killed by a signal or timed out.
    pub code: Option<i32>,
    pub timed_out: bool,
}

fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = from.read_to_end(&mut v);
        v
    })
}

/// Runs `cmd` with `input` as standard input (else none), in a process group
/// of its own. On expiry of `limit` the whole group is killed; whatever the
/// command left in its group is killed when it ends, too.
pub fn run_in_group(mut cmd: Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start proc");
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let out = read_all(child.stdout.take().expect("piped stdout"));
    let err = read_all(child.stderr.take().expect("piped stderr"));
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for proc") {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            break child.wait().expect("reap proc");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    Output {
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        code: status.code(),
        timed_out,
    }
}
