//! The connector's client of a Microsoft cloud: client-credentials tokens (cached per
//! cloud, tenant and resource, refreshed before expiry and after a 401, single flight per
//! key), Graph service discovery (cached ~24 h, refreshed on 404 or connection errors) and
//! the Intune partner services. Every request to a tenant passes its gate ([`Gates`]),
//! which a `Retry-After` closes. It speaks only the public protocols, so it works against
//! any cloud profile.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::Clock;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::Mutex;

use crate::gate::Gates;
use wire::CloudProfile;
use wire::errors::AadstsError;
use wire::partner::{HeartbeatRequest, PartnerTenantRequest, ServiceEndpoint, UploadAccepted, UploadStatus};

/// The connector's own registration in one cloud: it holds its app credential only;
/// tokens for each tenant come from that tenant's authority.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CloudApp {
    pub profile: CloudProfile,
    /// The *Cloud Connector* app.
    pub client_id: String,
    /// Used only when no certificate is configured.
    #[serde(default)]
    pub client_secret: String,
    /// The app's certificate credential (PEM): tokens are then requested with a signed
    /// client assertion and the secret is not sent.
    #[serde(default)]
    pub client_certificate_pem: Option<String>,
    #[serde(default)]
    pub client_key_pem: Option<String>,
    /// The *Cloud Connector user registration app*.
    pub registration_app_id: String,
    /// The cloud's Partner device management page, opened by *Copy and Open Intune*.
    #[serde(default)]
    pub intune_partner_page: Option<String>,
}

impl CloudApp {
    /// Every URL of the registration that a secret or token travels on is `https`.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.profile;
        for (what, url) in [("authority", &p.authority), ("graph", &p.graph), ("aad_graph", &p.aad_graph)] {
            platform::net::require_https(&format!("cloud '{}' {what}", p.name), url)?;
        }
        if let Some(page) = &self.intune_partner_page {
            platform::net::require_https(&format!("cloud '{}' intune_partner_page", p.name), page)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{description}")]
    Login { error: String, codes: Vec<u32>, description: String },
    /// Shown as the status and, when the body is a Microsoft error (`{"error": {"code",
    /// "message"}}`), its code and message rather than the raw JSON.
    #[error("HTTP {status}: {}", error_summary(body))]
    Http { status: u16, retry_after_s: Option<u64>, body: String },
    #[error("connection: {0}")]
    Transport(String),
    #[error("service {0} not published by discovery")]
    NotDiscovered(String),
    /// Not sent: the URL would carry credentials or tokens without TLS.
    #[error("{0}")]
    Insecure(String),
    /// Not sent: the tenant asked every client to wait (`Retry-After`) this much longer.
    #[error("the tenant asked to wait {retry_after_ms} ms more (Retry-After); nothing was sent")]
    Paused { retry_after_ms: u64 },
}

/// What a person needs from an error body: `code: message` of a Microsoft error (Graph's
/// `{"error": {"code", "message"}}`, or the partner services' `{"Code", "Message"}`),
/// otherwise the body itself, cut to 300 characters.
pub fn error_summary(body: &str) -> String {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |v: &serde_json::Value, names: [&str; 2]| names.iter().find_map(|n| v.get(*n).and_then(|s| s.as_str()).map(str::to_string));
    if let Some(v) = &json {
        let inner = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
        let code = field(inner, ["code", "Code"]);
        let message = field(inner, ["message", "Message"]).or_else(|| field(v, ["error_description", "message"]));
        match (code, message) {
            (Some(c), Some(m)) => return format!("{c}: {m}"),
            (None, Some(m)) | (Some(m), None) => return m,
            (None, None) => {}
        }
    }
    let trimmed = body.trim();
    match trimmed.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

impl CallError {
    /// Intune refuses the partner because the connection was terminated there (S6).
    pub fn is_partner_terminated(&self) -> bool {
        matches!(self, CallError::Http { status: 403, body, .. } if body.contains("PartnerTerminated"))
    }

    /// The cloud refused the connector's identity or permissions: its token request was
    /// refused (not an outage of the authority: `temporarily_unavailable`,
    /// `server_error`), or a call was answered 401 or 403 (other than a terminated
    /// partner). A permission removed in Entra, a withdrawn consent or a deleted app looks
    /// like this.
    pub fn is_authorisation(&self) -> bool {
        match self {
            CallError::Login { error, .. } => !matches!(error.as_str(), "temporarily_unavailable" | "server_error"),
            CallError::Http { status: 401 | 403, .. } => !self.is_partner_terminated(),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

struct CachedToken {
    token: String,
    refresh_at_ms: i64,
}

/// One key's token, behind its own lock: a refresh is single flight per key, and keys do
/// not wait for each other.
type TokenSlot = Arc<Mutex<Option<CachedToken>>>;

struct CachedDiscovery {
    services: HashMap<String, String>,
    fetched_ms: i64,
}

pub struct CloudClient {
    http: reqwest::Client,
    clock: Clock,
    /// Hosts of the configured clouds: the only internal addresses ever reached.
    allowed_hosts: Vec<String>,
    tokens: std::sync::Mutex<HashMap<(String, String, String), TokenSlot>>,
    // A discovery refresh is single flight; concurrent callers wait for it.
    discovery: Mutex<HashMap<(String, String), CachedDiscovery>>,
    gates: Gates,
}

/// Tokens are renewed this long before they expire.
const TOKEN_REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;
const DISCOVERY_TTL_MS: i64 = 24 * 3600 * 1000;

fn transport(e: reqwest::Error) -> CallError {
    CallError::Transport(e.to_string())
}

/// `Retry-After` in seconds (the form Microsoft's services send).
fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, CallError> {
    let status = resp.status().as_u16();
    let retry_after_s = retry_after(&resp);
    let bytes = resp.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        // A success whose body does not parse (cut off, garbled) proves nothing was done:
        // it is retried like a dropped connection; every call is idempotent.
        return serde_json::from_slice(&bytes).map_err(|e| CallError::Transport(format!("malformed response (HTTP {status}): {e}")));
    }
    let body = String::from_utf8_lossy(&bytes).chars().take(500).collect();
    Err(CallError::Http { status, retry_after_s, body })
}

/// The body of a `DataUploadMessages` message from items already serialized as JSON. The
/// body is fixed once, so a retried PUT sends the same bytes under the same message ID.
pub fn message_body(tenant: &str, upload_time: &str, items: &[&str]) -> String {
    format!(
        "{{\"TenantId\":{},\"UploadTime\":{},\"Content\":[{}]}}",
        serde_json::Value::from(tenant),
        serde_json::Value::from(upload_time),
        items.join(",")
    )
}

/// A client assertion for the token endpoint, signed PS256 with the certificate's key and
/// naming the certificate by its SHA-256 thumbprint (`x5t#S256`).
fn client_assertion(client_id: &str, audience: &str, cert_pem: &str, key_pem: &str, now_ms: i64) -> Result<String, CallError> {
    use aws_lc_rs::digest;
    let bad = |what: &str| CallError::Http { status: 0, retry_after_s: None, body: format!("client certificate: {what}") };
    let body: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).map_err(|_| bad("not PEM"))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &der)));
    let now = now_ms / 1000;
    let claims = serde_json::json!({
        "aud": audience, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|_| bad("key is not an RSA PEM"))?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| bad(&e.to_string()))
}

/// A string claim of a token the client was just issued (read, not verified).
pub fn token_claim(token: &str, name: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<serde_json::Value>(&payload).ok()?.get(name)?.as_str().map(str::to_string)
}

/// The `roles` claim of a token the connector was just issued (read, not verified: it
/// came straight from the authority over TLS and is only used to report permissions).
pub fn token_roles(token: &str) -> Vec<String> {
    let Some(payload) = token.split('.').nth(1) else {
        return vec![];
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return vec![];
    };
    v.get("roles").and_then(|r| r.as_array()).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl CloudClient {
    /// A client trusting `ca_pem` that reaches internal addresses only at the hosts of
    /// `profiles` (the configured clouds): service URLs published by discovery and names
    /// resolving to this machine's networks are refused. A request not answered within
    /// `timeout` fails as a connection error (and is retried like one).
    pub fn new(ca_pem: &str, clock: Clock, profiles: &[&CloudProfile], timeout: Duration) -> Self {
        let allowed_hosts =
            platform::net::hosts_of(profiles.iter().flat_map(|p| [p.authority.as_str(), p.graph.as_str(), p.aad_graph.as_str()]));
        let http = platform::http::client_builder(ca_pem)
            .timeout(timeout)
            .dns_resolver(platform::net::PublicResolver::new(allowed_hosts.clone()))
            .build()
            .expect("TLS client configuration");
        let gates = Gates::new(clock.clone());
        CloudClient { http, clock, allowed_hosts, tokens: Default::default(), discovery: Mutex::new(HashMap::new()), gates }
    }

    /// The per-tenant gates every request of this client passes.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    fn token_slot(&self, app: &CloudApp, tenant: &str, resource: &str) -> TokenSlot {
        let key = (app.profile.name.clone(), tenant.to_ascii_lowercase(), resource.to_string());
        self.tokens.lock().expect("token slots lock").entry(key).or_default().clone()
    }

    /// A token for `resource` in `tenant`: the cached one while it is fresh.
    pub async fn token(&self, app: &CloudApp, tenant: &str, resource: &str) -> Result<String, CallError> {
        self.token_from_cache_or_authority(app, tenant, resource, false).await
    }

    /// A token asked of the authority afresh (a check must not be answered by a cached
    /// token that hides revoked consent or changed permissions).
    pub async fn renew_token(&self, app: &CloudApp, tenant: &str, resource: &str) -> Result<String, CallError> {
        self.token_from_cache_or_authority(app, tenant, resource, true).await
    }

    async fn token_from_cache_or_authority(&self, app: &CloudApp, tenant: &str, resource: &str, renew: bool) -> Result<String, CallError> {
        let slot = self.token_slot(app, tenant, resource);
        let mut cached = slot.lock().await;
        let now = self.clock.now_ms();
        if let Some(t) = cached.as_ref().filter(|t| t.refresh_at_ms > now && !renew) {
            return Ok(t.token.clone());
        }
        self.gates.pass(&app.profile.name, tenant)?;
        let endpoint = app.profile.token_endpoint(tenant);
        platform::net::require_https("the token endpoint", &endpoint).map_err(CallError::Insecure)?;
        let scope = CloudProfile::default_scope(resource);
        let mut form = vec![("grant_type", "client_credentials".to_string()), ("client_id", app.client_id.clone()), ("scope", scope)];
        match (&app.client_certificate_pem, &app.client_key_pem) {
            (Some(cert), Some(key)) => {
                form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                form.push(("client_assertion", client_assertion(&app.client_id, &endpoint, cert, key, now)?));
            }
            _ => form.push(("client_secret", app.client_secret.clone())),
        }
        let resp = self.http.post(&endpoint).form(&form).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after_s = retry_after(&resp);
        self.gates.observe(&app.profile.name, tenant, status, retry_after_s);
        let bytes = resp.bytes().await.map_err(transport)?;
        if status != 200 {
            return Err(match serde_json::from_slice::<AadstsError>(&bytes) {
                Ok(e) => CallError::Login {
                    error: e.error,
                    codes: e.error_codes,
                    description: e.error_description.lines().next().unwrap_or_default().to_string(),
                },
                Err(_) => CallError::Http { status, retry_after_s, body: String::from_utf8_lossy(&bytes).into() },
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: serde_json::Value,
        }
        let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| CallError::Http {
            status,
            retry_after_s: None,
            body: format!("malformed token response: {e}"),
        })?;
        let expires_in = t.expires_in.as_i64().or_else(|| t.expires_in.as_str().and_then(|s| s.parse().ok())).unwrap_or(3599);
        *cached = Some(CachedToken { token: t.access_token.clone(), refresh_at_ms: now + expires_in * 1000 - TOKEN_REFRESH_MARGIN_MS });
        Ok(t.access_token)
    }

    /// A token was refused (401): it is dropped, unless another caller already replaced
    /// it, so concurrent refusals of one token fetch one new token.
    pub async fn forget_token(&self, app: &CloudApp, tenant: &str, resource: &str, refused: &str) {
        let slot = self.token_slot(app, tenant, resource);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.token == refused) {
            *cached = None;
        }
    }

    fn intune_resource(app: &CloudApp) -> Result<&str, CallError> {
        app.profile.intune_resource.as_deref().ok_or_else(|| CallError::NotDiscovered("Intune API".into()))
    }

    /// Partner service base URLs of a tenant, from Graph discovery on the Intune app.
    pub async fn services(&self, app: &CloudApp, tenant: &str, refresh: bool) -> Result<HashMap<String, String>, CallError> {
        let key = (app.profile.name.clone(), tenant.to_string());
        let now = self.clock.now_ms();
        let mut cache = self.discovery.lock().await;
        if !refresh && let Some(d) = cache.get(&key).filter(|d| now - d.fetched_ms < DISCOVERY_TTL_MS) {
            return Ok(d.services.clone());
        }
        let url = format!("{}/v1.0/servicePrincipals/appId={}/endpoints", app.profile.graph, wire::ids::INTUNE_APP_ID);
        platform::net::require_https("Microsoft Graph", &url).map_err(CallError::Insecure)?;
        let mut retried = false;
        let list: serde_json::Value = loop {
            let token = self.token(app, tenant, &app.profile.graph_resource).await?;
            self.gates.pass(&app.profile.name, tenant)?;
            let resp = self.http.get(&url).bearer_auth(&token).send().await.map_err(transport)?;
            self.gates.observe(&app.profile.name, tenant, resp.status().as_u16(), retry_after(&resp));
            match read(resp).await {
                Err(CallError::Http { status: 401, .. }) if !retried => {
                    retried = true;
                    self.forget_token(app, tenant, &app.profile.graph_resource, &token).await;
                }
                other => break other?,
            }
        };
        let endpoints: Vec<ServiceEndpoint> = serde_json::from_value(list["value"].clone()).unwrap_or_default();
        // Discovery also lists values that are not services (`Region`, `ASUName`): only
        // what looks like a URL is a service, and only a safe URL is kept.
        let services: HashMap<String, String> = endpoints
            .into_iter()
            .filter(|e| e.uri.contains("://"))
            .filter(|e| match platform::net::check_outbound(&e.uri, &self.allowed_hosts) {
                Ok(_) => true,
                Err(why) => {
                    tracing::warn!(tenant, service = %e.provider_name, %why, "discovered service URL refused");
                    false
                }
            })
            .map(|e| (e.provider_name.to_ascii_lowercase(), e.uri))
            .collect();
        cache.insert(key, CachedDiscovery { services: services.clone(), fetched_ms: now });
        Ok(services)
    }

    /// One call to a partner service: a 401 clears the token and retries once; a 404 or
    /// a connection failure re-discovers the base URL and retries once.
    async fn partner_call<T: DeserializeOwned>(
        &self,
        app: &CloudApp,
        tenant: &str,
        service: &str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<T, CallError> {
        let resource = Self::intune_resource(app)?.to_string();
        let mut refreshed_token = false;
        let mut refreshed_discovery = false;
        loop {
            let services = self.services(app, tenant, refreshed_discovery).await?;
            let base = services.get(&service.to_ascii_lowercase()).ok_or_else(|| CallError::NotDiscovered(service.into()))?;
            let token = self.token(app, tenant, &resource).await?;
            // Every attempt, the retries below too, passes the tenant's gate.
            self.gates.pass(&app.profile.name, tenant)?;
            let mut req =
                self.http.request(method.clone(), format!("{base}/{path_and_query}")).bearer_auth(&token).timeout(Duration::from_secs(30));
            if let Some(b) = &body {
                req = req.header("content-type", "application/json").header("prefer", "return-content").body(b.clone());
            }
            let result = match req.send().await {
                Ok(resp) => {
                    self.gates.observe(&app.profile.name, tenant, resp.status().as_u16(), retry_after(&resp));
                    read(resp).await
                }
                Err(e) => Err(transport(e)),
            };
            match result {
                Err(CallError::Http { status: 401, .. }) if !refreshed_token => {
                    refreshed_token = true;
                    self.forget_token(app, tenant, &resource, &token).await;
                }
                Err(CallError::Http { status: 404, .. }) | Err(CallError::Transport(_)) if !refreshed_discovery => {
                    refreshed_discovery = true;
                }
                other => return other,
            }
        }
    }

    pub async fn provision(&self, app: &CloudApp, tenant: &str, req: &PartnerTenantRequest) -> Result<serde_json::Value, CallError> {
        let body = serde_json::to_string(req).unwrap_or_default();
        self.partner_call(
            app,
            tenant,
            wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC,
            reqwest::Method::PUT,
            &format!("PartnerTenants(guid'{tenant}')?api-version=1.6"),
            Some(body),
        )
        .await
    }

    pub async fn heartbeat(&self, app: &CloudApp, tenant: &str) -> Result<serde_json::Value, CallError> {
        let body = serde_json::to_string(&HeartbeatRequest { timestamp: platform::clock::rfc3339(self.clock.now()) }).unwrap_or_default();
        self.partner_call(
            app,
            tenant,
            wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC,
            reqwest::Method::PUT,
            &format!("PartnerTenantHeartbeat(guid'{tenant}')?api-version=1.3"),
            Some(body),
        )
        .await
    }

    /// PUTs a prepared body; the same body under the same ID is idempotent on the cloud.
    pub async fn upload(&self, app: &CloudApp, tenant: &str, message_id: &str, body: &str) -> Result<UploadAccepted, CallError> {
        self.partner_call(
            app,
            tenant,
            wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC,
            reqwest::Method::PUT,
            &format!("DataUploadMessages(guid'{message_id}')?api-version=1.0"),
            Some(body.to_string()),
        )
        .await
    }

    /// Uploads one message and waits (up to a minute) until the cloud has processed it.
    pub async fn deliver(&self, app: &CloudApp, tenant: &str, message_id: &str, body: &str) -> Result<UploadStatus, CallError> {
        self.upload(app, tenant, message_id, body).await?;
        for _ in 0..600 {
            let status = self.upload_status(app, tenant, message_id).await?;
            if status.status != wire::partner::MessageStatus::Pending {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(CallError::Transport(format!("message {message_id} was still pending after a minute")))
    }

    /// What Intune would decide for `req`'s devices (the cloud's `CompliancePreview`
    /// extension; nothing is stored).
    pub async fn compliance_preview(
        &self,
        app: &CloudApp,
        tenant: &str,
        req: &wire::partner::PreviewRequest,
    ) -> Result<wire::partner::PreviewResponse, CallError> {
        let body = serde_json::to_string(req).unwrap_or_default();
        self.partner_call(
            app,
            tenant,
            wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC,
            reqwest::Method::POST,
            "CompliancePreview?api-version=1.0",
            Some(body),
        )
        .await
    }

    pub async fn upload_status(&self, app: &CloudApp, tenant: &str, message_id: &str) -> Result<UploadStatus, CallError> {
        self.partner_call(
            app,
            tenant,
            wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC,
            reqwest::Method::GET,
            &format!("DataUploadMessages(guid'{message_id}')?api-version=1.2"),
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn microsoft_errors_are_shown_as_code_and_message() {
        let graph = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"x"}}}"#;
        let e = super::CallError::Http { status: 403, retry_after_s: None, body: graph.into() };
        assert_eq!(e.to_string(), "HTTP 403: Authorization_RequestDenied: Insufficient privileges to complete the operation.");
        assert_eq!(super::error_summary(r#"{"Code":"PartnerTerminated","Message":"Gone"}"#), "PartnerTerminated: Gone");
        assert_eq!(super::error_summary("plain text"), "plain text");
        assert_eq!(super::error_summary(&"x".repeat(400)).chars().count(), 301);
    }

    use super::*;

    fn app() -> CloudApp {
        CloudApp {
            profile: CloudProfile::local("https://cloud.example"),
            client_id: "connector".into(),
            client_secret: "secret".into(),
            client_certificate_pem: None,
            client_key_pem: None,
            registration_app_id: "registration".into(),
            intune_partner_page: None,
        }
    }

    /// What has the connector re-test a tenant's links: a refused login, 401 and 403 —
    /// not a terminated partner (its own state), a throttle or a server error.
    #[test]
    fn refusals_of_identity_or_permission_are_told_apart() {
        let http = |status: u16, body: &str| CallError::Http { status, retry_after_s: None, body: body.into() };
        let login = CallError::Login { error: "invalid_client".into(), codes: vec![7000215], description: "AADSTS7000215".into() };
        assert!(login.is_authorisation());
        let outage = CallError::Login { error: "temporarily_unavailable".into(), codes: vec![], description: String::new() };
        assert!(!outage.is_authorisation());
        assert!(http(401, "").is_authorisation());
        assert!(http(403, "The application lacks the Intune permission update_device_attributes.").is_authorisation());
        assert!(!http(403, "PartnerTerminated").is_authorisation());
        assert!(!http(429, "").is_authorisation());
        assert!(!http(503, "").is_authorisation());
        assert!(!CallError::Transport("reset".into()).is_authorisation());
    }

    /// Five callers refused with one token: the first drops it, the others find it gone
    /// or already replaced and drop nothing, so one new token is fetched.
    #[tokio::test]
    async fn concurrent_refusals_of_one_token_drop_it_once() {
        let clock = Clock::test();
        let client = CloudClient::new("", clock.clone(), &[], Duration::from_secs(1));
        let app = app();
        let slot = client.token_slot(&app, "T", "intune");
        *slot.lock().await = Some(CachedToken { token: "old".into(), refresh_at_ms: clock.now_ms() + 60_000 });
        client.forget_token(&app, "t", "intune", "old").await;
        assert!(slot.lock().await.is_none(), "the refused token is dropped (tenant IDs in any case)");
        *slot.lock().await = Some(CachedToken { token: "new".into(), refresh_at_ms: clock.now_ms() + 60_000 });
        for _ in 0..4 {
            client.forget_token(&app, "t", "intune", "old").await;
        }
        assert_eq!(slot.lock().await.as_ref().map(|t| t.token.as_str()), Some("new"), "the replacement stays");
        assert_eq!(client.token(&app, "t", "intune").await.unwrap(), "new", "served from the cache, nothing sent");
    }

    /// A closed gate refuses every kind of request before anything is sent.
    #[tokio::test]
    async fn a_closed_gate_stops_tokens_discovery_and_partner_calls() {
        let clock = Clock::test();
        let client = CloudClient::new("", clock, &[], Duration::from_secs(1));
        let app = app();
        client.gates().observe("local", "t", 429, Some(30));
        assert!(matches!(client.renew_token(&app, "t", "intune").await, Err(CallError::Paused { .. })));
        assert!(matches!(client.services(&app, "t", true).await, Err(CallError::Paused { .. })));
        assert!(matches!(client.heartbeat(&app, "t").await, Err(CallError::Paused { .. })));
    }
}
