//! Interactive sign-in of a user to an application: Conditional Access decides (reads
//! only), the decision goes to the sign-in log, a refused device is sent to the partner's
//! page.

use crate::entra::conditional_access::{self, Device, GrantControl, Outcome, Subject};
use crate::entra::devices;
use crate::entra::directory::{Application, User};
use crate::error::Result;
use crate::intune::combine::PolicyState;
use crate::intune::enforcement::{Enforcement, Notice};
use crate::store::{SignInRow, Store};
use wire::{DeviceId, TenantId};

/// Authority segments that name no tenant (Microsoft identity platform, "Authority"): a
/// request made to one accepts a user of any tenant.
pub const MULTI_TENANT_SEGMENTS: [&str; 3] = ["common", "organizations", "consumers"];

/// What a user's name and password prove for a request made to `tenant_hint` (a
/// tenant's ID or domain, or one of [`MULTI_TENANT_SEGMENTS`]).
#[derive(Debug)]
pub enum Credentials {
    /// The password is the user's, and the user belongs to the hinted tenant (or the
    /// request named none).
    Valid(User),
    /// No such user, or not their password (AADSTS50126).
    Wrong,
    /// The user's password, but the user is not in the hinted tenant (AADSTS50020).
    OtherTenant(User),
    /// The user's password, but the account is disabled (AADSTS50057).
    Disabled,
}

/// Checks a sign-in's credentials: the same rule for the sign-in page, the consent page
/// and the password grant. Names are compared without regard to case.
pub async fn check_credentials(store: &Store, login: &str, password: &str, tenant_hint: &str) -> Result<Credentials> {
    let user = match store.user_by_upn(login).await? {
        Some(u) if platform::secrets::verify_password(password, &u.password_hash) => u,
        _ => return Ok(Credentials::Wrong),
    };
    if user.account_enabled == 0 {
        return Ok(Credentials::Disabled);
    }
    if in_tenant(store, &user, tenant_hint).await? { Ok(Credentials::Valid(user)) } else { Ok(Credentials::OtherTenant(user)) }
}

/// Whether `user` may sign in through a request made to `tenant_hint`: it names no
/// tenant, or the user's own (by ID or domain).
pub async fn in_tenant(store: &Store, user: &User, tenant_hint: &str) -> Result<bool> {
    Ok(MULTI_TENANT_SEGMENTS.contains(&tenant_hint) || store.tenant(tenant_hint).await?.is_some_and(|t| t.id == user.tenant_id))
}

/// What Conditional Access decided, and the sign-in log entry that tells it (for the
/// caller to write with the sign-in's other writes: the decision itself only reads).
pub struct SignInDecision {
    pub outcome: Outcome,
    /// The registered device the sign-in proved it was made from.
    pub device_id: Option<DeviceId>,
    /// Where the partner (device management) wants a refused (or warned) user sent.
    pub partner_url: Option<String>,
    /// The device's warned compliance policies (`intune::enforcement`): a warning on a
    /// granted sign-in, or the warning that ended on a refused one.
    pub notice: Option<Notice>,
    pub log: SignInRow,
}

fn with_device(url: &str, device_id: Option<&DeviceId>) -> String {
    match device_id {
        Some(d) => format!("{url}{}device_id={d}", if url.contains('?') { '&' } else { '?' }),
        None => url.to_string(),
    }
}

pub async fn decide(store: &Store, user: &User, app: &Application, device_proof: Option<&str>, now_ms: i64) -> Result<SignInDecision> {
    let device = match device_proof {
        Some(proof) => devices::verify_proof(store, &user.tenant_id, proof, now_ms / 1000).await?,
        None => None,
    };
    let device_state = match &device {
        Some(d) => Device::Registered { device_id: d.device_id.clone(), compliant: d.is_compliant.map(|c| c != 0) },
        None => Device::Unrecognized,
    };
    let policies = store.ca_policies(&user.tenant_id).await?;
    let groups = store.groups_of_user(&user.id).await?;
    let subject = Subject { user_id: &user.id, groups: &groups, app_id: &app.app_id };
    let (outcome, applied) = if device.as_ref().is_some_and(|d| d.account_enabled == 0) {
        (Outcome::DeviceDisabled, vec![])
    } else {
        conditional_access::evaluate(&policies, &subject, &device_state)
    };
    let device_id = device.as_ref().map(|d| d.device_id.clone());
    let requires_compliance = applied
        .iter()
        .any(|a| !a.result.starts_with("reportOnly") && policies.iter().any(|p| p.id == a.id && p.grant == GrantControl::CompliantDevice));
    let notice = match &device_id {
        Some(d) if requires_compliance && matches!(outcome, Outcome::Granted | Outcome::DeviceNotCompliant) => {
            notice(store, &user.tenant_id, d, now_ms).await?
        }
        _ => None,
    };
    let partner = store.partner(&user.tenant_id).await?;
    let partner_url = match outcome {
        Outcome::DeviceNotCompliant => partner.and_then(|p| p.remediation_url).map(|u| with_device(&u, device_id.as_ref())),
        Outcome::Granted if notice.is_some() => partner.and_then(|p| p.remediation_url).map(|u| with_device(&u, device_id.as_ref())),
        // The device is unknown, so the user names the instance that manages them.
        Outcome::DeviceNotRecognized => partner.and_then(|p| p.enrollment_url).map(|u| {
            let upn: String = url::form_urlencoded::byte_serialize(user.upn.as_bytes()).collect();
            format!("{u}{}upn={upn}", if u.contains('?') { '&' } else { '?' })
        }),
        _ => None,
    };
    let ca_status = if applied.is_empty() {
        "notApplied"
    } else if outcome == Outcome::Granted {
        "success"
    } else {
        "failure"
    };
    let log = SignInRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: user.tenant_id.clone(),
        at_ms: now_ms,
        user_id: user.id.clone(),
        upn: user.upn.clone(),
        app_id: app.app_id.clone(),
        app_name: app.display_name.clone(),
        device_id: device_id.clone(),
        error_code: outcome.aadsts() as i64,
        failure_reason: (outcome != Outcome::Granted).then(|| outcome.message().to_string()),
        ca_status: ca_status.into(),
        policies: serde_json::to_string(&applied).unwrap_or_default(),
        additional_details: notice.as_ref().map(Notice::sentence),
    };
    Ok(SignInDecision { outcome, device_id, partner_url, notice, log })
}

/// The warning (or the ended warning) of the device's warned compliance policies.
async fn notice(store: &Store, tenant_id: &TenantId, device_id: &DeviceId, now_ms: i64) -> Result<Option<Notice>> {
    let Some(managed) = store.managed_device(device_id).await? else { return Ok(None) };
    let states: Vec<PolicyState> = serde_json::from_str(&managed.policy_states).unwrap_or_default();
    if !states.iter().any(|p| matches!(p.enforcement, Enforcement::Warn { .. })) {
        return Ok(None);
    }
    let names = store.policies(tenant_id).await?;
    let name = |id: &str| names.iter().find(|p| p.id == id).map(|p| p.display_name.clone()).unwrap_or_else(|| id.to_string());
    Ok(Notice::of(&states, managed.compliance_state, managed.grace_expires_ms, name, now_ms))
}
