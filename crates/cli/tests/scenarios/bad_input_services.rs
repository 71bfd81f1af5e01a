//! Malformed and unauthorised requests to the connector and the mdm get a precise
//! problem+json answer and change nothing.

use cloudconnector::admin_steps;
use serde_json::{Value, json};

use crate::harness::spawn;

async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn connector_api_refuses_bad_requests() {
    let t = spawn(1).await;
    let c = t.connector.url();
    // Registration needs the shared secret.
    let (status, body) = problem(
        t.http
            .post(format!("{c}/api/v1/instances"))
            .bearer_auth("wrong")
            .json(&json!({"external_id": "x", "name": "x", "url": "https://x", "version": "11"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // Every instance call needs a valid credential.
    let (status, _) = problem(t.http.post(format!("{c}/api/v1/inventory")).json(&json!({"updates": []})).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) = problem(t.http.get(format!("{c}/api/v1/links/current")).bearer_auth("forged").send().await.unwrap()).await;
    assert_eq!(status, 401);

    // With a connected instance: garbage, bad device IDs, and a forged consent state.
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let (status, body) = problem(
        t.http
            .post(format!("{c}/api/v1/inventory"))
            .bearer_auth(&credential)
            .header("content-type", "application/json")
            .body("{\"updates\": [")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["type"].as_str()), (422, Some("urn:cloudconnector:problem:invalid-request")), "{body}");
    let bad = json!({"updates": [{"computer_id": "1", "sequence": 1, "item": {"EntityType": 0, "TenantId": "", "DeviceId": "not-a-guid", "UserId": "u", "LastUpdateTime": "2026-01-01T00:00:00Z"}}]});
    let (status, body) =
        problem(t.http.post(format!("{c}/api/v1/inventory")).bearer_auth(&credential).json(&bad).send().await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(body["detail"].as_str().unwrap().contains("updates[0].item.DeviceId"), "{body}");
    let (status, body) = problem(
        t.http.get(format!("{c}/onboarding/callback?state=forged&tenant={}&admin_consent=True", t.tenant.tenant_id)).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, body["type"].as_str()), (404, Some("urn:cloudconnector:problem:unknown-consent-state")), "{body}");
    let (status, body) =
        problem(t.http.get(format!("{c}/onboarding/callback?tenant={}&admin_consent=True", t.tenant.tenant_id)).send().await.unwrap())
            .await;
    assert_eq!((status, body["type"].as_str()), (400, Some("urn:cloudconnector:problem:invalid-consent-state")), "{body}");
    let (status, _) =
        problem(t.http.post(format!("{c}/api/v1/links/{}/confirm", uuid::Uuid::new_v4())).bearer_auth(&credential).send().await.unwrap())
            .await;
    assert_eq!(status, 404);
    t.stop().await;
}

#[tokio::test]
async fn agent_api_refuses_bad_requests_and_keeps_the_stored_state() {
    let t = spawn(1).await;
    let url = t.instance_url("hq");
    let (status, _) = problem(
        t.http
            .post(format!("{url}/api/agent/v1/enrollments"))
            .json(&json!({"invitation": "wrong", "udid": "U", "serial_number": "S", "device_name": "N", "model": "M"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = problem(t.http.put(format!("{url}/api/agent/v1/inventory")).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) =
        problem(t.http.post(format!("{}/api/agent/v1/enrollments", t.instance_url("nope"))).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 404);

    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let profile = fleet::generate(&users, 3, 0.0).remove(0);
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let mac = fleet.enroll(profile, &url, &t.instance("hq").invitation).await.unwrap();
    let now = t.clock.now();
    fleet.report_inventory(&mac, now).await.unwrap();
    // A report older than the stored one is refused and changes nothing.
    let stale = fleet::Fleet::inventory(&mac, now - chrono::Duration::hours(1));
    let (status, body) =
        problem(t.http.put(format!("{url}/api/agent/v1/inventory")).bearer_auth(&mac.credential).json(&stale).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = problem(
        t.http
            .put(format!("{url}/api/agent/v1/inventory"))
            .bearer_auth(&mac.credential)
            .header("content-type", "application/json")
            .body("[]")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = problem(
        t.http
            .post(format!("{url}/api/agent/v1/aad-registrations"))
            .bearer_auth(&mac.credential)
            .json(&json!({"username": "u", "aad_device_id": "zzz", "aad_user_id": uuid::Uuid::new_v4(), "upn": "u@contoso.example"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["detail"].as_str().unwrap().contains("aad_device_id"));
    let view = t.mdm_read("hq", &format!("computers/{}/conditional-access", mac.computer_id)).await;
    assert_eq!(view["users"][0]["conditional_access_inventory_state"], "UNKNOWN");
    assert_eq!(view["users"][0]["computer_azure_active_directory_id"], Value::Null);
    // The read API needs admin credentials.
    let resp = t.http.get(format!("{url}/api/v1/conditional-access")).basic_auth("admin", Some("wrong")).send().await.unwrap();
    assert_eq!(problem(resp).await.0, 401);
    t.stop().await;
}

/// PostgreSQL's text cannot hold U+0000 (SQLite's can): every service refuses it up front,
/// in its own error shape, so the same request gets the same answer on either database and
/// never a 500. The six characters `\u0000` (an escaped backslash) are ordinary text.
#[tokio::test]
async fn nul_characters_are_refused_alike_on_every_database() {
    let t = spawn(1).await;
    let (cloud, connector, hq) = (t.cloud.url(), t.connector.url(), t.instance_url("hq"));
    let registration = match &t.connector {
        cloudconnector::stack::ConnectorService::InProcess(c) => c.state.config.registration_secret.clone(),
        cloudconnector::stack::ConnectorService::Process(_) => unreachable!("in-process in this test"),
    };
    let instance = |version: &str| json!({"external_id": "nul-test", "name": "NUL test", "url": "https://mdm.example", "version": version});
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()), resp.text().await.unwrap())
    };
    let registering = |body: Value| t.http.post(format!("{connector}/api/v1/instances")).bearer_auth(&registration).json(&body);
    let (status, shape, body) = send(registering(instance("11\u{0}"))).await;
    assert_eq!((status, shape.as_deref()), (422, Some("application/problem+json")), "{body}");
    assert!(body.contains("NUL"), "{body}");
    let (status, _, body) = send(registering(instance("11\\u0000"))).await;
    assert_eq!(status, 200, "an escaped backslash is text: {body}");

    let enrolment =
        json!({"invitation": t.instance("hq").invitation, "udid": "U-1", "serial_number": "S1", "device_name": "Mac\u{0}", "model": "Mac"});
    let (status, shape, body) = send(t.http.post(format!("{hq}/api/agent/v1/enrollments")).json(&enrolment)).await;
    assert_eq!((status, shape.as_deref()), (422, Some("application/problem+json")), "{body}");
    let (i_user, i_password) = (&t.instance("hq").admin_username, &t.instance("hq").admin_password);
    let filter = t.http.get(format!("{hq}/api/v1/computers-inventory?filter=general.name%3D%3D%00")).basic_auth(i_user, Some(i_password));
    let (status, shape, body) = send(filter).await;
    assert_eq!((status, shape.as_deref()), (422, Some("application/problem+json")), "{body}");
    assert_eq!(t.mdm_read("hq", "conditional-access/summary").await["computers"], 0, "nothing was enrolled");

    let token = t
        .http
        .post(format!("{cloud}/{}/oauth2/v2.0/token", t.tenant.tenant_id))
        .header("content-type", "application/x-www-form-urlencoded");
    let (status, _, body) = send(token.body("grant_type=client_credentials&client_id=a%00b&client_secret=x&scope=x")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("NUL"), "{body}");
}
