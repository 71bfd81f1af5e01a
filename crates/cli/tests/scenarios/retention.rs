//! Retention on the service clock: the connector's hourly cluster job prunes delivery
//! history older than `retention_days` (30 by default) and the mdm prunes each held
//! instance's inventory history older than its `retention_days` (90), while what is still
//! needed stays: a reconcile resends every computer's latest update after the pruning.

use crate::harness::{eventually, spawn};

#[tokio::test]
async fn old_history_is_pruned_on_the_service_clock_and_the_latest_updates_stay() {
    let t = spawn(2).await;
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    for profile in fleet::generate(&users, 31, 0.0) {
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    eventually("delivered", || async { (t.mdm_read("hq", "conditional-access/summary").await["delivered"] == macs.len()).then_some(()) })
        .await;
    let stack = &t;
    let history = |id: i64| async move { stack.mdm_read("hq", &format!("computers-inventory/{id}/history")).await };
    let before = history(macs[0].computer_id).await;
    let entries = |h: &serde_json::Value| h["results"].as_array().map(Vec::len).unwrap_or_default();
    assert!(entries(&before) >= 2, "enrolment, inventory and registration: {before}");

    let jumped_from = t.clock.now_ms();
    t.advance_clock(91 * 86_400).await;
    let scrape = |url: String| {
        let http = t.http.clone();
        async move { http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap() }
    };
    let connector_url = t.connector.url();
    eventually("the connector's retention job", || async {
        platform::metrics::value(&scrape(connector_url.clone()).await, "cloudconnector_pruned_rows_total").filter(|n| *n > 0.0)
    })
    .await;
    eventually("the mdm's pruning", || async {
        platform::metrics::value(&scrape(t.mdm.url()).await, "cloudconnector_pruned_rows_total").filter(|n| *n > 0.0)
    })
    .await;
    assert_eq!(entries(&history(macs[0].computer_id).await), 1, "each computer keeps its latest entry");

    // Read in the connector's database: every outcome from before the jump is gone, and
    // every computer still has an update.
    let db = sqlx::AnyPool::connect(&t.database_urls.connector).await.unwrap();
    let old_outcomes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outcomes WHERE at_ms <= $1").bind(jumped_from).fetch_one(&db).await.unwrap();
    assert_eq!(old_outcomes, 0, "old outcomes pruned");
    let computers: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT computer_id) FROM intake").fetch_one(&db).await.unwrap();
    assert_eq!(computers, macs.len() as i64, "each computer keeps an update");
    db.close().await;

    // The latest update of every computer is still there to resend (once the daily
    // reconcile that came due with the same clock jump has been delivered).
    let link = t.mdm_read("hq", "conditional-access").await["link_id"].as_str().unwrap().to_string();
    let reconcile = format!("{}/api/v1/operator/links/{link}/reconcile", t.connector.url());
    eventually("a reconcile resending both computers' latest updates", || async {
        let resp = t.http.post(&reconcile).bearer_auth(&t.operator_token).send().await.unwrap();
        let answer: serde_json::Value = resp.json().await.unwrap();
        (answer["queued"] == macs.len()).then_some(())
    })
    .await;
    t.stop().await;
}
