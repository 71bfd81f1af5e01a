//! `cloudconnector admin …`: what an operator does by hand without a browser, over the
//! public APIs named in `endpoints.json` — the connector's operator API (link status,
//! reconcile, health re-test, dead letters, device trace) and the mdm's read API (the
//! change-management log).

use std::path::Path;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use wire::connector_api::{DeadLetters, DeviceTrace, LinkView, LinksHealth, Reconciled, Replay, Replayed};
use wire::endpoints::EndpointsFile;

pub struct Admin {
    http: reqwest::Client,
    endpoints: EndpointsFile,
}

async fn answer<T: DeserializeOwned>(what: &str, resp: Result<reqwest::Response, reqwest::Error>) -> anyhow::Result<T> {
    let resp = resp.with_context(|| format!("{what}: the service did not answer"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("{what}: unexpected answer {body}"))
}

impl Admin {
    /// Reads `endpoints.json` (written by `demo` and `serve --role all`).
    pub fn from_file(path: &Path) -> anyhow::Result<Admin> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {} (start `cloudconnector demo` first)", path.display()))?;
        let endpoints: EndpointsFile =
            serde_json::from_str(&text).with_context(|| format!("{} is not an endpoints file", path.display()))?;
        let ca = std::fs::read_to_string(&endpoints.ca_certificate).with_context(|| format!("reading {}", endpoints.ca_certificate))?;
        Ok(Admin { http: platform::http::client(&ca), endpoints })
    }

    fn operator_token(&self) -> anyhow::Result<&str> {
        self.endpoints.connector.operator_token.as_deref().context("endpoints.json names no operator token for the connector")
    }

    async fn get<T: DeserializeOwned>(&self, what: &str, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.endpoints.connector.url);
        answer(what, self.http.get(url).bearer_auth(self.operator_token()?).send().await).await
    }

    async fn post<T: DeserializeOwned>(&self, what: &str, path: &str, body: Option<String>) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.endpoints.connector.url);
        let mut req = self.http.post(url).bearer_auth(self.operator_token()?);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        answer(what, req.send().await).await
    }

    pub async fn status(&self) -> anyhow::Result<LinksHealth> {
        self.get("status", "/api/v1/operator/links").await
    }

    /// Reconciles one link, or every active link when `link_id` is `None`.
    pub async fn reconcile(&self, link_id: Option<&str>) -> anyhow::Result<Vec<Reconciled>> {
        let ids: Vec<String> = match link_id {
            Some(id) => vec![id.to_string()],
            None => self
                .status()
                .await?
                .links
                .into_iter()
                .filter(|l| l.link.status == wire::connector_api::LinkStatus::Active)
                .map(|l| l.link.link_id.into_string())
                .collect(),
        };
        let mut out = Vec::new();
        for id in ids {
            out.push(self.post("reconcile", &format!("/api/v1/operator/links/{id}/reconcile"), None).await?);
        }
        Ok(out)
    }

    pub async fn health_check(&self, link_id: &str) -> anyhow::Result<LinkView> {
        self.post("health check", &format!("/api/v1/operator/links/{link_id}/health-check"), None).await
    }

    pub async fn dead_letters(&self) -> anyhow::Result<DeadLetters> {
        self.get("dead letters", "/api/v1/operator/dead-letters").await
    }

    pub async fn replay(&self, ids: Option<Vec<i64>>) -> anyhow::Result<Replayed> {
        let body = serde_json::to_string(&Replay { ids })?;
        self.post("replay", "/api/v1/operator/dead-letters/replay", Some(body)).await
    }

    pub async fn trace(&self, device_id: &str) -> anyhow::Result<DeviceTrace> {
        self.get("trace", &format!("/api/v1/operator/devices/{device_id}")).await
    }

    /// An instance's URL and the credentials of its admin: given, or the seeded ones.
    fn instance_admin(&self, slug: &str, username: Option<&str>, password: Option<&str>) -> anyhow::Result<(String, String, String)> {
        let instance = self
            .endpoints
            .mdm
            .instances
            .iter()
            .find(|i| i.url.ends_with(&format!("/i/{slug}")))
            .with_context(|| format!("endpoints.json names no instance '{slug}'"))?;
        let seeded = self.endpoints.seed.as_ref().and_then(|s| s.mdm_admins.iter().find(|a| a.instance == slug));
        let (user, pass) = match (username, password, seeded) {
            (Some(u), Some(p), _) => (u.to_string(), p.to_string()),
            (None, None, Some(a)) => (a.username.clone(), a.password.clone()),
            _ => bail!("give --username and --password of an admin of '{slug}'"),
        };
        Ok((instance.url.clone(), user, pass))
    }

    /// The change-management log of an instance, read with its admin's credentials.
    pub async fn change_log(&self, slug: &str, username: Option<&str>, password: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let (url, user, pass) = self.instance_admin(slug, username, password)?;
        let url = format!("{url}/api/v1/change-management/logs");
        answer("change log", self.http.get(url).basic_auth(user, Some(pass)).send().await).await
    }

    /// Imports pages of a Jamf Pro server's `GET /api/v1/computers-inventory` answer (one
    /// JSON file per page) into an instance. Returns each file's summary.
    pub async fn import_jamf(
        &self,
        slug: &str,
        files: &[std::path::PathBuf],
        username: Option<&str>,
        password: Option<&str>,
    ) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
        let (url, user, pass) = self.instance_admin(slug, username, password)?;
        let url = format!("{url}/api/v1/computers-inventory/import");
        let mut out = Vec::new();
        for file in files {
            let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            serde_json::from_slice::<serde_json::Value>(&body).with_context(|| format!("{} is not JSON", file.display()))?;
            let req = self.http.post(&url).basic_auth(&user, Some(&pass)).header("content-type", "application/json").body(body);
            out.push((file.display().to_string(), answer("import", req.send().await).await?));
        }
        Ok(out)
    }
}

impl Admin {
    /// What Intune would decide for every Mac of an instance (`POST compliance-preview`),
    /// under `policies` (a draft policy, or an array of them, in Graph's shape) or the
    /// tenant's: the answer's text, CSV or JSON.
    pub async fn compliance_preview(
        &self,
        slug: &str,
        username: Option<&str>,
        password: Option<&str>,
        policies: Option<serde_json::Value>,
        csv: bool,
    ) -> anyhow::Result<String> {
        let (url, user, pass) = self.instance_admin(slug, username, password)?;
        let url = format!("{url}/api/v1/compliance-preview?format={}", if csv { "csv" } else { "json" });
        let body = match policies {
            Some(serde_json::Value::Array(list)) => serde_json::json!({ "policies": list }),
            Some(one) => serde_json::json!({ "policies": [one] }),
            None => serde_json::json!({}),
        };
        let resp = self.http.post(url).basic_auth(user, Some(pass)).json(&body).send().await.context("compliance preview")?;
        let status = resp.status();
        let text = resp.text().await.context("compliance preview")?;
        if !status.is_success() {
            bail!(
                "compliance preview: HTTP {status}: {}",
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|p| p["detail"].as_str().map(str::to_string))
                    .unwrap_or(text)
            );
        }
        Ok(text)
    }
}

/// One line per imported page, and each refused record with its reason.
pub fn render_import(results: &[(String, serde_json::Value)]) -> String {
    let mut out = String::new();
    for (file, s) in results {
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        let refused = s["refused"].as_array().cloned().unwrap_or_default();
        out.push_str(&format!(
            "{file}: {} created, {} updated, {} unchanged, {} refused, {} Entra registrations\n",
            n("created"),
            n("updated"),
            n("unchanged"),
            refused.len(),
            n("registrations")
        ));
        for r in &refused {
            out.push_str(&format!(
                "    record {} (id {}): {}\n",
                r["index"],
                r["id"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or("")
            ));
        }
        for w in s["warnings"].as_array().into_iter().flatten() {
            out.push_str(&format!("    warning: {}\n", w.as_str().unwrap_or("")));
        }
    }
    out
}

/// A fixed-width table of the links, as `admin status` prints it.
pub fn render_status(s: &LinksHealth) -> String {
    let mut out = format!(
        "{:<36}  {:<12}  {:<22}  {:<36}  {:>7}  {:>5}  {:>5}  {:>8}  last upload\n",
        "link", "instance", "status", "tenant", "backlog", "lag s", "dead", "accepted"
    );
    for l in &s.links {
        out.push_str(&format!(
            "{:<36}  {:<12}  {:<22}  {:<36}  {:>7}  {:>5}  {:>5}  {:>8}  {}\n",
            l.link.link_id,
            l.instance_name,
            l.link.status,
            l.link.tenant_id.as_deref().unwrap_or("-"),
            l.backlog,
            l.lag_seconds,
            l.dead_letters,
            l.accepted_total,
            l.last_upload_at.as_deref().unwrap_or("-"),
        ));
        for c in l.link.checks.iter().filter(|c| !c.passed) {
            out.push_str(&format!("    ✗ {}: {}{}\n", c.name, c.detail, c.remedy.as_ref().map(|r| format!(" — {r}")).unwrap_or_default()));
        }
        if let Some(e) = &l.last_error {
            out.push_str(&format!("    last error: {e}\n"));
        }
        if let Some(last) = l.history.last() {
            out.push_str(&format!("    since {}: {}\n", last.at, last.detail));
        }
    }
    out
}

pub fn render_trace(t: &DeviceTrace) -> String {
    let mut out = format!("device {}\n", t.device_id);
    for u in &t.updates {
        out.push_str(&format!(
            "  #{} computer {} on instance {} → tenant {}: {} (received {})\n",
            u.sequence, u.computer_id, u.instance_id, u.tenant_id, u.status, u.received_at
        ));
        if let Some(m) = &u.message {
            out.push_str(&format!("      message {}: {m}\n", u.message_id.as_deref().unwrap_or("-")));
        }
        if let Some(r) = &u.dead_reason {
            out.push_str(&format!("      dead letter: {r}\n"));
        }
        for o in &u.outcomes {
            out.push_str(&format!("      outcome {o}\n"));
        }
        let i = &u.item;
        out.push_str(&format!(
            "      item: EntityType {} state {:?} encrypted {:?} os {:?} updated {}\n",
            i.entity_type, i.state, i.encrypted, i.os_version, i.last_update_time
        ));
    }
    out
}
