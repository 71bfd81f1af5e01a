//! Manual connection (S7): the instance talks to the cloud itself, with its own app
//! registration in the tenant (Application ID and client secret, the secret sealed at
//! rest). It uses the same client and retry rules as the connector.

use platform::problem::Refuse;
use std::collections::HashMap;

use partner::outcome::ItemOutcome;
use partner::retry::{self, Verdict};
use partner::{CallError, CloudApp};
use wire::CloudProfile;
use wire::connector_api::Check;
use wire::partner::{DEPROVISIONED, DeviceItem, PROVISIONED, PartnerTenantRequest};

use crate::Shared;
use crate::domain::settings::{CaStatus, LandingKind};
use crate::error::{MdmError, Result};
use crate::store::{CaRow, InstanceRow, tx};
use wire::TenantId;

/// Heartbeats of a manual connection are sent this often.
const HEARTBEAT_EVERY_MS: i64 = 5 * 60 * 1000;

fn profile(state: &Shared, name: &str) -> Result<CloudProfile> {
    if name == "local" {
        let url = state.local_cloud_url.as_deref().ok_or_else(|| MdmError::invalid("No local cloud is configured on this server."))?;
        return Ok(CloudProfile::local(url));
    }
    CloudProfile::builtin(name).ok_or_else(|| MdmError::invalid(format!("Unknown sovereign cloud {name}.")))
}

/// The instance's own app, with its secret unsealed.
pub fn app(state: &Shared, instance: &InstanceRow, ca: &CaRow) -> Result<CloudApp> {
    let secret = ca
        .manual_secret
        .as_deref()
        .and_then(|s| state.secrets.open(s, &instance.id))
        .ok_or_else(|| MdmError::invalid("Enter the client secret of the app registration."))?;
    Ok(CloudApp {
        profile: profile(state, &ca.settings.sovereign_cloud)?,
        client_id: ca.settings.manual_app_id.clone().unwrap_or_default(),
        client_secret: secret,
        client_certificate_pem: None,
        client_key_pem: None,
        registration_app_id: String::new(),
        intune_partner_page: None,
    })
}

fn tenant_key(ca: &CaRow) -> TenantId {
    ca.manual_tenant_id.clone().or_else(|| ca.settings.manual_tenant.clone()).unwrap_or_default().into()
}

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check { name: name.into(), passed: true, detail: detail.into(), remedy: None }
}

fn fail(name: &str, detail: impl Into<String>, remedy: &str) -> Check {
    Check { name: name.into(), passed: false, detail: detail.into(), remedy: Some(remedy.into()) }
}

/// Where the cloud sends users of this instance: the configured landing page, and the
/// remediation page.
fn landing_urls(state: &Shared, instance: &InstanceRow, ca: &CaRow) -> (String, String) {
    let base = state.instance_url(&instance.slug);
    let enrollment = match ca.settings.landing_page {
        LandingKind::AccessDenied => format!("{base}/access-denied"),
        LandingKind::Custom => ca.settings.custom_url.clone().unwrap_or_default(),
        LandingKind::Registration => format!("{base}/device-registration"),
    };
    (enrollment, format!("{base}/remediation"))
}

/// Saving a Manual configuration tests it: token, permission, discovery, provisioning
/// with this instance's pages, heartbeat. The link status and checks record the result.
pub async fn test(state: &Shared, instance: &InstanceRow, ca: &mut CaRow) -> Result<()> {
    let app = app(state, instance, ca)?;
    let tenant = ca.settings.manual_tenant.clone().unwrap_or_default();
    let intune = app.profile.intune_resource.clone().unwrap_or_default();
    let mut checks = Vec::new();
    let token = match state.partner.renew_token(&app, &tenant, &intune).await {
        Ok(t) => t,
        Err(e) => {
            checks.push(fail(
                "token",
                e.to_string(),
                "Check the tenant name, Application ID and client secret, and the network path to the cloud.",
            ));
            return record(state, instance, ca, checks).await;
        }
    };
    checks.push(pass("token", "client-credentials token issued for the Intune API"));
    ca.manual_tenant_id = partner::client::token_claim(&token, "tid");
    let tenant = tenant_key(ca);
    if partner::client::token_roles(&token).iter().any(|r| r == wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES) {
        checks.push(pass("permissions_intune", "update_device_attributes granted"));
    } else {
        checks.push(fail(
            "permissions_intune",
            "the app lacks update_device_attributes",
            "Add the Intune permission update_device_attributes and grant admin consent.",
        ));
        return record(state, instance, ca, checks).await;
    }
    match state.partner.services(&app, &tenant, true).await {
        Ok(s) if s.contains_key(&wire::ids::SERVICE_PARTNER_DEVICE_DATA_SYNC.to_ascii_lowercase()) => {
            checks.push(pass("service_discovery", "partner services discovered"))
        }
        Ok(_) => {
            checks.push(fail("service_discovery", "the tenant publishes no Intune partner services", "Check the tenant's Intune licence."));
            return record(state, instance, ca, checks).await;
        }
        Err(e) => {
            checks.push(fail(
                "service_discovery",
                e.to_string(),
                "Grant the app Application.Read.All (Microsoft Graph) with admin consent.",
            ));
            return record(state, instance, ca, checks).await;
        }
    }
    let (enrollment, remediation) = landing_urls(state, instance, ca);
    let req = PartnerTenantRequest {
        provisioned: PROVISIONED,
        partner_enrollment_url: Some(enrollment),
        partner_remediation_url: Some(remediation),
    };
    match state.partner.provision(&app, &tenant, &req).await {
        Ok(_) => checks.push(pass("provisioning", "partner tenant provisioned")),
        Err(e) => {
            let remedy = match e.status() {
                Some(409) => "A manual connection serves one instance per tenant. Use the Cloud Connector to connect several instances.",
                Some(403) => "Paste this Application ID into Intune › Partner device management, Save, and save here again.",
                _ => "Save again.",
            };
            checks.push(fail("provisioning", e.to_string(), remedy));
            return record(state, instance, ca, checks).await;
        }
    }
    match state.partner.heartbeat(&app, &tenant).await {
        Ok(_) => checks.push(pass("heartbeat", "heartbeat accepted")),
        Err(e) => checks.push(fail("heartbeat", e.to_string(), "Save again.")),
    }
    record(state, instance, ca, checks).await
}

async fn record(state: &Shared, instance: &InstanceRow, ca: &mut CaRow, checks: Vec<Check>) -> Result<()> {
    ca.link_status =
        if checks.iter().all(|c| c.passed) && checks.iter().any(|c| c.name == "heartbeat") { CaStatus::Active } else { CaStatus::Failing };
    ca.checks = serde_json::to_string(&checks).unwrap_or_default();
    ca.link_id = None;
    state.store.save_ca(&instance.id, ca, state.clock.now_ms()).await
}

/// Clearing *Enable* on a manual connection deprovisions the tenant.
pub async fn deprovision(state: &Shared, instance: &InstanceRow, ca: &CaRow) -> std::result::Result<(), String> {
    let app = app(state, instance, ca).map_err(|e| e.to_string())?;
    let req = PartnerTenantRequest { provisioned: DEPROVISIONED, partner_enrollment_url: None, partner_remediation_url: None };
    state.partner.provision(&app, &tenant_key(ca), &req).await.map(|_| ()).map_err(|e| e.to_string())
}

/// Sends the instance's due outbox as one upload message and records each device's result.
pub async fn send(state: &Shared, instance: &InstanceRow, ca: &CaRow) -> Result<bool> {
    let now = state.clock.now_ms();
    heartbeat_if_due(state, instance, ca, now).await;
    let due = state.store.outbox_due(&instance.id, now, 1000).await?;
    if due.is_empty() {
        return Ok(false);
    }
    let tenant = tenant_key(ca);
    let items: Vec<String> = due
        .iter()
        .filter_map(|r| serde_json::from_str::<DeviceItem>(&r.payload).ok())
        .map(|mut item| {
            item.tenant_id = tenant.clone();
            serde_json::to_string(&item).unwrap_or_default()
        })
        .collect();
    // The same batch retried keeps its message ID and body, so the cloud answers it idempotently.
    let first = due.first().map(|r| r.id).unwrap_or_default();
    let last = due.last().map(|r| r.id).unwrap_or_default();
    let message_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}:{first}:{last}", instance.id).as_bytes()).to_string();
    let upload_time = platform::clock::ms_to_rfc3339(due.first().map(|r| r.created_ms).unwrap_or(now));
    let body = partner::client::message_body(&tenant, &upload_time, &items.iter().map(String::as_str).collect::<Vec<_>>());
    let app = app(state, instance, ca)?;
    let ids: Vec<i64> = due.iter().map(|r| r.id).collect();
    match state.partner.deliver(&app, &tenant, &message_id, &body).await {
        Ok(status) => {
            let results: HashMap<String, _> = status.item_results.into_iter().map(|r| (r.device_id.to_ascii_lowercase(), r)).collect();
            let missing = format!("the cloud failed the message: {}", status.error_detail.clone().unwrap_or_default());
            let mut txn = state.store.begin().await?;
            tx::delete_outbox(&mut txn, &ids).await?;
            for r in &due {
                let device = serde_json::from_str::<DeviceItem>(&r.payload).map(|i| i.device_id.to_ascii_lowercase()).unwrap_or_default();
                let o = ItemOutcome::of(results.get(&device), &missing);
                let outcome = crate::delivery::ItemOutcome {
                    status: o.status,
                    detail: o.detail.as_deref(),
                    compliance_state: o.compliance_state.as_deref(),
                    compliance_reasons: &o.compliance_reasons,
                };
                crate::delivery::record_outcome(&mut txn, r.computer_id, r.device_id.as_deref(), r.sequence, &outcome).await?;
            }
            txn.commit().await?;
            Ok(true)
        }
        Err(e) => {
            give_up_or_retry(state, instance, ca, &due, &ids, &e, now).await?;
            Ok(false)
        }
    }
}

async fn give_up_or_retry(
    state: &Shared,
    instance: &InstanceRow,
    ca: &CaRow,
    due: &[crate::store::OutboxRow],
    ids: &[i64],
    e: &CallError,
    now: i64,
) -> Result<()> {
    let reason = if e.is_partner_terminated() {
        let mut ca = ca.clone();
        ca.link_status = CaStatus::Terminated;
        state.store.save_ca(&instance.id, &ca, now).await?;
        Some("the connection was terminated in Intune".to_string())
    } else {
        match retry::classify(e) {
            Verdict::Retry { after_ms } => {
                let attempts = due.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let delay = retry::backoff_ms(attempts as u32, rand::random::<f64>(), after_ms) as i64;
                tracing::warn!(instance = %instance.slug, updates = due.len(), delay_ms = delay, error = %e, "manual upload will be retried");
                state.store.reschedule_outbox(ids, now + delay).await?;
                None
            }
            Verdict::GiveUp(reason) => Some(reason),
        }
    };
    if let Some(reason) = reason {
        state.store.settle_outbox(due, "rejected", Some(&reason)).await?;
    }
    Ok(())
}

async fn heartbeat_if_due(state: &Shared, instance: &InstanceRow, ca: &CaRow, now: i64) {
    let due = {
        let beats = state.manual_heartbeats.lock().expect("heartbeat lock");
        beats.get(&instance.id).is_none_or(|last| now - last >= HEARTBEAT_EVERY_MS)
    };
    if !due {
        return;
    }
    state.manual_heartbeats.lock().expect("heartbeat lock").insert(instance.id.clone(), now);
    if let Ok(app) = app(state, instance, ca)
        && let Err(e) = state.partner.heartbeat(&app, &tenant_key(ca)).await
    {
        tracing::warn!(instance = %instance.slug, error = %e, "manual heartbeat failed");
    }
}
