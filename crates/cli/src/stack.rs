//! The whole system in one process, each role on its own HTTPS port with its own
//! database; they reach each other only over HTTPS. Used by `demo`, `serve --role all`
//! and the scenario tests.

use std::path::{Path, PathBuf};

use anyhow::Context;
use platform::Clock;
use platform::tls::LocalCa;
use wire::CloudProfile;
use wire::endpoints::{
    CloudEndpoints, ConnectorEndpoints, Consoles, Credentials, EndpointsFile, MdmAdmin, MdmEndpoints, MdmInstance, Seed, TestClient,
};

use crate::browser::Browser;

/// Which database each role gets.
#[derive(Debug, Clone)]
pub enum Databases {
    /// One SQLite file per role in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database per role on this server (`postgres://user@host:port/db`).
    FreshPostgres(String),
}

pub struct InstanceSeed {
    pub slug: String,
    pub name: String,
    pub version: String,
    pub conditional_access_privilege: bool,
}

pub struct StackOptions {
    pub data_dir: PathBuf,
    pub databases: Databases,
    /// Ports for cloud, connector and mdm (0: any free port).
    pub ports: [u16; 3],
    pub test_clock: bool,
    pub users: usize,
    pub tenant_domain: String,
    pub licensed: bool,
    pub instances: Vec<InstanceSeed>,
    pub batch_size: usize,
    /// The connector's longest wait for an answer of the cloud.
    pub cloud_timeout_ms: u64,
    pub throttle: cloud::throttle::ThrottleConfig,
    /// Run the connector as a separate process of this binary (`serve --role connector`),
    /// so a test can kill it; in-process when `None`.
    pub connector_binary: Option<PathBuf>,
    /// The URL everyone reaches the cloud at when something stands in front of it (a
    /// proxy, a load balancer); the cloud's own listener when `None`.
    pub cloud_public_url: Option<String>,
    /// The cloud completes every partner message at once (benchmarks' ceiling).
    pub cloud_null_sink: bool,
    /// The same for the connector and the mdm.
    pub connector_public_url: Option<String>,
    pub mdm_public_url: Option<String>,
    /// Seconds between the connector's heartbeats per tenant.
    pub heartbeat_interval_s: u64,
}

impl StackOptions {
    pub fn new(data_dir: &Path, users: usize) -> Self {
        StackOptions {
            data_dir: data_dir.to_path_buf(),
            databases: Databases::Sqlite,
            ports: [0, 0, 0],
            test_clock: false,
            users,
            tenant_domain: "contoso.example".into(),
            licensed: true,
            instances: vec![
                InstanceSeed {
                    slug: "hq".into(),
                    name: "Contoso HQ".into(),
                    version: "11.12.0".into(),
                    conditional_access_privilege: true,
                },
                InstanceSeed {
                    slug: "labs".into(),
                    name: "Contoso Labs".into(),
                    version: "11.12.0".into(),
                    conditional_access_privilege: true,
                },
            ],
            batch_size: 1000,
            cloud_timeout_ms: 30_000,
            throttle: cloud::throttle::ThrottleConfig::default(),
            connector_binary: None,
            cloud_public_url: None,
            cloud_null_sink: false,
            connector_public_url: None,
            mdm_public_url: None,
            heartbeat_interval_s: 300,
        }
    }
}

/// The connector of a stack: in this process, or a child process that can be killed.
pub enum ConnectorService {
    InProcess(connector::Connector),
    Process(ServiceProcess),
}

impl ConnectorService {
    /// What the connector publishes: its public URL, or else where it listens.
    pub fn url(&self) -> String {
        match self {
            ConnectorService::InProcess(c) => c.url(),
            ConnectorService::Process(p) => p.published.clone(),
        }
    }

    /// Where the connector listens.
    pub fn listening(&self) -> std::net::SocketAddr {
        match self {
            ConnectorService::InProcess(c) => c.served.addr,
            ConnectorService::Process(p) => p.addr,
        }
    }

    async fn shutdown(self) {
        match self {
            ConnectorService::InProcess(c) => c.shutdown().await,
            ConnectorService::Process(mut p) => p.kill(),
        }
    }
}

/// `cloudconnector serve --role connector|mdm` as a child process on a fixed port: one
/// node of a service, which a test can kill (SIGKILL) and start again.
pub struct ServiceProcess {
    /// Where the process listens.
    pub url: String,
    pub addr: std::net::SocketAddr,
    /// What it publishes: its public URL, or else where it listens.
    published: String,
    role: &'static str,
    binary: PathBuf,
    config: PathBuf,
    ca_pem: String,
    child: Option<std::process::Child>,
}

impl ServiceProcess {
    /// A connector node; its configuration is written to `data_dir/connector.json`.
    pub async fn connector(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        config: connector::ConnectorConfig,
        ca: &LocalCa,
    ) -> anyhow::Result<Self> {
        let published = config.public_url.clone();
        let serve = crate::config::ServeConfig {
            data_dir: data_dir.to_path_buf(),
            connector: Some(crate::config::ConnectorSection { port, config }),
            ..Default::default()
        };
        Self::start(binary, "connector", serve, port, published, ca).await
    }

    /// An mdm node; its configuration is written to `data_dir/mdm.json`.
    pub async fn mdm(binary: &Path, data_dir: &Path, port: u16, config: mdm::MdmConfig, ca: &LocalCa) -> anyhow::Result<Self> {
        let published = config.public_url.clone();
        let serve = crate::config::ServeConfig {
            data_dir: data_dir.to_path_buf(),
            mdm: Some(crate::config::MdmSection { port, config }),
            ..Default::default()
        };
        Self::start(binary, "mdm", serve, port, published, ca).await
    }

    async fn start(
        binary: &Path,
        role: &'static str,
        serve: crate::config::ServeConfig,
        port: u16,
        published: Option<String>,
        ca: &LocalCa,
    ) -> anyhow::Result<Self> {
        let path = serve.data_dir.join(format!("{role}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&serve)?)?;
        let url = format!("https://127.0.0.1:{port}");
        let mut p = ServiceProcess {
            published: published.unwrap_or_else(|| url.clone()),
            url,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            role,
            binary: binary.to_path_buf(),
            config: path,
            ca_pem: ca.ca_pem.clone(),
            child: None,
        };
        p.restart().await?;
        Ok(p)
    }

    /// Moves the node into a new handle and leaves this one without a process, so a test
    /// can own (kill and restart) a stack's own node while the stack keeps running.
    pub fn take(&mut self) -> ServiceProcess {
        ServiceProcess {
            url: self.url.clone(),
            addr: self.addr,
            published: self.published.clone(),
            role: self.role,
            binary: self.binary.clone(),
            config: self.config.clone(),
            ca_pem: self.ca_pem.clone(),
            child: self.child.take(),
        }
    }

    /// The operating system's id of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Kills the process at once (SIGKILL): no graceful shutdown, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process (again) and waits until it answers ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let child = std::process::Command::new(&self.binary)
            .args(["serve", "--role", self.role, "--config"])
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let http = platform::http::client(&self.ca_pem);
        for _ in 0..200 {
            if http.get(format!("{}/health/ready", self.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the {} process did not become ready", self.role)
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Stack {
    pub ca: LocalCa,
    pub clock: Clock,
    pub cloud: cloud::Cloud,
    pub connector: ConnectorService,
    pub mdm: mdm::Mdm,
    pub provider: cloud::seed::ProviderApps,
    pub tenant: cloud::seed::CustomerTenant,
    pub instances: Vec<mdm::seed::SeededInstance>,
    pub http: reqwest::Client,
    /// Bearer token of the connector's operator API.
    pub operator_token: String,
    /// The URLs of the cloud's, the connector's and the mdm's databases.
    pub database_urls: DatabaseUrls,
    databases: Databases,
    /// PostgreSQL databases this stack created (dropped by `shutdown_and(true)`).
    created_databases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DatabaseUrls {
    pub cloud: String,
    pub connector: String,
    pub mdm: String,
}

/// A stack whose services stopped, its databases kept (for a look before they go).
pub struct StoppedStack {
    pub database_urls: DatabaseUrls,
    databases: Databases,
    created_databases: Vec<String>,
}

impl StoppedStack {
    /// Drops the PostgreSQL databases the stack created (SQLite files stay with the data
    /// directory).
    pub async fn drop_databases(self) {
        if let Databases::FreshPostgres(server) = &self.databases {
            for name in &self.created_databases {
                if let Err(e) = platform::db::drop_postgres_database(server, name).await {
                    tracing::warn!(database = %name, error = %e, "test database not dropped");
                }
            }
        }
    }
}

async fn database(databases: &Databases, data_dir: &Path, role: &str, created: &mut Vec<String>) -> anyhow::Result<String> {
    Ok(match databases {
        Databases::Sqlite => platform::db::sqlite_url(&data_dir.join(format!("{role}.db"))),
        Databases::FreshPostgres(server) => {
            let name = format!("cc_{role}_{}", uuid::Uuid::new_v4().simple());
            let url = platform::db::create_postgres_database(server, &name).await?;
            created.push(name);
            url
        }
    })
}

/// Hex SHA-1 thumbprint of a PEM certificate.
fn sha1_hex_of_pem(pem: &str) -> String {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default();
    cloud::entra::assertions::thumbprints(&der).0.iter().map(|b| format!("{b:02X}")).collect()
}

/// Removes the SQLite databases of every role from `data_dir` (the local CA stays), so a
/// demo or a benchmark starts from the beginning.
pub fn remove_databases(data_dir: &Path) {
    for role in ["cloud", "connector", "mdm"] {
        for suffix in ["db", "db-wal", "db-shm"] {
            let _ = std::fs::remove_file(data_dir.join(format!("{role}.{suffix}")));
        }
    }
}

pub const REGISTRATION_SECRET_FILE: &str = "registration-secret";

/// The connector in this process, or as a child process of `opts.connector_binary` on
/// the listener's port.
async fn start_connector(
    opts: &StackOptions,
    config: connector::ConnectorConfig,
    listener: std::net::TcpListener,
    ca: &LocalCa,
    clock: &Clock,
) -> anyhow::Result<ConnectorService> {
    Ok(match &opts.connector_binary {
        None => ConnectorService::InProcess(connector::start(config, listener, ca, clock.clone()).await?),
        Some(binary) => {
            let port = listener.local_addr()?.port();
            drop(listener);
            ConnectorService::Process(ServiceProcess::connector(binary, &opts.data_dir, port, config, ca).await?)
        }
    })
}

/// The connector of a stack: the provider's Cloud Connector app on the stack's cloud.
fn connector_config(
    opts: &StackOptions,
    database_url: &str,
    provider: &cloud::seed::ProviderApps,
    cloud_url: &str,
    registration_secret: &str,
    operator_token: &str,
) -> connector::ConnectorConfig {
    connector::ConnectorConfig {
        database_url: database_url.to_string(),
        registration_secret: registration_secret.to_string(),
        clouds: vec![connector::cloud_client::CloudApp {
            profile: CloudProfile::local(cloud_url),
            client_id: provider.connector_app_id.clone(),
            client_secret: provider.connector_secret.clone(),
            client_certificate_pem: Some(provider.connector_certificate_pem.clone()),
            client_key_pem: Some(provider.connector_key_pem.clone()),
            registration_app_id: provider.registration_app_id.clone(),
            intune_partner_page: Some(format!("{cloud_url}{}", cloud::http::PARTNER_PAGE)),
        }],
        batch_size: opts.batch_size,
        batch_linger_ms: 500,
        heartbeat_interval_s: opts.heartbeat_interval_s,
        max_concurrency_per_tenant: 16,
        health_interval_s: 6 * 3600,
        reconcile_interval_s: 24 * 3600,
        operator_token: Some(operator_token.to_string()),
        cloud_timeout_ms: opts.cloud_timeout_ms,
        public_url: opts.connector_public_url.clone(),
        node_id: None,
        retention_days: 30,
    }
}

impl Stack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        platform::http::install_crypto_provider();
        std::fs::create_dir_all(&opts.data_dir).with_context(|| format!("creating {}", opts.data_dir.display()))?;
        let ca = LocalCa::load_or_create(&opts.data_dir)?;
        let clock = if opts.test_clock { Clock::test() } else { Clock::system() };
        let mut created = Vec::new();
        let [cloud_l, connector_l, mdm_l] =
            [platform::http::bind(opts.ports[0])?, platform::http::bind(opts.ports[1])?, platform::http::bind(opts.ports[2])?];
        let connector_url =
            platform::net::public_base("connector_public_url", opts.connector_public_url.as_deref(), connector_l.local_addr()?)
                .map_err(anyhow::Error::msg)?;
        let cloud_db = database(&opts.databases, &opts.data_dir, "cloud", &mut created).await?;
        let connector_db = database(&opts.databases, &opts.data_dir, "connector", &mut created).await?;
        let mdm_db = database(&opts.databases, &opts.data_dir, "mdm", &mut created).await?;

        let cloud_config = cloud::CloudConfig {
            database_url: cloud_db.clone(),
            no_policy_is_compliant: true,
            partner_unresponsive_after_s: 3600,
            throttle: opts.throttle.clone(),
            public_url: opts.cloud_public_url.clone(),
            null_sink: opts.cloud_null_sink,
            secret_key_path: opts.data_dir.join("cloud-secrets.key"),
        };
        let cloud = cloud::start(cloud_config, cloud_l, &ca, clock.clone()).await?;
        let now = clock.now_ms();
        let store = &cloud.state.store;
        let provider = cloud::seed::provider(store, &format!("{connector_url}/onboarding/callback"), now).await?;
        let tenant = cloud::seed::customer(
            store,
            cloud::seed::CustomerSpec { domain: &opts.tenant_domain, name: "Contoso", users: opts.users, licensed: opts.licensed },
            now,
        )
        .await?;

        let registration_secret = platform::secrets::random_token(24);
        let operator_token = platform::secrets::random_token(24);
        let connector_config = connector_config(&opts, &connector_db, &provider, &cloud.url(), &registration_secret, &operator_token);
        let connector = start_connector(&opts, connector_config, connector_l, &ca, &clock).await?;
        let mdm_config = mdm::MdmConfig {
            database_url: mdm_db.clone(),
            connector_url: connector.url(),
            connector_registration_secret: registration_secret,
            clouds: CloudProfile::NAMES.iter().map(|s| s.to_string()).collect(),
            change_log_path: Some(opts.data_dir.join("ChangeManagement.log")),
            local_cloud_url: Some(cloud.url()),
            secret_key_path: opts.data_dir.join("mdm-secrets.key"),
            public_url: opts.mdm_public_url.clone(),
            node_id: None,
            retention_days: 90,
        };
        let mdm = mdm::start(mdm_config, mdm_l, &ca, clock.clone()).await?;
        let mut instances = Vec::new();
        for i in &opts.instances {
            let spec = mdm::seed::InstanceSpec {
                slug: &i.slug,
                name: &i.name,
                version: &i.version,
                conditional_access_privilege: i.conditional_access_privilege,
            };
            instances.push(mdm::seed::instance(&mdm.state.store, spec, clock.now_ms()).await?);
        }
        let http = platform::http::client(&ca.ca_pem);
        Ok(Stack {
            ca,
            clock,
            cloud,
            connector,
            mdm,
            provider,
            tenant,
            instances,
            http,
            operator_token,
            database_urls: DatabaseUrls { cloud: cloud_db, connector: connector_db, mdm: mdm_db },
            databases: opts.databases,
            created_databases: created,
        })
    }

    pub fn instance(&self, slug: &str) -> &mdm::seed::SeededInstance {
        self.instances.iter().find(|i| i.slug == slug).expect("seeded instance")
    }

    pub fn instance_url(&self, slug: &str) -> String {
        self.mdm.state.instance_url(slug)
    }

    /// The stack's addresses and CA, for the administrators' procedures.
    pub fn site(&self) -> crate::admin_steps::Site {
        crate::admin_steps::Site { cloud_url: self.cloud.url(), mdm_url: self.mdm.url(), ca_pem: self.ca.ca_pem.clone() }
    }

    /// A stack with one instance connected to the tenant and `macs` Macs of the fleet
    /// (`noncompliant_share` of them without FileVault) enrolled, inventoried and registered
    /// with Entra at it: where the benchmarks of the Macs' traffic start. Returns the stack,
    /// the instance's short name, the fleet and the Macs.
    pub async fn with_enrolled_macs(
        mut opts: StackOptions,
        seed: u64,
        noncompliant_share: f64,
    ) -> anyhow::Result<(Stack, String, std::sync::Arc<fleet::Fleet>, Vec<fleet::Mac>)> {
        opts.instances.truncate(1);
        let stack = Stack::start(opts).await?;
        let slug = stack.instances[0].slug.clone();
        crate::admin_steps::connect_instance(&stack, &slug).await?;
        let users: Vec<(String, String)> = stack.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
        let fleet = std::sync::Arc::new(fleet::Fleet::new(stack.http.clone(), &stack.cloud.url()));
        let mut macs = Vec::with_capacity(users.len());
        for profile in fleet::generate(&users, seed, noncompliant_share) {
            macs.push(fleet.onboard(profile, &stack.instance_url(&slug), &stack.instance(&slug).invitation, stack.clock.now()).await?);
        }
        Ok((stack, slug, fleet, macs))
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.ca.ca_pem)
    }

    pub fn endpoints(&self) -> EndpointsFile {
        let cloud = self.cloud.url();
        let first = self.instances.first();
        EndpointsFile {
            ca_certificate: std::fs::canonicalize(&self.ca.ca_path).unwrap_or(self.ca.ca_path.clone()).display().to_string(),
            cloud: CloudEndpoints {
                authority: cloud.clone(),
                graph: format!("{cloud}/graph"),
                aad_graph: format!("{cloud}/aadgraph"),
                intune_resource: "https://api.manage.microsoft.com/".into(),
            },
            connector: ConnectorEndpoints { url: self.connector.url(), operator_token: Some(self.operator_token.clone()) },
            mdm: MdmEndpoints {
                url: self.mdm.url(),
                instances: self
                    .instances
                    .iter()
                    .map(|i| MdmInstance { id: i.id.clone(), name: i.name.clone(), url: self.instance_url(&i.slug) })
                    .collect(),
            },
            consoles: Consoles {
                entra: format!("{cloud}/console/entra/enterprise-applications"),
                intune: format!("{cloud}{}", cloud::http::PARTNER_PAGE),
                mdm: self.mdm.url(),
            },
            seed: Some(Seed {
                tenant_id: self.tenant.tenant_id.clone(),
                tenant_domain: self.tenant.domain.clone(),
                global_admin: Credentials { upn: self.tenant.admin.upn.clone(), password: self.tenant.admin.password.clone() },
                mdm_admin: MdmAdmin {
                    instance: first.map(|i| i.slug.clone()).unwrap_or_default(),
                    username: first.map(|i| i.admin_username.clone()).unwrap_or_default(),
                    password: first.map(|i| i.admin_password.clone()).unwrap_or_default(),
                },
                mdm_admins: self
                    .instances
                    .iter()
                    .map(|i| MdmAdmin { instance: i.slug.clone(), username: i.admin_username.clone(), password: i.admin_password.clone() })
                    .collect(),
                test_client: TestClient {
                    client_id: self.tenant.test_client_id.clone(),
                    client_secret: self.tenant.test_client_secret.clone(),
                    graph_permissions: self.tenant.test_client_permissions.clone(),
                    certificate_pem: Some(self.tenant.test_client_certificate_pem.clone()),
                    private_key_pem: Some(self.tenant.test_client_key_pem.clone()),
                    thumbprint_sha1: Some(sha1_hex_of_pem(&self.tenant.test_client_certificate_pem)),
                },
            }),
        }
    }

    pub fn write_endpoints(&self, data_dir: &Path) -> anyhow::Result<PathBuf> {
        let path = data_dir.join("endpoints.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.endpoints())?)?;
        Ok(path)
    }

    /// Stops every service. Databases stay, except fresh PostgreSQL ones when `drop` is set.
    pub async fn shutdown_and(self, drop: bool) {
        let stopped = self.stop_services().await;
        if drop {
            stopped.drop_databases().await;
        }
    }

    /// Stops every service and keeps the databases.
    pub async fn stop_services(self) -> StoppedStack {
        self.mdm.shutdown().await;
        self.connector.shutdown().await;
        self.cloud.shutdown().await;
        StoppedStack { database_urls: self.database_urls, databases: self.databases, created_databases: self.created_databases }
    }

    pub async fn shutdown(self) {
        self.shutdown_and(false).await;
    }
}
