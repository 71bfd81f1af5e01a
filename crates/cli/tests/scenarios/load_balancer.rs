//! The services behind a real load balancer: HAProxy in TCP mode (TLS passes through to
//! the service) in front of the cloud, the connector and the mdm, each service configured
//! with the load balancer's address as its public URL. Everything a service hands out
//! (OIDC documents, consent redirects, instance URLs, landing-page routes) must name that
//! address, and the whole connection and delivery path must work through it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudconnector::admin_steps;

use crate::harness::{eventually, spawn_with};

/// An HAProxy process forwarding each `(front port, back address)` pair, stopped on drop.
pub struct HaProxy {
    child: Child,
}

impl HaProxy {
    /// Writes `haproxy.cfg` into `dir` and starts `haproxy` in the foreground on it, in
    /// TCP mode (TLS passes through to the service); returns once every front port
    /// accepts connections.
    pub fn start(dir: &Path, routes: &[(u16, SocketAddr)]) -> HaProxy {
        let mut cfg = String::from(
            "global\n  maxconn 4096\n\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 120s\n  timeout server 120s\n",
        );
        for (n, (front, back)) in routes.iter().enumerate() {
            cfg.push_str(&format!("\nfrontend f{n}\n  bind 127.0.0.1:{front}\n  default_backend b{n}\n"));
            cfg.push_str(&format!("\nbackend b{n}\n  server s{n} {back} check inter 300ms\n"));
        }
        HaProxy::run(dir, &cfg, routes.iter().map(|(front, _)| *front))
    }

    /// Each front port balancing every request over several servers: HTTP mode, as HTTP/2
    /// clients send all their requests over one connection, and a random server for each
    /// (round robin falls into step with a client's fixed cycle of requests: the mdm's
    /// send, then two outcome reads, would put every send on one node). TLS ends at
    /// HAProxy (the stack's server certificate) and HAProxy opens its own to the servers,
    /// checking their certificate against the stack's CA. A server that refuses
    /// connections is taken out of rotation at once, and a request that cannot reach one
    /// is sent to another (`redispatch`).
    pub fn balance(dir: &Path, fronts: &[(u16, Vec<SocketAddr>)], ca: &platform::tls::LocalCa) -> HaProxy {
        let (pem, ca_file) = (dir.join("haproxy.pem"), dir.join("haproxy-ca.pem"));
        std::fs::write(&pem, format!("{}\n{}", ca.server_cert_pem, ca.server_key_pem)).unwrap();
        std::fs::write(&ca_file, &ca.ca_pem).unwrap();
        let mut cfg = String::from(
            "global\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 120s\n  timeout server 120s\n  retries 3\n  option redispatch\n",
        );
        let tls_to_server = format!("ssl verify required ca-file {} verifyhost localhost sni str(localhost)", ca_file.display());
        for (n, (front, backs)) in fronts.iter().enumerate() {
            cfg.push_str(&format!(
                "\nfrontend f{n}\n  bind 127.0.0.1:{front} ssl crt {} alpn h2,http/1.1\n  default_backend b{n}\n",
                pem.display()
            ));
            cfg.push_str(&format!("\nbackend b{n}\n  balance random\n"));
            for (m, back) in backs.iter().enumerate() {
                cfg.push_str(&format!("  server s{n}_{m} {back} {tls_to_server} check inter 300ms fall 1 rise 1\n"));
            }
        }
        HaProxy::run(dir, &cfg, fronts.iter().map(|(front, _)| *front))
    }

    fn run(dir: &Path, cfg: &str, fronts: impl Iterator<Item = u16>) -> HaProxy {
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haproxy is installed (the test command installs the Debian package)");
        let mut lb = HaProxy { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        for front in fronts {
            while TcpStream::connect(("127.0.0.1", front)).is_err() {
                assert!(lb.child.try_wait().unwrap().is_none(), "haproxy exited: {}", read(dir));
                assert!(Instant::now() < deadline, "haproxy does not listen on {front}: {}", read(dir));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        lb
    }
}

fn read(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now, for a front end to bind.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_every_service_publishes_the_load_balancers_address() {
    let fronts = [free_port(), free_port(), free_port()];
    let [cloud_url, connector_url, mdm_url] = fronts.map(|p| format!("https://127.0.0.1:{p}"));
    let t = spawn_with(4, |o| {
        o.cloud_public_url = Some(cloud_url.clone());
        o.connector_public_url = Some(connector_url.clone());
        o.mdm_public_url = Some(mdm_url.clone());
    })
    .await;
    let backs = [t.cloud.served.addr, t.connector.listening(), t.mdm.served.addr];
    let _lb = HaProxy::start(t.data_dir(), &[(fronts[0], backs[0]), (fronts[1], backs[1]), (fronts[2], backs[2])]);
    assert_eq!((t.cloud.url(), t.connector.url(), t.mdm.url()), (cloud_url.clone(), connector_url.clone(), mdm_url.clone()));

    // The identity platform's documents name the public address.
    let oidc: serde_json::Value = t
        .http
        .get(format!("{cloud_url}/{}/v2.0/.well-known/openid-configuration", t.tenant.tenant_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"] {
        let value = oidc[key].as_str().unwrap_or_default();
        assert!(value.starts_with(&cloud_url), "{key}: {value}");
    }

    // S3 through the load balancer: the consent redirect returns to the connector's
    // public address (the redirect URI registered for its app), or consent would fail.
    let page = admin_steps::connect_instance(&t, "hq").await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    let ca = t.mdm_read("hq", "conditional-access").await;
    let checks = ca["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    assert!(t.instance_url("hq").starts_with(&mdm_url), "{}", t.instance_url("hq"));

    // A Mac enrols at the instance's public URL; its inventory reaches Entra.
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &cloud_url);
    let mut profile = fleet::generate(&users, 1, 0.0).remove(0);
    profile.filevault = true;
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let device_id = mac.device_id.clone().unwrap();
    let token = t.test_client_token().await;
    eventually("the device's compliance in Entra", || async {
        let (_, d) = t.graph_get(&token, &format!("devices?$filter=deviceId eq '{device_id}'")).await;
        (d["value"][0]["isCompliant"] == true).then_some(())
    })
    .await;

    // The connector routes a user to the landing page the instance registered: at the
    // mdm's public address. (The client follows no redirect.)
    let resp = t.http.get(format!("{connector_url}/route/{}/remediate?device_id={device_id}", t.tenant.tenant_id)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&mdm_url), "{location}");
    t.stop().await;
}
