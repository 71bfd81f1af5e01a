//! `rotate-sealing-keys`: every service's sealed secrets and private keys sealed again
//! with new keys, the services stopped. With `--config`, the roles that configuration
//! runs; otherwise the layout `demo` and `serve --role all` leave in a data directory.

use std::path::Path;

use anyhow::Context;

/// Rotates the keys and returns one line per key rotated.
pub async fn rotate(config: Option<&Path>, data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let (cloud, mdm, data_dir) = match config {
        Some(file) => {
            let cfg = crate::config::load(Some(file))?;
            let cloud = cfg.cloud.map(|c| (c.config.database_url, c.config.secret_key_path));
            let mdm = cfg.mdm.map(|m| (m.config.database_url, m.config.secret_key_path));
            (cloud, mdm, cfg.data_dir)
        }
        None => {
            let db = |role: &str| platform::db::sqlite_url(&data_dir.join(format!("{role}.db")));
            let present = |role: &str| data_dir.join(format!("{role}.db")).exists();
            let cloud = present("cloud").then(|| (db("cloud"), data_dir.join("cloud-secrets.key")));
            let mdm = present("mdm").then(|| (db("mdm"), data_dir.join("mdm-secrets.key")));
            (cloud, mdm, data_dir.to_path_buf())
        }
    };
    if let Some((url, key)) = cloud {
        let n = cloud::store::rotate_sealing_key(&url, &key).await.context("cloud")?;
        done.push(format!("cloud: {n} private keys sealed with a new {}", key.display()));
    }
    if let Some((url, key)) = mdm {
        let n = mdm::sealed::rotate_sealing_key(&url, &key).await.context("mdm")?;
        done.push(format!("mdm: {n} secrets sealed with a new {}", key.display()));
    }
    if platform::tls::LocalCa::sealing_key_path(&data_dir).exists() {
        platform::tls::LocalCa::rotate_sealing_key(&data_dir).context("TLS")?;
        done.push(format!("tls: the server key sealed with a new {}", platform::tls::LocalCa::sealing_key_path(&data_dir).display()));
    }
    Ok(done)
}
