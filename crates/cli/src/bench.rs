//! `cloudconnector bench …`: reproducible measurements on this machine, traffic on
//! loopback only, bounded in time.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::stack::{Stack, StackOptions};

#[derive(Debug, Serialize)]
pub struct TokenBench {
    pub credential: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub tokens: u64,
    pub tokens_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Client-credentials tokens per second from the cloud's v2 token endpoint, with a
/// client secret or a certificate assertion, `concurrency` requests in flight.
pub async fn tokens(data_dir: &Path, seconds: u64, concurrency: usize, certificate: bool) -> anyhow::Result<TokenBench> {
    let mut opts = StackOptions::new(data_dir, 0);
    opts.instances.clear();
    let stack = Stack::start(opts).await?;
    let url = format!("{}/{}/oauth2/v2.0/token", stack.cloud.url(), stack.tenant.tenant_id);
    let tenant = stack.tenant.clone();
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, tenant, count) = (stack.http.clone(), url.clone(), tenant.clone(), count.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", tenant.test_client_id.clone()),
                    ("scope", "https://graph.microsoft.com/.default".to_string()),
                ];
                if certificate {
                    form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                    form.push(("client_assertion", assertion(&tenant, &url)?));
                } else {
                    form.push(("client_secret", tenant.test_client_secret.clone()));
                }
                let t0 = Instant::now();
                let resp = http.post(&url).form(&form).send().await?;
                if !resp.status().is_success() {
                    bail!("token endpoint answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                resp.bytes().await?;
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    stack.shutdown().await;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let tokens = count.load(Ordering::Relaxed);
    Ok(TokenBench {
        credential: if certificate { "certificate (PS256 assertion)" } else { "client secret" }.into(),
        concurrency,
        seconds: elapsed,
        tokens,
        tokens_per_second: tokens as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

fn assertion(tenant: &cloud::seed::CustomerTenant, audience: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let body: String = tenant.test_client_certificate_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cloud::entra::assertions::thumbprints(&der).1));
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"aud": audience, "iss": tenant.test_client_id, "sub": tenant.test_client_id,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600});
    Ok(jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(tenant.test_client_key_pem.as_bytes())?)?)
}

#[derive(Debug, Serialize)]
pub struct EvaluationBench {
    pub devices: usize,
    pub items_per_message: usize,
    pub seconds: f64,
    pub devices_per_second: f64,
}

/// Devices evaluated per second by the cloud: `devices` inventory items uploaded as
/// `DataUploadMessages` through the partner API (throttle off) and timed until every
/// message is Completed. Directory objects are seeded in the cloud's store first.
pub async fn evaluation(data_dir: &Path, devices: usize, per_message: usize) -> anyhow::Result<EvaluationBench> {
    let mut opts = StackOptions::new(data_dir, devices);
    opts.instances.clear();
    opts.throttle.enabled = false;
    let stack = Stack::start(opts).await?;
    let store = &stack.cloud.state.store;
    let now = stack.clock.now_ms();
    let tenant = stack.tenant.clone();
    // The connector app consented, Partner device management configured and provisioned.
    let app = store.application(&stack.provider.connector_app_id).await?.expect("connector app");
    cloud::entra::consent::grant_admin_consent(store, &tenant.tenant_id, &app, now).await?;
    let mut partner = cloud::intune::partner::new_partner(&tenant.tenant_id, now);
    cloud::intune::partner::set_app_id(&mut partner, Some(app.app_id.clone()), now);
    cloud::intune::partner::provision(&mut partner, None, None, now);
    store.save_partner(&partner).await?;
    let mut items = Vec::with_capacity(devices);
    for (n, user) in tenant.users.iter().enumerate() {
        let device_id = seed_device(store, &tenant.tenant_id, &user.id, n, now).await?;
        items.push(serde_json::json!({
            "EntityType": 0, "TenantId": tenant.tenant_id, "DeviceId": device_id, "UserId": user.id,
            "LastUpdateTime": platform::clock::ms_to_rfc3339(now), "Encrypted": n % 4 != 0, "SIP": "Enabled",
            "OsVersion": "14.6.1", "DeviceName": format!("Mac {n}"),
        }));
    }
    let token = {
        let resp = stack
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", stack.cloud.url(), tenant.tenant_id))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app.app_id.as_str()),
                ("client_secret", stack.provider.connector_secret.as_str()),
                ("scope", "https://api.manage.microsoft.com//.default"),
            ])
            .send()
            .await?;
        resp.json::<serde_json::Value>().await?["access_token"].as_str().unwrap_or_default().to_string()
    };
    let unit = store.tenant(&tenant.tenant_id).await?.expect("tenant").scale_unit;
    let base =
        format!("{}/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerDeviceDataSyncService", stack.cloud.url());
    let started = Instant::now();
    let mut ids = Vec::new();
    for chunk in items.chunks(per_message.max(1)) {
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::json!({"TenantId": tenant.tenant_id, "UploadTime": platform::clock::ms_to_rfc3339(now), "Content": chunk});
        let resp =
            stack.http.put(format!("{base}/DataUploadMessages(guid'{id}')?api-version=1.0")).bearer_auth(&token).json(&body).send().await?;
        if !resp.status().is_success() {
            bail!("upload refused: {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        ids.push(id);
    }
    for id in &ids {
        loop {
            let s: serde_json::Value = stack
                .http
                .get(format!("{base}/DataUploadMessages(guid'{id}')?api-version=1.2"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if s["Status"] != "Pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stack.shutdown().await;
    Ok(EvaluationBench { devices, items_per_message: per_message, seconds, devices_per_second: devices as f64 / seconds })
}

/// A registered Entra device of `owner` written straight into the cloud's store (what
/// Workplace Join would leave behind), for benchmarks and tests that start at the partner
/// API without enrolling Macs. Returns its ID.
pub async fn seed_device(
    store: &cloud::store::Store,
    tenant_id: &wire::TenantId,
    owner: &str,
    n: usize,
    now: i64,
) -> anyhow::Result<wire::DeviceId> {
    let device_id = wire::DeviceId::from(uuid::Uuid::new_v4().to_string());
    store
        .insert_device(&cloud::store::DeviceRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.clone(),
            device_id: device_id.clone(),
            display_name: format!("Mac {n}"),
            owner_user_id: owner.to_string(),
            operating_system: "MacMDM".into(),
            os_version: "14.6.1".into(),
            public_key: String::new(),
            certificate_thumbprint: String::new(),
            is_compliant: None,
            is_managed: 0,
            mdm_app_id: None,
            registered_ms: now,
            compliance_updated_ms: None,
            last_sign_in_ms: None,
            account_enabled: 1,
        })
        .await?;
    Ok(device_id)
}

#[derive(Debug, Serialize)]
pub struct InventoryBench {
    pub computers: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub reports: u64,
    pub reports_per_second: f64,
}

/// Inventory reports accepted per second by one mdm instance: `computers` Macs enrolled
/// through the agent API, then full reports submitted for `seconds` by `concurrency`
/// agents (the integration off, so this measures the mdm's own intake).
pub async fn inventory(data_dir: &Path, computers: usize, seconds: u64, concurrency: usize) -> anyhow::Result<InventoryBench> {
    let mut opts = StackOptions::new(data_dir, 0);
    opts.instances.truncate(1);
    let stack = Stack::start(opts).await?;
    let instance = stack.instances[0].clone();
    let url = stack.instance_url(&instance.slug);
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let users: Vec<(String, String)> = (0..computers).map(|i| (format!("user{i}@contoso.example"), String::new())).collect();
    let mut macs = Vec::with_capacity(computers);
    for profile in fleet::generate(&users, 99, 0.25) {
        macs.push(fleet.enroll(profile, &url, &instance.invitation).await?);
    }
    let macs = Arc::new(macs);
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (fleet, macs, count, clock) = (fleet.clone(), macs.clone(), count.clone(), stack.clock.clone());
        tasks.spawn(async move {
            let mut n = worker;
            while Instant::now() < deadline {
                let mac = &macs[n % macs.len()];
                fleet.report_inventory(mac, clock.now()).await?;
                count.fetch_add(1, Ordering::Relaxed);
                n += concurrency;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stack.shutdown().await;
    let reports = count.load(Ordering::Relaxed);
    Ok(InventoryBench { computers, concurrency, seconds: elapsed, reports, reports_per_second: reports as f64 / elapsed })
}

#[derive(Debug, Serialize)]
pub struct DeliveryBench {
    /// `intune` (the cloud applies every message) or `null sink` (it completes each at
    /// once: the connector's own ceiling).
    pub cloud: String,
    pub database: String,
    pub throttle: String,
    pub devices: usize,
    pub devices_per_message: usize,
    /// From the first intake request to the last device's outcome.
    pub seconds: f64,
    pub devices_per_second: f64,
    /// The instance's intake requests alone (durable before they are answered).
    pub intake_seconds: f64,
    pub messages: u64,
    /// Uploads and polls scheduled again (429 with Retry-After, 5xx, timeouts).
    pub retries: u64,
    pub accepted: i64,
    pub rejected: i64,
}

/// End-to-end delivery through the connector: one instance connected to one tenant by
/// the real onboarding, `devices` Entra devices seeded in the cloud, then one update per
/// device posted to the connector's intake (1,000 per request) and timed until the cloud
/// has concluded every one (its outcome recorded for the instance). `per_message` is the
/// connector's batch size: 1 is what an integration sending one device per message does.
pub async fn delivery(
    data_dir: &Path,
    devices: usize,
    per_message: usize,
    postgres: Option<String>,
    throttle: bool,
    null_sink: bool,
) -> anyhow::Result<DeliveryBench> {
    let mut opts = StackOptions::new(data_dir, 0);
    opts.cloud_null_sink = null_sink;
    opts.instances.truncate(1);
    opts.batch_size = per_message.max(1);
    opts.throttle.enabled = throttle;
    if let Some(server) = &postgres {
        opts.databases = crate::stack::Databases::FreshPostgres(server.clone());
    }
    let stack = Stack::start(opts).await?;
    let slug = stack.instances[0].slug.clone();
    crate::admin_steps::connect_instance(&stack, &slug).await?;
    let tenant = stack.tenant.clone();
    let store = &stack.cloud.state.store;
    let now = stack.clock.now_ms();
    let mut device_ids = Vec::with_capacity(devices);
    for n in 0..devices {
        device_ids.push(seed_device(store, &tenant.tenant_id, &tenant.admin.id, n, now).await?);
    }
    let instance = stack.mdm.state.store.instance_by_slug(&slug).await?.expect("instance");
    let credential = instance.connector_credential.clone().expect("connected instance");
    let connector_instance = instance.connector_instance_id.clone().expect("connected instance");
    let updates: Vec<wire::connector_api::InventoryUpdate> = device_ids.iter().enumerate().map(|(n, d)| bench_update(n, d, now)).collect();
    let connector = match &stack.connector {
        crate::stack::ConnectorService::InProcess(c) => c.state.clone(),
        crate::stack::ConnectorService::Process(_) => bail!("the delivery benchmark runs the connector in process"),
    };
    let url = format!("{}/api/v1/inventory", stack.connector.url());
    let started = Instant::now();
    post_in_parallel(&stack.http, &url, &credential, &updates).await?;
    let intake_seconds = started.elapsed().as_secs_f64();
    let (accepted, rejected) = loop {
        let (accepted, rejected, stale) = connector.store.outcome_counts(&connector_instance).await?;
        if (accepted + rejected + stale) as usize >= devices {
            break (accepted, rejected + stale);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let counted = |name| connector.metrics.count(name);
    let result = DeliveryBench {
        cloud: if null_sink { "null sink" } else { "intune" }.into(),
        database: if postgres.is_some() { "postgresql" } else { "sqlite" }.into(),
        throttle: if throttle { "default partner limits (200 writes / 20 s per app and tenant)" } else { "off" }.into(),
        devices,
        devices_per_message: per_message,
        seconds,
        devices_per_second: devices as f64 / seconds,
        intake_seconds,
        messages: counted("cloudconnector_messages_created_total"),
        retries: counted("cloudconnector_upload_retries_total"),
        accepted,
        rejected,
    };
    stack.shutdown_and(true).await;
    Ok(result)
}

/// One device's update as an instance sends it: every fourth Mac unencrypted.
fn bench_update(n: usize, device_id: &str, now: i64) -> wire::connector_api::InventoryUpdate {
    wire::connector_api::InventoryUpdate {
        computer_id: format!("bench-{n}"),
        sequence: 1,
        item: wire::partner::DeviceItem {
            entity_type: wire::partner::entity_type::LEGACY_INVENTORY,
            device_id: device_id.into(),
            last_update_time: platform::clock::ms_to_rfc3339(now),
            encrypted: Some(!n.is_multiple_of(4)),
            sip: Some("Enabled".into()),
            os_version: Some("15.2".into()),
            device_name: Some(format!("Mac {n}")),
            ..Default::default()
        },
    }
}

/// Posts `updates` to the connector's intake, 1,000 per request, four requests in flight.
async fn post_in_parallel(
    http: &reqwest::Client,
    url: &str,
    credential: &str,
    updates: &[wire::connector_api::InventoryUpdate],
) -> anyhow::Result<()> {
    let mut posts = tokio::task::JoinSet::new();
    let chunks: Vec<Vec<wire::connector_api::InventoryUpdate>> = updates.chunks(1000).map(<[_]>::to_vec).collect();
    let chunks = Arc::new(std::sync::Mutex::new(chunks));
    for _ in 0..4 {
        let (http, url, credential, chunks) = (http.clone(), url.to_string(), credential.to_string(), chunks.clone());
        posts.spawn(async move {
            loop {
                let Some(chunk) = chunks.lock().expect("chunks").pop() else { return anyhow::Ok(()) };
                let resp =
                    http.post(&url).bearer_auth(&credential).json(&wire::connector_api::InventoryBatch { updates: chunk }).send().await?;
                if !resp.status().is_success() {
                    bail!("intake refused: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                }
            }
        });
    }
    while let Some(r) = posts.join_next().await {
        r??;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct MemoryBench {
    pub instances: usize,
    pub tenants: usize,
    pub devices: usize,
    /// Rows written before the connector started (routes, updates, outcomes).
    pub rows: usize,
    pub populate_seconds: f64,
    /// Resident memory of the connector process once ready.
    pub rss_ready_mb: f64,
    /// After every instance's status call, the operator's list of every link and traces.
    pub rss_after_queries_mb: f64,
    /// Highest resident memory of the process (`VmHWM`).
    pub rss_peak_mb: f64,
    pub status_calls: usize,
}

fn rss_mb(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> f64 {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0)
            / 1024.0
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// The connector's memory with many instances and devices: `instances` instances with an
/// active link each (ten per tenant) and `devices` devices, each with a delivered update,
/// its outcome and its landing-page route, written to a SQLite database; then the
/// connector runs as its own process on it, answers every instance's status call, the
/// operator's list of links and a device trace, and its resident memory is read.
pub async fn connector_memory(data_dir: &Path, instances: usize, devices: usize) -> anyhow::Result<MemoryBench> {
    std::fs::create_dir_all(data_dir)?;
    let ca = platform::tls::LocalCa::load_or_create(data_dir)?;
    let url = platform::db::sqlite_url(&data_dir.join("connector.db"));
    let store = connector::store::Store::connect(&url).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let seeded = store.seed_delivered(instances, devices, 1, now).await?;
    let populate_seconds = started.elapsed().as_secs_f64();
    store.close().await;

    let operator_token = platform::secrets::random_token(16);
    let config = idle_connector_config(url, &operator_token);
    let port = platform::http::bind(0)?.local_addr()?.port();
    let binary = std::env::current_exe()?;
    let process = crate::stack::ServiceProcess::connector(&binary, data_dir, port, config, &ca).await?;
    let pid = process.pid().context("connector process")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_ready_mb, _) = rss_mb(pid)?;
    let http = platform::http::client(&ca.ca_pem);
    ask_everything(&http, &process.url, &seeded, &operator_token).await?;
    let (rss_after_queries_mb, rss_peak_mb) = rss_mb(pid)?;
    drop(process);
    Ok(MemoryBench {
        instances,
        tenants: instances.div_ceil(10).max(1),
        devices,
        rows: devices * 3 + instances * 2,
        populate_seconds,
        rss_ready_mb,
        rss_after_queries_mb,
        rss_peak_mb,
        status_calls: seeded.credentials.len(),
    })
}

/// A connector that never reaches a cloud: nothing is queued, and every link was tested
/// and reconciled when it was seeded.
fn idle_connector_config(database_url: String, operator_token: &str) -> connector::ConnectorConfig {
    connector::ConnectorConfig {
        database_url,
        registration_secret: platform::secrets::random_token(16),
        clouds: vec![connector::cloud_client::CloudApp {
            profile: wire::CloudProfile::local("https://127.0.0.1:9"),
            client_id: uuid::Uuid::new_v4().to_string(),
            client_secret: "unused".into(),
            client_certificate_pem: None,
            client_key_pem: None,
            registration_app_id: uuid::Uuid::new_v4().to_string(),
            intune_partner_page: None,
        }],
        batch_size: 1000,
        batch_linger_ms: 500,
        heartbeat_interval_s: 3600,
        max_concurrency_per_tenant: 16,
        health_interval_s: 6 * 3600,
        reconcile_interval_s: 24 * 3600,
        operator_token: Some(operator_token.to_string()),
        cloud_timeout_ms: 30_000,
        public_url: None,
        node_id: None,
        retention_days: 30,
    }
}

/// Every instance's status call, the operator's list of links and one device's trace.
async fn ask_everything(
    http: &reqwest::Client,
    url: &str,
    seeded: &connector::store::seeding::Seeded,
    operator_token: &str,
) -> anyhow::Result<()> {
    for credential in &seeded.credentials {
        let resp = http.get(format!("{url}/api/v1/status")).bearer_auth(credential).send().await?;
        if !resp.status().is_success() {
            bail!("status refused: {}", resp.status());
        }
        resp.bytes().await?;
    }
    let links = http.get(format!("{url}/api/v1/operator/links")).bearer_auth(operator_token).send().await?;
    if !links.status().is_success() {
        bail!("operator links refused: {}", links.status());
    }
    links.bytes().await?;
    if !seeded.some_device.is_empty() {
        let trace = http.get(format!("{url}/api/v1/operator/devices/{}", seeded.some_device)).bearer_auth(operator_token).send().await?;
        if !trace.status().is_success() {
            bail!("trace refused: {}", trace.status());
        }
    }
    Ok(())
}
