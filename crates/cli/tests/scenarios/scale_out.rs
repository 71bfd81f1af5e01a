//! Three connector nodes (processes of the built binary) on one PostgreSQL database behind
//! HAProxy, taking 100,000 updates (1,000 computers × 100 updates each) while two of them
//! are killed with SIGKILL ten times in turn, with requests in flight, and restarted: no
//! update is lost, none concluded twice, and each computer's newest update is what Intune
//! holds. On SQLite a second node of the same file is refused at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudconnector::stack::ConnectorProcess;
use wire::connector_api::{InventoryBatch, InventoryUpdate};

use crate::harness::spawn_with;
use crate::load_balancer::{HaProxy, free_port};

const COMPUTERS: usize = 1_000;
const ROUNDS: i64 = 100;
const KILLS: usize = 10;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cloudconnector"))
}

/// The connector configuration the stack's node runs with (written by `ConnectorProcess`).
fn node_config(data_dir: &Path) -> connector::ConnectorConfig {
    let serve: cloudconnector::config::ServeConfig =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("connector.json")).unwrap()).unwrap();
    serve.connector.unwrap().config
}

/// Another node: its own directory (with the stack's CA and server certificate), port and
/// name, the same database and apps.
async fn another_node(data_dir: &Path, n: usize, port: u16, ca: &platform::tls::LocalCa) -> ConnectorProcess {
    let dir = data_dir.join(format!("node-{n}"));
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    for entry in std::fs::read_dir(data_dir.join("tls")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("tls").join(entry.file_name())).unwrap();
    }
    let config = connector::ConnectorConfig { node_id: Some(format!("node-{n}")), ..node_config(data_dir) };
    ConnectorProcess::start(&binary(), &dir, port, config, ca).await.unwrap()
}

/// Starts a second node on the stack's SQLite file and returns what it said as it stopped.
fn second_sqlite_node(data_dir: &Path, port: u16) -> String {
    let serve = cloudconnector::config::ServeConfig {
        data_dir: data_dir.to_path_buf(),
        connector: Some(cloudconnector::config::ConnectorSection { port, config: node_config(data_dir) }),
        ..Default::default()
    };
    let path = data_dir.join("second-node.json");
    std::fs::write(&path, serde_json::to_string(&serve).unwrap()).unwrap();
    let log = data_dir.join("second-node.log");
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--role", "connector", "--config"])
        .arg(&path)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a second node on one SQLite file kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a second node on one SQLite file must stop");
    std::fs::read_to_string(&log).unwrap()
}

/// Round `round` of computer `n`: its OS version names the round, so the newest is seen.
fn update(n: usize, device: &wire::DeviceId, round: i64, start_ms: i64) -> InventoryUpdate {
    InventoryUpdate {
        computer_id: format!("mac-{n}"),
        sequence: round,
        item: wire::partner::DeviceItem {
            entity_type: wire::partner::entity_type::LEGACY_INVENTORY,
            device_id: device.clone(),
            last_update_time: platform::clock::ms_to_rfc3339(start_ms + round * 1000),
            encrypted: Some(true),
            sip: Some("Enabled".into()),
            os_version: Some(format!("15.{round}")),
            device_name: Some(format!("Mac {n}")),
            ..Default::default()
        },
    }
}

/// Posts a batch through the load balancer until a node takes it (a node may be killed
/// under it: intake is idempotent per computer and sequence).
async fn post(http: &reqwest::Client, url: &str, credential: &str, updates: Vec<InventoryUpdate>) {
    let batch = InventoryBatch { updates };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match http.post(url).bearer_auth(credential).json(&batch).send().await {
            Ok(r) if r.status().is_success() => return,
            other => {
                assert!(Instant::now() < deadline, "no node took the batch: {:?}", other.map(|r| r.status()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_haproxy_lose_and_duplicate_nothing_through_ten_kills() {
    let (front, ports) = (free_port(), [free_port(), free_port()]);
    let lb_url = format!("https://127.0.0.1:{front}");
    let t = spawn_with(0, |o| {
        o.connector_binary = Some(binary());
        o.connector_public_url = Some(lb_url.clone());
        o.batch_size = 500;
    })
    .await;
    if t.database_urls.connector.starts_with("sqlite") {
        let refusal = second_sqlite_node(t.data_dir(), ports[0]);
        assert!(refusal.contains("in use by another node of this service"), "{refusal}");
        t.stop().await;
        return;
    }
    let nodes = vec![another_node(t.data_dir(), 2, ports[0], &t.ca).await, another_node(t.data_dir(), 3, ports[1], &t.ca).await];
    let backs: Vec<SocketAddr> = std::iter::once(t.connector.listening()).chain(nodes.iter().map(|n| n.addr)).collect();
    let _lb = HaProxy::balance(t.data_dir(), &[(front, backs)]);
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();

    let store = t.cloud.state.store.clone();
    let mut devices = Vec::with_capacity(COMPUTERS);
    for n in 0..COMPUTERS {
        devices
            .push(cloudconnector::bench::seed_device(&store, &t.tenant.tenant_id, &t.tenant.admin.id, n, t.clock.now_ms()).await.unwrap());
    }
    let instance = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap();
    let credential = instance.connector_credential.clone().unwrap();
    let intake = format!("{lb_url}/api/v1/inventory");
    let start_ms = t.clock.now_ms();

    // The rounds go in through the load balancer while nodes 2 and 3 are killed in turn
    // with SIGKILL every three seconds and started again: requests in flight on a killed
    // node fail and are sent again, and its messages are taken up.
    let started = Instant::now();
    let killer = tokio::spawn(async move {
        let mut nodes = nodes;
        for k in 0..KILLS {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let node = &mut nodes[k % 2];
            node.kill();
            node.restart().await.unwrap();
        }
        nodes
    });
    for round in 1..=ROUNDS {
        let batch: Vec<InventoryUpdate> = devices.iter().enumerate().map(|(n, d)| update(n, d, round, start_ms)).collect();
        for chunk in batch.chunks(1000) {
            post(&t.http, &intake, &credential, chunk.to_vec()).await;
        }
    }
    let nodes = killer.await.unwrap();

    // Newest state wins: every computer's last round reaches Intune.
    let deadline = Instant::now() + Duration::from_secs(600);
    let newest = format!("15.{ROUNDS}");
    loop {
        let held = store.managed_devices_by_ids(&devices).await.unwrap();
        let behind = devices.iter().filter(|d| held.get(*d).and_then(|m| m.os_version.as_deref()) != Some(newest.as_str())).count();
        if behind == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{behind} computers never reached their newest update");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} updates through 3 nodes and {KILLS} kills in {seconds:.1} s ({:.0}/s)",
        COMPUTERS as i64 * ROUNDS,
        (COMPUTERS as i64 * ROUNDS) as f64 / seconds
    );

    assert_each_update_concluded_once(&t.database_urls.connector, COMPUTERS as i64 * ROUNDS).await;
    drop(nodes);
    t.stop().await;
}

/// Nothing lost, nothing concluded twice: every one of `total` updates was taken once,
/// none is left undelivered, and each has exactly one outcome.
async fn assert_each_update_concluded_once(database_url: &str, total: i64) {
    // Nothing lost, nothing concluded twice: every update was taken once and has exactly one
    // outcome, and none is left undelivered.
    let db = sqlx::AnyPool::connect(database_url).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    assert_eq!(count("SELECT COUNT(*) FROM intake").await, total, "every update taken once");
    let settled = Instant::now() + Duration::from_secs(120);
    while count("SELECT COUNT(*) FROM intake WHERE status <> 'done'").await > 0 {
        assert!(Instant::now() < settled, "updates left undelivered or dead");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let twice = "SELECT COUNT(*) FROM (SELECT computer_id, sequence FROM outcomes GROUP BY computer_id, sequence HAVING COUNT(*) > 1) d";
    assert_eq!(count(twice).await, 0, "no update concluded twice");
    assert_eq!(count("SELECT COUNT(*) FROM outcomes").await, total, "each update has its outcome");
    db.close().await;
}
