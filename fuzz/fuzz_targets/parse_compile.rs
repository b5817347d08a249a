//! Parses and compiles arbitrary bytes: must never panic, hang or overflow the
//! stack, whatever the input; every failure is a diagnostic that renders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use proc_lang::Interpreter;

fuzz_target!(|data: &[u8]| {
    let mut interp = Interpreter::builder().stdout(std::io::sink()).stderr(std::io::sink()).build();
    match Interpreter::source_from_bytes("fuzz.proc", data.to_vec()) {
        Ok(source) => {
            if let Err(e) = interp.check(&source) {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
