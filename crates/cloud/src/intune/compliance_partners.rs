//! Partner compliance management (Intune admin center › Tenant administration ›
//! Connectors and tokens › Partner compliance management; Graph
//! `complianceManagementPartners`): onboarding a compliance partner for macOS, the one
//! platform this cloud offers partners. The rules follow Microsoft Learn, "Support
//! third-party device compliance partners in Intune": the partner is a multi-tenant
//! application consented in the tenant, it is assigned user groups, and a platform has
//! one compliance partner per tenant.

use crate::entra::directory::Application;
use crate::error::Result;
use crate::intune::partner::PartnerState;
use crate::store::{CompliancePartnerRow, Store};
use wire::TenantId;

/// What onboarding a partner came to.
#[derive(Debug)]
pub enum Onboarding {
    Created(CompliancePartnerRow),
    /// This partner is onboarded for macOS already.
    AlreadyOnboarded,
    /// Another partner holds macOS in this tenant.
    PlatformTaken,
    /// The app is not a multi-tenant application of another tenant consented here.
    NotAPartnerApp,
    /// A group is not a group of this tenant (or none was given).
    UnknownGroup,
}

impl Onboarding {
    /// The sentence the admin center shows (and Graph answers with).
    pub fn message(&self) -> &'static str {
        match self {
            Onboarding::Created(_) => "Created. The partner shows Active once it has confirmed the connection.",
            Onboarding::AlreadyOnboarded => "This partner is already set up for macOS.",
            Onboarding::PlatformTaken => {
                "Another compliance partner is already set up for macOS in this tenant; a platform has one compliance partner."
            }
            Onboarding::NotAPartnerApp => "The partner must be a multi-tenant application consented in this tenant.",
            Onboarding::UnknownGroup => "Choose a user group of this tenant.",
        }
    }
}

/// The applications that can be onboarded: multi-tenant apps of other tenants with a
/// service principal (consent) in this one, Microsoft's own excluded.
pub async fn candidates(store: &Store, tenant_id: &TenantId) -> Result<Vec<Application>> {
    let mut apps = Vec::new();
    for sp in store.service_principals(tenant_id).await? {
        if let Some(a) = store.application(&sp.app_id).await?
            && a.multi_tenant
            && a.owner_tenant_id.as_deref().is_some_and(|o| o != tenant_id)
        {
            apps.push(a);
        }
    }
    Ok(apps)
}

/// The platform compliance partners are onboarded for here.
pub const MACOS: &str = "macOS";

/// Onboards `app_id` for macOS, assigned to `groups` (groups of the tenant; the admin
/// center asks for one, Graph allows none). A partner onboarded for no platform is
/// onboarded again.
pub async fn onboard(store: &Store, tenant_id: &TenantId, app_id: &str, groups: &[String], now_ms: i64) -> Result<Onboarding> {
    let Some(app) = candidates(store, tenant_id).await?.into_iter().find(|a| a.app_id.eq_ignore_ascii_case(app_id)) else {
        return Ok(Onboarding::NotAPartnerApp);
    };
    if !groups_of_tenant(store, tenant_id, groups).await? {
        return Ok(Onboarding::UnknownGroup);
    }
    let mac_groups = serde_json::to_string(groups).unwrap_or_default();
    if let Some(mut known) = store.compliance_partners(tenant_id).await?.into_iter().find(|c| c.app_id == app.app_id) {
        if known.platform.is_some() {
            return Ok(Onboarding::AlreadyOnboarded);
        }
        if !store.set_compliance_partner_platform(tenant_id, &known.id, Some(MACOS)).await? {
            return Ok(Onboarding::PlatformTaken);
        }
        store.set_compliance_partner_groups(tenant_id, &known.id, &mac_groups).await?;
        (known.platform, known.mac_groups) = (Some(MACOS.into()), mac_groups);
        return Ok(Onboarding::Created(known));
    }
    let row = CompliancePartnerRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.into(),
        display_name: app.display_name.clone(),
        app_id: app.app_id.clone(),
        mac_groups,
        partner_state: PartnerState::Unknown,
        last_heartbeat_ms: None,
        platform: Some(MACOS.into()),
    };
    // The database holds the one-per-platform rule, for two admins at once too.
    if !store.insert_compliance_partner(&row, now_ms).await? {
        return Ok(Onboarding::PlatformTaken);
    }
    Ok(Onboarding::Created(row))
}

/// The onboarded partner of the tenant that `app_id` is, if any: only a partner
/// onboarded for a platform may send its verdicts.
pub async fn onboarded(store: &Store, tenant_id: &TenantId, app_id: &str) -> Result<Option<CompliancePartnerRow>> {
    Ok(store.compliance_partners(tenant_id).await?.into_iter().find(|c| c.app_id == app_id && c.platform.is_some()))
}

/// Whether every one of `groups` is a group of the tenant.
pub async fn groups_of_tenant(store: &Store, tenant_id: &TenantId, groups: &[String]) -> Result<bool> {
    let known: Vec<String> = store.groups(tenant_id).await?.into_iter().map(|(id, _)| id).collect();
    Ok(groups.iter().all(|g| known.iter().any(|k| k.eq_ignore_ascii_case(g))))
}
