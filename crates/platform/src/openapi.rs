//! What the three services' OpenAPI documents share: the health and document endpoints
//! every service serves (handlers and their annotations, listed in each service's
//! document), and the check that the committed copy under `docs/openapi/` is the one the
//! code generates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A service state that knows its database, for `GET /health/ready`.
pub trait HasDb {
    fn db(&self) -> &crate::Db;
}

/// `GET /health/live`: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive.", body = String, content_type = "text/plain")))]
pub async fn live() -> &'static str {
    crate::http::live().await
}

/// `GET /health/ready`: 200 while the service's database answers, else 503.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "Ready.", body = String, content_type = "text/plain"),
        (status = 503, description = "The database does not answer.", body = String, content_type = "text/plain")))]
pub async fn ready<S, T>(State(state): State<S>) -> (StatusCode, &'static str)
where
    S: std::ops::Deref<Target = T>,
    T: HasDb,
{
    crate::http::ready(state.db()).await
}

/// `GET /openapi.json`: the service's document `D`.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json")))]
pub async fn document<D: utoipa::OpenApi>() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json::<D>()).into_response()
}

/// Document `D` as JSON (pretty, stable key order).
pub fn json<D: utoipa::OpenApi>() -> String {
    D::openapi().to_pretty_json().expect("the OpenAPI document serializes")
}

/// For a unit test of each service: panics when `docs/openapi/<name>.json` (from the
/// workspace root) differs from document `D`. With `CLOUDCONNECTOR_WRITE_OPENAPI` set it
/// writes the file first (`CLOUDCONNECTOR_WRITE_OPENAPI=1 cargo test -p <crate> openapi`).
pub fn assert_committed<D: utoipa::OpenApi>(name: &str) {
    let generated = json::<D>();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/openapi/{name}.json"));
    if std::env::var("CLOUDCONNECTOR_WRITE_OPENAPI").is_ok() {
        std::fs::create_dir_all(path.parent().expect("docs/openapi")).expect("docs/openapi is writable");
        std::fs::write(&path, &generated).expect("the document is written");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi/{name}.json differs from the code's document: run `CLOUDCONNECTOR_WRITE_OPENAPI=1 cargo test -p {name} openapi` and commit it"
    );
}

/// How a caller authenticates, as a document's security scheme says.
#[derive(Debug, Clone, Copy)]
pub enum Scheme {
    /// `Authorization: Bearer` with an opaque token.
    Bearer,
    /// `Authorization: Bearer` with a JWT.
    Jwt,
    /// `Authorization: Basic`.
    Basic,
}

/// Adds the named security schemes (name, kind, description) to a document's components.
pub fn add_schemes(doc: &mut utoipa::openapi::OpenApi, schemes: &[(&str, Scheme, &str)]) {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, scheme, description) in schemes {
        let builder = match scheme {
            Scheme::Bearer => HttpBuilder::new().scheme(HttpAuthScheme::Bearer),
            Scheme::Jwt => HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT"),
            Scheme::Basic => HttpBuilder::new().scheme(HttpAuthScheme::Basic),
        };
        components.add_security_scheme(*name, SecurityScheme::Http(builder.description(Some(*description)).build()));
    }
}

/// Declares `$name`, a `utoipa::Modify` adding a document's security schemes:
/// `security_schemes!(Schemes: ("api_token", Bearer, "…"), ("admin", Basic, "…"))`.
#[macro_export]
macro_rules! security_schemes {
    ($name:ident: $(($scheme:literal, $kind:ident, $description:expr)),+ $(,)?) => {
        struct $name;

        impl utoipa::Modify for $name {
            fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
                $crate::openapi::add_schemes(doc, &[$(($scheme, $crate::openapi::Scheme::$kind, $description)),+]);
            }
        }
    };
}
