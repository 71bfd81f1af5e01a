//! Text as people count it: limits on names are in characters (Unicode scalar values),
//! never in bytes, so a name in Japanese or with accents gets the room its length shows.

/// Whether `value`, trimmed, has 1 to `max` characters.
pub fn within_chars(value: &str, max: usize) -> bool {
    let trimmed = value.trim();
    !trimmed.is_empty() && trimmed.chars().count() <= max
}

/// 2^53: every integer below it in magnitude is exactly one double.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// JSON Schema counts `69.0` as the integer 69; serde does not. Numbers with no fraction
/// whose magnitude is below 2^53 become integers, everywhere in `value`, before it is read
/// into Rust types (a float field reads an integer as well). Larger floats stay floats: past
/// 2^53 a double no longer tells `-9223372036854775809` (outside `i64`) from `i64::MIN`,
/// so an integer field refuses them rather than reading a different number.
pub fn json_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < EXACT_INTEGERS) {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(json_integers),
        _ => {}
    }
}

/// Whether JSON text `body` holds the escape `\u0000` (the NUL character) in a string: the
/// backslash before `u0000` must itself be unescaped (`\\u0000` is the six characters
/// `\u0000`, not NUL).
pub fn json_escapes_nul(body: &[u8]) -> bool {
    body.windows(5).enumerate().any(|(i, w)| w == b"u0000" && body[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nul_escape_is_told_from_an_escaped_backslash() {
        use super::json_escapes_nul;
        assert!(json_escapes_nul(br#"{"a":"x\u0000"}"#));
        assert!(json_escapes_nul(br#"{"a\u0000":1}"#));
        assert!(json_escapes_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!json_escapes_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_escapes_nul(br#"{"a":"u0000"}"#));
        assert!(!json_escapes_nul(br#"{"a":"\u0001"}"#));
    }

    #[test]
    fn whole_floats_read_as_integers() {
        let mut v = serde_json::json!({"a": 69.0, "b": [1.5, -3.0, 1e300], "c": {"d": 7}});
        super::json_integers(&mut v);
        assert_eq!(v, serde_json::json!({"a": 69, "b": [1.5, -3, 1e300], "c": {"d": 7}}));
    }

    #[test]
    fn integers_past_i64_stay_floats() {
        let mut v: serde_json::Value = serde_json::from_str(r#"{"a": -9223372036854775809}"#).unwrap();
        super::json_integers(&mut v);
        assert!(serde_json::from_value::<std::collections::HashMap<String, i64>>(v).is_err());
    }

    use super::*;

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(within_chars(&"東".repeat(100), 100), "300 bytes, 100 characters");
        assert!(!within_chars(&"é".repeat(101), 100));
        assert!(!within_chars("   ", 10));
    }
}
