//! Three connector nodes and two mdm nodes (processes of the built binary) on PostgreSQL
//! behind HAProxy: 1,000 Macs send 100 partial inventory reports each (100,000 updates)
//! through the load balancer to the mdm nodes, whose outbox goes through it to the
//! connector nodes, while every node is killed with SIGKILL in turn (ten kills, each
//! node twice), with requests in flight, and restarted. No update the mdm took is lost, none is
//! concluded twice, each Mac's newest report is what Intune holds, and each node's share
//! is reported. On SQLite a second connector node of the same file is refused at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudconnector::stack::ServiceProcess;

use crate::harness::{TestStack, spawn_with};
use crate::load_balancer::{HaProxy, free_port};

const MACS: usize = 1_000;
const ROUNDS: i64 = 100;
const KILLS: usize = 10;
/// Reports in flight at once, as many Macs reporting together.
const IN_FLIGHT: usize = 32;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cloudconnector"))
}

/// The connector configuration the stack's node runs with (written by `ServiceProcess`).
fn node_config(data_dir: &Path) -> connector::ConnectorConfig {
    let serve: cloudconnector::config::ServeConfig =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("connector.json")).unwrap()).unwrap();
    serve.connector.unwrap().config
}

/// A node's own directory, with the stack's CA and server certificate.
fn node_dir(data_dir: &Path, name: &str) -> PathBuf {
    let dir = data_dir.join(name);
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    for entry in std::fs::read_dir(data_dir.join("tls")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("tls").join(entry.file_name())).unwrap();
    }
    dir
}

/// A node of the cluster the test kills, and what it had taken before each kill: the
/// value of its `counter` (updates taken, for a connector; reports stored, for an mdm),
/// scraped from its `/metrics` just before the kill, as the counter starts again at 0.
struct Node {
    name: String,
    process: ServiceProcess,
    counter: &'static str,
    taken_before: f64,
}

impl Node {
    async fn connector(t: &TestStack, n: usize) -> Node {
        let name = format!("connector-{n}");
        let config = connector::ConnectorConfig { node_id: Some(name.clone()), ..node_config(t.data_dir()) };
        let dir = node_dir(t.data_dir(), &name);
        let process = ServiceProcess::connector(&binary(), &dir, free_port(), config, &t.ca).await.unwrap();
        Node { name, process, counter: "cloudconnector_intake_updates_total", taken_before: 0.0 }
    }

    /// The stack's own connector process, taken over as node 1.
    fn stack_connector(t: &mut TestStack) -> Node {
        let process = t.connector_process().take();
        Node { name: "connector-1".into(), process, counter: "cloudconnector_intake_updates_total", taken_before: 0.0 }
    }

    async fn mdm(t: &TestStack, n: usize, public_url: &str) -> Node {
        let name = format!("mdm-{n}");
        let config = mdm::MdmConfig { node_id: Some(name.clone()), public_url: Some(public_url.into()), ..t.mdm.state.config.clone() };
        let dir = node_dir(t.data_dir(), &name);
        let process = ServiceProcess::mdm(&binary(), &dir, free_port(), config, &t.ca).await.unwrap();
        Node { name, process, counter: "cloudconnector_inventory_reports_total", taken_before: 0.0 }
    }

    async fn kill_and_restart(&mut self, http: &reqwest::Client) {
        self.taken_before += scrape(http, &self.process.url, self.counter).await;
        self.process.kill();
        self.process.restart().await.unwrap();
    }

    async fn taken(&self, http: &reqwest::Client) -> f64 {
        self.taken_before + scrape(http, &self.process.url, self.counter).await
    }
}

async fn scrape(http: &reqwest::Client, url: &str, counter: &str) -> f64 {
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    platform::metrics::value(&text, counter).unwrap_or(0.0)
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

/// Enrols and registers one Mac per user through `instance_url`, their first inventory
/// collected at `collected_at`.
async fn onboard(t: &TestStack, instance_url: &str, collected_at: chrono::DateTime<chrono::Utc>) -> Vec<fleet::Mac> {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = Arc::new(fleet::Fleet::new(t.http.clone(), &t.cloud.url()));
    let invitation = t.instance("hq").invitation.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut onboarding = tokio::task::JoinSet::new();
    for profile in fleet::generate(&users, 15, 0.0) {
        let (fleet, url, invitation, slots) = (fleet.clone(), instance_url.to_string(), invitation.clone(), slots.clone());
        onboarding.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            fleet.onboard(profile, &url, &invitation, collected_at).await.unwrap()
        });
    }
    onboarding.join_all().await
}

/// Round `round` of every Mac: macOS `15.<round>` collected `round` seconds after
/// `onboarded`, sent as a partial report; a report that fails (its node killed under it,
/// or none up behind the balancer) is sent again until a node takes it.
async fn report_round(fleet: &Arc<fleet::Fleet>, macs: &mut [fleet::Mac], round: i64, onboarded: chrono::DateTime<chrono::Utc>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut reports = tokio::task::JoinSet::new();
    for mac in macs.iter_mut() {
        mac.profile.os_version = format!("15.{round}");
        mac.profile.os_build = format!("24A{round}");
        let (fleet, mac, slots) = (fleet.clone(), mac.clone(), slots.clone());
        let collected_at = onboarded + chrono::Duration::seconds(round);
        reports.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            while let Err(e) = fleet.report_changes(&mac, &["os_version", "os_build"], collected_at).await {
                assert!(Instant::now() < deadline, "no mdm node took the report: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    reports.join_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_and_mdm_nodes_behind_haproxy_lose_and_duplicate_nothing_through_ten_kills() {
    let (connector_front, mdm_front) = (free_port(), free_port());
    let (connector_lb, mdm_lb) = (format!("https://127.0.0.1:{connector_front}"), format!("https://127.0.0.1:{mdm_front}"));
    let mut t = spawn_with(MACS, |o| {
        o.connector_binary = Some(binary());
        o.connector_public_url = Some(connector_lb.clone());
        o.batch_size = 500;
    })
    .await;
    if t.database_urls.connector.starts_with("sqlite") {
        let refusal = second_sqlite_node(t.data_dir(), free_port());
        assert!(refusal.contains("in use by another node of this service"), "{refusal}");
        t.stop().await;
        return;
    }
    // Kills alternate between the services: connector-1, mdm-1, connector-2, mdm-2,
    // connector-3, then again.
    let mut nodes = vec![Node::stack_connector(&mut t), Node::mdm(&t, 1, &mdm_lb).await, Node::connector(&t, 2).await];
    nodes.extend([Node::mdm(&t, 2, &mdm_lb).await, Node::connector(&t, 3).await]);
    let addrs = |kind: &str| nodes.iter().filter(|n| n.name.starts_with(kind)).map(|n| n.process.addr).collect::<Vec<SocketAddr>>();
    let _lb = HaProxy::balance(t.data_dir(), &[(connector_front, addrs("connector")), (mdm_front, addrs("mdm"))], &t.ca);
    // The stack's own mdm connects the instance, then hands its work to the two nodes and
    // stays out of the balancer.
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();
    t.stack.mdm.hand_over_instances().await;
    let onboarded = chrono::Utc::now() - chrono::Duration::minutes(10);
    let mut macs = onboard(&t, &format!("{mdm_lb}/i/hq"), onboarded).await;
    let databases = Databases::open(&t).await;
    databases.settled().await;
    let before = databases.counts().await;

    let started = Instant::now();
    let http = t.http.clone();
    let killer = tokio::spawn(async move {
        for k in 0..KILLS {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let n = k % nodes.len();
            nodes[n].kill_and_restart(&http).await;
        }
        nodes
    });
    let fleet = Arc::new(fleet::Fleet::new(t.http.clone(), &t.cloud.url()));
    for round in 1..=ROUNDS {
        report_round(&fleet, &mut macs, round, onboarded).await;
    }
    let nodes = killer.await.unwrap();
    assert_newest_state_wins(&t, &macs).await;
    let seconds = started.elapsed().as_secs_f64();
    databases.settled().await;
    let after = databases.counts().await;
    report(&t, &nodes, seconds).await;

    // Nothing lost between the nodes: every report an mdm node took became one update the
    // connector took (a report sent again after a kill is a report of its own), and
    // every update has exactly one outcome.
    let reports = after.reports - before.reports;
    assert!(reports >= MACS as i64 * ROUNDS, "{reports} reports stored for {} sent", MACS as i64 * ROUNDS);
    assert_eq!(after.intake - before.intake, reports, "every report the mdm took reached the connector once");
    assert_eq!(after.outcomes, after.intake, "each update has one outcome");
    assert_eq!(after.concluded_twice, 0, "no update concluded twice");
    databases.close().await;
    drop(nodes);
    t.stop().await;
}

/// Every Mac's last round reaches Intune.
async fn assert_newest_state_wins(t: &TestStack, macs: &[fleet::Mac]) {
    let devices: Vec<wire::DeviceId> = macs.iter().map(|m| m.device_id.clone().expect("registered").into()).collect();
    let store = &t.cloud.state.store;
    let (deadline, newest) = (Instant::now() + Duration::from_secs(600), format!("15.{ROUNDS}"));
    loop {
        let held = store.managed_devices_by_ids(&devices).await.unwrap();
        let behind = devices.iter().filter(|d| held.get(*d).and_then(|m| m.os_version.as_deref()) != Some(newest.as_str())).count();
        if behind == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{behind} Macs never reached their newest report");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints what each node took, and at what rate over the run.
async fn report(t: &TestStack, nodes: &[Node], seconds: f64) {
    let mut lines = vec![];
    for node in nodes {
        let taken = node.taken(&t.http).await;
        assert!(taken > 0.0, "{} took no share of the work", node.name);
        let what = if node.counter.contains("intake") { "updates" } else { "reports" };
        lines.push(format!("{}: {taken:.0} {what} ({:.0}/s)", node.name, taken / seconds));
    }
    println!(
        "{} reports through 2 mdm and 3 connector nodes, {KILLS} kills, in {seconds:.1} s:\n  {}",
        MACS as i64 * ROUNDS,
        lines.join("\n  ")
    );
}

/// The mdm's and the connector's databases, read directly.
struct Databases {
    mdm: sqlx::AnyPool,
    connector: sqlx::AnyPool,
}

/// Row counts: partial reports the mdm stored, updates the connector took, their
/// outcomes, and updates with more than one outcome.
struct Counts {
    reports: i64,
    intake: i64,
    outcomes: i64,
    concluded_twice: i64,
}

impl Databases {
    async fn open(t: &TestStack) -> Databases {
        Databases {
            mdm: sqlx::AnyPool::connect(&t.database_urls.mdm).await.unwrap(),
            connector: sqlx::AnyPool::connect(&t.database_urls.connector).await.unwrap(),
        }
    }

    async fn count(db: &sqlx::AnyPool, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(db).await.unwrap()
    }

    /// Waits until the mdm's outbox is empty and the connector has concluded every update.
    async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Self::count(&self.mdm, "SELECT COUNT(*) FROM outbox").await > 0
            || Self::count(&self.connector, "SELECT COUNT(*) FROM intake WHERE status <> 'done'").await > 0
        {
            assert!(Instant::now() < deadline, "updates left unsent, undelivered or dead");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn counts(&self) -> Counts {
        let twice =
            "SELECT COUNT(*) FROM (SELECT computer_id, sequence FROM outcomes GROUP BY computer_id, sequence HAVING COUNT(*) > 1) d";
        Counts {
            reports: Self::count(&self.mdm, "SELECT COUNT(*) FROM inventory_history WHERE kind = 'partial'").await,
            intake: Self::count(&self.connector, "SELECT COUNT(*) FROM intake").await,
            outcomes: Self::count(&self.connector, "SELECT COUNT(*) FROM outcomes").await,
            concluded_twice: Self::count(&self.connector, twice).await,
        }
    }

    async fn close(self) {
        self.mdm.close().await;
        self.connector.close().await;
    }
}
