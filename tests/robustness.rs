//! No input makes `proc` panic, crash or hang (issue 2): pathological sources
//! end in a diagnostic and exit status 1.

mod support;

fn check(name: &str, source: &[u8]) {
    let tag = support::new_tag();
    let path = std::env::temp_dir().join(format!("{tag}.proc"));
    std::fs::write(&path, source).expect("write the script");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_proc"))
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run proc");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{name}: stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
}

fn repeat(pre: &str, mid: &str, n: usize, post: &str) -> Vec<u8> {
    let mut s = String::from(pre);
    for _ in 0..n {
        s.push_str(mid);
    }
    s.push_str(post);
    s.into_bytes()
}

#[test]
fn twenty_thousand_brackets() {
    let mut s = "let x = ".to_string();
    s.push_str(&"[".repeat(20_000));
    s.push_str(&"]".repeat(20_000));
    check("brackets", s.as_bytes());
    check("parens", repeat("print(", "(", 20_000, "1").as_slice());
    check("blocks", repeat("", "if true { ", 20_000, "").as_slice());
}

#[test]
fn very_long_operator_chains() {
    // each becomes a tree a hundred thousand levels deep
    check("sum", &repeat("let x = 1", " + 1", 100_000, "\nprint(x)\n"));
    check(
        "members",
        &repeat("let x = 1\nprint(x", ".a", 100_000, ")\n"),
    );
    check("not", &repeat("print(", "not ", 100_000, "[])\n"));
    check("power", &repeat("print(2", " ** 1", 100_000, ")\n"));
    check(
        "ternary",
        &repeat("print(", "1 if true else ", 100_000, "2)\n"),
    );
}

#[test]
fn invalid_utf8_and_unterminated_text() {
    check("utf8", b"print(\"a\xff\xfe\")\n");
    check("string", b"print(\"abc\n");
    check("triple", b"let s = \"\"\"never closed\n\n");
    check("fstring", b"print(f\"{1 + \")\n");
    check("bytes", b"print(b\"\\xZZ\")\n");
    check("nul", b"print(1)\0\n");
}

#[test]
fn integer_overflow_and_unbounded_recursion() {
    check("add", b"print(9223372036854775807 + 1)\n");
    check("literal", b"print(99999999999999999999)\n");
    check("pow", b"print(2 ** 64)\n");
    check("neg", b"print(-(-9223372036854775807 - 1))\n");
    check("recursion", b"fn f(n) { return f(n + 1) }\nf(0)\n");
    check(
        "mutual",
        b"fn a(n) { return b(n) }\nfn b(n) { return a(n) }\na(1)\n",
    );
    check(
        "method",
        b"class C { fn m() { return self.m() } }\nC().m()\n",
    );
}

#[test]
fn deep_values_are_errors_not_crashes() {
    check(
        "print",
        b"let x = []\nfor i in range(100000) { x = [x] }\nprint(x)\n",
    );
    check(
        "compare",
        b"let x = []\nlet y = []\nfor i in range(100000) { x = [x]; y = [y] }\nprint(x == y)\n",
    );
}
