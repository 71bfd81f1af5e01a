//! `spawn()`: the whole system on random ports with fresh databases and a test clock.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cloudconnector::stack::{Databases, InstanceSeed, Stack, StackOptions};
use serde_json::Value;

pub struct TestStack {
    pub stack: Stack,
    dir: PathBuf,
}

impl std::ops::Deref for TestStack {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl TestStack {
    pub async fn stop(self) {
        self.stack.shutdown_and(true).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Stops the services and keeps the databases and the data directory, for a look at
    /// what they hold; `Stopped::remove` cleans up.
    pub async fn stop_services(self) -> Stopped {
        Stopped { stack: self.stack.stop_services().await, dir: self.dir }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The connector child process (stacks started with `connector_binary`).
    pub fn connector_process(&mut self) -> &mut cloudconnector::stack::ServiceProcess {
        match &mut self.stack.connector {
            cloudconnector::stack::ConnectorService::Process(p) => p,
            cloudconnector::stack::ConnectorService::InProcess(_) => panic!("this stack's connector runs in-process"),
        }
    }

    /// Writes `endpoints.json` into the test's data directory.
    pub fn write_endpoints_file(&self) -> PathBuf {
        self.stack.write_endpoints(&self.dir).expect("endpoints written")
    }

    /// Moves every service's clock forward through the cloud's test endpoint.
    pub async fn advance_clock(&self, seconds: i64) {
        let resp = self
            .http
            .post(format!("{}/_test/clock/advance", self.cloud.url()))
            .json(&serde_json::json!({"seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "clock advance refused");
    }

    /// A client-credentials token for `client_id` in `tenant`.
    pub async fn token(&self, tenant: &str, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.cloud.url()))
            .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("scope", scope)])
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    pub async fn connector_token(&self, scope: &str) -> String {
        let (status, body) =
            self.token(&self.tenant.tenant_id, &self.provider.connector_app_id, &self.provider.connector_secret, scope).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn test_client_token(&self) -> String {
        let (status, body) = self
            .token(
                &self.tenant.tenant_id,
                &self.tenant.test_client_id,
                &self.tenant.test_client_secret,
                "https://graph.microsoft.com/.default",
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// GET with the instance admin's Basic credentials on the mdm read API.
    pub async fn mdm_read(&self, slug: &str, path: &str) -> Value {
        let i = self.instance(slug);
        let resp = self
            .http
            .get(format!("{}/api/v1/{path}", self.instance_url(slug)))
            .basic_auth(&i.admin_username, Some(&i.admin_password))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// The URL of one of the tenant's Intune partner services, discovered as the
    /// connector discovers it.
    pub async fn partner_base(&self, service: &str) -> String {
        let graph = self.connector_token("https://graph.microsoft.com/.default").await;
        let (_, endpoints) = self.graph_get(&graph, &format!("servicePrincipals/appId={}/endpoints", wire::ids::INTUNE_APP_ID)).await;
        let endpoint = endpoints["value"].as_array().unwrap().iter().find(|e| e["providerName"] == service).cloned();
        endpoint.unwrap_or_else(|| panic!("{service} not discovered: {endpoints}"))["uri"].as_str().unwrap().to_string()
    }

    /// The Entra device's `isCompliant`, read through Graph.
    pub async fn is_compliant(&self, device_id: &str) -> Option<bool> {
        let token = self.test_client_token().await;
        let (_, d) = self.graph_get(&token, &format!("devices?$filter=deviceId%20eq%20'{device_id}'")).await;
        d["value"][0]["isCompliant"].as_bool()
    }

    pub async fn graph_get(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}/graph/v1.0/{path}", self.cloud.url())).bearer_auth(token).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }
}

/// A test stack whose services stopped.
pub struct Stopped {
    pub stack: cloudconnector::stack::StoppedStack,
    pub dir: PathBuf,
}

impl Stopped {
    pub async fn remove(self) {
        self.stack.drop_databases().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn instances() -> Vec<InstanceSeed> {
    let seed = |slug: &str, version: &str, privilege: bool| InstanceSeed {
        slug: slug.into(),
        name: format!("Instance {slug}"),
        version: version.into(),
        conditional_access_privilege: privilege,
    };
    vec![seed("hq", "11.12.0", true), seed("labs", "10.18.0", true), seed("old", "10.17.2", true), seed("limited", "11.12.0", false)]
}

pub async fn spawn(users: usize) -> TestStack {
    spawn_with(users, |_| {}).await
}

/// As [`spawn`], with options adjusted by `adjust` first.
pub async fn spawn_with(users: usize, adjust: impl FnOnce(&mut StackOptions)) -> TestStack {
    // The services' errors, shown with a failing test's output (`CLOUDCONNECTOR_LOG`
    // widens it).
    let filter = std::env::var("CLOUDCONNECTOR_LOG").unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let dir = std::env::temp_dir().join(format!("cc-test-{}", uuid::Uuid::new_v4().simple()));
    let mut opts = StackOptions::new(&dir, users);
    opts.test_clock = true;
    opts.instances = instances();
    adjust(&mut opts);
    if let Ok(server) = std::env::var("CLOUDCONNECTOR_TEST_POSTGRES") {
        opts.databases = Databases::FreshPostgres(server);
    }
    let stack = Stack::start(opts).await.expect("stack starts");
    TestStack { stack, dir }
}

/// Polls `probe` until it returns `Some`, for asynchronous processing to finish.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
