//! Access tokens: RS256 JWTs with `kid`, published in JWKS, checked against the injected
//! clock (never the system clock: tests move time by days).

use std::sync::RwLock;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{CloudError, Result};
use crate::store::Store;

/// Claims of an access token, as the identity platform issues them (v1 tokens, which is
/// what Microsoft's first-party resources accept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// 0 public client, 1 secret, 2 certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    pub ver: String,
    pub uti: String,
    /// The registered device a user signed in from, when Conditional Access saw one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviceid: Option<String>,
}

impl AccessClaims {
    pub fn has_role(&self, any_of: &[&str]) -> bool {
        self.roles.iter().any(|r| any_of.contains(&r.as_str()))
    }

    pub fn has_scope(&self, any_of: &[&str]) -> bool {
        self.scp.as_deref().unwrap_or("").split(' ').any(|s| any_of.contains(&s))
    }
}

struct SigningKey {
    kid: String,
    /// Base64url SHA-1 thumbprint of the key's certificate (the tokens' `x5t`).
    x5t: String,
    created_ms: i64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

/// The signing key is replaced after this long.
pub const ROTATE_AFTER_MS: i64 = 30 * 24 * 3600 * 1000;
/// Longest token lifetime, plus clock skew: a replaced key is kept this long after its
/// successor appeared, so every token it signed can still be verified.
const RETAIN_AFTER_SUCCESSOR_MS: i64 = (90 + 5) * 60 * 1000;

/// The cloud's token signing keys, newest first. Older keys stay published (and accepted)
/// until tokens signed with them have expired.
pub struct Keys {
    keys: RwLock<Vec<SigningKey>>,
}

/// A self-signed certificate for a signing key (DER, base64), as Microsoft publishes its
/// keys in certificates.
fn certificate_for(pem: &str, created_ms: i64) -> Result<String> {
    use base64::Engine;
    let key = rcgen::KeyPair::from_pem(pem).map_err(CloudError::internal)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(CloudError::internal)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "accounts.accesscontrol.windows.net");
    let day = |ms: i64| {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        use chrono::Datelike;
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
    };
    params.not_before = day(created_ms - 24 * 3600 * 1000);
    params.not_after = day(created_ms + 5 * 365 * 24 * 3600 * 1000);
    let cert = params.self_signed(&key).map_err(CloudError::internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cert.der()))
}

fn key_from_pem(kid: &str, pem: &str, created_ms: i64, certificate_b64: &str) -> Result<SigningKey> {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD.decode(certificate_b64).map_err(CloudError::internal)?;
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1.as_ref());
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(CloudError::internal)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(CloudError::internal)?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    jwk.common.x509_sha1_fingerprint = Some(x5t.clone());
    jwk.common.x509_chain = Some(vec![certificate_b64.to_string()]);
    let decoding = DecodingKey::from_jwk(&jwk).map_err(CloudError::internal)?;
    Ok(SigningKey { kid: kid.to_string(), x5t, created_ms, encoding, decoding, jwk })
}

/// A new signing key and its certificate; like Microsoft's, its `kid` is its `x5t`.
fn new_key(now_ms: i64) -> Result<(String, String, String)> {
    use base64::Engine;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(CloudError::internal)?;
    let pem = key.serialize_pem();
    let cert = certificate_for(&pem, now_ms)?;
    let der = base64::engine::general_purpose::STANDARD.decode(&cert).map_err(CloudError::internal)?;
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    Ok((base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1.as_ref()), pem, cert))
}

impl Keys {
    pub async fn load_or_create(store: &Store, now_ms: i64) -> Result<Keys> {
        let mut rows = store.signing_keys().await?;
        if rows.is_empty() {
            let (kid, pem, cert) = new_key(now_ms)?;
            store.insert_signing_key(&kid, &pem, &cert, now_ms).await?;
            rows = store.signing_keys().await?;
        }
        let mut keys = Vec::with_capacity(rows.len());
        for (kid, pem, created, cert) in rows {
            let cert = match cert {
                Some(c) => c,
                // A key made before keys had certificates gets one, kept from now on.
                None => {
                    let c = certificate_for(&pem, created)?;
                    store.set_signing_key_certificate(&kid, &c).await?;
                    c
                }
            };
            keys.push(key_from_pem(&kid, &pem, created, &cert)?);
        }
        let keys = Keys { keys: RwLock::new(keys) };
        keys.maintain(store, now_ms).await?;
        Ok(keys)
    }

    /// Rotates the signing key when it is due and drops keys no live token can need.
    pub async fn maintain(&self, store: &Store, now_ms: i64) -> Result<()> {
        let newest_created = self.keys.read().expect("keys lock").first().map(|k| k.created_ms).unwrap_or(i64::MIN);
        if now_ms.saturating_sub(newest_created) >= ROTATE_AFTER_MS {
            self.rotate(store, now_ms).await?;
        }
        let expired: Vec<String> = {
            let keys = self.keys.read().expect("keys lock");
            keys.windows(2).filter(|pair| now_ms - pair[0].created_ms > RETAIN_AFTER_SUCCESSOR_MS).map(|pair| pair[1].kid.clone()).collect()
        };
        if !expired.is_empty() {
            for kid in &expired {
                store.delete_signing_key(kid).await?;
            }
            self.keys.write().expect("keys lock").retain(|k| !expired.contains(&k.kid));
        }
        Ok(())
    }

    /// Starts signing with a new key; the previous ones stay published.
    pub async fn rotate(&self, store: &Store, now_ms: i64) -> Result<String> {
        let (kid, pem, cert) = new_key(now_ms)?;
        store.insert_signing_key(&kid, &pem, &cert, now_ms).await?;
        let key = key_from_pem(&kid, &pem, now_ms, &cert)?;
        self.keys.write().expect("keys lock").insert(0, key);
        Ok(kid)
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let keys = self.keys.read().expect("keys lock");
        let key = keys.first().ok_or_else(|| CloudError::internal("no signing key"))?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        header.x5t = Some(key.x5t.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(CloudError::internal)
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: self.keys.read().expect("keys lock").iter().map(|k| k.jwk.clone()).collect() }
    }

    /// Verifies signature (RS256 only, by `kid`), audience and lifetime at `now`.
    pub fn verify(&self, token: &str, audiences: &[&str], now_s: i64) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::BadSignature);
        }
        let kid = header.kid.ok_or(TokenError::BadSignature)?;
        let keys = self.keys.read().expect("keys lock");
        let key = keys.iter().find(|k| k.kid == kid).ok_or(TokenError::BadSignature)?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Lifetime is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
        let claims = data.claims;
        if !audiences.iter().any(|a| a.trim_end_matches('/') == claims.aud.trim_end_matches('/')) {
            return Err(TokenError::WrongAudience(claims.aud));
        }
        if claims.exp <= now_s - 60 || claims.nbf > now_s + 60 {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token signature is invalid")]
    BadSignature,
    #[error("the access token has expired or is not yet valid")]
    Expired,
    #[error("the access token audience {0} is not accepted by this resource")]
    WrongAudience(String),
}

/// A token lifetime between 60 and 90 minutes, as the identity platform hands out.
pub fn token_lifetime_s() -> i64 {
    use rand::Rng;
    rand::rng().random_range(3600..=5400)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn keys() -> Keys {
        let (kid, pem, cert) = new_key(0).unwrap();
        Keys { keys: RwLock::new(vec![key_from_pem(&kid, &pem, 0, &cert).unwrap()]) }
    }

    pub(crate) fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            aud: "https://api.manage.microsoft.com/".into(),
            iss: "https://sts.windows.net/t/".into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            tid: "t".into(),
            oid: "o".into(),
            sub: "o".into(),
            appid: Some("a".into()),
            appidacr: Some("1".into()),
            roles: vec!["update_device_attributes".into()],
            scp: None,
            upn: None,
            idtyp: Some("app".into()),
            ver: "1.0".into(),
            uti: "u".into(),
            deviceid: None,
        }
    }

    #[test]
    fn signed_tokens_verify_and_altered_ones_do_not() {
        let k = keys();
        let token = k.sign(&claims(1000)).unwrap();
        let ok = k.verify(&token, &["https://api.manage.microsoft.com"], 1000).unwrap();
        assert_eq!(ok.roles, vec!["update_device_attributes"]);
        assert_eq!(
            k.verify(&token, &["https://graph.microsoft.com"], 1000).unwrap_err(),
            TokenError::WrongAudience("https://api.manage.microsoft.com/".into())
        );
        assert_eq!(k.verify(&token, &["https://api.manage.microsoft.com/"], 1000 + 7200).unwrap_err(), TokenError::Expired);
        // Flip one character of the payload: the signature no longer matches.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut payload = parts[1].clone().into_bytes();
        payload[10] = if payload[10] == b'A' { b'B' } else { b'A' };
        parts[1] = String::from_utf8(payload).unwrap();
        assert!(k.verify(&parts.join("."), &["https://api.manage.microsoft.com/"], 1000).is_err());
        // A token signed by another key is refused.
        let other = keys().sign(&claims(1000)).unwrap();
        assert_eq!(k.verify(&other, &["https://api.manage.microsoft.com/"], 1000).unwrap_err(), TokenError::BadSignature);
    }

    #[test]
    fn keys_are_published_with_their_certificate_and_tokens_name_it() {
        use base64::Engine;
        let k = keys();
        let jwk = serde_json::to_value(&k.jwks().keys[0]).unwrap();
        let chain = jwk["x5c"][0].as_str().unwrap();
        let der = base64::engine::general_purpose::STANDARD.decode(chain).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(cert.subject().to_string().contains("accounts.accesscontrol.windows.net"));
        assert_eq!(jwk["x5t"], jwk["kid"], "kid is the certificate's thumbprint, as Microsoft's are");
        let header = jsonwebtoken::decode_header(k.sign(&claims(0)).unwrap()).unwrap();
        assert_eq!(header.x5t.as_deref(), jwk["x5t"].as_str());
    }
}
