//! Random credentials, password hashing (PBKDF2-HMAC-SHA256) and credential digests.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, pbkdf2, rand};
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
