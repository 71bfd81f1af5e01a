//! What time does (docs/operations.md, Clocks): grace periods end, devices that stopped reporting outlive the
//! validity period, missed heartbeats make a partner Unresponsive, and after a termination
//! the partner's devices turn noncompliant at +24 h and leave Intune at +90 days.
//! Runs on every tick of the cloud's worker, on the injected clock.

use crate::error::Result;
use crate::intune::compliance::ComplianceState;
use crate::intune::partner::{self, PartnerState};
use crate::store::{Deadline, Store};

pub async fn tick(store: &Store, now_ms: i64, unresponsive_after_ms: i64) -> Result<()> {
    // Compliance clocks: a device in its grace period is noncompliant once the grace ends;
    // one that counts as compliant and stopped reporting is noncompliant once the tenant's
    // validity period ends.
    let expired = store.lapse(&[ComplianceState::InGracePeriod], Deadline::GraceEnds, now_ms).await?;
    let counted_compliant = [ComplianceState::Compliant, ComplianceState::InGracePeriod];
    let silent = store.lapse(&counted_compliant, Deadline::ValidityEnds, now_ms).await?;
    if expired + silent > 0 {
        tracing::info!(grace_expired = expired, validity_expired = silent, "devices marked noncompliant by time");
    }
    for mut p in store.partners_with_clocks().await? {
        if partner::check_heartbeat(&mut p, now_ms, unresponsive_after_ms) {
            tracing::info!(tenant = %p.tenant_id, "partner unresponsive: no heartbeat");
            store.save_partner(&p).await?;
        }
        if p.partner_state != PartnerState::Terminated {
            continue;
        }
        if p.devices_noncompliant_applied == 0 && p.noncompliant_at_ms.is_some_and(|t| now_ms >= t) {
            store.mark_partner_devices_noncompliant(&p.tenant_id, now_ms).await?;
            p.devices_noncompliant_applied = 1;
            store.save_partner(&p).await?;
            tracing::info!(tenant = %p.tenant_id, "partner devices marked noncompliant (24 h after termination)");
        }
        if p.devices_removed == 0 && p.removal_at_ms.is_some_and(|t| now_ms >= t) {
            store.remove_partner_devices(&p.tenant_id, now_ms).await?;
            p.devices_removed = 1;
            store.save_partner(&p).await?;
            tracing::info!(tenant = %p.tenant_id, "partner devices removed (90 days after termination)");
        }
    }
    Ok(())
}
