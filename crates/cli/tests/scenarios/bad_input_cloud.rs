//! Malformed and unauthorised requests to the cloud get the error body and code of the
//! real service.

use base64::Engine;
use cloudconnector::admin_steps;
use serde_json::Value;

use crate::harness::{TestStack, spawn};

async fn token_error(t: &TestStack, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = t.http.post(format!("{}/{tenant}/oauth2/v2.0/token", t.cloud.url())).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn code(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn token_endpoint_answers_with_aadsts_errors() {
    let t = spawn(1).await;
    let tid = t.tenant.tenant_id.clone();
    let (app, secret) = (t.provider.connector_app_id.clone(), t.provider.connector_secret.clone());
    let graph = "https://graph.microsoft.com/.default";
    // (what, form, HTTP status, AADSTS code, tenant segment)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, u64, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown tenant",
            vec![("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", &secret), ("scope", graph)],
            400,
            90002,
            "nowhere.example",
        ),
        (
            "malformed tenant",
            vec![("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", &secret), ("scope", graph)],
            400,
            900023,
            "contoso",
        ),
        (
            "two resources",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &app),
                ("client_secret", &secret),
                ("scope", "https://graph.microsoft.com/.default https://api.manage.microsoft.com//.default"),
            ],
            400,
            700022,
            &tid,
        ),
        ("missing grant_type", vec![("client_id", &app)], 400, 900144, &tid),
        ("unsupported grant", vec![("grant_type", "implicit"), ("scope", graph)], 400, 70003, &tid),
        (
            "wrong secret",
            vec![("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", "nope"), ("scope", graph)],
            401,
            7000215,
            &tid,
        ),
        ("no secret", vec![("grant_type", "client_credentials"), ("client_id", &app), ("scope", graph)], 401, 7000218, &tid),
        (
            "unknown app",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-1111-1111-1111-111111111111"),
                ("client_secret", "x"),
                ("scope", graph),
            ],
            400,
            700016,
            &tid,
        ),
        (
            "bad scope",
            vec![("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", &secret), ("scope", "User.Read")],
            400,
            70011,
            &tid,
        ),
        ("resource on v2", vec![("grant_type", "client_credentials"), ("resource", "https://graph.microsoft.com")], 400, 901002, &tid),
        (
            "unknown resource",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &t.tenant.test_client_id),
                ("client_secret", &t.tenant.test_client_secret),
                ("scope", "https://example.com/.default"),
            ],
            400,
            500011,
            &tid,
        ),
        (
            "common with client credentials",
            vec![("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", &secret), ("scope", graph)],
            400,
            50059,
            "common",
        ),
        (
            "wrong password",
            vec![
                ("grant_type", "password"),
                ("client_id", wire::ids::COMPANY_PORTAL_APP_ID),
                ("username", &t.tenant.admin.upn),
                ("password", "wrong"),
                ("scope", "urn:ms-drs:enterpriseregistration.windows.net/.default"),
            ],
            400,
            50126,
            &tid,
        ),
    ];
    for (name, form, status, aadsts, tenant) in cases {
        let (got, body) = token_error(&t, tenant, &form).await;
        assert_eq!((got, code(&body)), (status, aadsts), "{name}: {body}");
        assert!(body["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{aadsts}:")), "{name}: {body}");
        for field in ["error", "timestamp", "trace_id", "correlation_id"] {
            assert!(body.get(field).is_some(), "{name}: {field} missing");
        }
    }
    // The connector app is not consented in the customer tenant yet: AADSTS700016.
    let (status, body) =
        token_error(&t, &tid, &[("grant_type", "client_credentials"), ("client_id", &app), ("client_secret", &secret), ("scope", graph)])
            .await;
    assert_eq!((status, code(&body)), (400, 700016), "{body}");
    // Unknown form fields are ignored, Basic client authentication works, v1 answers too.
    let resp = t
        .http
        .post(format!("{}/{tid}/oauth2/token", t.cloud.url()))
        .basic_auth(&t.tenant.test_client_id, Some(&t.tenant.test_client_secret))
        .form(&[("grant_type", "client_credentials"), ("resource", "https://graph.microsoft.com"), ("x-client-SKU", "test")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["expires_in"].is_string() && body["expires_on"].is_string() && body["resource"] == "https://graph.microsoft.com");
    t.stop().await;
}

#[tokio::test]
async fn tokens_are_verified_by_signature_audience_and_the_injected_clock() {
    let t = spawn(1).await;
    let token = t.test_client_token().await;
    let (status, _) = t.graph_get(&token, "devices").await;
    assert_eq!(status, 200);
    // Published keys verify the token: the JWKS and discovery documents are consistent.
    let config: Value = t
        .http
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", t.cloud.url(), t.tenant.tenant_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], format!("{}/{}/v2.0", t.cloud.url(), t.tenant.tenant_id));
    let jwks: Value = t.http.get(config["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]));

    // Altered payload, missing token, `alg: none`: refused with the Graph error body.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"aud":"https://graph.microsoft.com","tid":"x","roles":["Device.Read.All"],"exp":9999999999,"nbf":0}"#);
    for forged in [
        parts.join("."),
        String::new(),
        format!("{}.{}.", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]),
    ] {
        let (status, body) = t.graph_get(&forged, "devices").await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
    // Two hours later the token has expired.
    t.advance_clock(2 * 3600).await;
    let (status, body) = t.graph_get(&token, "devices").await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
    t.stop().await;
}

#[tokio::test]
async fn graph_consent_registration_and_partner_services_refuse_bad_requests() {
    let t = spawn(1).await;
    let token = t.test_client_token().await;
    // Graph: unsupported filter, bad version, missing permission.
    let (status, body) = t.graph_get(&token, "devices?$filter=complianceExpirationDateTime%20eq%20null").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")), "{body}");
    let resp = t.http.get(format!("{}/graph/v9/devices", t.cloud.url())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let (status, body) = t.graph_get(&token, "devices?$top=0").await;
    assert_eq!(status, 400, "{body}");

    // Admin consent: redirect URI not registered, unknown application.
    let url = format!(
        "{}/organizations/adminconsent?client_id={}&redirect_uri=https://evil.example/cb&state=x",
        t.cloud.url(),
        t.provider.connector_app_id
    );
    let resp = t.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("AADSTS50011"));
    let url =
        format!("{}/organizations/adminconsent?client_id=22222222-2222-2222-2222-222222222222&redirect_uri=https://x/cb", t.cloud.url());
    assert!(t.http.get(url).send().await.unwrap().text().await.unwrap().contains("AADSTS700016"));

    // Device registration: no user token; a garbage certificate request.
    let resp = t.http.post(format!("{}/EnrollmentServer/device/", t.cloud.url())).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = t
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.domain))
        .form(&[
            ("grant_type", "password"),
            ("client_id", wire::ids::COMPANY_PORTAL_APP_ID),
            ("username", &t.tenant.users[0].upn),
            ("password", &t.tenant.users[0].password),
            ("scope", "urn:ms-drs:enterpriseregistration.windows.net/.default"),
        ])
        .send()
        .await
        .unwrap();
    let user_token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let resp = t
        .http
        .post(format!("{}/EnrollmentServer/device/", t.cloud.url()))
        .bearer_auth(&user_token)
        .json(&serde_json::json!({
            "CertificateRequest": {"Type": "pkcs10", "Data": "bm90IGEgY3Ny"}, "DeviceType": "MacOS", "OSVersion": "14.5",
            "DeviceDisplayName": "Mac", "JoinType": 4,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("PKCS#10"));

    // Partner services: connect hq so the App ID is configured, then break the rules.
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let intune = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let (_, endpoints) = t
        .graph_get(
            &t.connector_token("https://graph.microsoft.com/.default").await,
            &format!("servicePrincipals/appId={}/endpoints", wire::ids::INTUNE_APP_ID),
        )
        .await;
    let device_sync = endpoints["value"].as_array().unwrap().iter().find(|e| e["providerName"] == "PartnerDeviceDataSyncService").unwrap()
        ["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |id: String, token: String, body: String| {
        let http = t.http.clone();
        let url = format!("{device_sync}/DataUploadMessages(guid'{id}')?api-version=1.0");
        async move { http.put(url).bearer_auth(token).header("content-type", "application/json").body(body).send().await.unwrap() }
    };
    let tid = t.tenant.tenant_id.clone();
    let id = uuid::Uuid::new_v4().to_string();
    let good = format!(
        r#"{{"TenantId":"{tid}","UploadTime":"2026-01-01T00:00:00Z","Content":[{{"EntityType":0,"TenantId":"{tid}","DeviceId":"{}","UserId":"u","LastUpdateTime":"2026-01-01T00:00:00Z"}}]}}"#,
        uuid::Uuid::new_v4()
    );
    // No update_device_attributes role: the test client's token.
    let graph_only = {
        let (_, b) = t.token(&tid, &t.tenant.test_client_id, &t.tenant.test_client_secret, "https://graph.microsoft.com/.default").await;
        b["access_token"].as_str().unwrap().to_string()
    };
    assert_eq!(put(id.clone(), graph_only, good.clone()).await.status(), 401, "a Graph token is not for the Intune API");
    assert_eq!(put(id.clone(), intune.clone(), "{not json".into()).await.status(), 400);
    // A message for another tenant: authenticated, but not allowed to write there.
    assert_eq!(put(id.clone(), intune.clone(), good.replace(tid.as_str(), "33333333-3333-3333-3333-333333333333")).await.status(), 403);
    let resp = put(id.clone(), intune.clone(), good.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(put(id.clone(), intune.clone(), good.clone()).await.status(), 200, "a retried PUT is answered again");
    // Other content under this ID is a conflict only while the message is pending
    // (`store::uploads` tests it); once processed it is a new message (`live_partner`).
    // The unknown device is rejected per item, not dropped.
    let status_url = format!("{device_sync}/DataUploadMessages(guid'{id}')?api-version=1.2");
    let status = crate::harness::eventually("message processed", || {
        let (http, url, token) = (t.http.clone(), status_url.clone(), intune.clone());
        async move {
            let s: Value = http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            (s["Status"] != "Pending").then_some(s)
        }
    })
    .await;
    assert_eq!(status["Status"], "Completed");
    assert_eq!(status["ItemResults"][0]["Status"], "Rejected");
    assert_eq!(status["ItemResults"][0]["ErrorCode"], "DeviceNotFound");
    // Every item of that message was refused: Intune shows the partner Rejected.
    let reader = t.test_client_token().await;
    let (_, partners) = t.graph_get(&reader, "deviceManagement/deviceManagementPartners").await;
    assert_eq!(partners["value"][0]["partnerState"], "rejected");
    let resp = t
        .http
        .get(format!("{device_sync}/DataUploadMessages(guid'{}')?api-version=1.2", uuid::Uuid::new_v4()))
        .bearer_auth(&intune)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = t
        .http
        .get(format!("{}/aadgraph/{tid}/servicePrincipalsByAppId/{}/serviceEndpoints", t.cloud.url(), wire::ids::INTUNE_APP_ID))
        .bearer_auth(&intune)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "api-version is required");
    t.stop().await;
}

#[tokio::test]
async fn expired_secrets_and_oversized_bodies_are_refused() {
    let t = spawn(1).await;
    // Seeded secrets last two years: a day after that, the secret is expired.
    t.advance_clock((2 * 365 + 1) * 24 * 3600).await;
    let (status, body) =
        t.token(&t.tenant.tenant_id, &t.tenant.test_client_id, &t.tenant.test_client_secret, "https://graph.microsoft.com/.default").await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7000222)), "{body}");
    // A body far beyond any token request: 413 in the service's error shape.
    let huge = "a".repeat(9 * 1024 * 1024);
    let resp = t.http.post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id)).body(huge.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    let resp = t
        .http
        .post(format!("{}/api/v1/inventory", t.connector.url()))
        .bearer_auth("x")
        .body("b".repeat(17 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    t.stop().await;
}

/// An oversized body is answered 413 over HTTP/2 as over HTTP/1.1, whether its length is
/// declared or it streams, by every service (curl as the client: it reports a stream
/// reset instead of a status when a server answers without reading the body).
#[tokio::test]
async fn oversized_bodies_get_413_over_http2_too() {
    let t = spawn(1).await;
    let big = t.data_dir().join("big.bin");
    std::fs::write(&big, vec![b'a'; 20 * 1024 * 1024]).unwrap();
    let ca = t.endpoints().ca_certificate;
    let targets = [
        format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id),
        format!("{}/api/v1/inventory", t.connector.url()),
        format!("{}/api/v1/computers-inventory/import", t.instance_url("hq")),
    ];
    for url in &targets {
        for (protocol, streamed) in [("--http2", false), ("--http2", true), ("--http1.1", false)] {
            let mut args = vec!["-sS", protocol, "--cacert", &ca, "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "-X", "POST"];
            args.extend(["-H", "Authorization: Bearer x"]);
            if streamed {
                args.extend(["-H", "Transfer-Encoding: chunked"]);
            }
            let data = format!("@{}", big.display());
            args.extend(["--data-binary", &data, url]);
            let out = tokio::task::spawn_blocking({
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                move || std::process::Command::new("curl").args(args).output().expect("curl")
            })
            .await
            .unwrap();
            let answer = String::from_utf8_lossy(&out.stdout);
            let version = if protocol == "--http2" { "2" } else { "1.1" };
            assert_eq!(answer, format!("413 {version}"), "{url} {protocol} streamed={streamed}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    t.stop().await;
}
