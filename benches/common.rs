//! Shared by the benchmark programs: running a workload in proc, CPython and Lua
//! on the same machine in one go, and printing the figures side by side.
//!
//! Each workload script times its own work and prints `... seconds S` (or a
//! `metric value` line); the best of several runs is kept, so start-up and
//! noise from other processes count as little as possible.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference workloads shipped beside the project.
pub fn shared_bench() -> PathBuf {
    root().join("../shared/bench")
}

pub fn proc_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proc"))
}

/// Runs `cmd args` and returns its stdout, or None (with a note) when it cannot run.
pub fn run(cmd: &Path, args: &[&str]) -> Option<String> {
    let out = match Command::new(cmd).args(args).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("  (cannot run {}: {e})", cmd.display());
            return None;
        }
    };
    if !out.status.success() {
        eprintln!(
            "  ({} {:?} failed: {})",
            cmd.display(),
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number after `key` in the output (e.g. "seconds 0.123").
pub fn number_after(text: &str, key: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == key {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Best (smallest for `lower_is_better`, else largest) of `runs` runs of a metric.
pub fn best_of(
    runs: usize,
    lower_is_better: bool,
    mut once: impl FnMut() -> Option<f64>,
) -> Option<f64> {
    let mut best: Option<f64> = None;
    for _ in 0..runs {
        if let Some(v) = once() {
            best = Some(match best {
                None => v,
                Some(b) if lower_is_better => b.min(v),
                Some(b) => b.max(v),
            });
        }
    }
    best
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

pub fn fmt(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} {unit}"),
        Some(x) => format!("{x:.3} {unit}"),
        None => "n/a".into(),
    }
}

/// `a / b` as "0.42x", when both were measured.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".into(),
    }
}
