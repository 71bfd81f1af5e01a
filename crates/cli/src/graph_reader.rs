//! Reads what the scenarios produced through Microsoft Graph, as any Graph client would,
//! with the seeded read-only test client.

use std::collections::HashMap;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::stack::Stack;

pub struct GraphReader {
    http: reqwest::Client,
    graph: String,
    token: String,
}

impl GraphReader {
    pub async fn new(stack: &Stack) -> anyhow::Result<GraphReader> {
        let resp = stack
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", stack.cloud.url(), stack.tenant.tenant_id))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", stack.tenant.test_client_id.as_str()),
                ("client_secret", stack.tenant.test_client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await?;
        let body: Value = resp.json().await?;
        let token = body["access_token"].as_str().with_context(|| format!("no token: {body}"))?.to_string();
        Ok(GraphReader { http: stack.http.clone(), graph: format!("{}/graph", stack.cloud.url()), token })
    }

    /// Every item of a collection, following `@odata.nextLink`.
    pub async fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut url = format!("{}/v1.0/{path}", self.graph);
        let mut items = Vec::new();
        loop {
            let resp = self.http.get(&url).bearer_auth(&self.token).send().await?;
            let status = resp.status();
            let body: Value = resp.json().await?;
            if !status.is_success() {
                bail!("GET {url}: {status} {body}");
            }
            items.extend(body["value"].as_array().cloned().unwrap_or_default());
            match body["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => return Ok(items),
            }
        }
    }

    /// `isCompliant` of every Entra device, by device ID (`None`: not evaluated yet).
    pub async fn compliance(&self) -> anyhow::Result<HashMap<String, Option<bool>>> {
        Ok(self
            .list("devices?$top=999")
            .await?
            .iter()
            .filter_map(|d| Some((d["deviceId"].as_str()?.to_string(), d["isCompliant"].as_bool())))
            .collect())
    }

    /// Intune's `complianceState` of every partner-managed device, by Entra device ID.
    pub async fn compliance_states(&self) -> anyhow::Result<HashMap<String, String>> {
        Ok(self
            .list("deviceManagement/managedDevices")
            .await?
            .iter()
            .filter_map(|m| Some((m["azureADDeviceId"].as_str()?.to_string(), m["complianceState"].as_str()?.to_string())))
            .collect())
    }

    pub async fn partner_state(&self) -> anyhow::Result<String> {
        let partners = self.list("deviceManagement/deviceManagementPartners").await?;
        Ok(partners.first().and_then(|p| p["partnerState"].as_str()).unwrap_or("unavailable").to_string())
    }
}
