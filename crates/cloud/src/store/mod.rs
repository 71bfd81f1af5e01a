//! Every SQL statement of the cloud, behind one type. Portable SQL over [`platform::Db`];
//! dialect differences live only in the migration trees.

use std::collections::HashMap;

use platform::db::Db;
use sqlx::Row;

use crate::entra::conditional_access::Policy;
use crate::entra::directory::{Application, Permission, PermissionKind, ServicePrincipal, Tenant, User};
use crate::error::Result;

platform::migrations!();

mod compliance;
mod devices;
mod directory;
mod graph;
mod identity;
mod partners;
mod sealed;
mod sign_in_journal;
use sealed::key_context;
use wire::{DeviceId, MessageId, TenantId};
mod uploads;
pub use compliance::Deadline;
pub use graph::Page;
use identity::{insert_code_query, insert_sign_in_query};
pub use sealed::rotate_sealing_key;
pub use sign_in_journal::{SignInJournal, SignInWrites, Written};
pub use uploads::tx;

pub(crate) const MANAGED_COLUMNS: &str = "id, tenant_id, device_id, user_id, device_name, os_version, serial_number, compliance_state, \
    attributes, setting_results, partner_update_ms, last_sync_ms, noncompliant_since_ms, error_since_ms, grace_expires_ms, policy_states, enrolled_ms, verdict_only, valid_until_ms";

/// Ids bound per `IN (…)` list: well inside SQLite's and PostgreSQL's parameter limits.
/// These reads are planned afresh each time (`.persistent(false)`): a generic plan
/// PostgreSQL kept for the prepared statement read 500 devices out of 100,000 by scanning
/// them all (2 s instead of milliseconds).
const IN_CHUNK: usize = 500;

/// `$from, $from+1, …` for `n` bound values, for statements whose text does not put its
/// placeholders in number order (the lapse sweep); others take `Db::placeholders`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Whether the row `id` of `table` (`directory_groups`, `compliance_policies`) belongs to
/// `tenant_id`, read in the caller's transaction before it deletes the row's children.
async fn owned(conn: &mut sqlx::AnyConnection, table: &'static str, tenant_id: &TenantId, id: &str) -> Result<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query(&sql).bind(tenant_id).bind(id).fetch_optional(conn).await?.is_some())
}

/// Devices that have not reported for this many days are noncompliant (tenant default).
pub const DEFAULT_VALIDITY_DAYS: i64 = 30;

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// Seals the private keys the cloud keeps (token signing, device CAs).
    secrets: std::sync::Arc<platform::secrets::SecretBox>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub device_id: DeviceId,
    pub display_name: String,
    pub owner_user_id: String,
    pub operating_system: String,
    pub os_version: String,
    pub public_key: String,
    pub certificate_thumbprint: String,
    pub is_compliant: Option<i64>,
    pub is_managed: i64,
    pub mdm_app_id: Option<String>,
    pub registered_ms: i64,
    pub compliance_updated_ms: Option<i64>,
    /// The last interactive sign-in that presented the device.
    pub last_sign_in_ms: Option<i64>,
    /// Graph `accountEnabled` (1 or 0): a disabled device cannot be used to sign in
    /// (AADSTS135011).
    pub account_enabled: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerRow {
    pub tenant_id: TenantId,
    pub app_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub partner_state: crate::intune::partner::PartnerState,
    pub provisioned: i64,
    pub enrollment_url: Option<String>,
    pub remediation_url: Option<String>,
    pub last_heartbeat_ms: Option<i64>,
    pub noncompliant_at_ms: Option<i64>,
    pub removal_at_ms: Option<i64>,
    pub updated_ms: i64,
    pub devices_noncompliant_applied: i64,
    pub devices_removed: i64,
    /// JSON lists of group IDs.
    pub include_groups: String,
    pub exclude_groups: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CompliancePartnerRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub display_name: String,
    /// The partner's multi-tenant application.
    pub app_id: String,
    /// JSON list of user group IDs onboarded for macOS.
    pub mac_groups: String,
    /// `macOS` when onboarded for macOS; `None`: onboarded for no platform.
    pub platform: Option<String>,
    #[sqlx(try_from = "String")]
    pub partner_state: crate::intune::partner::PartnerState,
    pub last_heartbeat_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerPolicyRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub platform: String,
    /// JSON list of group IDs.
    pub assignments: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedDeviceRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub device_id: DeviceId,
    pub user_id: String,
    pub device_name: Option<String>,
    pub os_version: Option<String>,
    pub serial_number: Option<String>,
    #[sqlx(try_from = "String")]
    pub compliance_state: crate::intune::compliance::ComplianceState,
    pub attributes: String,
    pub setting_results: String,
    pub partner_update_ms: i64,
    pub last_sync_ms: i64,
    pub noncompliant_since_ms: Option<i64>,
    pub error_since_ms: Option<i64>,
    pub grace_expires_ms: Option<i64>,
    /// JSON list of each assigned policy's state (`intune::combine::PolicyState`).
    pub policy_states: String,
    /// When Intune first recorded the device.
    pub enrolled_ms: Option<i64>,
    /// 1: known only from a compliance partner's verdict, not listed among managed devices.
    pub verdict_only: i64,
    /// When its compliance lapses without a new report: the partner's date plus the
    /// tenant's compliance status validity period.
    pub valid_until_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub app_id: String,
    pub body_digest: String,
    #[sqlx(try_from = "String")]
    pub status: wire::partner::MessageStatus,
    pub body: String,
    pub item_results: Option<String>,
    pub error_code: i64,
    pub error_detail: Option<String>,
    pub received_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub settings: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthorizeRequest {
    pub id: String,
    pub tenant_hint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scope: String,
    pub device_id: Option<DeviceId>,
    pub code_challenge: Option<String>,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub at_ms: i64,
    pub user_id: String,
    pub upn: String,
    pub app_id: String,
    pub app_name: String,
    pub device_id: Option<DeviceId>,
    pub error_code: i64,
    pub failure_reason: Option<String>,
    /// `success`, `failure` or `notApplied`.
    pub ca_status: String,
    /// JSON list of the policies applied and their results.
    pub policies: String,
    /// Graph's `status.additionalDetails`: a warned compliance policy's notice.
    pub additional_details: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRequest {
    pub id: String,
    pub tenant_hint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub user_id: Option<String>,
    pub expires_ms: i64,
}

fn json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

impl Store {
    /// Connects and seals any private key still held in clear (written before the cloud
    /// sealed them).
    pub async fn connect(url: &str, secrets: std::sync::Arc<platform::secrets::SecretBox>) -> Result<Store> {
        let store = Store { db: Db::connect(url, &MIGRATIONS).await.map_err(crate::error::CloudError::internal)?, secrets };
        store.seal_private_keys().await?;
        Ok(store)
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Refreshes the query planner's statistics (`platform::db::Db::optimize`), as the
    /// service does every ten minutes; a benchmark calls it after bulk loading.
    pub async fn optimize(&self) -> Result<(), platform::Error> {
        self.db.optimize().await
    }

    /// Closes the pool: waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests;
