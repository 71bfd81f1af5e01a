//! Plumbing every role shares and none owns: the injectable clock, the local CA and TLS,
//! the database connection with per-backend migrations, HTTPS serving and clients,
//! secret handling and small HTML helpers for the server-rendered consoles.
//!
//! Roles never share state through this crate; each service gets its own instances.

pub mod clock;
pub mod db;
pub mod flash;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod html;
pub mod http;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod problem;
pub mod sealing;
pub mod secrets;
pub mod text;
pub mod tls;

pub use clock::Clock;

use std::path::PathBuf;

/// Everything the plumbing can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Another node of the service has the SQLite file open ([`db::NodeLock`]).
    #[error("{path} is in use by another node of this service: a SQLite database serves one node; run several nodes on PostgreSQL")]
    Held { path: PathBuf },
}
pub use db::{Backend, Db};

/// Why a service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] Error),
    /// Its listener failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
    /// Its configuration is not valid (what and why).
    #[error("configuration: {0}")]
    Config(String),
    /// The service's own start-up failed (seeding, sealing stored secrets).
    #[error(transparent)]
    Service(problem::Source),
}
