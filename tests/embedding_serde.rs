//! The `serde` feature: host structs to and from script values. Run with
//! `cargo test --features serde --test embedding_serde` (CI does).
#![cfg(feature = "serde")]

use proc_lang::{Interpreter, Value, from_value, to_value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Action {
    Allow,
    Deny { reason: String },
    Limit(u32),
    Route(String, u16),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Rule {
    name: String,
    priority: i32,
    weight: f64,
    enabled: bool,
    tags: Vec<String>,
    owner: Option<String>,
    action: Action,
    limits: BTreeMap<String, u64>,
    pair: (i8, char),
    unit: (),
}

fn sample() -> Rule {
    Rule {
        name: "r1".into(),
        priority: -3,
        weight: 0.5,
        enabled: true,
        tags: vec!["a".into(), "b".into()],
        owner: None,
        action: Action::Deny {
            reason: "late".into(),
        },
        limits: BTreeMap::from([("cpu".into(), 2), ("mem".into(), 512)]),
        pair: (-1, 'x'),
        unit: (),
    }
}

#[test]
fn structs_round_trip_through_scripts() {
    let mut interp = Interpreter::new();
    interp.eval::<()>("fn id(x) { return x }").unwrap();
    for action in [
        Action::Allow,
        Action::Deny { reason: "r".into() },
        Action::Limit(7),
        Action::Route("eu".into(), 443),
    ] {
        let rule = Rule { action, ..sample() };
        let v: Value = interp.call("id", (to_value(&rule).unwrap(),)).unwrap();
        assert_eq!(from_value::<Rule>(v).unwrap(), rule);
    }
}

#[test]
fn the_script_sees_maps_lists_and_plain_values() {
    let mut interp = Interpreter::new();
    interp.set_global("rule", to_value(&sample()).unwrap());
    let seen: String = interp
        .eval("f\"{rule[\"name\"]} {rule[\"priority\"]} {rule[\"tags\"]} {rule[\"owner\"]} {rule[\"action\"]} {rule[\"limits\"]} {rule[\"pair\"]} {rule[\"unit\"]}\"")
        .unwrap();
    assert_eq!(
        seen,
        "r1 -3 [\"a\", \"b\"] nil {\"Deny\": {\"reason\": \"late\"}} {\"cpu\": 2, \"mem\": 512} [-1, \"x\"] nil"
    );
    assert_eq!(to_value(&Action::Allow).unwrap().as_str(), Some("Allow"));
    // a script builds a value the host reads as its own type
    let v = interp
        .eval_value("let r = rule\nr[\"priority\"] = 10\nr[\"action\"] = {\"Limit\": 3}\nr[\"owner\"] = \"me\"\nr")
        .unwrap();
    let back: Rule = from_value(v).unwrap();
    assert_eq!(back.priority, 10);
    assert_eq!(back.action, Action::Limit(3));
    assert_eq!(back.owner.as_deref(), Some("me"));
    // ranges are sequences, ints read as floats
    let xs: Vec<f64> = from_value(interp.eval_value("range(3)").unwrap()).unwrap();
    assert_eq!(xs, [0.0, 1.0, 2.0]);
}

#[test]
fn mismatches_are_type_errors_naming_the_function() {
    let mut interp = Interpreter::new();
    let v = interp.eval_value("({\"name\": 1})").unwrap();
    let e = from_value::<Rule>(v).unwrap_err();
    assert_eq!(e.kind(), "TypeError");
    assert!(
        e.message()
            .starts_with("from_value(): invalid type: integer `1`, expected a string"),
        "{}",
        e.message()
    );
    let e = from_value::<Rule>(interp.eval_value("fn f() {}\nf").unwrap()).unwrap_err();
    assert_eq!(
        e.message(),
        "from_value(): a function has no data form to convert"
    );
    let e = from_value::<Action>(
        interp
            .eval_value("({\"Limit\": 1, \"Allow\": nil})")
            .unwrap(),
    )
    .unwrap_err();
    assert!(e.message().contains("one entry"), "{}", e.message());
    let e = to_value(&u64::MAX).unwrap_err();
    assert_eq!(e.kind(), "TypeError");
    assert!(
        e.message()
            .starts_with("to_value(): 18446744073709551615 does not fit"),
        "{}",
        e.message()
    );
    let bad_key = std::collections::HashMap::from([(vec![1], 2)]);
    let e = to_value(&bad_key).unwrap_err();
    assert!(
        e.message().contains("unhashable type: list"),
        "{}",
        e.message()
    );
}
