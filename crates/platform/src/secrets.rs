//! Random credentials, password hashing (PBKDF2-HMAC-SHA256) and credential digests.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::sealing::SecretBox;

const PBKDF2_ITERATIONS: u32 = 100_000;

/// A random URL-safe token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf).expect("system random source");
    URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256 of a high-entropy credential: stored instead of the credential itself.
pub fn digest_hex(value: &str) -> String {
    let d = digest::digest(&digest::SHA256, value.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A value that proves it was issued for `purpose` by a holder of `key` until
/// `expires_ms`: `<expires_ms>.<HMAC-SHA256(key, purpose|expires_ms), hex>`. Every node
/// sharing the key accepts it ([`check_signed`]) without any stored session; the purpose
/// keeps a value made for one use from passing for another under the same key.
pub fn sign_until(key: &str, purpose: &str, expires_ms: i64) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()), format!("{purpose}|{expires_ms}").as_bytes());
    format!("{expires_ms}.{}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Whether `value` was made by [`sign_until`] with `key` for `purpose` and has not
/// expired at `now_ms`. The tag is checked in constant time.
pub fn check_signed(key: &str, purpose: &str, value: &str, now_ms: i64) -> bool {
    let Some((expires, tag)) = value.split_once('.') else { return false };
    let (Ok(expires_ms), Some(tag)) = (expires.parse::<i64>(), decode_hex(tag)) else { return false };
    let message = format!("{purpose}|{expires_ms}");
    expires_ms > now_ms && hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()), message.as_bytes(), &tag).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    hex.len().is_multiple_of(2).then_some(())?;
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// `pbkdf2-sha256$<iterations>$<salt>$<hash>` of a human password.
pub fn hash_password(password: &str) -> String {
    hash_password_with(password, PBKDF2_ITERATIONS)
}

/// As [`hash_password`] with an explicit cost, stored in the hash so verification follows it.
pub fn hash_password_with(password: &str, iterations: u32) -> String {
    let iterations = iterations.max(1);
    let mut salt = [0u8; 16];
    rand::fill(&mut salt).expect("system random source");
    let mut out = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, NonZeroU32::new(iterations).expect("non-zero"), &salt, password.as_bytes(), &mut out);
    format!("pbkdf2-sha256${iterations}${}${}", URL_SAFE_NO_PAD.encode(salt), URL_SAFE_NO_PAD.encode(out))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    if *scheme != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(iterations), Ok(salt), Ok(hash)) = (iterations.parse::<u32>(), URL_SAFE_NO_PAD.decode(salt), URL_SAFE_NO_PAD.decode(hash))
    else {
        return false;
    };
    let Some(iterations) = NonZeroU32::new(iterations) else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_holds_until_it_expires_and_only_under_its_key() {
        let v = sign_until("key", "session", 1_000);
        assert!(check_signed("key", "session", &v, 999));
        assert!(!check_signed("key", "session", &v, 1_000), "expired");
        assert!(!check_signed("other", "session", &v, 10), "another key");
        assert!(!check_signed("key", "other-use", &v, 10), "another purpose");
        let forged = v.replacen("1000", "9000", 1);
        assert!(!check_signed("key", "session", &forged, 10), "a later expiry under the old tag");
        assert!(!check_signed("key", "session", "1000.zz", 10) && !check_signed("key", "session", "junk", 10));
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let h = hash_password("correct horse");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse!", &h));
        assert!(!verify_password("correct horse", "garbage"));
    }

    #[test]
    fn tokens_are_distinct() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(digest_hex("a").len(), 64);
    }
}
