//! The demo's story, run as the `demo` command runs it, with a small fleet.

use cloudconnector::demo::{DemoOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_the_whole_story() {
    let dir = std::env::temp_dir().join(format!("cc-demo-{}", uuid::Uuid::new_v4().simple()));
    let summary =
        run(DemoOptions { data_dir: dir.clone(), devices: 24, exit: true, json: true, noncompliant_share: 0.25, drift_share: 0.2 })
            .await
            .unwrap();
    let [hq, labs] = summary.instances.as_slice() else { panic!("two instances") };
    assert_eq!((hq.connection_type.as_str(), hq.status.as_str()), ("cloud_connector", "active"), "migrated from Manual");
    assert_eq!(labs.status, "disabled", "the second instance was disconnected");
    assert_eq!(hq.registered + labs.registered, 24);
    assert_eq!(hq.delivered as usize + labs.delivered as usize, 24, "every registered Mac delivered");
    assert_eq!(hq.compliant + hq.noncompliant + labs.compliant + labs.noncompliant, 24, "every Mac evaluated");
    assert_eq!(hq.in_error + labs.in_error, 0, "real macOS versions and builds are all understood");
    assert!(summary.fleet.releases > 5, "the fleet runs Apple's real releases: {:?}", summary.fleet);
    assert_eq!(summary.tenant.partner_state, "enabled", "the first instance keeps the tenant Active");
    let s = &summary.sign_ins;
    assert_eq!(s.granted + s.device_not_compliant + s.device_not_recognized, 21);
    assert_eq!(s.device_not_recognized, 1);
    assert_eq!(summary.check_ins, 24, "every Mac checked in once");
    let d = &summary.drift;
    assert!(d.filevault_off + d.firewall_off + d.os_below_minimum + d.stopped_checking_in >= 2, "{d:?}");
    // The rollout: previewed on the first instance, a warned user recovering through Recheck.
    let r = &summary.rollout;
    assert!(r.previewed > 0 && r.previewed_noncompliant > 0, "{r:?}");
    assert!(r.warning.as_deref().is_some_and(|w| w.contains("does not meet Sonoma or later")), "{r:?}");
    assert!(r.recheck_seconds.is_some_and(|s| s < 30.0), "{r:?}");
    assert_eq!(r.after_recheck.as_deref(), Some("granted"), "{r:?}");
    let names: Vec<&str> = summary.phases.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"drift and re-evaluation"), "{names:?}");
    assert!(names.contains(&"manual integration (S7)") && names.contains(&"migrate to the Cloud Connector (S2, S3)"), "{names:?}");
    let endpoints: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("endpoints.json")).unwrap()).unwrap();
    for key in ["ca_certificate", "cloud", "connector", "mdm", "consoles", "seed"] {
        assert!(endpoints.get(key).is_some(), "endpoints.json lacks {key}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
