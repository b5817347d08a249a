//! A config/rules engine: the host keeps the data and the decisions, a
//! sandboxed script holds the rules. The script cannot touch files or start
//! processes, runs under an instruction budget, and calls back into the host
//! for what only the host knows. A broken rule is reported as data (kind,
//! line, column), and the engine keeps running with the rules it had.
//!
//! Run: `cargo run --example rules_engine`

use proc_lang::{Interpreter, Value};
use std::collections::HashMap;
use std::io::Write;

/// The rules, as an operator would write them.
const RULES: &str = r#"
# Each rule gets an order (a map) and returns a decision string or nil.
let free_shipping_over = 50.0

fn shipping(order) {
    if order["total"] >= free_shipping_over { return "free shipping" }
    return f"shipping {shipping_rate(order["country"])}"
}

fn fraud(order) {
    if order["total"] > credit_limit(order["customer"]) { return "hold: over credit limit" }
    return nil
}

fn decide(order) {
    let notes = []
    for rule in [fraud, shipping] {
        let d = rule(order)
        if d != nil { notes.append(d) }
    }
    return notes
}
"#;

/// Runs the engine over a few orders, writing the decisions to `out`.
pub fn run(out: &mut dyn Write) -> Result<(), Box<dyn std::error::Error>> {
    let mut engine = Interpreter::builder()
        .allow_files(false)
        .allow_processes(false)
        .max_instructions(Some(10_000_000))
        .max_call_depth(200)
        .stdout(std::io::sink())
        .build();
    // what only the host knows
    let limits = HashMap::from([("ann", 500.0), ("bob", 80.0)]);
    engine.register_fn(
        "credit_limit",
        move |customer: String| -> Result<f64, String> {
            limits
                .get(customer.as_str())
                .copied()
                .ok_or(format!("unknown customer {customer}"))
        },
    );
    engine.register_fn("shipping_rate", |country: String| match country.as_str() {
        "FR" | "DE" => 4.5,
        _ => 12.0,
    });
    engine.run_source("rules.proc", RULES)?;

    let orders = [
        ("ann", "FR", 30.0),
        ("bob", "US", 95.0),
        ("eve", "DE", 10.0),
    ];
    for (customer, country, total) in orders {
        let order: HashMap<String, Value> = HashMap::from([
            ("customer".to_string(), Value::from(customer)),
            ("country".to_string(), Value::from(country)),
            ("total".to_string(), Value::from(total)),
        ]);
        match engine.call::<Vec<String>>("decide", (order,)) {
            Ok(notes) => writeln!(out, "{customer}: {}", notes.join("; "))?,
            Err(e) => writeln!(out, "{customer}: error {}: {}", e.kind(), e.message())?,
        }
    }

    // an update that does not parse is rejected whole: nothing changes
    let broken = "let free_shipping_over = 0\nfn decide(order) { return [ }";
    if let Err(e) = engine.run_source("update.proc", broken) {
        let at = (e.line().unwrap_or(0), e.column().unwrap_or(0));
        writeln!(out, "update rejected: {} at {}:{}", e.kind(), at.0, at.1)?;
    }
    // the operator changes a setting and adds a rule with a typo
    engine.set_global("free_shipping_over", 20.0);
    let typo = "fn weekend(order) {\n    return order[\"total\"] * discount_rate\n}\nfn decide(order) { return [weekend(order)] }";
    engine.run_source("weekend.proc", typo)?;
    // a rule that fails when it runs: the error says where
    match engine.call::<Vec<String>>("decide", (HashMap::from([("total".to_string(), 1.0)]),)) {
        Ok(notes) => writeln!(out, "weekend: {notes:?}")?,
        Err(e) => writeln!(
            out,
            "weekend rule failed: {} at {}:{} ({})",
            e.kind(),
            e.line().unwrap_or(0),
            e.column().unwrap_or(0),
            e.message()
        )?,
    }
    // the rest of the state is unharmed: put the old decide back
    engine.run_source("rules.proc", RULES)?;
    engine.set_global("free_shipping_over", 20.0);
    let notes: Vec<String> = engine.call(
        "decide",
        (HashMap::from([
            ("customer".to_string(), Value::from("ann")),
            ("country".to_string(), Value::from("FR")),
            ("total".to_string(), Value::from(30.0)),
        ]),),
    )?;
    writeln!(out, "ann again: {}", notes.join("; "))?;
    Ok(())
}

#[allow(dead_code)]
fn main() {
    if let Err(e) = run(&mut std::io::stdout()) {
        eprint!("{e}");
        std::process::exit(1);
    }
}
