//! The `mdm` role: a device-management server hosting many instances (the Jamf Pro part
//! of the story). Each instance has its admins, computers, Conditional Access settings,
//! landing pages and change-management log, under `/i/<slug>`.

pub mod agent;
pub mod connector_client;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod http;
pub mod import;
pub mod integration;
pub mod manual;
pub mod metrics;
pub mod preview;
pub mod sealed;
pub mod seed;
pub mod store;

#[cfg(test)]
mod fuzz_tests;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::Clock;
use platform::http::Served;
use platform::tls::LocalCa;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::connector_client::ConnectorClient;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MdmConfig {
    pub database_url: String,
    pub connector_url: String,
    /// Shared with the connector to register instances.
    pub connector_registration_secret: String,
    /// Cloud profile names offered by the *Sovereign Cloud* pop-up.
    #[serde(default = "default_clouds")]
    pub clouds: Vec<String>,
    /// Where the change-management log file is appended (`JAMFChangeManagement.log` style).
    #[serde(default)]
    pub change_log_path: Option<PathBuf>,
    /// Authority root of the `local` cloud profile, for Manual connections to it.
    #[serde(default)]
    pub local_cloud_url: Option<String>,
    /// Key file sealing the secrets the mdm keeps (enrolment invitations, the instances'
    /// connector credentials, Manual client secrets); created if missing.
    #[serde(default = "default_secret_key")]
    pub secret_key_path: PathBuf,
    /// The `https` URL admins, Macs and the connector reach the mdm at when that is not
    /// its listener (behind a load balancer or reverse proxy): what instance URLs,
    /// landing pages and enrolment invitations publish.
    #[serde(default)]
    pub public_url: Option<String>,
    /// This node's name among the nodes sharing the database: by default the host name
    /// and the listening port (`platform::net::node_name`). Names must differ between
    /// nodes and stay the same across a node's restarts.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Days each computer's inventory history is kept (its latest entry stays whatever its
    /// age); the node holding an instance prunes it hourly.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
}

fn default_retention_days() -> u64 {
    90
}

fn default_secret_key() -> PathBuf {
    PathBuf::from("mdm-secrets.key")
}

fn default_clouds() -> Vec<String> {
    wire::CloudProfile::NAMES.iter().map(|s| s.to_string()).collect()
}

pub struct AppState {
    /// On SQLite, this node's hold on the file: a second node is refused.
    _node_lock: Option<platform::db::NodeLock>,
    /// This node among the mdm nodes sharing the database (`MdmConfig::node_id`).
    pub node: String,
    /// The instances this node holds, until when (service-clock milliseconds).
    pub leases: Mutex<HashMap<String, i64>>,
    /// What the node was started with (another node of the service starts with the same).
    pub config: MdmConfig,
    pub store: Store,
    pub connector: ConnectorClient,
    pub clock: Clock,
    pub base_url: String,
    pub clouds: Vec<String>,
    pub work: Notify,
    /// The Microsoft-side client of Manual connections.
    pub partner: partner::CloudClient,
    pub secrets: Arc<platform::secrets::SecretBox>,
    pub local_cloud_url: Option<String>,
    /// When each Manual instance last sent a heartbeat.
    pub manual_heartbeats: Mutex<std::collections::HashMap<String, i64>>,
    /// When each Device Compliance instance last recalculated group memberships.
    pub memberships_checked: Mutex<std::collections::HashMap<String, i64>>,
    /// When each held instance's inventory history was last pruned.
    pub history_pruned: Mutex<std::collections::HashMap<String, i64>>,
    /// Wakes the Macs' long polls waiting on this node when a command is queued on it
    /// (a command queued on another node is found by the polls' slower database check).
    pub commands_queued: Notify,
    change_log: Option<Mutex<std::fs::File>>,
    /// Served at `/metrics`, labelled with this node.
    pub metrics: metrics::Metrics,
}

pub type Shared = Arc<AppState>;

impl platform::metrics::HasMetrics for AppState {
    fn registry(&self) -> &platform::metrics::Registry {
        &self.metrics.registry
    }
}

impl platform::openapi::HasDb for AppState {
    fn db(&self) -> &platform::Db {
        &self.store.db
    }
}

impl AppState {
    pub fn instance_url(&self, slug: &str) -> String {
        format!("{}/i/{slug}", self.base_url)
    }

    /// Appends one change to the log file (the database stays the record of truth).
    pub fn change_log_file(&self, instance: &str, at_ms: i64, user: &str, action: &str, details: &str) {
        if let Some(file) = &self.change_log
            && let Ok(mut f) = file.lock()
        {
            let line = format!(
                "{} instance={instance} user={user} object_type=\"Conditional Access\" action={action} details=\"{}\"\n",
                platform::clock::ms_to_rfc3339(at_ms),
                details.replace('"', "'")
            );
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "change log file not written");
            }
        }
    }
}

pub struct Mdm {
    pub state: Shared,
    pub served: Served,
    worker: tokio::task::JoinHandle<()>,
}

impl Mdm {
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Drains the node: stops its background work (sending outboxes, reading outcomes,
    /// following links) and gives up its instance leases at once, so the other nodes of
    /// the cluster take its instances over without waiting for the leases to run out. It
    /// keeps answering requests, as before it is taken out of the load balancer.
    pub async fn hand_over_instances(&mut self) {
        self.worker.abort();
        let _ = (&mut self.worker).await;
        self.state.leases.lock().expect("lock").clear();
        if let Err(e) = self.state.store.release_instances(&self.state.node).await {
            tracing::warn!(error = %e, "instance leases not given up; they run out");
        }
    }

    pub async fn shutdown(self) {
        self.served.stop(&[self.worker]).await;
        if let Err(e) = self.state.store.release_instances(&self.state.node).await {
            tracing::warn!(error = %e, "instance leases not given up; they run out");
        }
        self.state.store.close().await;
    }
}

pub use platform::StartError;

impl From<error::MdmError> for StartError {
    fn from(e: error::MdmError) -> Self {
        StartError::Service(Box::new(e))
    }
}

impl MdmConfig {
    /// Refuses a configuration that would send a secret or a token without TLS: the
    /// instances' connector credential travels to `connector_url`, Manual client secrets
    /// to the local cloud.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=36_500).contains(&self.retention_days) {
            return Err("retention_days must be between 1 and 36500".into());
        }
        platform::net::require_https("connector_url", &self.connector_url)?;
        if let Some(url) = &self.local_cloud_url {
            platform::net::require_https("local_cloud_url", url)?;
        }
        Ok(())
    }
}

pub async fn start(config: MdmConfig, listener: TcpListener, ca: &LocalCa, clock: Clock) -> Result<Mdm, StartError> {
    let listening = listener.local_addr()?;
    config.validate().map_err(StartError::Config)?;
    let secrets = Arc::new(platform::secrets::SecretBox::load_or_create(&config.secret_key_path)?);
    let node_lock = platform::db::NodeLock::take(&config.database_url)?;
    let store = Store::connect(&config.database_url, secrets.clone()).await?;
    let node = config.node_id.clone().unwrap_or_else(|| platform::net::node_name(listening));
    store.release_instances(&node).await?;
    let base_url =
        platform::net::public_base("public_url", config.public_url.as_deref(), listener.local_addr()?).map_err(StartError::Config)?;
    let connector = ConnectorClient::new(platform::http::client(&ca.ca_pem), &config.connector_url, &config.connector_registration_secret);
    let change_log = match &config.change_log_path {
        Some(p) => Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?)),
        None => None,
    };
    // Manual connections reach the built-in clouds and, if configured, the local one.
    let local = config.local_cloud_url.as_deref().map(wire::CloudProfile::local);
    let partner = partner::CloudClient::new(&ca.ca_pem, clock.clone(), &local.iter().collect::<Vec<_>>(), Duration::from_secs(30));
    let state = Arc::new(AppState {
        metrics: metrics::Metrics::new(&node),
        _node_lock: node_lock,
        node,
        leases: Mutex::new(HashMap::new()),
        store,
        connector,
        clock,
        base_url,
        clouds: config.clouds.clone(),
        work: Notify::new(),
        partner,
        secrets,
        local_cloud_url: config.local_cloud_url.clone(),
        manual_heartbeats: Mutex::new(Default::default()),
        memberships_checked: Mutex::new(Default::default()),
        history_pruned: Mutex::new(Default::default()),
        commands_queued: Notify::new(),
        change_log,
        config,
    });
    let worker = tokio::spawn(delivery::run(state.clone()));
    let served = platform::http::serve_tls(http::router(state.clone()), listener, ca).await?;
    Ok(Mdm { state, served, worker })
}
