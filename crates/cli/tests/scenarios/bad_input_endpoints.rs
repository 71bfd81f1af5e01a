//! Every endpoint answers an unauthenticated or malformed request with its service's
//! error shape: AADSTS JSON (login), OData (Graph, partner services), problem+json (our
//! APIs), or a sign-in redirect (consoles).

use reqwest::Method;
use serde_json::Value;

use crate::harness::spawn;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Aadsts,
    OData,
    Problem,
    Html,
    SignIn,
}

#[tokio::test]
async fn every_endpoint_refuses_in_its_own_error_shape() {
    let t = spawn(1).await;
    let (cloud, connector, hq) = (t.cloud.url(), t.connector.url(), t.instance_url("hq"));
    let tid = t.tenant.tenant_id.clone();
    let unit = t.cloud.state.store.tenant(&tid).await.unwrap().unwrap().scale_unit;
    let partner = format!("{cloud}/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI");
    let nobody = "00000000-0000-0000-0000-000000000001";
    use Shape::*;
    let cases: Vec<(Method, String, u16, Shape)> = vec![
        (Method::GET, format!("{cloud}/nowhere.example/v2.0/.well-known/openid-configuration"), 400, Aadsts),
        (Method::GET, format!("{cloud}/nowhere.example/.well-known/openid-configuration"), 400, Aadsts),
        (Method::GET, format!("{cloud}/nowhere.example/discovery/v2.0/keys"), 400, Aadsts),
        (Method::POST, format!("{cloud}/{tid}/oauth2/token"), 400, Aadsts),
        (Method::POST, format!("{cloud}/{tid}/oauth2/v2.0/token"), 400, Aadsts),
        (Method::GET, format!("{cloud}/{tid}/adminconsent"), 400, Html),
        (Method::POST, format!("{cloud}/consent/forged/signin"), 400, Html),
        (Method::POST, format!("{cloud}/consent/forged/decide"), 400, Html),
        (Method::POST, format!("{cloud}/EnrollmentServer/device/"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/servicePrincipals"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/servicePrincipals/appId={nobody}"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/servicePrincipals/appId={nobody}/endpoints"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/devices"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/deviceManagement/deviceManagementPartners"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/deviceManagement/managedDevices"), 401, OData),
        (Method::GET, format!("{cloud}/graph/v1.0/noSuchCollection"), 400, OData),
        (Method::GET, format!("{cloud}/aadgraph/{tid}/servicePrincipalsByAppId/{nobody}/serviceEndpoints?api-version=1.6"), 401, OData),
        (Method::PUT, format!("{partner}/StatelessPartnerTenantDataSyncService/PartnerTenants(guid'{tid}')?api-version=1.6"), 401, OData),
        (
            Method::PUT,
            format!("{partner}/StatelessPartnerDeviceDataSyncService/DataUploadMessages(guid'{nobody}')?api-version=1.0"),
            401,
            OData,
        ),
        (Method::GET, format!("{partner}/StatelessPartnerDeviceDataSyncService/DataUploadMessages(guid'{nobody}')"), 400, OData),
        (Method::GET, format!("{cloud}{}", cloud::http::PARTNER_PAGE), 303, SignIn),
        (Method::GET, format!("{cloud}/console/entra/enterprise-applications"), 303, SignIn),
        (Method::POST, format!("{connector}/api/v1/links"), 401, Problem),
        (Method::GET, format!("{connector}/api/v1/links/current"), 401, Problem),
        (Method::POST, format!("{connector}/api/v1/links/{nobody}/confirm"), 401, Problem),
        (Method::POST, format!("{connector}/api/v1/links/{nobody}/disconnect"), 401, Problem),
        (Method::POST, format!("{connector}/api/v1/inventory"), 401, Problem),
        (Method::GET, format!("{connector}/api/v1/outcomes?after=0"), 401, Problem),
        (Method::GET, format!("{connector}/api/v1/outcomes?after=abc"), 422, Problem),
        (Method::GET, format!("{connector}/onboarding/callback"), 400, Problem),
        (Method::GET, format!("{connector}/route/{tid}/elsewhere"), 404, Problem),
        (Method::GET, format!("{connector}/api/v2/anything"), 404, Problem),
        (Method::POST, format!("{hq}/api/agent/v1/enrollments"), 422, Problem),
        (Method::PUT, format!("{hq}/api/agent/v1/inventory"), 401, Problem),
        (Method::POST, format!("{hq}/api/agent/v1/aad-registrations"), 401, Problem),
        (Method::POST, format!("{hq}/api/agent/v1/checkins"), 401, Problem),
        (Method::GET, format!("{hq}/api/agent/v1/conditional-access"), 401, Problem),
        (Method::GET, format!("{hq}/api/v1/conditional-access"), 401, Problem),
        (Method::GET, format!("{hq}/api/v1/conditional-access/summary"), 401, Problem),
        (Method::GET, format!("{hq}/api/v1/computers/1/conditional-access"), 401, Problem),
        (Method::GET, format!("{hq}/api/v1/computers/one/conditional-access"), 422, Problem),
        (Method::GET, format!("{hq}/api/v1/change-management/logs"), 401, Problem),
        (Method::GET, format!("{hq}/settings/global-management/conditional-access"), 303, SignIn),
        (Method::POST, format!("{hq}/settings/global-management/conditional-access"), 303, SignIn),
        (Method::GET, format!("{hq}/settings/global-management/conditional-access/application-id"), 303, SignIn),
        (Method::POST, format!("{hq}/settings/global-management/conditional-access/confirm"), 303, SignIn),
        (Method::GET, format!("{hq}/computers"), 303, SignIn),
        (Method::GET, format!("{hq}/computers/1"), 303, SignIn),
        (Method::GET, format!("{hq}/settings/system-settings/change-management/logs"), 303, SignIn),
    ];
    for (method, url, status, shape) in cases {
        let resp = t.http.request(method.clone(), &url).header("content-type", "application/json").body("{").send().await.unwrap();
        let got = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = resp.text().await.unwrap();
        assert_eq!(got, status, "{method} {url}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match shape {
            Aadsts => assert!(
                body["error_codes"].is_array() && body["error_description"].as_str().unwrap().starts_with("AADSTS"),
                "{url}: {text}"
            ),
            OData => assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{url}: {text}"),
            Problem => {
                assert_eq!(content_type, "application/problem+json", "{url}");
                assert!(
                    body["type"].as_str().unwrap().starts_with("urn:cloudconnector:problem:") && body["status"] == status,
                    "{url}: {text}"
                );
            }
            Html => assert!(content_type.starts_with("text/html") && text.contains("AADSTS"), "{url}: {text}"),
            SignIn => assert!(location.contains("login"), "{url} redirects to {location}"),
        }
    }
    t.stop().await;
}

/// The connector serves its OpenAPI document, and every operation it documents exists:
/// called without credentials, each answers in the service's own shape, never with the
/// fallback for an unknown route.
#[tokio::test]
async fn the_connector_openapi_document_matches_its_routes() {
    let t = crate::harness::spawn(0).await;
    let resp = t.http.get(format!("{}/openapi.json", t.connector.url())).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{device_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{tenant}", "00000000-0000-0000-0000-000000000000")
            .replace("{purpose}", "enroll");
        for method in ops.as_object().unwrap().keys().filter(|m| ["get", "post", "put", "delete"].contains(&m.as_str())) {
            let req = t.http.request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", t.connector.url()));
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(!body.contains("No such endpoint."), "{method} {path} is documented but not routed: {body}");
        }
    }
    t.stop().await;
}
