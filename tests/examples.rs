//! Example script tests: every `scripts/**/*.proc` except the helper modules in
//! `scripts/lib/` must run cleanly.
//!
//! Each example runs as `proc scripts/NAME.proc` from the project root (the way
//! the README tells a newcomer to run them), with standard input set to null.
//! It passes when it exits with status 0, prints something, and writes nothing
//! to stderr. Each example has a time limit; on expiry its whole process group
//! is killed (the same approach as `tests/golden.rs`).
//!
//! `EXAMPLES_FILTER=substring cargo test --test examples` runs matching ones only.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::group::{Output, run_in_group};

const TIME_LIMIT: Duration = Duration::from_secs(30);

fn examples(dir: &Path, lib: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // helper modules are imported by examples, not run on their own
            if p != lib {
                examples(&p, lib, out);
            }
        } else if p.extension().is_some_and(|e| e == "proc") {
            out.push(p);
        }
    }
}

fn run_example(bin: &Path, root: &Path, script: &Path) -> Output {
    let rel = script.strip_prefix(root).unwrap_or(script);
    let mut cmd = Command::new(bin);
    cmd.arg(rel).current_dir(root);
    run_in_group(cmd, None, TIME_LIMIT)
}

fn check(bin: &Path, root: &Path, script: &Path) -> Result<(), String> {
    let run = run_example(bin, root, script);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if run.timed_out {
        return Err(format!(
            "timed out after {TIME_LIMIT:?}\n--- stdout\n{stdout}--- stderr\n{stderr}"
        ));
    }
    if run.code != Some(0) {
        return Err(format!(
            "exit {:?}, wanted 0\n--- stdout\n{stdout}--- stderr\n{stderr}",
            run.code
        ));
    }
    if !run.stderr.is_empty() {
        return Err(format!("stderr is not empty:\n{stderr}"));
    }
    if run.stdout.is_empty() {
        return Err("printed nothing; an example should show its results".to_string());
    }
    Ok(())
}

#[test]
fn example_scripts() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_proc"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scripts = root.join("scripts");
    let mut all = Vec::new();
    examples(&scripts, &scripts.join("lib"), &mut all);
    let filter = std::env::var("EXAMPLES_FILTER").unwrap_or_default();
    all.retain(|p| p.to_string_lossy().contains(&filter));
    assert!(
        !all.is_empty(),
        "no example scripts found under {}",
        scripts.display()
    );

    // two workers: the machines this runs on have two cores
    let queue = std::sync::Mutex::new(all.clone());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(script) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    if let Err(why) = check(&bin, &root, &script) {
                        let rel = script
                            .strip_prefix(&root)
                            .unwrap_or(&script)
                            .display()
                            .to_string();
                        failures.lock().unwrap().push((rel, why));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    for (script, why) in &failures {
        eprintln!("FAIL {script}: {why}\n");
    }
    eprintln!(
        "examples: {} passed, {} failed",
        all.len() - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        let names: Vec<&str> = failures.iter().map(|(s, _)| s.as_str()).collect();
        panic!(
            "{} example script(s) failed: {}",
            failures.len(),
            names.join(", ")
        );
    }
}
