//! What the three services' OpenAPI documents share: how `/openapi.json` is answered and
//! the check that the committed copy under `docs/openapi/` is the one the code generates.

use axum::response::IntoResponse;

/// `GET /openapi.json`'s answer: `json`, the service's generated document.
pub fn document(json: String) -> axum::response::Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// For a unit test of each service: panics when `docs/openapi/<name>.json` (from the
/// workspace root) differs from `generated`. With `CLOUDCONNECTOR_WRITE_OPENAPI` set it
/// writes the file first (`CLOUDCONNECTOR_WRITE_OPENAPI=1 cargo test -p <crate> openapi`).
pub fn assert_committed(name: &str, generated: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/openapi/{name}.json"));
    if std::env::var("CLOUDCONNECTOR_WRITE_OPENAPI").is_ok() {
        std::fs::create_dir_all(path.parent().expect("docs/openapi")).expect("docs/openapi is writable");
        std::fs::write(&path, generated).expect("the document is written");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi/{name}.json differs from the code's document: run `CLOUDCONNECTOR_WRITE_OPENAPI=1 cargo test -p {name} openapi` and commit it"
    );
}
