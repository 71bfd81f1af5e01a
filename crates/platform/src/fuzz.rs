//! Strategies the fuzz tests of every crate share (feature `fuzzing`, taken only by
//! dev-dependencies). Each crate's `fuzz_*` tests feed a parser of outside input with
//! them; `PROPTEST_CASES` sets how many cases a run tries (`scripts/fuzz` runs each
//! target for a million).

use proptest::prelude::*;
use serde_json::Value;

/// Text as attackers and broken clients send it: plain words, separators, quotes and
/// backslashes, control characters (NUL included), characters beyond the BMP, and long
/// runs (up to 300 characters).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ._:@/-]{0,24}",
        2 => "[\"'\\\\(),;=!~<> \t\r\n\u{0}\u{1f}\u{7f}\u{85}\u{a0}\u{2028}\u{feff}]{0,12}",
        2 => any::<String>(),
        1 => proptest::string::string_regex(".{200,300}").expect("a valid regex"),
    ]
}

/// Strings built from `tokens` (a grammar's keywords and punctuation) mixed with
/// [`text`], so a parser is driven deep into its grammar rather than refusing the first
/// character.
pub fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![8 => proptest::sample::select(tokens).prop_map(str::to_string), 1 => text()];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Any JSON value: scalars at the edges (huge and negative numbers, floats, [`text`]),
/// arrays and objects nested up to 4 levels.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `base` with some of its fields (at any depth) replaced by [`json`] values or removed:
/// mostly-valid input that reaches the checks behind the first one.
pub fn mutated(base: Value) -> impl Strategy<Value = Value> {
    let paths = leaf_paths(&base);
    let edit = (proptest::sample::select(paths), proptest::option::weighted(0.85, json()));
    proptest::collection::vec(edit, 1..5).prop_map(move |edits| {
        let mut value = base.clone();
        for (path, replacement) in edits {
            set(&mut value, &path, replacement);
        }
        value
    })
}

/// Every path (object keys and array indexes) of `value`, the root included.
fn leaf_paths(value: &Value) -> Vec<Vec<String>> {
    let mut out = vec![vec![]];
    let children: Vec<(String, &Value)> = match value {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => vec![],
    };
    for (key, child) in children {
        out.extend(leaf_paths(child).into_iter().map(|mut p| {
            p.insert(0, key.clone());
            p
        }));
    }
    out
}

/// Puts `replacement` at `path` (removes the field when `None`).
fn set(value: &mut Value, path: &[String], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        *value = replacement.unwrap_or(Value::Null);
        return;
    };
    let mut at = value;
    for key in parents {
        at = match at {
            Value::Object(m) => match m.get_mut(key) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (at, replacement) {
        (Value::Object(m), Some(v)) => {
            m.insert(last.clone(), v);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), Some(v)) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = v;
            }
        }
        (Value::Array(a), None) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|&i| i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}
