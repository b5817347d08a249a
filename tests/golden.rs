//! Golden script tests: every `tests/scripts/**/NAME.proc` that has a `NAME.out`.
//!
//! A case runs `proc NAME.proc [ARGS]` in its own folder, with `NAME.args` (one
//! argument per line) and `NAME.in` as standard input (else empty input). It
//! passes when stdout equals `NAME.out` byte for byte, the exit status equals
//! `NAME.code` (default 0), and every line of `NAME.err` appears in stderr.
//! Each case has a time limit; on expiry its whole process group is killed.
//!
//! `GOLDEN_FILTER=substring cargo test --test golden` runs matching cases only.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::group::{Output, run_in_group};

const TIME_LIMIT: Duration = Duration::from_secs(30);

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            cases(&p, out);
        } else if p.extension().is_some_and(|e| e == "proc") && p.with_extension("out").exists() {
            out.push(p);
        }
    }
}

fn run_case(bin: &Path, script: &Path) -> Output {
    let dir = script.parent().expect("a case is in a folder");
    let name = script.file_name().expect("a case has a name");
    let args: Vec<String> = std::fs::read_to_string(script.with_extension("args"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let input = std::fs::read(script.with_extension("in")).ok();
    let mut cmd = Command::new(bin);
    cmd.arg(name).args(&args).current_dir(dir);
    run_in_group(cmd, input, TIME_LIMIT)
}

fn check(bin: &Path, script: &Path) -> Result<(), String> {
    let run = run_case(bin, script);
    if run.timed_out {
        return Err(format!("timed out after {TIME_LIMIT:?}"));
    }
    let want_code: i32 = std::fs::read_to_string(script.with_extension("code"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if run.code != Some(want_code) {
        return Err(format!(
            "exit {:?}, wanted {want_code}; stderr:\n{}",
            run.code,
            stderr.trim_end()
        ));
    }
    let want_out = std::fs::read(script.with_extension("out")).expect("read .out");
    if run.stdout != want_out {
        return Err(format!(
            "stdout differs\n--- want\n{}--- got\n{}--- stderr\n{}",
            String::from_utf8_lossy(&want_out),
            String::from_utf8_lossy(&run.stdout),
            stderr
        ));
    }
    if let Ok(want_err) = std::fs::read_to_string(script.with_extension("err")) {
        for line in want_err.lines().filter(|l| !l.is_empty()) {
            if !stderr.contains(line) {
                return Err(format!("stderr lacks {line:?}; stderr:\n{stderr}"));
            }
        }
    }
    Ok(())
}

#[test]
fn golden_scripts() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_proc"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut all = Vec::new();
    cases(&root, &mut all);
    let filter = std::env::var("GOLDEN_FILTER").unwrap_or_default();
    all.retain(|p| p.to_string_lossy().contains(&filter));
    assert!(
        !all.is_empty(),
        "no golden cases found under {}",
        root.display()
    );

    // two workers: the machines this runs on have two cores
    let queue = std::sync::Mutex::new(all.clone());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    if let Err(why) = check(&bin, &case) {
                        let rel = case
                            .strip_prefix(&root)
                            .unwrap_or(&case)
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
    for (case, why) in &failures {
        eprintln!("FAIL {case}: {why}\n");
    }
    eprintln!(
        "golden: {} passed, {} failed",
        all.len() - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        let names: Vec<&str> = failures.iter().map(|(c, _)| c.as_str()).collect();
        panic!(
            "{} golden case(s) failed: {}",
            failures.len(),
            names.join(", ")
        );
    }
}
