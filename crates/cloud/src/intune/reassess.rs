//! A policy's assignments changed (its enforcement, a warning's deadline, its groups):
//! every device last evaluated under it is evaluated again at once from its last report,
//! so its state, grace period and `isCompliant` follow the new schedule. Without this, a
//! deadline moved later would still block devices at the old one until they report again.

use std::collections::HashMap;

use wire::partner::DeviceItem;
use wire::{DeviceId, MessageId, TenantId};

use super::uploads::{Context, Known, plan_item};
use crate::error::Result;
use crate::store::{Store, UploadRow, tx};

/// Devices evaluated again per transaction.
const BATCH: i64 = 500;

/// Evaluates again every device of `tenant_id` whose last evaluation included
/// `policy_id`. Returns how many were written.
pub async fn policy_reassigned(
    store: &Store,
    tenant_id: &TenantId,
    policy_id: &str,
    no_policy_is_compliant: bool,
    now_ms: i64,
) -> Result<usize> {
    // A terminated partner's devices are held noncompliant (its +24 h clock ran): their
    // last reports decide nothing any more.
    if store.partner(tenant_id).await?.is_some_and(|p| p.devices_noncompliant_applied != 0) {
        return Ok(0);
    }
    let cx = Context::read(store, tenant_id, no_policy_is_compliant, now_ms).await?;
    let (mut after, mut written) = (String::new(), 0);
    loop {
        let rows = store.managed_devices_under_policy(tenant_id, policy_id, &after, BATCH).await?;
        let Some(last) = rows.last() else { return Ok(written) };
        after = last.device_id.to_string();
        let read: HashMap<DeviceId, (i64, i64)> =
            rows.iter().map(|m| (m.device_id.clone(), (m.partner_update_ms, m.last_sync_ms))).collect();
        let items: Vec<DeviceItem> = rows.iter().filter_map(|m| serde_json::from_str(&m.attributes).ok()).collect();
        let known = Known::read(store, tenant_id, &items).await?;
        let mut latest: HashMap<DeviceId, i64> = HashMap::new();
        let mut txn = store.begin().await?;
        for item in &items {
            // The device's state as its partner last reported it, under the same app.
            let Some(app_id) = known.device(&item.device_id.to_lowercase()).and_then(|d| d.mdm_app_id.clone()) else { continue };
            let message = UploadRow {
                message_id: MessageId::default(),
                tenant_id: tenant_id.clone(),
                app_id,
                body_digest: String::new(),
                status: wire::partner::MessageStatus::Completed,
                body: String::new(),
                item_results: None,
                error_code: 0,
                error_detail: None,
                received_ms: now_ms,
            };
            if let Some((mut row, compliant)) = plan_item(&message, item, &known, &mut latest, &cx).write {
                // Written only over the state it was computed from: a report applied
                // meanwhile (by the upload worker, on any node) wins.
                let Some(&(reported, synced)) = read.get(&row.device_id) else { continue };
                if tx::managed_device_clocks(&mut txn, &row.device_id).await? != Some((reported, synced)) {
                    continue;
                }
                // Nothing was synced: the device's last sync stays as it was.
                row.last_sync_ms = synced;
                tx::upsert_managed_device(&mut txn, &row).await?;
                tx::set_device_compliance(&mut txn, &row.device_id, compliant, &message.app_id, now_ms).await?;
                written += 1;
            }
        }
        txn.commit().await?;
    }
}
