//! Fuzz target of the connector's parser of the consent callback (the query the
//! identity platform's redirect carries). `PROPTEST_CASES` sets the cases.

use platform::fuzz;
use proptest::prelude::*;

use crate::onboarding::{ConsentOutcome, ConsentResponse};

const QUERY_TOKENS: &[&str] = &[
    "state=",
    "tenant=",
    "admin_consent=",
    "error=",
    "error_description=",
    "True",
    "true",
    "False",
    "&",
    "=",
    "%",
    "%20",
    "%00",
    "%ZZ",
    "+",
    "access_denied",
    "AADSTS65004",
    "0b1f9d57-63bf-4a5e-9a70-5a2d8b1d4c11",
    "state=s&",
    ";",
];

proptest! {
    /// Any query: read as axum reads it, then either a refusal or an outcome that holds
    /// what it claims (a granted consent names a GUID tenant and says `admin_consent=True`).
    #[test]
    fn fuzz_consent_callback(query in fuzz::soup(QUERY_TOKENS)) {
        let Ok(uri) = format!("https://connector.example/onboarding/callback?{query}").parse::<axum::http::Uri>() else { return Ok(()) };
        let Ok(axum::extract::Query(response)) = axum::extract::Query::<ConsentResponse>::try_from_uri(&uri) else { return Ok(()) };
        let _ = response.state_token();
        match response.outcome() {
            Ok(ConsentOutcome::Granted { tenant }) => {
                prop_assert!(uuid::Uuid::parse_str(&tenant).is_ok());
                prop_assert_eq!(response.admin_consent.as_deref(), Some("True"));
                prop_assert!(response.error.is_none());
            }
            Ok(ConsentOutcome::Declined { error, .. }) => prop_assert_eq!(response.error.as_ref(), Some(&error)),
            Err(e) => prop_assert!(e.to_string().contains("tenant")),
        }
    }
}
