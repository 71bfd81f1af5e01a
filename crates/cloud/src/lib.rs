//! The `cloud` role: a local, protocol-compatible stand-in for Microsoft Entra ID, Microsoft
//! Graph and the Intune partner services. Clients reach it through the same paths as the
//! real endpoints, under the roots of the `local` cloud profile.

pub mod entra;
pub mod error;
pub mod faults;
pub mod http;
pub mod intune;
pub mod metrics;
pub mod odata;
pub mod seed;
pub mod store;
pub mod throttle;

#[cfg(test)]
mod fuzz_tests;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use platform::Clock;
use platform::http::Served;
use platform::tls::LocalCa;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::entra::tokens::Keys;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudConfig {
    /// `sqlite://…` (default, embedded) or `postgres://…`.
    pub database_url: String,
    /// Whether devices with no assigned compliance policy count as compliant (tenant default).
    #[serde(default = "yes")]
    pub no_policy_is_compliant: bool,
    /// Seconds without a heartbeat after which an Active partner turns Unresponsive.
    #[serde(default = "default_unresponsive")]
    pub partner_unresponsive_after_s: u64,
    /// Budgets of Graph and the partner services per app per tenant.
    #[serde(default)]
    pub throttle: throttle::ThrottleConfig,
    /// Key file sealing the private keys the cloud keeps (token signing, device CAs);
    /// created if missing.
    #[serde(default = "default_secret_key")]
    pub secret_key_path: std::path::PathBuf,
    /// The `https` URL clients reach the cloud at when that is not its listener (behind a
    /// reverse proxy or load balancer): what discovery, OIDC documents and links publish.
    #[serde(default)]
    pub public_url: Option<String>,
    /// For benchmarks only (`bench delivery`'s ceiling): every partner upload message
    /// completes at once with each device accepted, nothing evaluated and nothing written
    /// to the directory, so what is measured is the connector alone. Not read from a
    /// configuration file or the environment: only the benchmark's stack sets it.
    #[serde(skip)]
    pub null_sink: bool,
}

fn default_secret_key() -> std::path::PathBuf {
    std::path::PathBuf::from("cloud-secrets.key")
}

fn yes() -> bool {
    true
}

fn default_unresponsive() -> u64 {
    3600
}

impl CloudConfig {
    /// Refuses a public URL that would carry tokens and secrets without TLS.
    pub fn validate(&self) -> Result<(), String> {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        platform::net::public_base("public_url", self.public_url.as_deref(), any).map(|_| ())
    }
}

/// Everything a request handler may use.
pub struct AppState {
    pub store: Store,
    pub keys: Keys,
    pub clock: Clock,
    /// `https://127.0.0.1:PORT`: the authority root and the base of every other root.
    pub base_url: String,
    pub config: CloudConfig,
    pub uploads_waiting: Notify,
    pub throttle: throttle::Throttle,
    /// Injected faults; only reachable when the clock is a test clock.
    pub faults: faults::Faults,
    /// Served at `/metrics`, labelled with this node (`host:port` of the listener).
    pub metrics: metrics::Metrics,
    /// Where interactive sign-ins write (group commit).
    pub sign_ins: store::SignInJournal,
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

/// A running cloud.
pub struct Cloud {
    pub state: Shared,
    pub served: Served,
    worker: tokio::task::JoinHandle<()>,
    statistics: tokio::task::JoinHandle<()>,
    journal: tokio::task::JoinHandle<()>,
}

impl Cloud {
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    pub async fn shutdown(self) {
        self.served.stop(&[self.worker, self.statistics]).await;
        // After the requests in flight: their sign-ins still write.
        self.journal.abort();
        self.state.store.close().await;
    }
}

pub use platform::StartError;

impl From<error::CloudError> for StartError {
    fn from(e: error::CloudError) -> Self {
        StartError::Service(Box::new(e))
    }
}

/// Starts the cloud on `listener` (already bound, so callers know the port in advance).
pub async fn start(config: CloudConfig, listener: TcpListener, ca: &LocalCa, clock: Clock) -> Result<Cloud, StartError> {
    let secrets = std::sync::Arc::new(platform::secrets::SecretBox::load_or_create(&config.secret_key_path)?);
    let store = Store::connect(&config.database_url, secrets).await?;
    seed::ensure_first_party(&store, clock.now_ms()).await?;
    let keys = Keys::load_or_create(&store, clock.now_ms()).await?;
    config.validate().map_err(StartError::Config)?;
    let base_url =
        platform::net::public_base("public_url", config.public_url.as_deref(), listener.local_addr()?).map_err(StartError::Config)?;
    let throttle = throttle::Throttle::new(config.throttle.clone());
    let metrics = metrics::Metrics::new(&platform::net::node_name(listener.local_addr()?));
    let (sign_ins, journal) = store::SignInJournal::start(store.clone());
    let state = Arc::new(AppState {
        store,
        keys,
        clock,
        base_url,
        config,
        uploads_waiting: Notify::new(),
        throttle,
        faults: Default::default(),
        metrics,
        sign_ins,
    });
    let worker = tokio::spawn(upload_worker(state.clone()));
    let statistics = tokio::spawn(refresh_statistics(state.clone()));
    let served = platform::http::serve_tls(http::router(state.clone()), listener, ca).await?;
    Ok(Cloud { state, served, worker, statistics, journal })
}

/// Keeps the database planner's statistics fresh as Graph's collections grow (every ten
/// minutes, wall time), apart from the upload worker so a long ANALYZE never delays it.
async fn refresh_statistics(state: Shared) {
    loop {
        tokio::time::sleep(platform::db::STATISTICS_LIFETIME).await;
        if let Err(e) = state.store.db.optimize().await {
            tracing::warn!(error = %e, "refreshing the planner's statistics failed");
        }
    }
}

/// Applies queued upload messages as they arrive (and every second, for any missed
/// wake-up), and keeps the signing keys rotated.
async fn upload_worker(state: Shared) {
    loop {
        if let Err(e) = state.keys.maintain(&state.store, state.clock.now_ms()).await {
            tracing::warn!(error = %e, "signing key maintenance failed");
        }
        let unresponsive_after_ms = state.config.partner_unresponsive_after_s as i64 * 1000;
        if let Err(e) = intune::lifecycle::tick(&state.store, state.clock.now_ms(), unresponsive_after_ms).await {
            tracing::warn!(error = %e, "partner lifecycle tick failed");
        }
        match intune::uploads::process_pending(&state.store, state.clock.now_ms(), &state.config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "upload processing failed; will retry"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), state.uploads_waiting.notified()).await;
    }
}
