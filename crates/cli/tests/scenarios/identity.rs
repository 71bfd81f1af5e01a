//! The identity platform at the depth Microsoft's clients rely on: certificate
//! credentials, key rotation, Graph directory collections, tenant isolation, throttling.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudconnector::stack::StackOptions;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::{TestStack, spawn};

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

/// A client assertion for the test client, signed with `alg` and naming the certificate
/// by SHA-256 (PS256) or SHA-1 (RS256) thumbprint.
fn assertion(t: &TestStack, alg: Algorithm, jti: &str, audience: &str) -> String {
    let der = der_of(&t.tenant.test_client_certificate_pem);
    let (sha1, sha256) = cloud::entra::assertions::thumbprints(&der);
    let mut header = Header::new(alg);
    if alg == Algorithm::PS256 {
        header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha256));
    } else {
        header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1));
    }
    let now = t.clock.now().timestamp();
    let claims = json!({"aud": audience, "iss": t.tenant.test_client_id, "sub": t.tenant.test_client_id, "jti": jti,
        "nbf": now, "iat": now, "exp": now + 600});
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(t.tenant.test_client_key_pem.as_bytes()).unwrap()).unwrap()
}

async fn token_with_assertion(t: &TestStack, assertion: &str) -> (u16, Value) {
    let resp = t
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", t.tenant.test_client_id.as_str()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn certificate_credentials_are_checked_and_never_forged() {
    let t = spawn(1).await;
    let aud = format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id);
    for alg in [Algorithm::PS256, Algorithm::RS256] {
        let jti = uuid::Uuid::new_v4().to_string();
        let a = assertion(&t, alg, &jti, &aud);
        let (status, body) = token_with_assertion(&t, &a).await;
        assert_eq!(status, 200, "{alg:?}: {body}");
        let token = body["access_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["appidacr"], "2", "certificate authentication is recorded in the token");
        // MSAL presents one assertion again for minutes: accepted until it expires.
        assert_eq!(token_with_assertion(&t, &a).await.0, 200, "the same assertion again");
        // Another assertion reusing its jti is not.
        let other = assertion(&t, alg, &jti, &format!("{}/{}/oauth2/token", t.cloud.url(), t.tenant.tenant_id));
        let (status, body) = token_with_assertion(&t, &other).await;
        assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(50013)), "{body}");
    }
    // The audience Microsoft documents is accepted beside this cloud's own.
    let canonical = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", t.tenant.tenant_id);
    assert_eq!(token_with_assertion(&t, &assertion(&t, Algorithm::PS256, "canonical", &canonical)).await.0, 200);
    // Wrong audience, expired, `alg: none`, HS256 keyed with the certificate: all refused.
    let wrong_aud = assertion(&t, Algorithm::PS256, "a1", "https://login.microsoftonline.com/x/oauth2/v2.0/token");
    assert_eq!(token_with_assertion(&t, &wrong_aud).await.1["error_codes"][0], 700021);
    let stale = assertion(&t, Algorithm::PS256, "a2", &aud);
    t.advance_clock(3600).await;
    assert_eq!(token_with_assertion(&t, &stale).await.1["error_codes"][0], 700024);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({"aud": aud, "iss": t.tenant.test_client_id, "sub": t.tenant.test_client_id,
        "jti": "a3", "exp": t.clock.now().timestamp() + 300})
        .to_string(),
    );
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
    assert_eq!(token_with_assertion(&t, &none).await.1["error_codes"][0], 700027);
    let mut header = Header::new(Algorithm::HS256);
    header.x5t = Some(URL_SAFE_NO_PAD.encode(cloud::entra::assertions::thumbprints(&der_of(&t.tenant.test_client_certificate_pem)).0));
    let hs = jsonwebtoken::encode(
        &header,
        &json!({"aud": aud, "iss": t.tenant.test_client_id, "sub": t.tenant.test_client_id,
        "jti": "a4", "exp": t.clock.now().timestamp() + 300}),
        &EncodingKey::from_secret(t.tenant.test_client_certificate_pem.as_bytes()),
    )
    .unwrap();
    assert_eq!(token_with_assertion(&t, &hs).await.1["error_codes"][0], 700027);
    // A key the app never registered.
    let (other_cert, other_key) = cloud::seed::certificate("stranger").unwrap();
    let mut header = Header::new(Algorithm::PS256);
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(cloud::entra::assertions::thumbprints(&der_of(&other_cert)).1));
    let now = t.clock.now().timestamp();
    let foreign = jsonwebtoken::encode(
        &header,
        &json!({"aud": aud, "iss": t.tenant.test_client_id, "sub": t.tenant.test_client_id,
        "jti": "a5", "nbf": now, "exp": now + 300}),
        &EncodingKey::from_rsa_pem(other_key.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, body) = token_with_assertion(&t, &foreign).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(700027)), "{body}");
    t.stop().await;
}

#[tokio::test]
async fn signing_keys_rotate_and_old_tokens_stay_verifiable_until_they_expire() {
    let t = spawn(1).await;
    let jwks = || async {
        let v: Value = t.http.get(format!("{}/common/discovery/v2.0/keys", t.cloud.url())).send().await.unwrap().json().await.unwrap();
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let first = jwks().await;
    assert_eq!(first.len(), 1);
    // Just before the rotation is due, a token is issued with the first key.
    t.advance_clock(cloud::entra::tokens::ROTATE_AFTER_MS / 1000 - 600).await;
    let old = t.test_client_token().await;
    t.advance_clock(900).await;
    let now_keys = crate::harness::eventually("rotation", || async {
        let keys = jwks().await;
        (keys.len() == 2).then_some(keys)
    })
    .await;
    assert!(now_keys.contains(&first[0]), "the replaced key stays published");
    let new = t.test_client_token().await;
    let kid = |tok: &str| -> Value {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(tok.split('.').next().unwrap()).unwrap()).unwrap()["kid"].clone()
    };
    assert_ne!(kid(&old), kid(&new), "new tokens are signed with the new key");
    assert_eq!(t.graph_get(&old, "devices").await.0, 200, "a token of the old key is still accepted");
    // Once every token of the old key has expired, the key is withdrawn.
    t.advance_clock(2 * 3600).await;
    crate::harness::eventually("old key withdrawn", || async { (jwks().await.len() == 1).then_some(()) }).await;
    t.stop().await;
}

#[tokio::test]
async fn graph_directory_collections_page_select_and_never_cross_tenants() {
    let t = spawn(5).await;
    let other = cloud::seed::customer(
        &t.cloud.state.store,
        cloud::seed::CustomerSpec { domain: "fabrikam.example", name: "Fabrikam", users: 3, licensed: true },
        t.clock.now_ms(),
    )
    .await
    .unwrap();
    let ours = t.test_client_token().await;
    let (_, theirs) =
        t.token(&other.tenant_id, &other.test_client_id, &other.test_client_secret, "https://graph.microsoft.com/.default").await;
    let theirs = theirs["access_token"].as_str().unwrap().to_string();
    // The connector app (Directory.Read.All) reads the directory once consented, but not
    // the sign-in logs (AuditLog.Read.All): 403, as Graph answers.
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();
    let dir = t.connector_token("https://graph.microsoft.com/.default").await;
    let (status, body) = t.graph_get(&dir, "auditLogs/signIns").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    let (status, page) = t.graph_get(&dir, "users?$top=2&$select=userPrincipalName").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert!(page["value"][0].get("displayName").is_none() && page["value"][0]["userPrincipalName"].is_string());
    let mut all = page["value"].as_array().unwrap().clone();
    let mut next = page["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(url) = next {
        let body: Value = t.http.get(&url).bearer_auth(&dir).send().await.unwrap().json().await.unwrap();
        assert!(body["value"].is_array(), "{url}: {body}");
        all.extend(body["value"].as_array().unwrap().clone());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(all.len(), 6, "5 users and the admin");
    assert!(all.iter().all(|u| u["userPrincipalName"].as_str().unwrap().ends_with("@contoso.example")));
    let (_, groups) = t.graph_get(&dir, "groups?$filter=displayName%20eq%20'Mac%20users'").await;
    let group = groups["value"][0]["id"].as_str().unwrap().to_string();
    let (_, members) = t.graph_get(&dir, &format!("groups/{group}/members")).await;
    assert_eq!(members["value"].as_array().unwrap().len(), 5);
    let (_, sps) = t.graph_get(&dir, &format!("servicePrincipals?$filter=appId%20eq%20'{}'", t.provider.connector_app_id)).await;
    let sp = sps["value"][0]["id"].as_str().unwrap().to_string();
    let (_, roles) = t.graph_get(&dir, &format!("servicePrincipals/{sp}/appRoleAssignments")).await;
    let mut values: Vec<&str> = roles["value"].as_array().unwrap().iter().map(|r| r["appRoleValue"].as_str().unwrap()).collect();
    values.sort();
    assert_eq!(values, ["Directory.Read.All", "update_device_attributes"]);
    let (_, grants) = t.graph_get(&dir, &format!("oauth2PermissionGrants?$filter=clientId%20eq%20'{sp}'")).await;
    assert_eq!(grants["value"][0]["scope"], "User.Read");

    // Tenant isolation: every collection, both ways, shows only the caller's objects.
    let (_, mine) = t.graph_get(&ours, "servicePrincipals").await;
    let (_, yours) = t.graph_get(&theirs, "servicePrincipals").await;
    let ids = |v: &Value| v["value"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(ids(&mine).iter().all(|id| !ids(&yours).contains(id)));
    for path in ["devices", "deviceManagement/deviceManagementPartners", "deviceManagement/managedDevices", "applications"] {
        let (status, body) = t.graph_get(&theirs, path).await;
        if status == 200 {
            assert!(body["value"].as_array().unwrap().is_empty() || path == "applications", "{path} leaks: {body}");
        }
    }
    let (_, apps) = t.graph_get(&theirs, "applications").await;
    let (_, our_apps) = t.graph_get(&dir, "applications").await;
    assert!(ids(&apps).iter().all(|id| !ids(&our_apps).contains(id)));
    let (status, _) = t.graph_get(&theirs, &format!("users/{}", t.tenant.admin.upn)).await;
    assert_eq!(status, 404, "another tenant's user is invisible");
    let (status, _) = t.graph_get(&dir, &format!("users/{}", other.admin.id)).await;
    assert_eq!(status, 404, "another tenant's user answers as missing");
    let (status, _) = t.graph_get(&dir, &format!("servicePrincipals/appId={}/appRoleAssignments", other.test_client_id)).await;
    assert_eq!(status, 404);
    t.stop().await;
}

#[tokio::test]
async fn graph_throttles_each_app_per_tenant_with_retry_after() {
    let t = crate::harness::spawn_with(1, |o: &mut StackOptions| {
        o.throttle = cloud::throttle::ThrottleConfig { enabled: true, requests_per_window: 3, writes_per_window: 1, window_s: 20 };
    })
    .await;
    let token = t.test_client_token().await;
    for _ in 0..3 {
        assert_eq!(t.graph_get(&token, "devices").await.0, 200);
    }
    let resp = t.http.get(format!("{}/graph/v1.0/devices", t.cloud.url())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    t.advance_clock(retry_after as i64).await;
    assert_eq!(t.graph_get(&token, "devices").await.0, 200, "the budget is back after Retry-After");
    t.stop().await;
}

#[tokio::test]
async fn an_admin_registers_an_app_with_a_secret_and_an_intune_permission() {
    let t = spawn(1).await;
    let b = cloudconnector::admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let url = format!("{}/console/entra/app-registrations", t.cloud.url());
    let page = b.post_form(&url, &[("name", "Jamf Pro manual integration"), ("accounts", "single"), ("redirect_uri", "")]).await.unwrap();
    let message = page.element_text("message").unwrap();
    let app_id = message.rsplit(' ').next().unwrap().trim_end_matches('.').to_string();
    assert!(uuid::Uuid::parse_str(&app_id).is_ok(), "{message}");
    let page = b
        .post_form(
            &format!("{url}/{app_id}/permissions"),
            &[("resource", wire::ids::INTUNE_APP_ID), ("kind", "Application"), ("value", "no_such_role")],
        )
        .await
        .unwrap();
    assert!(page.element_text("message").unwrap().contains("has no application permission no_such_role"));
    b.post_form(
        &format!("{url}/{app_id}/permissions"),
        &[("resource", wire::ids::INTUNE_APP_ID), ("kind", "Application"), ("value", "update_device_attributes")],
    )
    .await
    .unwrap();
    let page = b.post_form(&format!("{url}/{app_id}/secrets"), &[("months", "12")]).await.unwrap();
    let message = page.element_text("message").unwrap();
    let secret = message.rsplit(' ').next().unwrap().to_string();
    assert!(!page.body.contains(&format!("{secret}…")), "only a hint is listed");
    // Before admin consent the token carries no role; after it, exactly the one required.
    let roles = |body: &Value| {
        body["access_token"].as_str().map(|tok| jsonwebtoken::dangerous::insecure_decode::<Value>(tok).unwrap().claims["roles"].clone())
    };
    let (status, body) = t.token(&t.tenant.tenant_id, &app_id, &secret, "https://api.manage.microsoft.com//.default").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(roles(&body), Some(Value::Null));
    b.post_form(&format!("{url}/{app_id}/consent"), &[]).await.unwrap();
    let (_, body) = t.token(&t.tenant.tenant_id, &app_id, &secret, "https://api.manage.microsoft.com//.default").await;
    assert_eq!(roles(&body), Some(json!(["update_device_attributes"])));
    t.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_keeps_the_callers_request_id_and_keys_carry_their_certificates() {
    let t = spawn(1).await;
    let id = "539da3bd-942f-25db-636b-27f6f6e8eae4";
    let resp = t
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", t.cloud.url(), t.tenant.tenant_id))
        .header("client-request-id", id)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["client-request-id"], id);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["correlation_id"], id);
    assert!(body["error_description"].as_str().unwrap().contains(&format!("Correlation ID: {id}")), "{body}");
    // JWKS keys carry their certificate and its thumbprint; tokens name it.
    let jwks: Value =
        t.http.get(format!("{}/{}/discovery/v2.0/keys", t.cloud.url(), t.tenant.tenant_id)).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert!(key["x5c"][0].as_str().is_some_and(|c| c.len() > 500) && key["x5t"].is_string(), "{key}");
    let token = t.test_client_token().await;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["x5t"], key["x5t"]);
    t.stop().await;
}

/// The answers Microsoft's clients parse: a v2 token answer and its claims, the v1 and v2
/// discovery documents, JWKS with issuers, and admin consent's redirect rules and cancel.
#[tokio::test]
async fn token_answers_discovery_documents_and_admin_consent_as_microsoft_gives_them() {
    let t = spawn(1).await;
    let (tid, base) = (t.tenant.tenant_id.clone(), t.cloud.url());
    let (status, answer) =
        t.token(&tid, &t.tenant.test_client_id, &t.tenant.test_client_secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(status, 200);
    assert_eq!(answer["token_type"], "Bearer");
    let lifetime = answer["expires_in"].as_i64().expect("expires_in is a number in v2");
    assert!((3600..=5400).contains(&lifetime), "60 to 90 minutes: {lifetime}");
    assert!(answer.get("refresh_token").is_none(), "no refresh token for client credentials");
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(answer["access_token"].as_str().unwrap()).unwrap().claims;
    assert_eq!((claims["ver"].as_str(), claims["iss"].as_str()), (Some("1.0"), Some(format!("https://sts.windows.net/{tid}/").as_str())));
    assert_eq!(claims["idtyp"], "app");

    let doc = |path: String| {
        let http = t.http.clone();
        async move { http.get(path).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let v1 = doc(format!("{base}/{tid}/.well-known/openid-configuration")).await;
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{tid}/"));
    let common = doc(format!("{base}/common/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(common["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    assert!(common["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().any(|m| m == "private_key_jwt"));
    assert_eq!(common["subject_types_supported"], json!(["pairwise"]));
    let keys = doc(format!("{base}/{tid}/discovery/v2.0/keys")).await;
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["issuer"] == format!("{base}/{tid}/v2.0")), "{keys}");
    let keys = doc(format!("{base}/common/discovery/v2.0/keys")).await;
    assert_eq!(keys["keys"][0]["issuer"], format!("{base}/{{tenantid}}/v2.0"));

    // Admin consent: a registered redirect URI with path segments added is taken; Cancel
    // comes back as permission_denied.
    let app = t.cloud.state.store.application(&t.provider.connector_app_id).await.unwrap().unwrap();
    let back = format!("{}/tenant-contoso", app.redirect_uris[0]);
    let b = t.browser();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", app.app_id.as_str()), ("redirect_uri", back.as_str()), ("state", "s1")])
        .finish();
    let page = b.get(&format!("{base}/{tid}/adminconsent?{query}")).await.unwrap();
    let action = page.form_action().unwrap_or_else(|_| panic!("{}", page.body));
    let page = b.post_form(&action, &[("login", &t.tenant.admin.upn), ("passwd", &t.tenant.admin.password)]).await.unwrap();
    let page = b.post_form(&page.form_action().unwrap(), &[("decision", "cancel")]).await.unwrap();
    let landed = url::Url::parse(&page.url).unwrap();
    assert!(landed.as_str().starts_with(&back), "{landed}");
    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(params.get("error").map(String::as_str), Some("permission_denied"));
    assert_eq!(params.get("error_description").map(String::as_str), Some("The admin canceled the request"));
    assert_eq!(params.get("state").map(String::as_str), Some("s1"));
    // The v1 form of admin consent leads to the same sign-in.
    let v1_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", app.app_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", app.redirect_uris[0].as_str()),
            ("prompt", "admin_consent"),
        ])
        .finish();
    let page = t.browser().get(&format!("{base}/{tid}/oauth2/authorize?{v1_query}")).await.unwrap();
    assert!(page.form_action().unwrap().contains("/consent/"), "{} {}", page.url, page.body);
    t.stop().await;
}

/// A sign-in's writes (its authorize request used up, its log entry, its code) are
/// committed, together with those of the sign-ins of the moment, before it is answered:
/// of eight sign-ins made at once every one is in the log, each request serves once
/// (AADSTS50058 the second time), and every code issued is redeemed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_made_at_once_are_written_before_their_answer_and_their_requests_serve_once() {
    let t = spawn(8).await;
    // Without the tenant's policy for Macs, these sign-ins (no device) are granted.
    assert!(t.cloud.state.store.delete_ca_policy(&t.tenant.tenant_id, &t.tenant.ca_policy_id).await.unwrap());
    let http = platform::http::client_builder(&t.ca.ca_pem).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = t.cloud.url();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", t.tenant.portal_app_id.as_str()),
            ("redirect_uri", t.tenant.portal_redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", "openid profile"),
        ])
        .finish();
    let mut actions = Vec::new();
    for _ in &t.tenant.users {
        let url = format!("{base}/organizations/oauth2/v2.0/authorize?{query}");
        let body = http.get(&url).send().await.unwrap().text().await.unwrap();
        actions.push(cloudconnector::browser::Page { url, status: 200, body }.form_action().unwrap());
    }
    let sign_in = |action: String, user: &cloud::seed::SeededUser| {
        let request = http.post(action).form(&[("login", user.upn.as_str()), ("passwd", user.password.as_str())]);
        async move { request.send().await.unwrap() }
    };
    let answers = futures_join_all(actions.iter().zip(&t.tenant.users).map(|(a, u)| sign_in(a.clone(), u))).await;
    let mut codes = Vec::new();
    for answer in answers {
        if answer.status().is_redirection() {
            let location = answer.headers()["location"].to_str().unwrap().to_string();
            let url = url::Url::parse(&location).unwrap();
            codes.push(url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.to_string()).expect("a code"));
        } else {
            let body = answer.text().await.unwrap();
            assert!(body.contains("AADSTS"), "neither a code nor a refusal: {body}");
        }
    }
    assert_eq!(codes.len(), 8, "every sign-in granted");
    let token = t.test_client_token().await;
    let (_, log) = t.graph_get(&token, "auditLogs/signIns").await;
    assert_eq!(log["value"].as_array().unwrap().len(), 8, "{log}");

    for (action, user) in actions.iter().zip(&t.tenant.users) {
        let again = sign_in(action.clone(), user).await.text().await.unwrap();
        assert!(again.contains("AADSTS50058"), "a used sign-in request served again: {again}");
    }
    // One request signed in twice at the same moment: one code, one AADSTS50058.
    let url = format!("{base}/organizations/oauth2/v2.0/authorize?{query}");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    let action = cloudconnector::browser::Page { url, status: 200, body }.form_action().unwrap();
    let user = &t.tenant.users[0];
    let twice = futures_join_all([sign_in(action.clone(), user), sign_in(action, user)].into_iter()).await;
    let granted = twice.iter().filter(|a| a.status().is_redirection()).count();
    assert_eq!(granted, 1, "a request serves one sign-in, even two at once");

    for code in &codes {
        let redeem = || {
            http.post(format!("{base}/organizations/oauth2/v2.0/token")).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", t.tenant.portal_app_id.as_str()),
                ("client_secret", t.tenant.portal_secret.as_str()),
                ("redirect_uri", t.tenant.portal_redirect_uri.as_str()),
                ("code", code.as_str()),
            ])
        };
        assert_eq!(redeem().send().await.unwrap().status(), 200, "the code was written before it was handed out");
        assert_eq!(redeem().send().await.unwrap().status(), 400, "a code redeems once");
    }
    t.stop().await;
}

/// Runs the futures at once and returns their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
