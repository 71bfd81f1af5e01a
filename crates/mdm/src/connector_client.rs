//! The mdm's client of the connector API (`/api/v1`).

use platform::problem::Refuse;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::connector_api::{
    InstanceRegistered, InventoryAccepted, InventoryBatch, LinkStarted, LinkView, Outcomes, RegisterInstance, StartLink,
};
use wire::errors::Problem;

use crate::error::{MdmError, Result};
use wire::LinkId;

#[derive(Clone)]
pub struct ConnectorClient {
    http: reqwest::Client,
    base: String,
    registration_secret: String,
}

/// Whether a failed send may succeed later (the outbox keeps it) or was refused for
/// good (its rows are given up, so they do not hold back what came after them).
pub enum SendError {
    Retry(String),
    Refused(String),
}

impl ConnectorClient {
    pub fn new(http: reqwest::Client, base: &str, registration_secret: &str) -> Self {
        ConnectorClient { http, base: base.trim_end_matches('/').into(), registration_secret: registration_secret.into() }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<&B>,
    ) -> Result<T, (Option<u16>, String)> {
        // The instance's credential goes in clear over anything but TLS: never.
        platform::net::require_https("connector_url", &self.base).map_err(|why| (Some(422), why))?;
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(credential);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| (None, format!("the connector could not be reached: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| (Some(status), e.to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| (Some(status), format!("malformed answer from the connector: {e}")));
        }
        let detail = serde_json::from_slice::<Problem>(&bytes)
            .ok()
            .and_then(|p| p.detail)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        Err((Some(status), detail))
    }

    fn upstream((status, detail): (Option<u16>, String)) -> MdmError {
        match status {
            Some(404) => MdmError::not_found(detail),
            Some(409) => MdmError::conflict(detail),
            Some(422) => MdmError::invalid(detail),
            _ => MdmError::Upstream(detail),
        }
    }

    pub async fn register(&self, req: &RegisterInstance) -> Result<InstanceRegistered> {
        self.call(reqwest::Method::POST, "/api/v1/instances", &self.registration_secret, Some(req)).await.map_err(Self::upstream)
    }

    pub async fn start_link(&self, credential: &str, req: &StartLink) -> Result<LinkStarted> {
        self.call(reqwest::Method::POST, "/api/v1/links", credential, Some(req)).await.map_err(Self::upstream)
    }

    pub async fn current_link(&self, credential: &str) -> Result<Option<LinkView>> {
        match self.call::<(), LinkView>(reqwest::Method::GET, "/api/v1/links/current", credential, None).await {
            Ok(v) => Ok(Some(v)),
            Err((Some(404), _)) => Ok(None),
            Err(e) => Err(Self::upstream(e)),
        }
    }

    pub async fn confirm(&self, credential: &str, link_id: &LinkId) -> Result<LinkView> {
        self.call::<(), _>(reqwest::Method::POST, &format!("/api/v1/links/{link_id}/confirm"), credential, None)
            .await
            .map_err(Self::upstream)
    }

    /// Test connection: the connector re-tests the active link now (409 when only
    /// Confirm can test it).
    pub async fn health_check(&self, credential: &str, link_id: &LinkId) -> Result<LinkView> {
        self.call::<(), _>(reqwest::Method::POST, &format!("/api/v1/links/{link_id}/health-check"), credential, None)
            .await
            .map_err(Self::upstream)
    }

    /// The instance's delivery health as the connector sees it: backlog, lag, last
    /// upload and error.
    pub async fn status(&self, credential: &str) -> Result<wire::connector_api::InstanceStatus> {
        self.call::<(), _>(reqwest::Method::GET, "/api/v1/status", credential, None).await.map_err(Self::upstream)
    }

    /// What the connector did with one Entra device of this instance; `None` when it
    /// holds nothing of it.
    pub async fn device_trace(&self, credential: &str, device_id: &str) -> Result<Option<wire::connector_api::DeviceTrace>> {
        let path = format!("/api/v1/devices/{}", url::form_urlencoded::byte_serialize(device_id.as_bytes()).collect::<String>());
        match self.call::<(), _>(reqwest::Method::GET, &path, credential, None).await {
            Ok(t) => Ok(Some(t)),
            Err((Some(404), _)) => Ok(None),
            Err(e) => Err(Self::upstream(e)),
        }
    }

    /// Intune's verdicts for `req`'s devices, through the connector (`CompliancePreview`).
    pub async fn compliance_preview(
        &self,
        credential: &str,
        req: &wire::partner::PreviewRequest,
    ) -> Result<wire::partner::PreviewResponse> {
        self.call(reqwest::Method::POST, "/api/v1/compliance-preview", credential, Some(req)).await.map_err(Self::upstream)
    }

    pub async fn disconnect(&self, credential: &str, link_id: &LinkId) -> Result<LinkView> {
        self.call::<(), _>(reqwest::Method::POST, &format!("/api/v1/links/{link_id}/disconnect"), credential, None)
            .await
            .map_err(Self::upstream)
    }

    pub async fn send_inventory(&self, credential: &str, batch: &InventoryBatch) -> Result<InventoryAccepted, SendError> {
        self.call(reqwest::Method::POST, "/api/v1/inventory", credential, Some(batch)).await.map_err(|(status, detail)| match status {
            // A malformed batch (422) will not be taken however often it is sent; not
            // connected (409) or not authorised (401, 403: a credential being renewed)
            // may change.
            Some(422) => SendError::Refused(detail),
            _ => SendError::Retry(detail),
        })
    }

    pub async fn outcomes(&self, credential: &str, after: i64) -> Result<Outcomes> {
        self.call::<(), _>(reqwest::Method::GET, &format!("/api/v1/outcomes?after={after}&limit=2000"), credential, None)
            .await
            .map_err(Self::upstream)
    }
}
