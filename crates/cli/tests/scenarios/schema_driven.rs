//! Schema-driven testing: schemathesis (from PyPI, installed by `./scripts/test`) reads
//! each service's own OpenAPI document and throws generated requests at the running
//! service with real credentials, every check on: no 5xx, and every answer as the document
//! says (status, content type, headers, body), valid data accepted and invalid refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudconnector::admin::Admin;
use cloudconnector::admin_steps;

use crate::harness::{TestStack, spawn};

/// The schemathesis of the interoperability virtual environment (`./scripts/test`).
fn schemathesis() -> Option<PathBuf> {
    let python = std::env::var("CLOUDCONNECTOR_PYTHON").ok()?;
    let path = Path::new(&python).parent()?.join("schemathesis");
    path.exists().then_some(path)
}

fn required() -> bool {
    std::env::var("CLOUDCONNECTOR_INTEROP").as_deref() == Ok("required") || std::env::var("CI").as_deref() == Ok("true")
}

/// A consent state is good once, for the link that made it: generated ones are rightly
/// unknown (404). The onboarding scenarios follow real states through the callback.
const CALLBACK: &str = "\n[[operations]]\ninclude-path = \"/onboarding/callback\"\nwarnings = false\n";

/// How a run authenticates.
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

/// One run of schemathesis against `doc`, limited to the operations `filters` select,
/// authenticated by `auth`; fails the test with schemathesis's report.
/// `parameters` are the identifiers of data the stack holds (`path.id = "…"` lines of
/// `schemathesis.toml`), so operations on one thing reach past its 404; every warning fails.
async fn run(t: &TestStack, bin: &Path, doc: &str, filters: &[&str], auth: Auth<'_>, parameters: &[(&str, &str)], operations: &str) {
    let ca = t.endpoints().ca_certificate;
    // Every service refuses NUL in any text up front (documented in each document's
    // description; JSON Schema has no cheap way to say it of every string).
    let mut config = String::from("[warnings]\nfail-on = true\n\n[generation]\nallow-x00 = false\n\n[parameters]\n");
    for (name, value) in parameters {
        config.push_str(&format!("\"{name}\" = \"{value}\"\n"));
    }
    config.push_str(operations);
    let config_file = t.data_dir().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut args: Vec<String> = vec!["--config-file".into(), config_file.display().to_string()];
    args.extend(["run".into(), doc.into(), "--checks".into(), "all".into(), "--tls-verify".into(), ca]);
    // A request waits up to 60 s: in the PostgreSQL pass the multi-node test's processes
    // share the two cores, and one fuzzed request once waited past schemathesis's 10 s.
    args.extend(["--max-examples", "25", "--seed", "7", "--workers", "1", "--no-color", "--request-timeout", "60"].map(String::from));
    args.extend(filters.iter().map(|f| f.to_string()));
    match auth {
        Auth::None => {}
        Auth::Bearer(token) => args.extend(["-H".into(), format!("Authorization: Bearer {token}")]),
        Auth::Basic(user, password) => args.extend(["--auth".into(), format!("{user}:{password}")]),
    }
    let mut cmd = Command::new(bin);
    // schemathesis keeps a cache in its working directory: the stack's own, removed with it.
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/schemathesis_hooks.py");
    cmd.current_dir(t.data_dir())
        .args(&args)
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("CLOUDCONNECTOR_TENANT", t.tenant.tenant_id.as_str())
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("CURL_CA_BUNDLE");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "schemathesis {filters:?} failed:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_answers_as_its_openapi_document_says() {
    let Some(bin) = schemathesis() else {
        assert!(!required(), "schemathesis is not installed; ./scripts/test installs it");
        return;
    };
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let credential = t.mdm.state.store.instance_by_slug("hq").await.unwrap().unwrap().connector_credential.unwrap();
    let registration = match &t.connector {
        cloudconnector::stack::ConnectorService::InProcess(c) => c.state.config.registration_secret.clone(),
        cloudconnector::stack::ConnectorService::Process(_) => unreachable!("in-process in this test"),
    };
    let admin = Admin::from_file(&t.write_endpoints_file()).unwrap();
    let link = admin.status().await.unwrap().links.remove(0).link.link_id;
    let link = [("path.id", link.as_str())];
    let doc = format!("{}/openapi.json", t.connector.url());
    run(&t, &bin, &doc, &["--include-path", "/api/v1/instances"], Auth::Bearer(&registration), &[], "").await;
    run(&t, &bin, &doc, &["--include-tag", "instance", "--exclude-path", "/api/v1/instances"], Auth::Bearer(&credential), &link, "").await;
    run(&t, &bin, &doc, &["--include-tag", "operator"], Auth::Bearer(&t.operator_token), &link, "").await;
    let tenant = [("path.tenant", t.tenant.tenant_id.as_str())];
    run(&t, &bin, &doc, &["--include-tag", "browser", "--include-tag", "health"], Auth::None, &tenant, CALLBACK).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mdm_answers_as_its_openapi_document_says() {
    let Some(bin) = schemathesis() else {
        assert!(!required(), "schemathesis is not installed; ./scripts/test installs it");
        return;
    };
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<_> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let profile = fleet::generate(&users, 5, 0.0).remove(0);
    let mac = fleet.enroll(profile, &t.instance_url("hq"), &t.instance("hq").invitation).await.unwrap();
    fleet.report_inventory(&mac, t.clock.now()).await.unwrap();
    let computer = mac.computer_id.to_string();
    let hq = t.instance("hq");
    let doc = format!("{}/openapi.json", t.mdm.url());
    let slug = [("path.slug", "hq")];
    let admin = Auth::Basic(&hq.admin_username, &hq.admin_password);
    run(&t, &bin, &doc, &["--include-tag", "agent"], Auth::Bearer(&mac.credential), &slug, "").await;
    run(&t, &bin, &doc, &["--include-tag", "read"], admin, &slug, "").await;
    // Again on the enrolled Mac's own computer, past the 404 of generated IDs. A fixed ID
    // also replaces the invalid ones schemathesis makes, so that check is left to the run above.
    let computer = [("path.slug", "hq"), ("path.id", computer.as_str())];
    let filters = ["--include-path-regex", "\\{id\\}", "--exclude-checks", "negative_data_rejection"];
    run(&t, &bin, &doc, &filters, Auth::Basic(&hq.admin_username, &hq.admin_password), &computer, "").await;
    run(&t, &bin, &doc, &["--include-tag", "health"], Auth::None, &[], "").await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_answers_as_its_openapi_document_says() {
    let Some(bin) = schemathesis() else {
        assert!(!required(), "schemathesis is not installed; ./scripts/test installs it");
        return;
    };
    // A budget no run spends: the partner services' logic is reached rather than their 429
    // (throttling has tests of its own).
    let t = crate::harness::spawn_with(1, |o| {
        o.throttle =
            cloud::throttle::ThrottleConfig { enabled: true, requests_per_window: 1_000_000, writes_per_window: 1_000_000, window_s: 20 }
    })
    .await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let tid = t.tenant.tenant_id.clone();
    let unit = t.cloud.state.store.tenant(&tid).await.unwrap().unwrap().scale_unit;
    let doc = format!("{}/openapi.json", t.cloud.url());
    let tenant = [("path.tenant", tid.as_str())];
    run(
        &t,
        &bin,
        &doc,
        &["--include-tag", "identity", "--include-tag", "health", "--exclude-path-regex", "/oauth2/"],
        Auth::None,
        &tenant,
        "",
    )
    .await;
    // Which grant needs which parameters, and which clients exist, are the identity
    // platform's rules, answered 400 with their AADSTS code as Microsoft does: a form of
    // valid shape is rightly refused (and mostly: schemathesis warns of it), so that check
    // and that warning are left out for the token endpoints.
    let tokens = ["--include-path-regex", "/oauth2/", "--exclude-checks", "positive_data_acceptance"];
    let quiet = "\n[[operations]]\ninclude-path-regex = \"/oauth2/\"\nwarnings = false\n";
    run(&t, &bin, &doc, &tokens, Auth::None, &tenant, quiet).await;
    let intune = t.connector_token("https://api.manage.microsoft.com/.default").await;
    let partner = [("path.unit", unit.as_str()), ("query.api-version", "1.0")];
    // A message of this test's own, so reading a message's state reaches past the 404.
    let message = uuid::Uuid::new_v4();
    let base =
        format!("{}/fef/{unit}/TrafficGateway/TrafficRoutingService/PartnerAPI/StatelessPartnerDeviceDataSyncService", t.cloud.url());
    let body = serde_json::json!({"TenantId": tid, "UploadTime": "2026-11-30T13:00:00Z", "Content": []});
    let put = t.http.put(format!("{base}/DataUploadMessages(guid'{message}')?api-version=1.0")).bearer_auth(&intune).json(&body);
    assert_eq!(put.send().await.unwrap().status(), 200);
    let bearer = Auth::Bearer(&intune);
    run(&t, &bin, &doc, &["--include-operation-id", "tenant_data_sync", "--include-operation-id", "upload"], bearer, &partner, "").await;
    // Reading a message's state, and the policies, on things that exist (past the 404).
    let upload = format!("DataUploadMessages(guid'{message}')");
    let with = |resource: &'static str| [partner[0], partner[1], ("path.resource", resource)];
    let upload: &'static str = upload.leak();
    let read = ["--include-operation-id", "upload_status"];
    run(&t, &bin, &doc, &read, Auth::Bearer(&intune), &with(upload), "").await;
    let policies = ["--include-operation-id", "list_partner_policies", "--include-operation-id", "create_partner_policy"];
    run(&t, &bin, &doc, &policies, Auth::Bearer(&intune), &with("PartnerCompliancePolicies"), "").await;
    // Assignments name the tenant's user groups, which a schema cannot list: generated IDs
    // are rightly refused (400, and mostly: schemathesis warns of it), so that check and
    // that warning are left out there. The policy assigned is one that exists.
    let base = base.replace("DeviceDataSyncService", "TenantDataSyncService");
    let create = serde_json::json!({"DisplayName": "Schema-driven", "Platform": "macOS"});
    let created = t.http.post(format!("{base}/PartnerCompliancePolicies?api-version=1.0")).bearer_auth(&intune).json(&create);
    let created: serde_json::Value = created.send().await.unwrap().json().await.unwrap();
    let policy: &'static str = format!("PartnerCompliancePolicies(guid'{}')", created["Id"].as_str().unwrap()).leak();
    let assign = ["--include-operation-id", "assign_partner_policy", "--exclude-checks", "positive_data_acceptance"];
    let quiet = "\n[[operations]]\ninclude-path-regex = \"/Assign$\"\nwarnings = false\n";
    run(&t, &bin, &doc, &assign, Auth::Bearer(&intune), &with(policy), quiet).await;
    let (app, secret) =
        admin_steps::register_app(&t, "Legacy partner", &[(wire::ids::AAD_GRAPH_APP_ID, "Application.Read.All")]).await.unwrap();
    let (_, token) = t.token(&tid, &app, &secret, "https://graph.windows.net/.default").await;
    let aad_graph = token["access_token"].as_str().unwrap().to_string();
    run(
        &t,
        &bin,
        &doc,
        &["--include-path-regex", "/aadgraph/"],
        Auth::Bearer(&aad_graph),
        &[("path.tenant", tid.as_str()), ("path.app_id", wire::ids::INTUNE_APP_ID), ("query.api-version", "1.6")],
        "",
    )
    .await;
    t.stop().await;
}
