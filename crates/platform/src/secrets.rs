//! Random credentials, password hashing (PBKDF2-HMAC-SHA256) and credential digests.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, pbkdf2, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// Secrets at rest (client secrets an admin enters): AES-256-GCM with a random nonce per
/// value and the owning record as associated data, so a sealed value cannot be moved to
/// another record. The key lives in a file of its own.
pub struct SecretBox {
    key: aws_lc_rs::aead::LessSafeKey,
}

impl SecretBox {
    /// Loads the key from `path`, creating it (owner-only permissions) on first use.
    pub fn load_or_create(path: &std::path::Path) -> Result<SecretBox, crate::Error> {
        let io = |source| crate::Error::Io { path: path.to_path_buf(), source };
        let bytes = if path.exists() {
            URL_SAFE_NO_PAD.decode(std::fs::read_to_string(path).map_err(io)?.trim()).unwrap_or_default()
        } else {
            let mut key = vec![0u8; 32];
            rand::fill(&mut key).expect("system random source");
            std::fs::write(path, URL_SAFE_NO_PAD.encode(&key)).map_err(io)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            }
            key
        };
        let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &bytes)
            .map_err(|_| io(std::io::Error::new(std::io::ErrorKind::InvalidData, "the key file does not hold a 256-bit key")))?;
        Ok(SecretBox { key: aws_lc_rs::aead::LessSafeKey::new(unbound) })
    }

    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce).expect("system random source");
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from(context.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing");
        let mut out = nonce.to_vec();
        out.extend(data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plaintext, or `None` if the value was altered, belongs elsewhere or uses another key.
    pub fn open(&self, sealed: &str, context: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = bytes.split_at(12);
        let mut data = rest.to_vec();
        let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self.key.open_in_place(nonce, aws_lc_rs::aead::Aad::from(context.as_bytes()), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod box_tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_context() {
        let path = std::env::temp_dir().join(format!("cc-key-{}", random_token(8)));
        let b = SecretBox::load_or_create(&path).unwrap();
        let sealed = b.seal("s3cret", "instance-1");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(b.open(&sealed, "instance-1").as_deref(), Some("s3cret"));
        assert_eq!(b.open(&sealed, "instance-2"), None);
        assert_eq!(SecretBox::load_or_create(&path).unwrap().open(&sealed, "instance-1").as_deref(), Some("s3cret"), "the key persists");
        let _ = std::fs::remove_file(path);
    }
}
