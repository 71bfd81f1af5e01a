//! What an operator does without a browser: link status, dead letters and their replay,
//! reconcile on demand and daily, the trace of one device, the change-log export — through
//! the operator API and the `cloudconnector admin` commands. And the scheduled health
//! re-test that notices permission drift and shows it on the instance.

use cloudconnector::admin::Admin;
use cloudconnector::admin_steps;
use serde_json::json;

use crate::harness::{eventually, spawn, spawn_with};

async fn accepted(admin: &Admin) -> i64 {
    admin.status().await.unwrap().links.iter().map(|l| l.accepted_total).sum()
}

#[tokio::test]
async fn dead_letters_are_kept_with_their_reason_and_replayed_and_links_reconcile() {
    let t = spawn(2).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();

    // The cloud refuses an upload for good: its update becomes a dead letter. A short queue
    // goes out at once, so each Mac's update meets a refusal planned for it.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mut macs = Vec::new();
    let mut letters = None;
    for (n, profile) in fleet::generate(&users, 81, 0.0).into_iter().take(2).enumerate() {
        let resp = t.http.post(format!("{}/_test/faults", t.cloud.url())).json(&json!([{"kind": "bad_request"}])).send().await.unwrap();
        assert!(resp.status().is_success());
        macs.push(fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap());
        letters = Some(
            eventually("dead letters", || async {
                let d = admin.dead_letters().await.unwrap();
                (d.dead_letters.len() == n + 1).then_some(d)
            })
            .await,
        );
    }
    let letters = letters.unwrap();
    assert!(letters.dead_letters.iter().all(|l| l.reason.as_deref().unwrap_or("").contains("HTTP 400")), "{letters:?}");
    let status = admin.status().await.unwrap();
    assert_eq!((status.links[0].dead_letters, status.links[0].backlog), (2, 0));
    let ca = format!("computers/{}/conditional-access", macs[0].computer_id);
    let state = eventually("the instance shows why", || async {
        let s = t.mdm_read("hq", &ca).await["users"][0]["delivery_state"].as_str().unwrap().to_string();
        s.starts_with("rejected: ").then_some(s)
    })
    .await;
    assert!(state.contains("HTTP 400"), "{state}");

    // The instance sees its own letters; an operator replays them all.
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let own = t.http.get(format!("{}/api/v1/dead-letters", t.connector.url())).bearer_auth(&credential).send().await.unwrap();
    assert_eq!(own.json::<serde_json::Value>().await.unwrap()["dead_letters"].as_array().unwrap().len(), 2);
    let replayed = admin.replay(None).await.unwrap();
    assert_eq!((replayed.replayed, replayed.superseded), (2, 0));
    eventually("replayed and accepted", || async { (accepted(&admin).await == 2).then_some(()) }).await;
    assert!(admin.dead_letters().await.unwrap().dead_letters.is_empty());
    eventually("the instance sees it", || async {
        (t.mdm_read("hq", &ca).await["users"][0]["delivery_state"] == "accepted").then_some(())
    })
    .await;

    // The trace of a device: its update, message and outcomes (refused, then accepted).
    let device = macs[0].device_id.clone().unwrap();
    let trace = admin.trace(&device).await.unwrap();
    assert_eq!(trace.updates.len(), 1, "{trace:?}");
    assert_eq!(trace.updates[0].status, wire::connector_api::IntakeState::Done);
    assert!(trace.updates[0].outcomes[0].starts_with("rejected") && trace.updates[0].outcomes[1].starts_with("accepted"), "{trace:?}");

    // Reconcile on demand resends the newest state of each computer once.
    let r = admin.reconcile(None).await.unwrap();
    assert_eq!(r.iter().map(|r| r.queued).sum::<u64>(), 2);
    eventually("reconciled", || async { (accepted(&admin).await == 4).then_some(()) }).await;
    // … and daily, on the service clock. (A day without check-ins also makes the
    // instance report both Macs UNRESPONSIVE: two more updates, which the reconcile may
    // find still on their way; only concluded updates are queued again.)
    let before = admin.status().await.unwrap().links[0].last_reconciled_at.clone();
    t.advance_clock(25 * 3600).await;
    eventually("daily reconcile", || async {
        let link = admin.status().await.unwrap().links.remove(0);
        (link.last_reconciled_at != before && link.backlog == 0 && link.accepted_total >= 6).then_some(())
    })
    .await;
    assert!(admin.dead_letters().await.unwrap().dead_letters.is_empty());

    // Bad operator requests get precise answers.
    let resp = t.http.get(format!("{}/api/v1/operator/links", t.connector.url())).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let e = admin.reconcile(Some("no-such-link")).await.unwrap_err().to_string();
    assert!(e.contains("404") && e.contains("does not exist"), "{e}");
    let e = admin.trace("not-a-guid").await.unwrap_err().to_string();
    assert!(e.contains("GUID"), "{e}");
    let e = admin.replay(Some(vec![])).await.unwrap();
    assert_eq!(e.replayed, 0);

    // The same through the command line an operator types.
    let endpoints = t.write_endpoints_file();
    // (The services run on this test's runtime: the command is awaited, not blocked on.)
    let run = |args: Vec<String>| {
        let endpoints = endpoints.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudconnector"))
                .arg("admin")
                .arg("--endpoints")
                .arg(&endpoints)
                .args(&args)
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let status = run(args(&["status"])).await;
    assert!(status.contains("active") && status.contains(t.tenant.tenant_id.as_str()), "{status}");
    let trace = run(args(&["trace", &device])).await;
    assert!(trace.contains("outcome accepted"), "{trace}");
    let log_file = endpoints.with_file_name("change-log.json");
    run(args(&["change-log", "hq", "--output", log_file.to_str().unwrap()])).await;
    let log: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&log_file).unwrap()).unwrap();
    let actions: Vec<&str> = log["logs"].as_array().unwrap().iter().filter_map(|l| l["action"].as_str()).collect();
    assert!(actions.contains(&"Confirm"), "{actions:?}");
    assert!(run(args(&["dead-letters"])).await.starts_with("0 dead letter(s)"));
    t.stop().await;
}

#[tokio::test]
async fn scheduled_health_retests_notice_permission_drift_and_the_instance_shows_it() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    let page = list.row_link("#applications tr", "Cloud Connector").expect("Cloud Connector listed");
    let action = format!("{}{page}/permissions", t.cloud.url());
    let intune_role =
        [("resource", wire::ids::INTUNE_APP_ID), ("kind", "Application"), ("value", wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES)];
    let with = |action: &'static str| {
        let mut f = vec![("action", action)];
        f.extend(intune_role);
        // The console asks to confirm a removal; this is the confirmed form.
        f.push(("confirm", "yes"));
        f
    };
    b.post_form(&action, &with("remove")).await.unwrap();

    // Six hours later the connector re-tests the link on its own.
    t.advance_clock(6 * 3600 + 60).await;
    let ca = eventually("failing after the re-test", || async {
        let ca = t.mdm_read("hq", "conditional-access").await;
        (ca["status"] == "failing").then_some(ca)
    })
    .await;
    let intune = ca["checks"].as_array().unwrap().iter().find(|c| c["name"] == "permissions_intune").unwrap().clone();
    assert!(intune["detail"].as_str().unwrap().contains("missing: [update_device_attributes]"), "{intune}");
    let log = t.mdm_read("hq", "change-management/logs").await;
    let change = log["logs"].as_array().unwrap().iter().find(|l| l["action"] == "Status change").cloned().expect("logged");
    assert!(change["details"].as_str().unwrap().contains("active → failing"), "{change}");

    // Restored: the next re-test turns the link active again, without a Confirm.
    b.post_form(&action, &with("add")).await.unwrap();
    t.advance_clock(6 * 3600 + 60).await;
    eventually("active again", || async { (t.mdm_read("hq", "conditional-access").await["status"] == "active").then_some(()) }).await;
    let metrics = t.http.get(format!("{}/metrics", t.connector.url())).send().await.unwrap().text().await.unwrap();
    assert_eq!(platform::metrics::value(&metrics, "cloudconnector_health_check_failures_total"), Some(1.0), "{metrics}");
    assert!(metrics.contains("cloudconnector_delivery_seconds_bucket"), "{metrics}");
    t.stop().await;
}

/// A permission removed in Entra shows on every instance of the app as soon as the cloud
/// refuses an upload for it, hours before the scheduled re-test: the refusal has the
/// connector re-test the tenant's links at once.
#[tokio::test]
async fn a_refused_upload_has_every_instance_of_the_app_retested_at_once() {
    // No heartbeat in the test's time: only the upload can be refused.
    let t = spawn_with(1, |o| o.heartbeat_interval_s = 24 * 3600).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    admin_steps::connect_instance(&t, "labs").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let profile = fleet::generate(&users, 1, 0.0).remove(0);
    let mut mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    eventually("delivered", || async { (t.mdm_read("hq", "conditional-access/summary").await["delivered"] == 1).then_some(()) }).await;

    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    let page = list.row_link("#applications tr", "Cloud Connector").expect("Cloud Connector listed");
    let form = [
        ("action", "remove"),
        ("resource", wire::ids::INTUNE_APP_ID),
        ("kind", "Application"),
        ("value", wire::ids::ROLE_UPDATE_DEVICE_ATTRIBUTES),
        ("confirm", "yes"),
    ];
    b.post_form(&format!("{}{page}/permissions", t.cloud.url()), &form).await.unwrap();
    // An hour and a half on, the connector's token has run out (tokens live 60 to 90
    // minutes; its successor lacks the role), and the scheduled re-test (every six hours
    // in this stack) is still far.
    t.advance_clock(90 * 60 + 60).await;
    assert_eq!(t.mdm_read("labs", "conditional-access").await["status"], "active");

    mac.profile.os_version = "15.7".into();
    fleet.report_changes(&mac, &["os_version"], t.clock.now()).await.unwrap();
    for slug in ["hq", "labs"] {
        let ca = eventually("failing after the refused upload", || async {
            let ca = t.mdm_read(slug, "conditional-access").await;
            (ca["status"] == "failing").then_some(ca)
        })
        .await;
        let intune = ca["checks"].as_array().unwrap().iter().find(|c| c["name"] == "permissions_intune").unwrap().clone();
        assert!(intune["detail"].as_str().unwrap().contains("missing: [update_device_attributes]"), "{slug}: {intune}");
        let log = t.mdm_read(slug, "change-management/logs").await;
        assert!(
            log["logs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["action"] == "Status change" && l["details"].as_str().is_some_and(|d| d.contains("active → failing"))),
            "{slug}: {log}"
        );
    }
    // The refused update is held, not given up: once the permission is back and the
    // admin selects Test connection, it goes.
    let view = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
    assert_eq!(view["users"][0]["delivery_state"], "sent", "held at the connector: {view}");
    let mut restore = form.to_vec();
    restore[0] = ("action", "add");
    b.post_form(&format!("{}{page}/permissions", t.cloud.url()), &restore).await.unwrap();
    // No clock moves: the held message would wait five minutes, but a passing test
    // sends it at once.
    let m = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = m.post_form(&format!("{}/settings/global-management/conditional-access/test", t.instance_url("hq")), &[]).await.unwrap();
    assert_eq!(page.element_text("message").as_deref(), Some("Connection tested: Active."), "{}", page.body);
    eventually("the held update accepted", || async {
        let view = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
        (view["users"][0]["delivery_state"] == "accepted").then_some(())
    })
    .await;
    let admin = cloudconnector::admin::Admin::from_file(&t.write_endpoints_file()).unwrap();
    assert!(admin.status().await.unwrap().links.iter().all(|l| l.dead_letters == 0), "nothing was given up");
    t.stop().await;
}
