//! Onboarding (scenario S3 steps 5–8, README's table): both consents in sequence, then Confirm, which
//! completes and tests the configuration. Also disconnect (S5) and the heartbeat.

use platform::problem::Refuse;
use std::collections::BTreeSet;
use std::time::Duration;

use wire::connector_api::{Check, LandingPage, LinkStarted, LinkStatus, LinkView, StartLink};
use wire::partner::{DEPROVISIONED, MessageStatus, PROVISIONED, PartnerTenantRequest};

use crate::Shared;
use crate::cloud_client::{CallError, CloudApp, token_roles};
use crate::error::{ConnectorError, Result};
use crate::store::{InstanceRow, LinkRow};
use wire::{LinkId, TenantId};

/// A consent `state` is valid this long, once.
const CONSENT_STATE_TTL_MS: i64 = 15 * 60 * 1000;
const STEP_CONNECTOR: &str = "connector";
const STEP_REGISTRATION: &str = "registration";

fn validate_landing_page(p: &LandingPage) -> Result<()> {
    if let LandingPage::Custom { url } = p {
        platform::net::check_outbound(url, &[]).map_err(|why| {
            ConnectorError::invalid(format!("The custom landing page must be an absolute https URL on a public host: {why}."))
        })?;
    }
    Ok(())
}

/// The browser returns only to the instance that asked, never elsewhere (no open
/// redirect): its URL itself, or a path under it.
fn validate_return_url(instance: &InstanceRow, return_url: &str) -> Result<()> {
    let under = return_url
        .strip_prefix(instance.url.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'));
    if !under {
        return Err(ConnectorError::forbidden(format!("return_url must be under this instance's URL {}.", instance.url)));
    }
    Ok(())
}

async fn consent_url(state: &Shared, app: &CloudApp, client_id: &str, tenant: &str, link_id: &LinkId, step: &str) -> Result<String> {
    let token = platform::secrets::random_token(32);
    state
        .store
        .insert_consent_state(&platform::secrets::digest_hex(&token), link_id, step, state.clock.now_ms() + CONSENT_STATE_TTL_MS)
        .await?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &format!("{}/onboarding/callback", state.base_url))
        .append_pair("state", &token)
        .finish();
    Ok(format!("{}/{tenant}/adminconsent?{query}", app.profile.authority))
}

pub async fn start_link(state: &Shared, instance: &InstanceRow, req: StartLink) -> Result<LinkStarted> {
    if !wire::CloudProfile::NAMES.contains(&req.cloud.as_str()) {
        return Err(ConnectorError::invalid(format!("cloud must be one of {}.", wire::CloudProfile::NAMES.join(", "))));
    }
    // A cloud this connector holds no app registration for: its configuration, not the
    // request, is what does not fit.
    let app = state.app(&req.cloud).map_err(ConnectorError::conflict)?.clone();
    validate_landing_page(&req.landing_page)?;
    validate_return_url(instance, &req.return_url)?;
    let link = LinkRow {
        id: uuid::Uuid::new_v4().to_string().into(),
        instance_id: instance.id.clone(),
        cloud: req.cloud.clone(),
        tenant_id: None,
        status: LinkStatus::AwaitingConsent,
        landing_page: serde_json::to_string(&req.landing_page).unwrap_or_default(),
        return_url: req.return_url,
        checks: "[]".into(),
        last_tested_ms: None,
    };
    state.store.insert_link(&link, state.clock.now_ms()).await?;
    let consent_url = consent_url(state, &app, &app.client_id, "organizations", &link.id, STEP_CONNECTOR).await?;
    Ok(LinkStarted { link_id: link.id, consent_url })
}

/// The query of the admin-consent redirect back to the connector (Microsoft identity
/// platform: `admin_consent=True&tenant=…&state=…`, or `error=…&error_description=…`).
#[derive(Debug, serde::Deserialize)]
pub struct ConsentResponse {
    pub state: Option<String>,
    pub tenant: Option<TenantId>,
    pub admin_consent: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What a consent response says, read before any stored state is looked at.
#[derive(Debug, PartialEq)]
pub enum ConsentOutcome {
    /// The administrator declined or the platform failed: `error` and its description.
    Declined { error: String, detail: String },
    /// Consent granted in `tenant` (a GUID).
    Granted { tenant: TenantId },
}

impl ConsentResponse {
    /// The `state` the connector put in the consent URL. Errors: `BadState` when missing.
    pub fn state_token(&self) -> Result<&str> {
        self.state.as_deref().ok_or_else(|| ConnectorError::BadState("The consent response carries no state.".into()))
    }

    /// An error wins; otherwise `admin_consent=True` and a GUID `tenant` are required
    /// (`BadState` otherwise).
    pub fn outcome(&self) -> Result<ConsentOutcome> {
        if let Some(error) = &self.error {
            let detail = self.error_description.clone().unwrap_or_else(|| error.clone());
            return Ok(ConsentOutcome::Declined { error: error.clone(), detail });
        }
        self.tenant
            .as_ref()
            .filter(|t| uuid::Uuid::parse_str(t).is_ok() && self.admin_consent.as_deref() == Some("True"))
            .map(|t| ConsentOutcome::Granted { tenant: t.clone() })
            .ok_or_else(|| ConnectorError::BadState("The consent response does not name a tenant.".into()))
    }
}

fn back_to_instance(link: &LinkRow, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("link_id", &link.id).extend_pairs(params).finish();
    let sep = if link.return_url.contains('?') { '&' } else { '?' };
    format!("{}{sep}{query}", link.return_url)
}

/// Handles the cloud's redirect after a consent; returns where the browser goes next.
pub async fn consent_callback(state: &Shared, r: ConsentResponse) -> Result<String> {
    let token = r.state_token()?;
    let (link_id, step) =
        state.store.take_consent_state(&platform::secrets::digest_hex(token), state.clock.now_ms()).await?.ok_or_else(|| {
            ConnectorError::UnknownState("The consent state is unknown, expired or was already used. Start again with Connect.".into())
        })?;
    let mut link = state.store.link(&link_id).await?.ok_or_else(|| ConnectorError::not_found("link"))?;
    let now = state.clock.now_ms();
    let tenant = match r.outcome()? {
        ConsentOutcome::Declined { error, detail } => {
            link.status = LinkStatus::Failing;
            link.checks = serde_json::to_string(&[Check {
                name: "consent".into(),
                passed: false,
                detail: detail.clone(),
                remedy: Some("Sign in as a Global Administrator of the tenant and accept both consents.".into()),
            }])
            .unwrap_or_default();
            state.store.update_link(&link, &format!("consent not granted: {detail}"), now).await?;
            return Ok(back_to_instance(&link, &[("error", &error), ("error_description", &detail)]));
        }
        ConsentOutcome::Granted { tenant } => tenant,
    };
    let app = state.app(&link.cloud)?.clone();
    match step.as_str() {
        STEP_CONNECTOR => {
            link.tenant_id = Some(tenant.clone());
            state.store.update_link(&link, "the Cloud Connector app was consented", now).await?;
            consent_url(state, &app, &app.registration_app_id, &tenant, &link.id, STEP_REGISTRATION).await
        }
        _ => {
            if link.tenant_id.as_deref() != Some(tenant.as_str()) {
                return Err(ConnectorError::BadState("The second consent was given in another tenant than the first.".into()));
            }
            link.status = LinkStatus::AwaitingConfirmation;
            state.store.update_link(&link, "both apps consented", now).await?;
            Ok(back_to_instance(&link, &[("result", "consented")]))
        }
    }
}

pub fn view(state: &Shared, link: &LinkRow) -> LinkView {
    let app = state.apps.get(&link.cloud);
    LinkView {
        link_id: link.id.clone(),
        status: link.status,
        cloud: link.cloud.clone(),
        tenant_id: link.tenant_id.clone(),
        application_id: app.map(|a| a.client_id.clone()).unwrap_or_default(),
        intune_partner_page: app.and_then(|a| a.intune_partner_page.clone()),
        checks: serde_json::from_str(&link.checks).unwrap_or_default(),
        last_tested_at: link.last_tested_ms.map(platform::clock::ms_to_rfc3339),
    }
}

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check { name: name.into(), passed: true, detail: detail.into(), remedy: None }
}

fn fail(name: &str, detail: impl Into<String>, remedy: impl Into<String>) -> Check {
    Check { name: name.into(), passed: false, detail: detail.into(), remedy: Some(remedy.into()) }
}

fn login_remedy(e: &CallError) -> String {
    match e {
        CallError::Login { codes, .. } if codes.contains(&500011) => {
            "The tenant has no Intune service: check its Intune and Entra ID P1/P2 licences.".into()
        }
        CallError::Login { codes, .. } if codes.iter().any(|c| [700016, 65001].contains(c)) => {
            "The Cloud Connector app is not consented in this tenant: use Connect again.".into()
        }
        _ => "Check the network path to the cloud and try Confirm again.".into(),
    }
}

fn compare_roles(name: &str, granted: Vec<String>, expected: &[&str]) -> Check {
    let granted: BTreeSet<String> = granted.into_iter().collect();
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = expected.difference(&granted).cloned().collect();
    let extra: Vec<_> = granted.difference(&expected).cloned().collect();
    if missing.is_empty() && extra.is_empty() {
        pass(name, format!("granted exactly: {}", expected.iter().cloned().collect::<Vec<_>>().join(", ")))
    } else {
        fail(
            name,
            format!("unsupported: permissions modified (missing: [{}], extra: [{}])", missing.join(", "), extra.join(", ")),
            "Restore the Cloud Connector app's permissions in Entra (Enterprise applications), or connect again to re-consent.",
        )
    }
}

/// The checks of Confirm, in order; later checks are skipped once one fails.
async fn run_checks(state: &Shared, app: &CloudApp, tenant: &TenantId) -> Vec<Check> {
    // An administrator is waiting: a short Retry-After is waited out, a long one reported.
    if let Err(e) = state.cloud.gates().wait(&app.profile.name, tenant, Duration::from_secs(30)).await {
        return vec![fail("throttled", e.to_string(), "The cloud asked the connector to wait; try Confirm again later.")];
    }
    let mut checks = access_checks(state, app, tenant).await;
    if checks.iter().any(|c| !c.passed) {
        return checks;
    }
    checks.extend(provisioning_checks(state, app, tenant).await);
    checks
}

/// Whether the connector can still act for the tenant: a fresh token, exactly the
/// permissions of scenario S8 (README's table) on both APIs (drift is named), and the partner services
/// published by discovery. Read-only, so it runs on a schedule.
async fn access_checks(state: &Shared, app: &CloudApp, tenant: &TenantId) -> Vec<Check> {
    let mut checks = Vec::new();
    let intune = app.profile.intune_resource.clone().unwrap_or_default();
    // Token for the Intune API.
    // A test asks the authority afresh: cached tokens would hide revoked consent or
    // changed permissions.
    let intune_token = match state.cloud.renew_token(app, tenant, &intune).await {
        Ok(t) => {
            checks.push(pass("token", "client-credentials token issued for the Intune API"));
            t
        }
        Err(e) => {
            checks.push(fail("token", e.to_string(), login_remedy(&e)));
            return checks;
        }
    };
    let graph_token = match state.cloud.renew_token(app, tenant, &app.profile.graph_resource).await {
        Ok(t) => t,
        Err(e) => {
            checks.push(fail("token", e.to_string(), login_remedy(&e)));
            return checks;
        }
    };
    // Exact permissions (scenario S8, README's table).
    let intune_perm = compare_roles("permissions_intune", token_roles(&intune_token), &[wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES]);
    let graph_perm = compare_roles("permissions_graph", token_roles(&graph_token), &[wire::ids::ROLE_DIRECTORY_READ_ALL]);
    let perms_ok = intune_perm.passed && graph_perm.passed;
    checks.push(intune_perm);
    checks.push(graph_perm);
    if !perms_ok {
        return checks;
    }
    // Service discovery.
    match state.cloud.services(app, tenant, true).await {
        Ok(s)
            if s.contains_key(&wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC.to_ascii_lowercase())
                && s.contains_key(&wire::ids::SERVICE_PARTNER_TENANT_DATA_SYNC.to_ascii_lowercase()) =>
        {
            checks.push(pass("service_discovery", "partner services discovered"))
        }
        Ok(_) => {
            checks.push(fail(
                "service_discovery",
                "the tenant publishes no Intune partner services",
                "Check that the tenant has an Intune licence.",
            ));
            return checks;
        }
        Err(e) => {
            checks.push(fail("service_discovery", e.to_string(), "Check the connector's Graph permission Directory.Read.All."));
            return checks;
        }
    }
    checks
}

/// Provisioning with the routed landing and remediation URLs, a heartbeat and a test
/// upload: the part of Confirm that changes the tenant.
async fn provisioning_checks(state: &Shared, app: &CloudApp, tenant: &TenantId) -> Vec<Check> {
    let mut checks = Vec::new();
    let req = PartnerTenantRequest {
        provisioned: PROVISIONED,
        partner_enrollment_url: Some(format!("{}/route/{tenant}/enroll", state.base_url)),
        partner_remediation_url: Some(format!("{}/route/{tenant}/remediate", state.base_url)),
    };
    match state.cloud.provision(app, tenant, &req).await {
        Ok(_) => checks.push(pass("provisioning", "partner tenant provisioned")),
        Err(e) => {
            let remedy = if e.status() == Some(403) {
                format!(
                    "Paste the Application ID {} into Intune › Tenant administration › Connectors and tokens › Partner device management, Save, then Confirm again.",
                    app.client_id
                )
            } else {
                "Try Confirm again.".into()
            };
            checks.push(fail("provisioning", e.to_string(), remedy));
            return checks;
        }
    }
    match state.cloud.heartbeat(app, tenant).await {
        Ok(_) => checks.push(pass("heartbeat", "heartbeat accepted")),
        Err(e) => {
            checks.push(fail("heartbeat", e.to_string(), "Try Confirm again."));
            return checks;
        }
    }
    checks.push(test_upload(state, app, tenant).await);
    checks
}

async fn test_upload(state: &Shared, app: &CloudApp, tenant: &TenantId) -> Check {
    let id = uuid::Uuid::new_v4().to_string();
    let body =
        serde_json::json!({"TenantId": tenant, "UploadTime": platform::clock::rfc3339(state.clock.now()), "Content": []}).to_string();
    if let Err(e) = state.cloud.upload(app, tenant, &id, &body).await {
        return fail("test_upload", e.to_string(), "Try Confirm again.");
    }
    for _ in 0..50 {
        match state.cloud.upload_status(app, tenant, &id).await {
            Ok(s) if s.status == MessageStatus::Completed => {
                return pass("test_upload", "test message completed");
            }
            Ok(s) if s.status == MessageStatus::Failed => {
                return fail("test_upload", format!("test message failed: {:?}", s.error_detail), "Try Confirm again.");
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return fail("test_upload", e.to_string(), "Try Confirm again."),
        }
    }
    fail("test_upload", "the test message was still pending after 5 seconds", "Try Confirm again.")
}

/// Confirm: completes and tests the configuration; the link turns active or failing.
pub async fn confirm(state: &Shared, mut link: LinkRow) -> Result<LinkView> {
    let tenant = link.tenant_id.clone().ok_or_else(|| ConnectorError::conflict("Both consents must be granted before Confirm."))?;
    if ![LinkStatus::AwaitingConfirmation, LinkStatus::Active, LinkStatus::Failing, LinkStatus::Terminated].contains(&link.status) {
        return Err(ConnectorError::conflict(format!("A link in state {} cannot be confirmed.", link.status)));
    }
    let app = state.app(&link.cloud)?.clone();
    let checks = run_checks(state, &app, &tenant).await;
    let ok = checks.iter().all(|c| c.passed) && checks.iter().any(|c| c.name == "test_upload");
    link.status = if ok { LinkStatus::Active } else { LinkStatus::Failing };
    link.checks = serde_json::to_string(&checks).unwrap_or_default();
    link.last_tested_ms = Some(state.clock.now_ms());
    state.store.update_link(&link, &format!("Confirm: {}", summarize(&checks)), state.clock.now_ms()).await?;
    tracing::info!(tenant = %tenant, instance = %link.instance_id, status = %link.status, "link confirmed");
    if ok {
        // Updates held back while the cloud refused the connector go now.
        state.store.hurry_messages(&tenant, state.clock.now_ms()).await?;
    }
    state.work.notify_one();
    Ok(view(state, &link))
}

/// `name=pass, name=fail, …` of a test's checks, for the link's history.
fn summarize(checks: &[Check]) -> String {
    checks.iter().map(|c| format!("{}={}", c.name, if c.passed { "pass" } else { "fail" })).collect::<Vec<_>>().join(", ")
}

/// Name of the check a health re-test adds, so a link it turned failing is re-tested
/// (and turns active again by itself) while one that failed Confirm waits for the admin.
pub const HEALTH_RETEST: &str = "health_retest";

/// A health re-test of a link (scheduled, or asked for by an operator): the access checks
/// of Confirm. A problem turns an active link failing with the findings; a link a re-test
/// turned failing turns active again once they pass.
pub async fn health_check(state: &Shared, mut link: LinkRow) -> Result<LinkView> {
    let tenant = link.tenant_id.clone().ok_or_else(|| ConnectorError::conflict("The link has no tenant yet."))?;
    let failed_by_retest = link.status == LinkStatus::Failing && link.checks.contains(HEALTH_RETEST);
    if link.status != LinkStatus::Active && !failed_by_retest {
        return Err(ConnectorError::conflict(format!("This connection is {}: Confirm tests it.", link.status)));
    }
    let app = state.app(&link.cloud)?.clone();
    let paused = || ConnectorError::conflict("The cloud asked to wait (Retry-After); the re-test runs after that.");
    if state.cloud.gates().remaining_ms(&app.profile.name, &tenant) > 0 {
        return Err(paused());
    }
    let mut checks = access_checks(state, &app, &tenant).await;
    let ok = checks.iter().all(|c| c.passed);
    // A check the tenant's closed gate stopped proves nothing about the link.
    if !ok && state.cloud.gates().remaining_ms(&app.profile.name, &tenant) > 0 {
        return Err(paused());
    }
    let now = state.clock.now_ms();
    let when = platform::clock::ms_to_rfc3339(now);
    checks.push(if ok {
        pass(HEALTH_RETEST, format!("re-tested at {when}: token, permissions and discovery as confirmed"))
    } else {
        fail(HEALTH_RETEST, format!("re-tested at {when}: the connection no longer works"), "Fix the failing check above, then Confirm.")
    });
    state.metrics.health_checks_total.increment(1);
    if !ok {
        state.metrics.health_check_failures_total.increment(1);
    }
    let before = link.status;
    link.status = if ok { LinkStatus::Active } else { LinkStatus::Failing };
    // A passing re-test of an active link keeps Confirm's full findings.
    if !(ok && before == LinkStatus::Active) {
        link.checks = serde_json::to_string(&checks).unwrap_or_default();
    }
    link.last_tested_ms = Some(now);
    state.store.update_link(&link, &format!("health re-test: {}", summarize(&checks)), now).await?;
    if before != link.status {
        tracing::warn!(tenant = %tenant, instance = %link.instance_id, from = %before, to = %link.status, "health re-test changed the link");
    }
    if ok && before != LinkStatus::Active {
        // Updates held back while the cloud refused the connector go now.
        state.store.hurry_messages(&tenant, now).await?;
        state.work.notify_one();
    }
    Ok(view(state, &link))
}

/// Disconnect (S5): the last instance of a tenant deprovisions it; another one only
/// withdraws its own devices, and the tenant stays Active.
pub async fn disconnect(state: &Shared, mut link: LinkRow) -> Result<LinkView> {
    let now = state.clock.now_ms();
    let mut detail = "disconnected by the instance".to_string();
    if let Some(tenant) = link.tenant_id.clone()
        && link.status == LinkStatus::Active
    {
        let others = state.store.active_links_of_tenant(&tenant).await?.into_iter().filter(|l| l.id != link.id).count();
        if others > 0 {
            link.status = LinkStatus::Disconnected;
            let detail =
                |n: usize| format!("disconnected by the instance; {n} device(s) withdrawn, {others} other instance(s) keep the tenant");
            crate::pipeline::withdraw(state, &link, detail).await?;
            return Ok(view(state, &link));
        } else {
            let app = state.app(&link.cloud)?.clone();
            let req = PartnerTenantRequest { provisioned: DEPROVISIONED, partner_enrollment_url: None, partner_remediation_url: None };
            detail = match state.cloud.provision(&app, &tenant, &req).await {
                Ok(_) => "disconnected by the instance; the last one of the tenant, which was deprovisioned".into(),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "deprovisioning failed");
                    format!("disconnected by the instance; deprovisioning failed: {e}")
                }
            };
        }
    }
    link.status = LinkStatus::Disconnected;
    state.store.update_link(&link, &detail, now).await?;
    Ok(view(state, &link))
}

/// How much earlier than a full interval the next period's heartbeat may be taken: the
/// nodes' timers drift apart, and a node a little early must not skip a period.
const HEARTBEAT_SLACK_MS: i64 = 250;

/// Heartbeat per connected tenant, so the partner stays Active in Intune; one node beats
/// for the cluster each period (`Store::take_job`).
pub async fn heartbeats(state: Shared) {
    let interval = Duration::from_secs(state.config.heartbeat_interval_s.max(1));
    loop {
        tokio::time::sleep(interval).await;
        // One node beats for the cluster each period.
        let now = state.clock.now_ms();
        let next = now + interval.as_millis() as i64 - HEARTBEAT_SLACK_MS;
        if !matches!(state.store.take_job("heartbeat", &state.node, now, next).await, Ok(true)) {
            continue;
        }
        let Ok(links) = state.store.links_with_status(LinkStatus::Active).await else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for link in links {
            let Some(tenant) = link.tenant_id.clone() else {
                continue;
            };
            if !seen.insert((link.cloud.clone(), tenant.clone())) {
                continue;
            }
            let Ok(app) = state.app(&link.cloud) else {
                continue;
            };
            match state.cloud.heartbeat(app, &tenant).await {
                Err(e) if e.is_partner_terminated() => {
                    let _ = crate::pipeline::terminated(&state, &tenant).await;
                }
                // The tenant asked to wait: this beat is skipped, the next one goes.
                Err(e @ crate::cloud_client::CallError::Paused { .. }) => {
                    tracing::debug!(tenant = %tenant, error = %e, "heartbeat skipped")
                }
                Err(e) => {
                    if e.is_authorisation() {
                        state.retests.request(&link.cloud, &tenant);
                    }
                    tracing::warn!(tenant = %tenant, error = %e, "heartbeat failed")
                }
                Ok(_) => {}
            }
        }
    }
}
