//! HTTPS serving (axum over rustls) and HTTPS clients that trust exactly the local CA.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::response::IntoResponse;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::tls::LocalCa;

/// Installs aws-lc-rs as rustls's process-wide provider. Call once at start-up (the
/// tree holds more than one provider, so rustls cannot pick one by itself).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A running HTTPS server.
pub struct Served {
    pub addr: SocketAddr,
    pub handle: Handle<SocketAddr>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops a service: its background `tasks` at once, then the server, letting
    /// in-flight requests finish for up to five seconds.
    pub async fn stop(self, tasks: &[tokio::task::JoinHandle<()>]) {
        for task in tasks {
            task.abort();
        }
        self.shutdown(Duration::from_secs(5)).await;
    }

    /// Stops accepting and lets in-flight requests finish for up to `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.task.await;
    }
}

/// Binds a loopback listener on `port` (0 for a random one). Services take their listener
/// ready-bound so that every URL is known before any of them starts.
pub fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Serves `router` over TLS on `listener`.
pub async fn serve_tls(router: Router, listener: std::net::TcpListener, ca: &LocalCa) -> std::io::Result<Served> {
    install_crypto_provider();
    let config = RustlsConfig::from_pem(ca.server_cert_pem.clone().into_bytes(), ca.server_key_pem.clone().into_bytes()).await?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    // Without TCP_NODELAY a response written in two segments waits for the client's
    // delayed acknowledgement: about 40 ms on every mid-sized answer.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)?.acceptor(acceptor).handle(handle.clone());
    let task = tokio::spawn(async move { server.serve(router.into_make_service_with_connect_info::<SocketAddr>()).await });
    Ok(Served { addr, handle, task })
}

/// An HTTPS client trusting only `ca_pem`. Redirects are never followed: OAuth and
/// partner endpoints must see every hop.
pub fn client(ca_pem: &str) -> reqwest::Client {
    client_builder(ca_pem).build().expect("TLS client configuration")
}

pub fn client_builder(ca_pem: &str) -> reqwest::ClientBuilder {
    install_crypto_provider();
    let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap_or_default();
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(32)
}

/// A request body whose rejection (too large, unreadable) becomes the service's own error
/// type `E`, so even that answer has the service's error shape.
pub struct Body<E>(pub axum::body::Bytes, std::marker::PhantomData<E>);

impl<E> std::ops::Deref for Body<E> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<S, E> FromRequest<S> for Body<E>
where
    S: Send + Sync,
    E: From<axum::extract::rejection::BytesRejection> + IntoResponse,
{
    type Rejection = E;

    async fn from_request(req: Request, state: &S) -> Result<Self, E> {
        axum::body::Bytes::from_request(req, state).await.map(|b| Body(b, std::marker::PhantomData)).map_err(E::from)
    }
}

/// `GET /health/live`: the process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// `GET /health/ready`'s answer: 200 `ready` while the service's database answers, else
/// 503 (a load balancer takes the instance out of rotation).
pub async fn ready(db: &crate::Db) -> (axum::http::StatusCode, &'static str) {
    if db.ping().await {
        (axum::http::StatusCode::OK, "ready")
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "the database does not answer")
    }
}

/// Reads a JSON request body that must be an object, as JSON Schema reads it: a whole
/// float (`8.0`) counts as an integer ([`crate::text::json_integers`]). The error is a
/// sentence for the caller (each service answers it in its own shape: the cloud's 400,
/// the connector's and the mdm's 422).
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let invalid = |e: serde_json::Error| format!("The request body is not valid JSON for this call: {e}");
    match serde_json::from_slice::<serde_json::Value>(body).map_err(invalid)? {
        mut v @ serde_json::Value::Object(_) => {
            crate::text::json_integers(&mut v);
            serde_json::from_value(v).map_err(invalid)
        }
        _ => Err("The request body must be a JSON object.".into()),
    }
}

/// Why a request carrying the NUL character (U+0000) in its path, query or text body is
/// refused, or `None`. PostgreSQL's text cannot hold NUL (SQLite's can), so a service
/// would otherwise keep such a value on one database and fail with a 500 on the other;
/// every service refuses it up front, the same on both. A JSON body's NUL is the escape
/// `\u0000` (a raw NUL is not JSON); any other body's is `%00` (as a form reads it). NUL
/// in decoded HTTP Basic credentials is each service's own check.
fn nul_character(parts: &axum::http::request::Parts, body: &[u8]) -> Option<String> {
    let percent_nul = |s: &str| s.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    if percent_nul(parts.uri.path()) || parts.uri.query().is_some_and(percent_nul) {
        return Some("The URL holds the NUL character (%00), which no value may contain.".into());
    }
    // Token endpoints read a form whatever the declared type, so every body that is not
    // JSON is looked at as a form would be read.
    let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json" || essence.ends_with("+json");
    let nul = body.contains(&0) || if json { crate::text::json_escapes_nul(body) } else { body.windows(3).any(|w| w == b"%00") };
    nul.then(|| "The request body holds the NUL character (U+0000), which no value may contain.".into())
}

/// How a service answers a request body it will not take, in its own error shape.
pub trait BodyRefusal: IntoResponse {
    /// The body is larger than the service reads (413); `why` says by how much.
    fn too_large(why: String) -> Self;
    /// The body could not be read, or holds NUL: the service's answer to a malformed
    /// request (the cloud's 400, the connector's and the mdm's 422).
    fn unreadable(why: String) -> Self;
}

/// Bytes read beyond a service's limit before it answers 413: over HTTP/2 an answer given
/// while the client still sends makes the stream end in a reset that clients report
/// instead of the status, so the rest of an oversized body is read and dropped, up to
/// this many bytes (then the connection pays).
const DRAIN_BEYOND_LIMIT: usize = 64 * 1024 * 1024;

/// Middleware reading each request body whole before the handlers (which take it whole
/// anyway): a body over `limit` bytes is drained and refused with 413 in the service's
/// shape, on HTTP/1.1 and HTTP/2 alike. Use with `axum::middleware::from_fn_with_state`.
pub async fn buffer_body<E: BodyRefusal>(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http_body_util::BodyExt;
    let (parts, mut body) = req.into_parts();
    let declared = parts.headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return E::unreadable(format!("The request body could not be read: {e}")).into_response(),
        };
        let Ok(data) = frame.into_data() else { continue };
        read += data.len();
        if read > limit.saturating_add(DRAIN_BEYOND_LIMIT) {
            break;
        }
        if read <= limit && declared.is_none_or(|d| d <= limit) {
            kept.extend_from_slice(&data);
        }
    }
    if read > limit || declared.is_some_and(|d| d > limit) {
        return E::too_large(format!("The request body is larger than {limit} bytes.")).into_response();
    }
    if let Some(why) = nul_character(&parts, &kept) {
        return E::unreadable(why).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(kept))).await
}

/// The value of cookie `name`, from any `Cookie` header of a request.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}
