//! Secrets and private keys at rest: AES-256-GCM with a random nonce per value and the
//! owning record as associated data, so a sealed value cannot be moved to another record
//! or read without the service's key, which lives in a file of its own (owner-only).
//! Columns hold `sealed:v1:` and the sealed value, so a value written before sealing is
//! told apart and sealed when the service starts. The key is rotated offline
//! (`cloudconnector rotate-sealing-keys`): every sealed value is opened with the old
//! key and sealed with the new one in one transaction, the new key having been written
//! to `<key>.next` first and taking the key file's place after.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Error;

/// Marks a sealed column value.
const PREFIX: &str = "sealed:v1:";

pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(…)")
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Writes a new random key to `path` (owner-only permissions).
fn write_new_key(path: &Path) -> Result<Vec<u8>, Error> {
    let mut key = vec![0u8; 32];
    rand::fill(&mut key).expect("system random source");
    std::fs::write(path, URL_SAFE_NO_PAD.encode(&key)).map_err(io_error(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error(path))?;
    }
    Ok(key)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl SecretBox {
    fn from_key(bytes: &[u8], path: &Path) -> Result<SecretBox, Error> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            io_error(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, "the key file does not hold a 256-bit key"))
        })?;
        Ok(SecretBox { key: LessSafeKey::new(unbound) })
    }

    /// Loads the key from `path`, creating it (owner-only permissions) on first use.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, Error> {
        let bytes = if path.exists() {
            URL_SAFE_NO_PAD.decode(std::fs::read_to_string(path).map_err(io_error(path))?.trim()).unwrap_or_default()
        } else {
            write_new_key(path)?
        };
        Self::from_key(&bytes, path)
    }

    /// A random key held only in memory, for a store that lives no longer than the process
    /// (tests of a store on its own on [`crate::db::memory_url`]).
    pub fn ephemeral() -> SecretBox {
        let mut key = [0u8; 32];
        rand::fill(&mut key).expect("system random source");
        SecretBox { key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 256-bit key")) }
    }

    /// The first step of a rotation: a new key in `<path>.next`, beside the current one.
    pub fn create_next(path: &Path) -> Result<SecretBox, Error> {
        let next = with_suffix(path, ".next");
        let bytes = write_new_key(&next)?;
        Self::from_key(&bytes, &next)
    }

    /// The last step of a rotation, once every value is sealed with the new key: it takes
    /// the key file's place and the old key is kept as `<path>.previous`.
    pub fn promote_next(path: &Path) -> Result<(), Error> {
        let (next, previous) = (with_suffix(path, ".next"), with_suffix(path, ".previous"));
        std::fs::rename(path, &previous).map_err(io_error(path))?;
        std::fs::rename(&next, path).map_err(io_error(&next))
    }

    /// A sealed value (base64 of nonce, ciphertext and tag), bound to `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce).expect("system random source");
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
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
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// A column value: `sealed:v1:` and the sealed plaintext.
    pub fn seal_value(&self, plaintext: &str, context: &str) -> String {
        format!("{PREFIX}{}", self.seal(plaintext, context))
    }

    /// The plaintext of a column value [`seal_value`](Self::seal_value) wrote; `None` for
    /// anything else.
    pub fn open_value(&self, stored: &str, context: &str) -> Option<String> {
        self.open(stored.strip_prefix(PREFIX)?, context)
    }

    /// Whether a column value is sealed (one written before sealing is not).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_path() -> PathBuf {
        std::env::temp_dir().join(format!("cc-key-{}", crate::secrets::random_token(8)))
    }

    #[test]
    fn sealed_secrets_open_only_in_their_context() {
        let path = key_path();
        let b = SecretBox::load_or_create(&path).unwrap();
        let sealed = b.seal("s3cret", "instance-1");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(b.open(&sealed, "instance-1").as_deref(), Some("s3cret"));
        assert_eq!(b.open(&sealed, "instance-2"), None);
        assert_eq!(SecretBox::load_or_create(&path).unwrap().open(&sealed, "instance-1").as_deref(), Some("s3cret"), "the key persists");
        let value = b.seal_value("s3cret", "instance-1");
        assert!(SecretBox::is_sealed(&value) && !SecretBox::is_sealed("s3cret"));
        assert_eq!(b.open_value(&value, "instance-1").as_deref(), Some("s3cret"));
        assert_eq!(b.open_value("s3cret", "instance-1"), None, "plaintext is not a sealed value");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_rotation_replaces_the_key_and_keeps_the_old_one_aside() {
        let path = key_path();
        let old = SecretBox::load_or_create(&path).unwrap();
        let value = old.seal_value("s3cret", "c");
        let new = SecretBox::create_next(&path).unwrap();
        let resealed = new.seal_value(&old.open_value(&value, "c").unwrap(), "c");
        SecretBox::promote_next(&path).unwrap();
        let loaded = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(loaded.open_value(&resealed, "c").as_deref(), Some("s3cret"));
        assert_eq!(loaded.open_value(&value, "c"), None, "the old key no longer opens anything");
        let previous = SecretBox::load_or_create(&with_suffix(&path, ".previous")).unwrap();
        assert_eq!(previous.open_value(&value, "c").as_deref(), Some("s3cret"));
        for suffix in ["", ".previous"] {
            let _ = std::fs::remove_file(with_suffix(&path, suffix));
        }
    }
}
