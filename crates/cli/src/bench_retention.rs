//! `bench retention`: the connector's database for many devices before and after the
//! retention job. Each device has `updates` delivered updates with their outcomes, all
//! older than the 30-day default period; the pruning the cluster job runs is timed, and
//! the database is compacted (`VACUUM`) and measured before and after.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct RetentionBench {
    pub database: String,
    pub devices: usize,
    pub updates_per_device: usize,
    pub populate_seconds: f64,
    pub size_before_mb: f64,
    pub prune_seconds: f64,
    pub pruned: connector::store::Pruned,
    pub size_after_mb: f64,
    /// The size after retention for 1,000,000 devices at this size per device.
    pub mb_per_million_devices_after: f64,
}

/// Runs the benchmark (see the module) on a database in `data_dir`, or on a fresh one of
/// the PostgreSQL server `postgres`, and reports it.
pub async fn retention(data_dir: &Path, devices: usize, updates: usize, postgres: Option<&str>) -> anyhow::Result<RetentionBench> {
    std::fs::create_dir_all(data_dir)?;
    let (url, created) = match postgres {
        Some(server) => {
            let name = format!("cc_bench_retention_{}", uuid::Uuid::new_v4().simple());
            (platform::db::create_postgres_database(server, &name).await?, Some((server, name)))
        }
        None => (platform::db::sqlite_url(&data_dir.join("connector.db")), None),
    };
    let store = connector::store::Store::connect(&url).await?;
    const DAY_MS: i64 = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    store.seed_delivered(10, devices, updates, now - 40 * DAY_MS).await?;
    let populate_seconds = started.elapsed().as_secs_f64();
    let mb = |bytes: i64| bytes as f64 / 1_048_576.0;
    let size_before_mb = mb(store.compact_and_measure().await?);
    let started = Instant::now();
    let pruned = store.prune(now - 30 * DAY_MS).await?;
    let prune_seconds = started.elapsed().as_secs_f64();
    let size_after_mb = mb(store.compact_and_measure().await?);
    store.close().await;
    if let Some((server, name)) = created {
        platform::db::drop_postgres_database(server, &name).await?;
    }
    Ok(RetentionBench {
        database: if postgres.is_some() { "postgresql" } else { "sqlite" }.into(),
        devices,
        updates_per_device: updates,
        populate_seconds,
        size_before_mb,
        prune_seconds,
        pruned,
        size_after_mb,
        mb_per_million_devices_after: size_after_mb * 1_000_000.0 / devices.max(1) as f64,
    })
}
