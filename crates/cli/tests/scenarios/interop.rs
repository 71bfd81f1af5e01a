//! Microsoft's own client libraries (MSAL for Python and for Node, the Graph SDKs for
//! Python and JavaScript, azure-identity for JavaScript) against the local cloud,
//! unchanged apart from the authority, the Graph URL and the trusted CA. `./scripts/test`
//! installs them and requires this test to run (`CLOUDCONNECTOR_INTEROP=required`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::spawn;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The Python with Microsoft's libraries: `./scripts/test` installs them into a virtual
/// environment and names its interpreter; otherwise the machine's `python3`.
fn python() -> String {
    std::env::var("CLOUDCONNECTOR_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the client libraries are installed; when they are required and missing, fail.
fn available(what: &str, probe: &mut Command) -> bool {
    let ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
    let required = std::env::var("CLOUDCONNECTOR_INTEROP").as_deref() == Ok("required") || std::env::var("CI").as_deref() == Ok("true");
    assert!(ok || !required, "{what} is not installed; ./scripts/test installs it");
    if !ok {
        eprintln!("{what} is not installed: run ./scripts/test to include this interoperability check");
    }
    ok
}

/// Runs a client to completion on a blocking thread (the services share this runtime).
async fn run(program: &str, args: &[&Path], envs: &[(&str, &Path)]) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(interop_dir());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // The machine's CA-bundle variables would override the trust in the local CA.
    cmd.env_remove("REQUESTS_CA_BUNDLE").env_remove("CURL_CA_BUNDLE").env_remove("SSL_CERT_FILE");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("client thread").unwrap_or_else(|e| panic!("{program}: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

#[tokio::test]
async fn msal_python_and_msal_node_obtain_and_use_tokens() {
    let has_python = available("msal for Python", Command::new(python()).args(["-c", "import msal"]));
    let node =
        available("@azure/msal-node", Command::new("node").args(["-e", "require.resolve('@azure/msal-node')"]).current_dir(interop_dir()));
    if !has_python && !node {
        return;
    }
    let t = spawn(1).await;
    let endpoints = t.write_endpoints_file();
    let ca = PathBuf::from(&t.endpoints().ca_certificate);
    if has_python {
        run(&python(), &[Path::new("msal_python.py"), &endpoints], &[]).await;
    }
    if node {
        run("node", &[Path::new("msal_node.mjs"), &endpoints], &[("NODE_EXTRA_CA_CERTS", &ca)]).await;
    }
    t.stop().await;
}

#[tokio::test]
async fn msgraph_sdk_for_python_lists_and_parses_device_management() {
    if !available("msgraph-sdk for Python", Command::new(python()).args(["-c", "import msgraph, msal"])) {
        return;
    }
    // Five users and the admin: three pages of two.
    let t = spawn(5).await;
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let profile = fleet::generate(&users, 9, 0.0).remove(0);
    fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    crate::harness::eventually("delivered", || async {
        (t.mdm_read("hq", "conditional-access/summary").await["delivered"] == 1).then_some(())
    })
    .await;
    let endpoints = t.write_endpoints_file();
    run(&python(), &[Path::new("msgraph_python.py"), &endpoints], &[]).await;
    t.stop().await;
}

#[tokio::test]
async fn msgraph_sdk_for_python_administers_a_tenant_as_its_global_administrator() {
    if !available("msgraph-sdk for Python", Command::new(python()).args(["-c", "import msgraph, msal"])) {
        return;
    }
    let t = spawn(1).await;
    let endpoints = t.write_endpoints_file();
    run(&python(), &[Path::new("msgraph_admin_python.py"), &endpoints], &[]).await;
    t.stop().await;
}

#[tokio::test]
async fn azure_identity_and_the_graph_sdk_for_javascript_page_through_users() {
    let probe = "require.resolve('@azure/identity'); require.resolve('@microsoft/microsoft-graph-client')";
    if !available(
        "@azure/identity and @microsoft/microsoft-graph-client",
        Command::new("node").args(["-e", probe]).current_dir(interop_dir()),
    ) {
        return;
    }
    // Five users and the admin: three pages of two.
    let t = spawn(5).await;
    let endpoints = t.write_endpoints_file();
    let ca = PathBuf::from(&t.endpoints().ca_certificate);
    run("node", &[Path::new("graph_js.mjs"), &endpoints], &[("NODE_EXTRA_CA_CERTS", &ca)]).await;
    t.stop().await;
}
