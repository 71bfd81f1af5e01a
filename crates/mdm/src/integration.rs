//! The Conditional Access integration of an instance: saving the settings, Connect,
//! Confirm and Disconnect through the connector, each written to the change log.

use platform::problem::Refuse;
use wire::connector_api::{LinkStatus, LinkView, RegisterInstance, StartLink};

use crate::Shared;
use crate::domain::settings::{self, CaSettings, CaStatus, ConnectionType, PRIVILEGE};
use crate::error::{MdmError, Result};
use crate::store::{AdminRow, CaRow, InstanceRow};

pub const OBJECT_TYPE: &str = "Conditional Access";
const OBJECT_NAME: &str = "macOS Intune Integration";

pub enum Saved {
    Done,
    /// Connect: send the admin's browser here (the cloud's consent page).
    Redirect(String),
}

fn require_privilege(admin: &AdminRow) -> Result<()> {
    if !admin.has_privilege(PRIVILEGE) {
        return Err(MdmError::forbidden(format!(
            "The account {} lacks the \"{PRIVILEGE}\" privilege required to change these settings.",
            admin.username
        )));
    }
    Ok(())
}

async fn log(state: &Shared, instance: &InstanceRow, admin: &str, action: &str, details: &str) -> Result<()> {
    let now = state.clock.now_ms();
    state.store.log_change(&instance.id, now, admin, OBJECT_TYPE, OBJECT_NAME, action, details).await?;
    state.change_log_file(&instance.slug, now, admin, action, details);
    Ok(())
}

/// The instance's credential with the connector, registering the instance on first use.
async fn connector_credential(state: &Shared, instance: &InstanceRow) -> Result<String> {
    if let Some(c) = &instance.connector_credential {
        return Ok(c.clone());
    }
    let reg = state
        .connector
        .register(&RegisterInstance {
            external_id: instance.id.clone(),
            name: instance.name.clone(),
            url: state.instance_url(&instance.slug),
            version: instance.version.clone(),
        })
        .await?;
    state.store.set_connector_registration(&instance.id, &reg.instance_id, &reg.credential).await?;
    Ok(reg.credential)
}

fn link_to_status(view: &LinkView) -> CaStatus {
    match view.status {
        LinkStatus::AwaitingConsent => CaStatus::AwaitingConsent,
        LinkStatus::AwaitingConfirmation => CaStatus::AwaitingConfirmation,
        LinkStatus::Active => CaStatus::Active,
        LinkStatus::Terminated => CaStatus::Terminated,
        LinkStatus::Disconnected => CaStatus::Disabled,
        _ => CaStatus::Failing,
    }
}

fn checks_summary(view: &LinkView) -> String {
    view.checks.iter().map(|c| format!("{}={}", c.name, if c.passed { "pass" } else { "fail" })).collect::<Vec<_>>().join(", ")
}

pub async fn save(
    state: &Shared,
    instance: &InstanceRow,
    admin: &AdminRow,
    proposed: CaSettings,
    new_secret: Option<String>,
    connect: bool,
) -> Result<Saved> {
    require_privilege(admin)?;
    let mut ca = state.store.ca(&instance.id).await?;
    let clouds: Vec<&str> = state.clouds.iter().map(String::as_str).collect();
    settings::validate(&ca.settings, &proposed, &instance.version, &clouds).map_err(MdmError::invalid)?;
    let manual = proposed.enabled && proposed.connection_type == ConnectionType::Manual;
    if manual && new_secret.is_none() && ca.manual_secret.is_none() {
        return Err(MdmError::invalid("Enter the client secret of the app registration."));
    }
    let mut changes = settings::diff(&ca.settings, &proposed);
    if let Some(secret) = new_secret {
        // Sealed at rest, bound to this instance; the change log never shows it.
        ca.manual_secret = Some(state.secrets.seal(&secret, &instance.id));
        changes.push("Client Secret: changed (value not shown)".into());
    }
    let (was_enabled, was_type) = (ca.settings.enabled, ca.settings.connection_type);
    ca.settings = proposed.clone();
    let now = state.clock.now_ms();
    if !changes.is_empty() {
        state.store.save_ca(&instance.id, &ca, now).await?;
        log(state, instance, &admin.username, "Edit", &changes.join("; ")).await?;
    }
    if was_enabled && (!proposed.enabled || was_type != proposed.connection_type) {
        disconnect(state, instance, admin, &mut ca, was_type).await?;
    }
    if manual {
        // S7: saving a Manual configuration tests it against the cloud directly.
        crate::manual::test(state, instance, &mut ca).await?;
        let checks: Vec<wire::connector_api::Check> = serde_json::from_str(&ca.checks).unwrap_or_default();
        let summary =
            checks.iter().map(|c| format!("{}={}", c.name, if c.passed { "pass" } else { "fail" })).collect::<Vec<_>>().join(", ");
        log(state, instance, &admin.username, "Save (Manual)", &format!("result: {}; checks: {summary}", ca.link_status)).await?;
        if ca.link_status == CaStatus::Active {
            crate::agent::reconcile(state, instance).await?;
        }
        return Ok(Saved::Done);
    }
    if connect && proposed.enabled && proposed.connection_type == ConnectionType::CloudConnector {
        let credential = connector_credential(state, instance).await?;
        let started = state
            .connector
            .start_link(
                &credential,
                &StartLink {
                    cloud: proposed.sovereign_cloud.clone(),
                    landing_page: proposed.landing(),
                    return_url: format!(
                        "{}/settings/global-management/conditional-access/application-id",
                        state.instance_url(&instance.slug)
                    ),
                },
            )
            .await?;
        ca.link_id = Some(started.link_id.clone());
        ca.link_status = CaStatus::AwaitingConsent;
        ca.checks = "[]".into();
        state.store.save_ca(&instance.id, &ca, now).await?;
        log(state, instance, &admin.username, "Connect", &format!("link {} started; awaiting consent", started.link_id)).await?;
        return Ok(Saved::Redirect(started.consent_url));
    }
    Ok(Saved::Done)
}

/// Disconnect (S5): the connection ends, the configuration is kept. A Cloud Connector
/// link is ended through the connector; a Manual connection deprovisions the tenant.
async fn disconnect(
    state: &Shared,
    instance: &InstanceRow,
    admin: &AdminRow,
    ca: &mut CaRow,
    connection_type: ConnectionType,
) -> Result<()> {
    let detail = if connection_type == ConnectionType::Manual {
        match crate::manual::deprovision(state, instance, ca).await {
            Ok(()) => "manual connection: tenant deprovisioned".to_string(),
            Err(e) => format!("manual connection: the cloud did not confirm ({e})"),
        }
    } else {
        match (instance.connector_credential.clone(), ca.link_id.clone()) {
            (Some(credential), Some(link_id)) => match state.connector.disconnect(&credential, &link_id).await {
                Ok(v) => format!("link {link_id}: {}", v.status),
                Err(e) => format!("link {link_id}: the connector did not confirm ({e})"),
            },
            _ => "no connection".to_string(),
        }
    };
    ca.link_status = CaStatus::Disabled;
    state.store.save_ca(&instance.id, ca, state.clock.now_ms()).await?;
    log(state, instance, &admin.username, "Disconnect", &detail).await
}

/// The link as the connector sees it now, reflected into the stored status.
pub async fn refresh(state: &Shared, instance: &InstanceRow) -> Result<(CaRow, Option<LinkView>)> {
    let mut ca = state.store.ca(&instance.id).await?;
    let Some(credential) = instance.connector_credential.clone() else {
        return Ok((ca, None));
    };
    let Some(view) = state.connector.current_link(&credential).await? else {
        return Ok((ca, None));
    };
    if ca.link_id.as_deref() == Some(view.link_id.as_str()) && ca.settings.enabled {
        let new_status = link_to_status(&view);
        let checks = serde_json::to_string(&view.checks).unwrap_or_default();
        if new_status != ca.link_status || checks != ca.checks {
            let before = std::mem::replace(&mut ca.link_status, new_status);
            ca.checks = checks;
            let saved = state.store.set_link_state(&instance.id, &view.link_id, ca.link_status, &ca.checks, state.clock.now_ms()).await?;
            if saved && before != ca.link_status {
                // The connector changed the state (a health re-test, or termination in
                // Intune): the change-management log says when and why.
                let detail = format!("status: {before} → {}; checks: {}", ca.link_status, checks_summary(&view));
                log(state, instance, "Cloud Connector", "Status change", &detail).await?;
            }
        }
    }
    Ok((ca, Some(view)))
}

/// Test connection: the connector re-tests the link's token, permissions and discovery
/// now; the finding is stored and a status change logged as [`refresh`] does. It needs
/// the Conditional Access privilege, as Save and Confirm do (a passing test turns a
/// failing link active). The connector's refusal (a link only Confirm can test, a
/// tenant that asked to wait) comes back as it is.
pub async fn test_connection(state: &Shared, instance: &InstanceRow, admin: &AdminRow) -> Result<(CaRow, Option<LinkView>)> {
    require_privilege(admin)?;
    let ca = state.store.ca(&instance.id).await?;
    let (Some(credential), Some(link_id)) = (instance.connector_credential.clone(), ca.link_id.clone()) else {
        return Err(MdmError::conflict("There is no connection to test: select Edit, then Connect."));
    };
    match state.connector.health_check(&credential, &link_id).await {
        Ok(_) => refresh(state, instance).await,
        Err(MdmError::Refused(platform::problem::Refusal::Conflict(_))) if ca.link_status != CaStatus::Active => {
            Err(MdmError::conflict("This connection is tested by Confirm: it is not active yet, or its last Confirm failed."))
        }
        Err(e) => Err(e),
    }
}

/// Confirm: the connector completes and tests the configuration.
pub async fn confirm(state: &Shared, instance: &InstanceRow, admin: &AdminRow) -> Result<(CaRow, LinkView)> {
    require_privilege(admin)?;
    let mut ca = state.store.ca(&instance.id).await?;
    let (Some(credential), Some(link_id)) = (instance.connector_credential.clone(), ca.link_id.clone()) else {
        return Err(MdmError::conflict("Connect first: there is no connection to confirm."));
    };
    let view = state.connector.confirm(&credential, &link_id).await?;
    ca.link_status = link_to_status(&view);
    ca.checks = serde_json::to_string(&view.checks).unwrap_or_default();
    state.store.save_ca(&instance.id, &ca, state.clock.now_ms()).await?;
    log(state, instance, &admin.username, "Confirm", &format!("result: {}; checks: {}", view.status, checks_summary(&view))).await?;
    if ca.link_status == CaStatus::Active {
        // Computers registered before the connection was active report now.
        let queued = crate::agent::reconcile(state, instance).await?;
        tracing::info!(instance = %instance.slug, computers = queued, "reconcile after confirm");
    }
    Ok((ca, view))
}
