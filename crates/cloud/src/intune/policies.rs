//! Compliance policies: creating them and assigning them, with the rules Intune enforces
//! (settings validated, assignment to **user** groups of the same tenant only).

use crate::error::{CloudError, Result};
use crate::intune::compliance::MacOsPolicySettings;
use crate::intune::enforcement::Enforcement;
use crate::store::{PolicyRow, Store};
use wire::TenantId;

pub const MACOS_POLICY_TYPE: &str = "#microsoft.graph.macOSCompliancePolicy";

/// Parses a policy body in Graph's shape: `@odata.type`, `displayName` and the settings.
pub fn parse(body: &serde_json::Value) -> Result<(String, MacOsPolicySettings)> {
    let kind = body.get("@odata.type").and_then(|v| v.as_str()).unwrap_or(MACOS_POLICY_TYPE);
    if kind != MACOS_POLICY_TYPE {
        return Err(CloudError::bad_request(format!("Only {MACOS_POLICY_TYPE} policies are supported here, not {kind}.")));
    }
    let name = body.get("displayName").and_then(|v| v.as_str()).map(str::trim).unwrap_or("");
    if !platform::text::within_chars(name, 200) {
        return Err(CloudError::bad_request("displayName is required (1 to 200 characters)."));
    }
    let settings: MacOsPolicySettings =
        serde_json::from_value(body.clone()).map_err(|e| CloudError::bad_request(format!("The policy is not valid: {e}")))?;
    settings.validate().map_err(CloudError::bad_request)?;
    Ok((name.to_string(), settings))
}

/// The settings as stored: Graph's shape with its `@odata.type`.
fn stored(settings: &MacOsPolicySettings) -> Result<String> {
    let mut stored = serde_json::to_value(settings).map_err(CloudError::internal)?;
    stored["@odata.type"] = serde_json::json!(MACOS_POLICY_TYPE);
    Ok(stored.to_string())
}

pub async fn create(store: &Store, tenant_id: &TenantId, name: &str, settings: &MacOsPolicySettings, now_ms: i64) -> Result<PolicyRow> {
    let row = PolicyRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.into(),
        display_name: name.into(),
        settings: stored(settings)?,
    };
    store.insert_policy(&row, now_ms).await?;
    Ok(row)
}

/// Replaces a policy's name and (already validated) settings.
pub async fn update(store: &Store, policy: &PolicyRow, name: &str, settings: &MacOsPolicySettings) -> Result<PolicyRow> {
    let row = PolicyRow { display_name: name.into(), settings: stored(settings)?, ..policy.clone() };
    store.update_policy(&row).await?;
    Ok(row)
}

/// Assigns a policy to groups, each with its enforcement (replacing the policy's
/// assignments): only user groups of the policy's tenant qualify. The devices last
/// evaluated under the policy are evaluated again at once (`intune::reassess`); others
/// meet it at their next report, as in Intune. `no_policy_is_compliant` is the service's
/// default for a tenant without its own setting.
pub async fn assign(
    store: &Store,
    tenant_id: &TenantId,
    policy_id: &str,
    assignments: &[(String, Enforcement)],
    no_policy_is_compliant: bool,
    now_ms: i64,
) -> Result<()> {
    store.policy(tenant_id, policy_id).await?.ok_or_else(|| CloudError::not_found(format!("Policy {policy_id} does not exist.")))?;
    let known: Vec<String> = store.groups(tenant_id).await?.into_iter().map(|(id, _)| id).collect();
    if let Some((unknown, _)) = assignments.iter().find(|(g, _)| !known.contains(g)) {
        return Err(CloudError::bad_request(format!(
            "{unknown} is not a user group of this tenant; compliance policies apply through user groups."
        )));
    }
    store.set_policy_assignments(policy_id, assignments).await?;
    crate::intune::reassess::policy_reassigned(store, tenant_id, policy_id, no_policy_is_compliant, now_ms).await?;
    Ok(())
}
