//! Two mdm nodes on one PostgreSQL database: Macs report to either, one node at a time
//! sends an instance's outbox to the connector, and no update reaches it twice. On SQLite
//! a second node is refused.

use cloudconnector::admin_steps;
use cloudconnector::stack::ConnectorService;

use crate::harness::{eventually, spawn_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mdm_nodes_send_each_update_once() {
    let t = spawn_with(6, |_| {}).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let config = mdm::MdmConfig { public_url: None, ..t.mdm.state.config.clone() };
    let second = mdm::start(config, platform::http::bind(0).unwrap(), &t.ca, t.clock.clone()).await;
    if t.database_urls.mdm.starts_with("sqlite") {
        let refused = second.err().expect("a second node on one SQLite file is refused").to_string();
        assert!(refused.contains("in use by another node of this service"), "{refused}");
        t.stop().await;
        return;
    }
    let second = second.unwrap();
    assert_ne!(t.mdm.state.node, second.state.node);

    // Half the Macs enrol and report through the second node.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let second_url = format!("{}/i/hq", second.url());
    let mut macs = Vec::new();
    for (n, profile) in fleet::generate(&users, 2, 0.0).into_iter().enumerate() {
        let url = if n % 2 == 0 { t.instance_url("hq") } else { second_url.clone() };
        macs.push(fleet.onboard(profile, &url, &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    eventually("every update delivered", || async {
        let s = t.mdm_read("hq", "conditional-access/summary").await;
        (s["delivered"] == macs.len()).then_some(())
    })
    .await;
    let ConnectorService::InProcess(connector) = &t.connector else { panic!("in-process connector") };
    let metrics = &connector.state.metrics;
    let (taken, superseded) =
        (metrics.count("cloudconnector_intake_updates_total"), metrics.count("cloudconnector_intake_superseded_total"));
    assert_eq!((taken, superseded), (macs.len() as u64, 0), "each Mac's update reached the connector once");
    second.shutdown().await;
    t.stop().await;
}
