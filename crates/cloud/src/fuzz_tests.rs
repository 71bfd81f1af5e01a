//! Fuzz targets of the cloud's parsers of outside input: Graph's `$filter`, access tokens,
//! client assertions, partner upload messages. `PROPTEST_CASES` sets the cases
//! (`scripts/fuzz` runs a million of each; the suite runs proptest's default 256).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::fuzz;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::entra::{assertions, tokens};
use crate::intune::{compliance, policy_settings::MacOsPolicySettings, uploads};
use crate::odata::{eval, filter, query, resource, sql};

const FILTER_TOKENS: &[&str] = &[
    "deviceId",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "isCompliant",
    "isManaged",
    "approximateLastSignInDateTime",
    "complianceState",
    "serialNumber",
    "assignedLicenses",
    "skuId",
    " eq ",
    " ne ",
    " gt ",
    " ge ",
    " lt ",
    " le ",
    " and ",
    " or ",
    "not ",
    " in ",
    "startswith(",
    "endswith(",
    "contains(",
    "/any(",
    "/all(",
    "x:x",
    "/$count",
    "(",
    ")",
    ",",
    "'",
    "''",
    "'Mac'",
    " ",
    "true",
    "false",
    "null",
    "12",
    "-3.5",
    "1e400",
    "2026-11-30",
    "2026-11-30T13:00:00Z",
    "0b1f9d57-63bf-4a5e-9a70-5a2d8b1d4c11",
    "microsoft.graph.complianceState'compliant'",
    "'13.4.1 (a)'",
];

const TENANT: &str = "0b1f9d57-63bf-4a5e-9a70-5a2d8b1d4c11";
const NOW_S: i64 = 1_790_000_000;

/// A message as the connector sends it: two items of the wire type, every attribute the
/// compliance policy reads filled.
fn upload() -> Value {
    let item = |id: &str| wire::partner::DeviceItem {
        entity_type: wire::partner::entity_type::INVENTORY,
        tenant_id: TENANT.into(),
        device_id: id.into(),
        user_id: "6c0e8a3f-2f1a-4a8e-9a51-3e5b7d0c2a19".into(),
        last_update_time: "2026-11-30T13:00:00Z".into(),
        encrypted: Some(true),
        gatekeeper: Some("AppStoreAndIdentifiedDevelopers".into()),
        sip: Some("Enabled".into()),
        firewall_enabled: Some(true),
        os: Some("macOS".into()),
        os_version: Some("13.4.1 (a)".into()),
        os_build: Some("22F770820d".into()),
        serial_number: Some("C02X".into()),
        ..Default::default()
    };
    json!({"TenantId": TENANT, "UploadTime": "2026-11-30T13:00:00Z",
           "Content": [item("9d1b3c57-0a4e-4f6b-8c2d-1e3f5a7b9c0d"), item("5a2e4c68-1b5f-4a7c-9d3e-2f4a6b8c0d1e")]})
}

/// One signing key and a token it signed, made once (an RSA key takes a while).
static SIGNED: std::sync::LazyLock<(tokens::Keys, String)> = std::sync::LazyLock::new(|| {
    let keys = tokens::tests::keys();
    let token = keys.sign(&tokens::tests::claims(NOW_S)).unwrap();
    (keys, token)
});

proptest! {
    /// Any text on the two collections people filter most: options or a Graph error,
    /// never a panic; a filter taken compiles to SQL and evaluates in memory.
    #[test]
    fn fuzz_odata_filter(text in fuzz::soup(FILTER_TOKENS)) {
        let _ = filter::parse(&text);
        for resource in [&resource::DEVICES, &resource::MANAGED_DEVICES] {
            let pairs = [("$filter".to_string(), text.clone()), ("$count".to_string(), "true".to_string())];
            if let Ok(query::QueryOptions { filter: Some(expr), .. }) = query::parse(&pairs, resource, query::Headers { eventual: true }) {
                sql::filter(&expr, resource, &mut sql::Sql::new(1));
                eval::matches(&expr, resource, &json!({"displayName": "Mac", "operatingSystemVersion": "13.4.1"}));
            }
        }
    }

    /// A real token with pieces cut, replaced or re-encoded: only the token as signed
    /// verifies (no other string carries its signature).
    #[test]
    fn fuzz_access_token(cut in 0usize..2000, insert in fuzz::text(), header in fuzz::json()) {
        let (keys, token) = &*SIGNED;
        let at = cut % (token.len() + 1);
        let spliced = format!("{}{insert}{}", &token[..at], &token[(at + insert.len().min(8)).min(token.len())..]);
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
        for candidate in [spliced, parts.join(".")] {
            if keys.verify(&candidate, &["https://api.manage.microsoft.com/"], NOW_S).is_ok() {
                prop_assert_eq!(&candidate, token);
            }
        }
    }

    /// Any header (as JSON, or as text) and any claims: a header read is RS256 or PS256
    /// with a thumbprint; claims are taken or refused with an AADSTS error.
    #[test]
    fn fuzz_client_assertion(header in prop_oneof![
            fuzz::json().prop_map(|h| h.to_string()),
            fuzz::mutated(json!({"alg": "RS256", "typ": "JWT", "x5t#S256": "qL0y3vDCiGkWyp7iLMf5mUaQ7ZgVGqvyBbmCVnXc0mE"})).prop_map(|h| h.to_string()),
        ], tail in fuzz::text(), claims in fuzz::mutated(json!({
            "aud": format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"), "iss": "c", "sub": "c",
            "jti": "j", "exp": NOW_S + 300, "nbf": NOW_S - 5}))) {
        let assertion = format!("{}.{}{tail}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims.to_string()));
        if let Ok(read) = assertions::read_header(&assertion) {
            prop_assert!(matches!(read.algorithm, jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::PS256));
        }
        if let Ok(claims) = serde_json::from_value::<assertions::AssertionClaims>(claims) {
            let audiences = [format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")];
            let _ = assertions::check_claims(claims, "c", &audiences, NOW_S * 1000);
        }
    }

    /// Any body, or the connector's message with fields replaced or removed: a message
    /// for this tenant whose every item a compliance policy evaluates, or an OData error.
    #[test]
    fn fuzz_partner_upload(body in prop_oneof![1 => fuzz::json(), 4 => fuzz::mutated(upload())]) {
        let settings = MacOsPolicySettings {
            os_minimum_version: Some("13.0".into()), os_maximum_build_version: Some("22G74".into()),
            storage_require_encryption: true, system_integrity_protection_enabled: true, ..Default::default()
        };
        match uploads::read_message(body.to_string().as_bytes(), &TENANT.into()) {
            Ok(message) => {
                prop_assert!(message.tenant_id.eq_ignore_ascii_case(TENANT));
                for item in &message.content {
                    compliance::evaluate("p", &settings, item);
                }
            }
            Err(e) => prop_assert!(matches!(e, crate::error::CloudError::OData { status, .. } if status == 400 || status == 403 || status == 413), "{e}"),
        }
    }
}
