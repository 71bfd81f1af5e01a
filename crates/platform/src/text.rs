//! Text as people count it: limits on names are in characters (Unicode scalar values),
//! never in bytes, so a name in Japanese or with accents gets the room its length shows.

/// Whether `value`, trimmed, has 1 to `max` characters.
pub fn within_chars(value: &str, max: usize) -> bool {
    let trimmed = value.trim();
    !trimmed.is_empty() && trimmed.chars().count() <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(within_chars(&"東".repeat(100), 100), "300 bytes, 100 characters");
        assert!(!within_chars(&"é".repeat(101), 100));
        assert!(!within_chars("   ", 10));
    }
}
