//! `bench graph`: Graph queries over a tenant with many Entra devices and as many Intune
//! managed devices. The devices are written straight into the cloud's store (what
//! Workplace Join and partner uploads would leave behind); every query then goes over
//! HTTPS through the Graph layer, its `$filter` compiled to SQL.

use cloud::intune::compliance::ComplianceState;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::stack::{Stack, StackOptions};

/// Devices written per transaction while seeding.
const SEED_CHUNK: usize = 10_000;
/// Timed runs of each query (after one untimed run).
const RUNS: usize = 5;

#[derive(Debug, Serialize)]
pub struct QueryTiming {
    pub name: &'static str,
    pub path: String,
    /// Items in the (first) answer.
    pub items: usize,
    /// Median wall time of one request, milliseconds.
    pub median_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct GraphBench {
    pub devices: usize,
    pub seed_seconds: f64,
    pub queries: Vec<QueryTiming>,
}

fn os_version(n: usize) -> &'static str {
    ["14.6.1", "15.1", "15.7.2", "26.1"][n % 4]
}

async fn seed(stack: &Stack, devices: usize) -> anyhow::Result<()> {
    let store = &stack.cloud.state.store;
    let tenant = &stack.tenant;
    let now = stack.clock.now_ms();
    for start in (0..devices).step_by(SEED_CHUNK) {
        let end = (start + SEED_CHUNK).min(devices);
        let rows: Vec<cloud::store::DeviceRow> = (start..end)
            .map(|n| cloud::store::DeviceRow {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant.tenant_id.clone(),
                device_id: uuid::Uuid::new_v4().to_string().into(),
                display_name: format!("Mac-{n:07}"),
                owner_user_id: tenant.users[n % tenant.users.len()].id.clone(),
                operating_system: "MacMDM".into(),
                os_version: os_version(n).into(),
                public_key: String::new(),
                certificate_thumbprint: String::new(),
                is_compliant: Some((n % 4 != 0) as i64),
                is_managed: 1,
                mdm_app_id: None,
                registered_ms: now,
                compliance_updated_ms: Some(now),
                last_sign_in_ms: None,
                account_enabled: 1,
            })
            .collect();
        store.insert_devices(&rows).await?;
        let mut tx = store.begin().await?;
        for (n, d) in (start..end).zip(&rows) {
            let managed = cloud::store::ManagedDeviceRow {
                id: d.id.clone(),
                tenant_id: d.tenant_id.clone(),
                device_id: d.device_id.clone(),
                user_id: d.owner_user_id.clone(),
                device_name: Some(d.display_name.clone()),
                os_version: Some(d.os_version.clone()),
                serial_number: Some(format!("C02{n:08}")),
                compliance_state: if n % 4 == 0 { ComplianceState::Noncompliant } else { ComplianceState::Compliant },
                attributes: "{}".into(),
                setting_results: "[]".into(),
                partner_update_ms: now,
                last_sync_ms: now,
                noncompliant_since_ms: None,
                error_since_ms: None,
                grace_expires_ms: None,
                policy_states: "[]".into(),
                enrolled_ms: Some(now),
                verdict_only: 0,
                valid_until_ms: Some(now + 30 * 24 * 3600 * 1000),
            };
            cloud::store::tx::upsert_managed_device(&mut tx, &managed).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// One Graph GET: the number of items in `value` (or the `$count` text) and the body.
async fn get(stack: &Stack, token: &str, path: &str) -> anyhow::Result<(usize, serde_json::Value)> {
    let url = if path.starts_with("https://") { path.to_string() } else { format!("{}/graph/v1.0/{path}", stack.cloud.url()) };
    let resp = stack.http.get(&url).bearer_auth(token).header("ConsistencyLevel", "eventual").send().await?;
    if !resp.status().is_success() {
        bail!("{path}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let text = resp.text().await?;
    if let Ok(n) = text.trim().parse::<usize>() {
        return Ok((n, serde_json::Value::Null));
    }
    let body: serde_json::Value = serde_json::from_str(&text)?;
    Ok((body["value"].as_array().map(Vec::len).unwrap_or(1), body))
}

/// Runs `path` once untimed, then [`RUNS`] times; the median.
async fn time(stack: &Stack, token: &str, name: &'static str, path: String) -> anyhow::Result<QueryTiming> {
    let (items, _) = get(stack, token, &path).await?;
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        get(stack, token, &path).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(QueryTiming { name, path, items, median_ms: ms[RUNS / 2] })
}

/// Ten pages of 999 devices followed by `@odata.nextLink`; the median of one page.
async fn pages(stack: &Stack, token: &str) -> anyhow::Result<QueryTiming> {
    let mut next = "devices?$top=999&$select=id,deviceId,displayName,isCompliant".to_string();
    let (mut items, mut ms) = (0, Vec::new());
    for _ in 0..10 {
        let started = Instant::now();
        let (n, body) = get(stack, token, &next).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        items += n;
        match body["@odata.nextLink"].as_str() {
            Some(link) => next = link.to_string(),
            None => break,
        }
    }
    ms.sort_by(f64::total_cmp);
    let path = "devices?$top=999&$select=… then @odata.nextLink (10 pages)".to_string();
    Ok(QueryTiming { name: "ten pages of devices", path, items, median_ms: ms[ms.len() / 2] })
}

pub async fn graph(data_dir: &Path, devices: usize, postgres: Option<String>) -> anyhow::Result<GraphBench> {
    let mut opts = StackOptions::new(data_dir, devices.clamp(1, 1000));
    opts.instances.clear();
    if let Some(server) = &postgres {
        opts.databases = crate::stack::Databases::FreshPostgres(server.clone());
    }
    let stack = Stack::start(opts).await?;
    let started = Instant::now();
    seed(&stack, devices).await?;
    // What the cloud's periodic statistics refresh would have done by now.
    stack.cloud.state.store.optimize().await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let (status, body) = {
        let t = &stack.tenant;
        let resp = stack
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", stack.cloud.url(), t.tenant_id))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", t.test_client_id.as_str()),
                ("client_secret", t.test_client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await?;
        (resp.status(), resp.json::<serde_json::Value>().await?)
    };
    let token = body["access_token"].as_str().with_context(|| format!("no token ({status}): {body}"))?.to_string();
    let (_, first) = get(&stack, &token, "devices?$top=1&$select=deviceId").await?;
    let some_device = first["value"][0]["deviceId"].as_str().unwrap_or_default().to_string();
    let last = devices.saturating_sub(1);
    let prefix = format!("Mac-{:06}", last / 10);
    let queries: Vec<(&'static str, String)> = vec![
        ("device by deviceId", format!("devices?$filter=deviceId eq '{some_device}'")),
        ("devices by name prefix, counted", format!("devices?$filter=startswith(displayName,'{prefix}')&$count=true")),
        ("devices/$count", "devices/$count".into()),
        (
            "devices by version and compliance",
            "devices?$filter=operatingSystemVersion eq '14.6.1' and isCompliant eq false&$top=999".into(),
        ),
        ("managed device by serial number", format!("deviceManagement/managedDevices?$filter=serialNumber eq 'C02{last:08}'")),
        ("noncompliant managed devices", "deviceManagement/managedDevices?$filter=complianceState eq 'noncompliant'&$top=100".into()),
        ("managed devices by name, descending", "deviceManagement/managedDevices?$orderby=deviceName desc&$top=100".into()),
        (
            "managed devices by user and version",
            format!(
                "deviceManagement/managedDevices?$filter=userId eq '{}' and startswith(osVersion,'14')&$top=100",
                stack.tenant.users[0].id
            ),
        ),
    ];
    let mut timings = Vec::with_capacity(queries.len() + 1);
    for (name, path) in queries {
        timings.push(time(&stack, &token, name, path).await?);
    }
    timings.push(pages(&stack, &token).await?);
    stack.shutdown().await;
    Ok(GraphBench { devices, seed_seconds, queries: timings })
}
