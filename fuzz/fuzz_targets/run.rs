//! Parses, compiles and runs arbitrary text with a small instruction budget and
//! no file or process access: the runtime must not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use proc_lang::Interpreter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // waiting is not a bug: skip scripts that can sleep or read stdin
    if text.contains("sleep") || text.contains("input") || text.contains("join") {
        return;
    }
    let mut interp = Interpreter::builder()
        .stdout(std::io::sink())
        .stderr(std::io::sink())
        .allow_files(false)
        .allow_processes(false)
        .max_instructions(Some(20_000))
        .max_call_depth(200)
        .build();
    if let Err(e) = interp.run_source("fuzz.proc", text) {
        let _ = e.to_string();
    }
});
