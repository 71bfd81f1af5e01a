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

/// One run of schemathesis against `doc`, limited to the operations `filters` select,
/// with `auth` as the bearer token; fails the test with schemathesis's report.
/// `parameters` are the identifiers of data the stack holds (`path.id = "…"` lines of
/// `schemathesis.toml`), so operations on one thing reach past its 404; every warning fails.
async fn run(t: &TestStack, bin: &Path, doc: &str, filters: &[&str], auth: Option<&str>, parameters: &[(&str, &str)]) {
    let ca = t.endpoints().ca_certificate;
    let mut config = String::from("[warnings]\nfail-on = true\n\n[parameters]\n");
    for (name, value) in parameters {
        config.push_str(&format!("\"{name}\" = \"{value}\"\n"));
    }
    // A consent state is good once, for the link that made it: generated ones are rightly
    // unknown (404). The onboarding scenarios follow real states through the callback.
    config.push_str("\n[[operations]]\ninclude-path = \"/onboarding/callback\"\nwarnings = false\n");
    let config_file = t.data_dir().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut args: Vec<String> = vec!["--config-file".into(), config_file.display().to_string()];
    args.extend(["run".into(), doc.into(), "--checks".into(), "all".into(), "--tls-verify".into(), ca]);
    args.extend(["--max-examples", "25", "--seed", "7", "--workers", "1", "--no-color"].map(String::from));
    args.extend(filters.iter().map(|f| f.to_string()));
    if let Some(token) = auth {
        args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
    }
    let mut cmd = Command::new(bin);
    // schemathesis keeps a cache in its working directory: the stack's own, removed with it.
    cmd.current_dir(t.data_dir()).args(&args).env_remove("REQUESTS_CA_BUNDLE").env_remove("SSL_CERT_FILE").env_remove("CURL_CA_BUNDLE");
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
    run(&t, &bin, &doc, &["--include-path", "/api/v1/instances"], Some(&registration), &[]).await;
    run(&t, &bin, &doc, &["--include-tag", "instance", "--exclude-path", "/api/v1/instances"], Some(&credential), &link).await;
    run(&t, &bin, &doc, &["--include-tag", "operator"], Some(&t.operator_token), &link).await;
    let tenant = [("path.tenant", t.tenant.tenant_id.as_str())];
    run(&t, &bin, &doc, &["--include-tag", "browser", "--include-tag", "health"], None, &tenant).await;
    t.stop().await;
}
