//! Certificate credentials: a client proves itself with a JWT signed by the private key
//! of a certificate registered on its app (RS256 with `x5t`, or PS256 with `x5t#S256`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::{CloudError, Result};
use crate::store::Store;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime of an assertion the platform accepts.
const MAX_LIFETIME_S: i64 = 24 * 3600;

#[derive(Deserialize)]
pub(crate) struct AssertionClaims {
    aud: String,
    iss: String,
    sub: String,
    jti: Option<String>,
    // NumericDate may carry fractions (MSAL for Python sends `time.time() + 600`).
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
}

/// A registered certificate, as the verifier needs it.
pub struct RegisteredCertificate {
    pub thumbprint_sha1: Vec<u8>,
    pub thumbprint_sha256: Vec<u8>,
    pub der: Vec<u8>,
    pub expires_ms: i64,
}

/// SHA-1 and SHA-256 thumbprints of a certificate (DER).
pub fn thumbprints(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use aws_lc_rs::digest;
    (digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref().to_vec(), digest::digest(&digest::SHA256, der).as_ref().to_vec())
}

/// A DER INTEGER's magnitude: without the leading zero that keeps it positive.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

/// The RSA public key and expiry of a certificate.
pub fn certificate_key(der: &[u8]) -> Result<(DecodingKey, i64)> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CloudError::bad_request(format!("not an X.509 certificate: {e}")))?;
    let expires = cert.validity().not_after.timestamp() * 1000;
    match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            Ok((DecodingKey::from_rsa_raw_components(unsigned(rsa.modulus), unsigned(rsa.exponent)), expires))
        }
        _ => Err(CloudError::bad_request("Only RSA certificates can sign client assertions.")),
    }
}

fn failed(detail: &str) -> CloudError {
    CloudError::login("invalid_client", 700027, format!("Client assertion failed signature validation. {detail}"))
}

/// What a client assertion's header names: its algorithm and the thumbprint of the
/// certificate that signed it (`x5t#S256` when given, else `x5t`).
#[derive(Debug, PartialEq)]
pub struct AssertionHeader {
    pub algorithm: Algorithm,
    pub thumbprint: Vec<u8>,
    /// Whether `thumbprint` is SHA-256 (`x5t#S256`) rather than SHA-1 (`x5t`).
    pub sha256: bool,
}

/// Reads a client assertion's header before any key is looked at. The algorithm is read
/// first: `none`, HMAC (keyed with the public certificate) and any algorithm but RS256 and
/// PS256 are refused outright (AADSTS700027), as is a header naming no certificate; a
/// header that is not a JWT's is AADSTS50027.
pub fn read_header(assertion: &str) -> Result<AssertionHeader> {
    let malformed = || CloudError::login("invalid_request", 50027, "The client assertion is not a well-formed JWT.");
    let raw_alg = assertion
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok())
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h["alg"].as_str().map(str::to_string))
        .ok_or_else(malformed)?;
    if raw_alg != "RS256" && raw_alg != "PS256" {
        return Err(failed("Only RS256 and PS256 assertions are accepted."));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let (algorithm, thumbprint, sha256) = match (header.alg, header.x5t_s256.as_deref(), header.x5t.as_deref()) {
        (Algorithm::PS256 | Algorithm::RS256, Some(t), _) => (header.alg, t, true),
        (Algorithm::PS256 | Algorithm::RS256, None, Some(t)) => (header.alg, t, false),
        (Algorithm::PS256 | Algorithm::RS256, None, None) => {
            return Err(failed("The assertion header names no certificate (x5t or x5t#S256)."));
        }
        _ => return Err(failed("Only RS256 and PS256 assertions are accepted.")),
    };
    let thumbprint = URL_SAFE_NO_PAD.decode(thumbprint.trim_end_matches('=')).map_err(|_| malformed())?;
    Ok(AssertionHeader { algorithm, thumbprint, sha256 })
}

/// Checks a client assertion for `client_id`. `audiences` are the token endpoint URLs the
/// assertion may name. The same assertion may be presented again until it expires (MSAL
/// and azure-identity reuse one for several minutes); another assertion reusing its
/// `jti` is refused.
pub async fn verify(store: &Store, client_id: &str, assertion: &str, audiences: &[String], now_ms: i64) -> Result<()> {
    let malformed = || CloudError::login("invalid_request", 50027, "The client assertion is not a well-formed JWT.");
    let AssertionHeader { algorithm, thumbprint, sha256 } = read_header(assertion)?;
    let certificates = store.certificates(client_id).await?;
    let cert = certificates
        .iter()
        .find(|c| if sha256 { c.thumbprint_sha256 == thumbprint } else { c.thumbprint_sha1 == thumbprint })
        .ok_or_else(|| CloudError::login("invalid_client", 700027, format!(
            "Client assertion contains an invalid signature. The key was not found for app '{client_id}'. Thumbprint of key used by client: '{}'.",
            thumbprint.iter().map(|b| format!("{b:02X}")).collect::<String>())))?;
    if cert.expires_ms <= now_ms {
        return Err(CloudError::login("invalid_client", 700027, "The certificate used to sign the client assertion has expired."));
    }
    let (key, _) = certificate_key(&cert.der)?;
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => failed("The signature does not match the registered certificate."),
            _ => malformed(),
        })?
        .claims;
    let (jti, exp) = check_claims(claims, client_id, audiences, now_ms)?;
    if !store.record_assertion(client_id, &jti, &platform::secrets::digest_hex(assertion), exp * 1000, now_ms).await? {
        // Microsoft documents no code for a reused jti; its generic InvalidAssertion fits.
        return Err(CloudError::login(
            "invalid_client",
            50013,
            "Assertion is invalid: another client assertion already used this jti; each assertion needs its own.",
        ));
    }
    Ok(())
}

/// The claims of a signed assertion: issuer and subject the client, an audience of the
/// tenant's token endpoint, a lifetime around now of at most [`MAX_LIFETIME_S`], a
/// `jti`. Returns the `jti` and the expiry (seconds).
pub(crate) fn check_claims(claims: AssertionClaims, client_id: &str, audiences: &[String], now_ms: i64) -> Result<(String, i64)> {
    if claims.iss != client_id || claims.sub != client_id {
        return Err(CloudError::login(
            "invalid_client",
            700021,
            "The client assertion's iss and sub must both be the application's client ID.",
        ));
    }
    if !audiences.iter().any(|a| a == &claims.aud) {
        return Err(CloudError::login(
            "invalid_client",
            700021,
            format!("The client assertion audience '{}' is not this tenant's token endpoint.", claims.aud),
        ));
    }
    let now_s = now_ms / 1000;
    // A NumericDate far out of range saturates (`as` on f64), and so does the lifetime:
    // such an assertion is out of its time range, never an overflow.
    let exp = claims.exp as i64;
    let nbf = claims.nbf.map(|n| n as i64).unwrap_or(now_s);
    if exp <= now_s || nbf > now_s + 300 || exp.saturating_sub(nbf) > MAX_LIFETIME_S {
        return Err(CloudError::login("invalid_client", 700024, "Client assertion is not within its valid time range."));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| CloudError::login("invalid_client", 50013, "Assertion is invalid: it carries no jti claim."))?;
    Ok((jti, exp))
}

/// Registers a certificate (PEM or base64 DER) on an application.
pub async fn register(store: &Store, app_id: &str, certificate: &str, now_ms: i64) -> Result<()> {
    let der: Vec<u8> = if certificate.contains("-----BEGIN") {
        let body: String = certificate.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body.trim()).map_err(|_| CloudError::bad_request("The certificate is not valid PEM."))?
    } else {
        STANDARD.decode(certificate.trim()).map_err(|_| CloudError::bad_request("The certificate is not valid base64 DER."))?
    };
    let (_, expires_ms) = certificate_key(&der)?;
    let (sha1, sha256) = thumbprints(&der);
    store.insert_certificate(app_id, &der, &sha1, &sha256, expires_ms, now_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz_client_assertion`: dates at the ends of f64's range once overflowed
    /// the lifetime's subtraction; they are out of the time range (AADSTS700024).
    #[test]
    fn dates_out_of_range_are_refused_not_overflowed() {
        let aud = "https://login.example/t/oauth2/v2.0/token".to_string();
        let claims: AssertionClaims =
            serde_json::from_value(serde_json::json!({"aud": aud, "iss": "c", "sub": "c", "jti": "j", "exp": 1e300, "nbf": -1e300}))
                .unwrap();
        match check_claims(claims, "c", &[aud], 1_000_000) {
            Err(CloudError::Login { code, .. }) => assert_eq!(code, 700024),
            other => panic!("expected AADSTS700024, got {:?}", other.map(|(jti, _)| jti)),
        }
    }
}
