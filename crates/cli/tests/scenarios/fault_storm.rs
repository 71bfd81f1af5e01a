//! A fault storm between the connector and the cloud: an HTTPS proxy of the test's own
//! stands where the cloud's published URL points and, for a minute, answers a fifth of
//! the connector's requests (tokens, discovery, partner services) with 429 or 503 and a
//! `Retry-After`, a 503 without one, a dropped connection, an answer too slow to wait for,
//! or a 401 on a fresh token. Everything is delivered once, at its newest state; no
//! request to a tenant comes before a `Retry-After` it was given; the uploads stay within
//! 1.5 requests per message.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cloudconnector::admin_steps;
use rand::{Rng, SeedableRng};

use crate::harness::{TestStack, eventually, spawn_with};

/// How long the storm lasts (wall time; the test clock is not moved meanwhile).
const STORM: Duration = Duration::from_secs(60);
/// Share of the connector's requests that meet a fault.
const FAULT_SHARE: f64 = 0.2;
/// A request already on its way when the throttling answer left is no violation.
const IN_FLIGHT_MS: u64 = 100;

#[derive(Debug, Clone)]
struct Record {
    at_ms: u64,
    tenant: Option<String>,
    method: String,
    path: String,
    status: u16,
    retry_after_s: Option<u64>,
}

struct Proxy {
    target: Mutex<String>,
    storming: AtomicBool,
    started: Instant,
    /// Scale unit → tenant, for the partner services' paths.
    units: Mutex<HashMap<String, String>>,
    /// The connector's app: only its requests meet the storm and are counted.
    connector_app: String,
    records: Mutex<Vec<Record>>,
    rng: Mutex<rand::rngs::StdRng>,
    http: reqwest::Client,
}

enum Fault {
    Throttle(u64),
    Unavailable(Option<u64>),
    Reset,
    Slow,
    RejectToken,
}

impl Proxy {
    /// The tenant a request of the connector is for; `None` for anyone else's traffic
    /// (the test's own reads, browsers, Macs).
    fn tenant_of(&self, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if *method == Method::POST && path.ends_with("/token") {
            let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
            return (form.get("client_id") == Some(&self.connector_app)).then(|| segments[0].to_ascii_lowercase());
        }
        if segments.first() == Some(&"fef") {
            return self.units.lock().unwrap().get(*segments.get(1)?).cloned();
        }
        if segments.first() == Some(&"graph") && path.to_ascii_lowercase().ends_with("/endpoints") {
            let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
            let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
            let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
            return (claims["appid"] == self.connector_app.as_str()).then(|| claims["tid"].as_str().map(str::to_string)).flatten();
        }
        None
    }

    fn draw(&self, is_token: bool) -> Option<Fault> {
        let mut rng = self.rng.lock().unwrap();
        if !self.storming.load(Ordering::Relaxed) || !rng.random_bool(FAULT_SHARE) {
            return None;
        }
        Some(match rng.random_range(0..100) {
            0..35 => Fault::Throttle(rng.random_range(1..=3)),
            35..50 => Fault::Unavailable(Some(rng.random_range(1..=2))),
            50..60 => Fault::Unavailable(None),
            60..75 => Fault::Reset,
            75..85 => Fault::Slow,
            _ if is_token => Fault::Throttle(1),
            _ => Fault::RejectToken,
        })
    }

    fn record(&self, at_ms: u64, tenant: Option<String>, method: &Method, path: &str, status: u16, retry_after_s: Option<u64>) {
        let r = Record { at_ms, tenant, method: method.to_string(), path: path.to_string(), status, retry_after_s };
        self.records.lock().unwrap().push(r);
    }

    async fn forward(&self, method: Method, uri: &Uri, headers: HeaderMap, body: Bytes) -> Response {
        let url = format!("{}{}", self.target.lock().unwrap(), uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        let mut req = self.http.request(method, url).body(body);
        for (name, value) in headers.iter().filter(|(n, _)| !["host", "content-length", "connection"].contains(&n.as_str())) {
            req = req.header(name, value);
        }
        let Ok(resp) = req.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
        let status = resp.status();
        let mut out = Response::builder().status(status);
        for (name, value) in
            resp.headers().iter().filter(|(n, _)| !["transfer-encoding", "connection", "content-length"].contains(&n.as_str()))
        {
            out = out.header(name, value);
        }
        out.body(axum::body::Body::from(resp.bytes().await.unwrap_or_default())).unwrap()
    }
}

async fn handle(State(proxy): State<Arc<Proxy>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let at_ms = proxy.started.elapsed().as_millis() as u64;
    let path = uri.path().to_string();
    let Some(tenant) = proxy.tenant_of(&method, &path, &headers, &body) else {
        return proxy.forward(method, &uri, headers, body).await;
    };
    let answer = |status: StatusCode, retry_after: Option<u64>| {
        let mut r = (status, "{\"error\":{\"code\":\"injected\",\"message\":\"fault storm\"}}").into_response();
        if let Some(s) = retry_after {
            r.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
        }
        r
    };
    let response = match proxy.draw(path.ends_with("/token")) {
        None => proxy.forward(method.clone(), &uri, headers, body).await,
        Some(Fault::Throttle(s)) => answer(StatusCode::TOO_MANY_REQUESTS, Some(s)),
        Some(Fault::Unavailable(s)) => answer(StatusCode::SERVICE_UNAVAILABLE, s),
        Some(Fault::RejectToken) => answer(StatusCode::UNAUTHORIZED, None),
        Some(Fault::Slow) => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            proxy.forward(method.clone(), &uri, headers, body).await
        }
        Some(Fault::Reset) => {
            proxy.record(at_ms, Some(tenant), &method, &path, 0, None);
            panic!("injected fault: connection dropped");
        }
    };
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    proxy.record(at_ms, Some(tenant), &method, &path, response.status().as_u16(), retry_after);
    response
}

/// Requests to a tenant that arrived after a throttling answer to it (429 or 503 with
/// `Retry-After`) had left, and before that `Retry-After` ended.
fn early_requests(records: &[Record]) -> Vec<(Record, Record)> {
    let mut early = Vec::new();
    for throttled in records.iter().filter(|r| matches!(r.status, 429 | 503) && r.retry_after_s.is_some()) {
        let until = throttled.at_ms + throttled.retry_after_s.unwrap_or(0) * 1000;
        for r in records.iter().filter(|r| r.tenant == throttled.tenant && r.at_ms > throttled.at_ms + IN_FLIGHT_MS && r.at_ms < until) {
            early.push((throttled.clone(), r.clone()));
        }
    }
    early
}

/// Each Mac, its user, and its FileVault state in the round that reports it.
async fn report_round(t: &TestStack, fleet: &fleet::Fleet, macs: &mut [fleet::Mac], round: usize) {
    for (n, mac) in macs.iter_mut().enumerate() {
        mac.profile.filevault = !(n + round).is_multiple_of(3);
        fleet.report_inventory(mac, t.clock.now() + chrono::Duration::seconds(round as i64)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_storm_delays_delivery_but_loses_nothing_and_never_comes_early() {
    let listener = platform::http::bind(0).unwrap();
    let public_url = format!("https://{}", listener.local_addr().unwrap());
    let mut ca = None;
    let t = spawn_with(12, |o| {
        o.cloud_public_url = Some(public_url.clone());
        o.batch_size = 4;
        o.cloud_timeout_ms = 1000;
        o.heartbeat_interval_s = 1;
        ca = Some(platform::tls::LocalCa::load_or_create(&o.data_dir).unwrap());
    })
    .await;
    let proxy = Arc::new(Proxy {
        target: Mutex::new(t.cloud.served.url()),
        storming: AtomicBool::new(false),
        started: Instant::now(),
        units: Mutex::new(HashMap::new()),
        connector_app: t.provider.connector_app_id.clone(),
        records: Mutex::new(Vec::new()),
        rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(13)),
        http: platform::http::client(&ca.unwrap().ca_pem),
    });
    let tenant = t.cloud.state.store.tenant(&t.tenant.tenant_id).await.unwrap().unwrap();
    proxy.units.lock().unwrap().insert(tenant.scale_unit.clone(), tenant.id.to_string());
    let router = axum::Router::new().fallback(handle).with_state(proxy.clone());
    let served = platform::http::serve_tls(router, listener, &t.ca).await.unwrap();

    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for profile in fleet::generate(&users, 71, 0.0) {
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }

    // The storm: every few seconds each Mac reports a new state.
    proxy.storming.store(true, Ordering::Relaxed);
    let storm_started = Instant::now();
    let mut round = 1;
    while storm_started.elapsed() < STORM {
        report_round(&t, &fleet, &mut macs, round).await;
        round += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    proxy.storming.store(false, Ordering::Relaxed);
    let last_round = round - 1;

    // Everything arrives, at its newest state.
    for (n, mac) in macs.iter().enumerate() {
        let expected = !(n + last_round).is_multiple_of(3);
        let id = mac.device_id.clone().unwrap();
        eventually("the newest state in Entra", || async { (t.is_compliant(&id).await == Some(expected)).then_some(()) }).await;
    }
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    let link = admin.status().await.unwrap().links.remove(0);
    assert_eq!(link.dead_letters, 0, "nothing given up");

    let records = proxy.records.lock().unwrap().clone();
    let faults = records.iter().filter(|r| r.status != 200 && r.status != 204).count();
    let early = early_requests(&records);
    assert!(early.is_empty(), "{} requests came before their Retry-After, first: {:?}", early.len(), early.first());
    let puts: Vec<&Record> = records.iter().filter(|r| r.method == "PUT" && r.path.contains("DataUploadMessages")).collect();
    let messages: HashSet<&str> = puts.iter().map(|r| r.path.as_str()).collect();
    let per_message = puts.len() as f64 / messages.len() as f64;
    println!(
        "storm: {} requests to the tenant, {faults} faulted, {} uploads for {} messages ({per_message:.2} per message), {} rounds",
        records.len(),
        puts.len(),
        messages.len(),
        last_round
    );
    assert!(faults > 20, "the storm met the connector: {faults} faults");
    assert!(per_message <= 1.5, "{per_message:.2} upload requests per message");
    served.handle.shutdown();
    t.stop().await;
}
