//! S4: compliance policies evaluate what the instances send; Conditional Access grants a
//! compliant Mac, sends a noncompliant one to remediation (AADSTS53000) and an
//! unrecognised one to the instance's landing page (AADSTS530003), for each landing
//! page option.

use cloudconnector::admin_steps;
use fleet::{Fleet, Mac, SignIn};
use serde_json::Value;

use crate::harness::{TestStack, eventually, spawn};

async fn onboard(t: &TestStack, fleet: &Fleet, user: usize, slug: &str, filevault: bool, join: bool) -> Mac {
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profile = fleet::generate(&users, 11, 0.0).remove(user);
    profile.filevault = filevault;
    let i = t.instance(slug);
    let mut mac = fleet.enroll(profile, &t.instance_url(slug), &i.invitation).await.unwrap();
    fleet.report_inventory(&mac, t.clock.now()).await.unwrap();
    if join {
        fleet.workplace_join(&mut mac).await.unwrap();
        fleet.submit_entra_ids(&mac).await.unwrap();
    }
    mac
}

async fn is_compliant(t: &TestStack, token: &str, device_id: &str) -> Option<bool> {
    let (_, body) = t.graph_get(token, &format!("devices?$filter=deviceId%20eq%20'{device_id}'")).await;
    body["value"][0]["isCompliant"].as_bool()
}

async fn sign_in(t: &TestStack, fleet: &Fleet, mac: &Mac, present_device: bool) -> SignIn {
    fleet.sign_in(mac, &t.tenant.portal_app_id, &t.tenant.portal_redirect_uri, present_device, t.clock.now()).await.unwrap()
}

/// Follows the refusal page's link and returns where the browser lands.
async fn follow(t: &TestStack, link: &str) -> cloudconnector::browser::Page {
    t.browser().get(link).await.unwrap()
}

/// Once Intune's verdict has come back to the instance, its remediation page (reached by
/// `link`) says what to change on the Mac without FileVault, in plain words, with the steps.
async fn remediation_names_the_fixes(t: &TestStack, mac: &Mac, link: &str) {
    let computer = format!("computers/{}/conditional-access", mac.computer_id);
    eventually("the verdict at the instance", || async {
        (t.mdm_read("hq", &computer).await["users"][0]["compliance_state"] == "noncompliant").then_some(())
    })
    .await;
    let landed = follow(t, link).await;
    let cells = landed.texts("#fixes td");
    assert_eq!(cells.first().map(String::as_str), Some("Require encryption"), "{}", landed.body);
    assert!(cells.iter().any(|c| c.contains("Privacy & Security › FileVault")), "{cells:?}");
}

#[tokio::test]
async fn s4_conditional_access_grants_compliant_macs_and_routes_the_others() {
    let t = spawn(6).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let token = t.test_client_token().await;

    let compliant = onboard(&t, &fleet, 0, "hq", true, true).await;
    let noncompliant = onboard(&t, &fleet, 1, "hq", false, true).await;
    let unregistered = onboard(&t, &fleet, 2, "hq", true, false).await;
    for mac in [&compliant, &noncompliant] {
        let id = mac.device_id.clone().unwrap();
        eventually("evaluation", || async { is_compliant(&t, &token, &id).await }).await;
    }
    assert_eq!(is_compliant(&t, &token, compliant.device_id.as_deref().unwrap()).await, Some(true));
    assert_eq!(is_compliant(&t, &token, noncompliant.device_id.as_deref().unwrap()).await, Some(false));

    // A compliant Mac signs in; the app redeems the code for a token naming the device.
    let SignIn::Granted { code } = sign_in(&t, &fleet, &compliant, true).await else { panic!("compliant Mac refused") };
    let resp = t
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", t.tenant.portal_app_id.as_str()),
            ("client_secret", t.tenant.portal_secret.as_str()),
            ("redirect_uri", t.tenant.portal_redirect_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(body["access_token"].as_str().unwrap()).unwrap().claims;
    assert_eq!(claims["deviceid"], compliant.device_id.clone().unwrap().as_str());
    assert_eq!(claims["upn"], compliant.profile.upn.as_str());
    // A code is single use.
    let again = t
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", t.tenant.portal_app_id.as_str()),
            ("client_secret", t.tenant.portal_secret.as_str()),
            ("redirect_uri", t.tenant.portal_redirect_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["error_codes"][0], 70008);
    // The user's token answers at Graph's OIDC UserInfo endpoint (the discovery document's).
    let userinfo_url =
        t.http.get(format!("{}/{}/v2.0/.well-known/openid-configuration", t.cloud.url(), t.tenant.tenant_id)).send().await.unwrap();
    let userinfo_url = userinfo_url.json::<Value>().await.unwrap()["userinfo_endpoint"].as_str().unwrap().to_string();
    let me: Value =
        t.http.get(&userinfo_url).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!((me["sub"].as_str(), me["email"].as_str()), (claims["sub"].as_str(), Some(compliant.profile.upn.as_str())), "{me}");
    assert!(me["name"].is_string(), "{me}");
    let app_only = t.http.get(&userinfo_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(app_only.status(), 401, "UserInfo is for a signed-in user");
    // Entra notes the sign-in on the device, and until when its compliance holds.
    let id = compliant.device_id.clone().unwrap();
    let (_, d) = t.graph_get(&token, &format!("devices(deviceId='{id}')")).await;
    let at = |field: &str| chrono::DateTime::parse_from_rfc3339(d[field].as_str().unwrap_or_else(|| panic!("{field}: {d}"))).unwrap();
    let signed_in = at("approximateLastSignInDateTime").timestamp();
    assert!((t.clock.now().timestamp() - 5..=t.clock.now().timestamp()).contains(&signed_in), "{d}");
    let validity = at("complianceExpirationDateTime") - t.clock.now().fixed_offset();
    assert!((29..=30).contains(&validity.num_days()), "the default 30-day validity period: {validity}");

    // A noncompliant Mac: AADSTS53000, and the link leads to its instance's remediation page.
    let SignIn::Refused { aadsts, partner_link } = sign_in(&t, &fleet, &noncompliant, true).await else {
        panic!("noncompliant Mac let in")
    };
    assert_eq!(aadsts, "AADSTS53000");
    let landed = follow(&t, &partner_link.clone().unwrap()).await;
    assert!(landed.url.starts_with(&format!("{}/remediation", t.instance_url("hq"))), "{}", landed.url);
    assert!(landed.body.contains(noncompliant.device_id.as_deref().unwrap()));
    remediation_names_the_fixes(&t, &noncompliant, &partner_link.unwrap()).await;

    // An unrecognised Mac: AADSTS530003, and the instance's default registration page.
    let SignIn::Refused { aadsts, partner_link } = sign_in(&t, &fleet, &unregistered, false).await else {
        panic!("unrecognised Mac let in")
    };
    assert_eq!(aadsts, "AADSTS530003");
    let landed = follow(&t, &partner_link.unwrap()).await;
    assert!(landed.url.starts_with(&format!("{}/device-registration", t.instance_url("hq"))), "{}", landed.url);
    assert!(landed.body.contains("Register your Mac"));

    // Drift: FileVault turned off on the compliant Mac; the next report blocks it.
    let mut drifted = compliant.clone();
    drifted.profile.filevault = false;
    fleet.report_inventory(&drifted, t.clock.now() + chrono::Duration::seconds(60)).await.unwrap();
    let id = compliant.device_id.clone().unwrap();
    eventually("re-evaluation", || async { (is_compliant(&t, &token, &id).await == Some(false)).then_some(()) }).await;
    assert!(matches!(sign_in(&t, &fleet, &compliant, true).await, SignIn::Refused { ref aadsts, .. } if aadsts == "AADSTS53000"));

    // Every evaluation is in the sign-in log, with the policy and its result.
    let (status, log) = t.graph_get(&token, "auditLogs/signIns").await;
    assert_eq!(status, 200, "{log}");
    let entries = log["value"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    let codes: Vec<i64> = entries.iter().map(|e| e["status"]["errorCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, [53000, 530003, 53000, 0], "newest first");
    assert_eq!(entries[3]["appliedConditionalAccessPolicies"][0]["result"], "success");
    assert_eq!(entries[0]["appliedConditionalAccessPolicies"][0]["result"], "failure");
    let (_, policies) = t.graph_get(&token, "identity/conditionalAccess/policies").await;
    assert_eq!(policies["value"][0]["grantControls"]["builtInControls"][0], "compliantDevice");

    // The unrecognised Mac's user follows the landing page's Register action; once the
    // instance has sent its inventory, the same sign-in succeeds.
    let mut unregistered = unregistered;
    let landing = follow(&t, &format!("{}/device-registration", t.instance_url("hq"))).await;
    assert!(fleet.register_from_landing_page(&mut unregistered, &landing.body).await.unwrap(), "{}", landing.body);
    let id = unregistered.device_id.clone().unwrap();
    eventually("registered Mac evaluated", || async { is_compliant(&t, &token, &id).await.filter(|c| *c).map(|_| ()) }).await;
    assert!(matches!(sign_in(&t, &fleet, &unregistered, true).await, SignIn::Granted { .. }));

    // A policy that blocks the app outright: AADSTS53003, whatever the device.
    let block = cloud::entra::conditional_access::Policy {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: "Block Contoso Portal".into(),
        state: cloud::entra::conditional_access::PolicyState::Enabled,
        conditions: cloud::entra::conditional_access::Conditions {
            include_groups: vec![t.tenant.mac_users_group_id.clone()],
            include_applications: vec![t.tenant.portal_app_id.clone()],
            ..Default::default()
        },
        grant: cloud::entra::conditional_access::GrantControl::Block,
    };
    t.cloud.state.store.insert_ca_policy(&t.tenant.tenant_id, &block, t.clock.now_ms()).await.unwrap();
    assert!(matches!(sign_in(&t, &fleet, &unregistered, true).await, SignIn::Refused { ref aadsts, .. } if aadsts == "AADSTS53003"));
    t.stop().await;
}

#[tokio::test]
async fn s4_unrecognised_macs_land_on_the_configured_page_of_their_instance() {
    let t = spawn(3).await;
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    // hq: Access Denied page; labs: a custom URL.
    for (slug, landing, custom) in [("hq", "access_denied", ""), ("labs", "custom", "https://help.contoso.example/mac")] {
        let b = admin_steps::mdm_sign_in(&t, slug).await.unwrap();
        let page = admin_steps::mdm_connect(&t, &b, slug, landing, custom).await.unwrap();
        let page = admin_steps::consent_as(&t, &b, page, &t.tenant.admin.upn, &t.tenant.admin.password).await.unwrap();
        let app_id = page.element_text("application-id").unwrap();
        admin_steps::intune_set_app_id(&t, &app_id).await.unwrap();
        let page =
            b.post_form(&format!("{}/settings/global-management/conditional-access/confirm", t.instance_url(slug)), &[]).await.unwrap();
        assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{slug}");
    }
    let on_hq = onboard(&t, &fleet, 0, "hq", true, true).await;
    let on_labs = onboard(&t, &fleet, 1, "labs", true, true).await;
    for mac in [&on_hq, &on_labs] {
        let slug = if mac.instance_url.ends_with("/hq") { "hq" } else { "labs" };
        eventually("delivery", || async {
            let s = t.mdm_read(slug, "conditional-access/summary").await;
            (s["delivered"] == 1).then_some(())
        })
        .await;
    }
    // Both users sign in from a browser that presents no device: the cloud cannot tell
    // the instance, the connector routes by user.
    let SignIn::Refused { aadsts, partner_link } = sign_in(&t, &fleet, &on_hq, false).await else { panic!() };
    assert_eq!(aadsts, "AADSTS530003");
    let landed = follow(&t, &partner_link.unwrap()).await;
    assert!(landed.url.starts_with(&format!("{}/access-denied", t.instance_url("hq"))), "{}", landed.url);
    let SignIn::Refused { partner_link, .. } = sign_in(&t, &fleet, &on_labs, false).await else { panic!() };
    let resp = t.http.get(partner_link.unwrap()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "https://help.contoso.example/mac");
    t.stop().await;
}

/// Self-service remediation: a user refused for FileVault follows the link, turns
/// FileVault on, presses Recheck; their Mac's agent answers the instance's Update
/// Inventory at once, and the page shows Intune's new verdict within seconds. The same
/// sign-in then succeeds.
#[tokio::test]
async fn s4_a_user_fixes_their_mac_and_recheck_shows_the_new_verdict() {
    let t = spawn(3).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let token = t.test_client_token().await;
    let mac = onboard(&t, &fleet, 0, "hq", false, true).await;
    let id = mac.device_id.clone().unwrap();
    eventually("evaluation", || async { is_compliant(&t, &token, &id).await }).await;
    let SignIn::Refused { partner_link, .. } = sign_in(&t, &fleet, &mac, true).await else { panic!("noncompliant Mac let in") };
    let link = partner_link.unwrap();
    remediation_names_the_fixes(&t, &mac, &link).await;
    let shared = std::sync::Arc::new(tokio::sync::Mutex::new(mac.clone()));
    let agent = tokio::spawn(fleet.clone().run_agent(shared.clone(), t.clock.clone()));

    // A minute later the user has turned FileVault on; the Mac has not reported yet.
    t.advance_clock(60).await;
    shared.lock().await.profile.filevault = true;
    let started = std::time::Instant::now();
    let done = cloudconnector::demo_rollout::press_recheck(&t.browser(), &link).await.unwrap();
    assert!(done.url.contains("&recheck="), "{}", done.url);
    let took = started.elapsed();
    assert!(done.element_text("verdict").is_some_and(|v| v.contains("compliant")), "{}", done.body);
    assert!(done.texts("#fixes td").is_empty(), "{}", done.body);
    assert_eq!(is_compliant(&t, &token, &id).await, Some(true));
    assert!(matches!(sign_in(&t, &fleet, &mac, true).await, SignIn::Granted { .. }));
    // Pressed again within a minute, Recheck follows the same answered command (a burst
    // of presses makes the Mac report once); a minute later it asks the Mac anew (put
    // away meanwhile, the Mac does not answer).
    agent.abort();
    let action = done.attributes("form", "action").into_iter().find(|a| a.contains("/remediation/recheck")).expect("Recheck again");
    let action = reqwest::Url::parse(&done.url).unwrap().join(&action).unwrap().to_string();
    let again = t.browser().post_form(&action, &[]).await.unwrap();
    assert_eq!(again.url, done.url);
    t.advance_clock(61).await;
    let later = t.browser().post_form(&action, &[]).await.unwrap();
    assert_ne!(later.url, done.url);
    assert_eq!(later.element_text("recheck-status").as_deref(), Some("Asking your Mac to report its state…"), "{}", later.body);
    // Unanswered for two minutes, the page says so; pressed again, the Mac gets its time again.
    t.advance_clock(150).await;
    let unanswered = follow(&t, &later.url).await;
    assert!(unanswered.element_text("recheck-status").is_some_and(|s| s.starts_with("Your Mac has not answered")), "{}", unanswered.body);
    let retried = t.browser().post_form(&action, &[]).await.unwrap();
    assert_eq!(retried.url, later.url, "the waiting command is asked again, not queued twice");
    assert_eq!(retried.element_text("recheck-status").as_deref(), Some("Asking your Mac to report its state…"));
    eprintln!("recheck to verdict: {took:?}");
    t.stop().await;
}
