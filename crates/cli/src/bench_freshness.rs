//! `bench freshness`: how soon a Mac's change shows in Entra. `macs` Macs are enrolled,
//! compliant and registered; then changes are made at `rate` per second for `seconds`:
//! a Mac turns FileVault off (or on again) and its agent sends the partial report. Each
//! change is timed from the mdm's answer to the report until the Entra device's
//! `isCompliant` shows it, read from the cloud's store every 10 ms for every change in
//! flight at once. A Mac changes again only once its last change showed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::Mutex;
use wire::DeviceId;

use crate::stack::{Stack, StackOptions};

#[derive(Debug, Serialize)]
pub struct FreshnessBench {
    pub macs: usize,
    pub rate_asked: f64,
    pub seconds: f64,
    pub changes: usize,
    pub changes_per_second: f64,
    /// Changes not made because every Mac still had one in flight.
    pub skipped: usize,
    /// Changes that had not shown after 30 s.
    pub not_shown: usize,
    /// From the mdm's answer to the partial report to Entra `isCompliant`, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// From the change on the Mac (before its report was sent, so with the report's own
    /// wait and the mdm's answer) to Entra `isCompliant`, milliseconds.
    pub from_change_p50_ms: f64,
    pub from_change_p99_ms: f64,
}

/// Changes waiting to show, by device: the Mac, the `isCompliant` it must reach, since
/// when; and the Macs with a change in flight (reported or not yet).
#[derive(Default)]
struct Pending {
    shown_by: HashMap<DeviceId, (usize, bool, Instant, Instant)>,
    busy: std::collections::HashSet<usize>,
}

/// Runs the benchmark (see the module) on a stack in `data_dir` and reports it.
pub async fn freshness(data_dir: &Path, macs: usize, rate: f64, seconds: u64) -> anyhow::Result<FreshnessBench> {
    // Every Mac starts compliant (FileVault on).
    let (stack, _, fleet, enrolled) = Stack::with_enrolled_macs(StackOptions::new(data_dir, macs), 23, 0.0).await?;
    let enrolled: Vec<Mutex<fleet::Mac>> = enrolled.into_iter().map(Mutex::new).collect();
    let enrolled = Arc::new(enrolled);
    let pending: Arc<std::sync::Mutex<Pending>> = Arc::default();
    let shown: Arc<std::sync::Mutex<Vec<(f64, f64)>>> = Arc::default();
    wait_compliant(&stack, &enrolled).await?;

    let watcher = tokio::spawn(watch(stack.cloud.state.store.clone(), stack.tenant.tenant_id.clone(), pending.clone(), shown.clone()));
    let (started, mut next, mut skipped, mut changes) = (Instant::now(), 0usize, 0usize, 0usize);
    let mut reports = tokio::task::JoinSet::new();
    // Each millisecond, as many changes as the rate asks for by then.
    while started.elapsed() < Duration::from_secs(seconds) {
        let due = (started.elapsed().as_secs_f64() * rate) as usize;
        while changes + skipped < due {
            let Some(i) = claim_free(&pending, next, macs) else {
                skipped += 1;
                continue;
            };
            next = i + 1;
            changes += 1;
            let (fleet, enrolled, pending, clock) = (fleet.clone(), enrolled.clone(), pending.clone(), stack.clock.clone());
            let changed = Instant::now();
            reports.spawn(async move {
                let mut mac = enrolled[i].lock().await;
                mac.profile.filevault = !mac.profile.filevault;
                fleet.report_changes(&mac, &["security", "volumes"], clock.now()).await?;
                let device = mac.device_id.clone().context("registered Mac")?;
                pending.lock().expect("pending").shown_by.insert(device.into(), (i, mac.profile.filevault, Instant::now(), changed));
                anyhow::Ok(())
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The rate made is over the time changes were being made; their reports then finish.
    let elapsed = started.elapsed().as_secs_f64();
    while let Some(r) = reports.join_next().await {
        r??;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.lock().expect("pending").shown_by.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let not_shown = pending.lock().expect("pending").shown_by.len();
    let pairs = std::mem::take(&mut *shown.lock().expect("shown"));
    stack.shutdown_and(true).await;
    let sorted = |f: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = pairs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (shown, from_change) = (sorted(|p| p.0), sorted(|p| p.1));
    let at = |v: &[f64], p: f64| v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default();
    Ok(FreshnessBench {
        macs,
        rate_asked: rate,
        seconds: elapsed,
        changes,
        changes_per_second: changes as f64 / elapsed,
        skipped,
        not_shown,
        p50_ms: at(&shown, 0.5),
        p99_ms: at(&shown, 0.99),
        max_ms: shown.last().copied().unwrap_or_default(),
        from_change_p50_ms: at(&from_change, 0.5),
        from_change_p99_ms: at(&from_change, 0.99),
    })
}

/// The next Mac from `next` on without a change in flight, marked busy.
fn claim_free(pending: &std::sync::Mutex<Pending>, next: usize, macs: usize) -> Option<usize> {
    let mut p = pending.lock().expect("pending");
    let free = (0..macs).map(|k| (next + k) % macs).find(|i| !p.busy.contains(i))?;
    p.busy.insert(free);
    Some(free)
}

/// Every 10 ms, reads the Entra devices of the changes in flight and closes those that
/// show, adding their latency (milliseconds) to `shown`.
async fn watch(
    store: cloud::store::Store,
    tenant: wire::TenantId,
    pending: Arc<std::sync::Mutex<Pending>>,
    shown: Arc<std::sync::Mutex<Vec<(f64, f64)>>>,
) {
    loop {
        let ids: Vec<DeviceId> = pending.lock().expect("pending").shown_by.keys().cloned().collect();
        if let Ok(devices) = store.devices_by_ids(&tenant, &ids).await {
            let now = Instant::now();
            let mut pending = pending.lock().expect("pending");
            for (id, device) in devices {
                if let Some((mac, expected, since, changed)) = pending.shown_by.get(&id).copied()
                    && device.is_compliant == Some(expected as i64)
                {
                    pending.shown_by.remove(&id);
                    pending.busy.remove(&mac);
                    let ms = |t: Instant| now.duration_since(t).as_secs_f64() * 1000.0;
                    shown.lock().expect("shown").push((ms(since), ms(changed)));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every Mac shows compliant in Entra.
async fn wait_compliant(stack: &Stack, macs: &[Mutex<fleet::Mac>]) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(macs.len());
    for m in macs {
        ids.push(DeviceId::from(m.lock().await.device_id.clone().context("registered Mac")?));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let devices = stack.cloud.state.store.devices_by_ids(&stack.tenant.tenant_id, &ids).await?;
        if devices.values().filter(|d| d.is_compliant == Some(1)).count() == ids.len() {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the Macs did not all become compliant");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
