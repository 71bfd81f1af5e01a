//! The `connector` role: the multi-tenant broker between device-management instances and
//! a Microsoft cloud. It onboards instances by consent, holds only its own app credential,
//! discovers each tenant's partner services, and delivers inventory reliably.

pub mod concurrency;
pub mod error;
pub mod http;
pub mod maintenance;
pub mod metrics;
pub mod onboarding;
pub mod pipeline;
pub mod store;

#[cfg(test)]
mod fuzz_tests;

// The Microsoft-side client and retry rules are shared with the mdm's Manual mode.
pub use partner::client as cloud_client;
pub use partner::retry;

use platform::problem::Refuse;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use platform::Clock;
use platform::http::Served;
use platform::tls::LocalCa;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::cloud_client::{CloudApp, CloudClient};
use crate::store::Store;
use wire::TenantId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorConfig {
    pub database_url: String,
    /// Shared with the mdm servers allowed to register instances.
    pub registration_secret: String,
    /// The connector's app registration per cloud profile name.
    pub clouds: Vec<CloudApp>,
    /// Largest number of devices in one upload message.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Longest time an update waits for more to share its message while another message of
    /// its tenant is in flight; with none in flight a partial message goes out at once.
    #[serde(default = "default_linger")]
    pub batch_linger_ms: u64,
    /// Seconds between heartbeats per connected tenant.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_s: u64,
    /// Most requests in flight to one tenant (the adaptive window's ceiling).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency_per_tenant: usize,
    /// Seconds (of the service clock) between health re-tests of each link.
    #[serde(default = "default_health_interval")]
    pub health_interval_s: u64,
    /// Seconds (of the service clock) between full reconciles of each link.
    #[serde(default = "default_reconcile_interval")]
    pub reconcile_interval_s: u64,
    /// Bearer token of the operator API (`/api/v1/operator/…`); without one it is off.
    #[serde(default)]
    pub operator_token: Option<String>,
    /// Longest wait for an answer of the cloud before the request counts as failed.
    #[serde(default = "default_cloud_timeout")]
    pub cloud_timeout_ms: u64,
    /// The `https` URL instances and browsers reach the connector at when that is not its
    /// listener (behind a load balancer or reverse proxy): what consent redirects and
    /// landing-page routes publish. Its `/onboarding/callback` must be a redirect URI of
    /// the connector's app registration.
    #[serde(default)]
    pub public_url: Option<String>,
    /// This node's name among the nodes sharing the database: by default the host name
    /// and the listening port (`platform::net::node_name`). Names must differ between
    /// nodes and stay the same across a node's restarts.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Days delivery history is kept (concluded updates, finished messages, outcomes);
    /// one node prunes older history each hour. Every computer's latest update, dead
    /// letters and updates not yet concluded are kept whatever their age.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
}

fn default_retention_days() -> u64 {
    30
}

fn default_cloud_timeout() -> u64 {
    30_000
}

fn default_max_concurrency() -> usize {
    16
}

/// 15 minutes: a permission removed in Entra shows within one interval even on a link
/// nothing is sent over (a refused upload shows it at once, `maintenance::RetestRequests`).
fn default_health_interval() -> u64 {
    15 * 60
}

fn default_reconcile_interval() -> u64 {
    24 * 3600
}

fn default_batch() -> usize {
    // The cloud's documented maximum per message.
    1000
}

fn default_linger() -> u64 {
    500
}

fn default_heartbeat() -> u64 {
    300
}

pub struct AppState {
    /// This node among the connector nodes sharing the database (`ConnectorConfig::node_id`):
    /// the holder of the leases it takes.
    pub node: String,
    /// On SQLite, this node's hold on the file: a second node is refused.
    _node_lock: Option<platform::db::NodeLock>,
    pub store: Store,
    pub cloud: CloudClient,
    pub apps: HashMap<String, CloudApp>,
    pub clock: Clock,
    pub base_url: String,
    pub config: ConnectorConfig,
    /// Wakes the delivery pipeline when new work arrives.
    pub work: Notify,
    pub metrics: metrics::Metrics,
    /// Requests each tenant may have in flight.
    pub concurrency: concurrency::Aimd,
    /// The tenant pauses this node shared with the others or took from them, by (cloud,
    /// tenant): until when (service-clock milliseconds).
    pub pauses_shared: std::sync::Mutex<HashMap<(String, String), i64>>,
    /// Tenants whose links this node re-tests at its next maintenance step.
    pub retests: maintenance::RetestRequests,
}

pub type Shared = Arc<AppState>;

impl platform::openapi::HasDb for AppState {
    fn db(&self) -> &platform::Db {
        &self.store.db
    }
}

impl AppState {
    /// Whether requests to `tenant` of `cloud` must wait for an earlier `Retry-After`.
    pub fn paused(&self, cloud: &str, tenant: &TenantId) -> bool {
        let profile = self.apps.get(cloud).map_or(cloud, |a| a.profile.name.as_str());
        self.cloud.gates().remaining_ms(profile, tenant) > 0
    }

    pub fn app(&self, cloud: &str) -> error::Result<&CloudApp> {
        self.apps.get(cloud).ok_or_else(|| {
            error::ConnectorError::invalid(format!(
                "The connector has no app registration for the cloud '{cloud}'. Available: {}",
                self.apps.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

pub struct Connector {
    pub state: Shared,
    pub served: Served,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Connector {
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    pub async fn shutdown(self) {
        self.served.stop(&self.workers).await;
        if let Err(e) = self.state.store.release_leases(&self.state.node).await {
            tracing::warn!(error = %e, "leases not given up; they run out");
        }
        self.state.store.close().await;
    }
}

pub use platform::StartError;

impl ConnectorConfig {
    /// Refuses a configuration that would send a secret or a token without TLS.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=36_500).contains(&self.retention_days) {
            return Err("retention_days must be between 1 and 36500".into());
        }
        self.clouds.iter().try_for_each(CloudApp::validate)
    }
}

impl From<error::ConnectorError> for StartError {
    fn from(e: error::ConnectorError) -> Self {
        StartError::Service(Box::new(e))
    }
}

pub async fn start(config: ConnectorConfig, listener: TcpListener, ca: &LocalCa, clock: Clock) -> Result<Connector, StartError> {
    config.validate().map_err(StartError::Config)?;
    let listening = listener.local_addr()?;
    let node_lock = platform::db::NodeLock::take(&config.database_url)?;
    let store = Store::connect(&config.database_url).await?;
    let node = config.node_id.clone().unwrap_or_else(|| platform::net::node_name(listening));
    store.release_leases(&node).await?;
    let base_url =
        platform::net::public_base("public_url", config.public_url.as_deref(), listener.local_addr()?).map_err(StartError::Config)?;
    let apps = config.clouds.iter().map(|a| (a.profile.name.clone(), a.clone())).collect();
    let profiles: Vec<&wire::CloudProfile> = config.clouds.iter().map(|a| &a.profile).collect();
    let cloud = CloudClient::new(&ca.ca_pem, clock.clone(), &profiles, Duration::from_millis(config.cloud_timeout_ms.max(1)));
    let config_max = config.max_concurrency_per_tenant;
    let state = Arc::new(AppState {
        metrics: metrics::Metrics::new(&node),
        node,
        _node_lock: node_lock,
        store,
        cloud,
        apps,
        clock,
        base_url,
        config,
        work: Notify::new(),
        concurrency: concurrency::Aimd::new(4, config_max),
        pauses_shared: Default::default(),
        retests: Default::default(),
    });
    let workers = vec![
        tokio::spawn(pipeline::run(state.clone())),
        tokio::spawn(onboarding::heartbeats(state.clone())),
        tokio::spawn(maintenance::run(state.clone())),
    ];
    let served = platform::http::serve_tls(http::router(state.clone()), listener, ca).await?;
    Ok(Connector { state, served, workers })
}
