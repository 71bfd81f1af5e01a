//! The private keys the cloud keeps, sealed at rest with its key (`secret_key_path`):
//! token-signing keys and each tenant's device CA. Opened on the way out of the store;
//! keys a version before sealing wrote in clear are sealed when the cloud starts; the key
//! is rotated offline by [`rotate_sealing_key`].

use std::path::Path;
use std::sync::Arc;

use platform::secrets::SecretBox;

use super::*;
use crate::error::CloudError;

/// What a sealed private key is bound to: its table and row.
pub(super) fn key_context(table: &str, id: &str) -> String {
    format!("{table}:{id}")
}

/// The sealed private-key columns: (table, key column, sealed column).
const SEALED: [(&str, &str, &str); 2] = [("signing_keys", "kid", "private_pem"), ("device_cas", "tenant_id", "key_pem")];

impl Store {
    /// A private key opened with this cloud's key.
    pub(super) fn open_key(&self, table: &str, id: &str, stored: &str) -> Result<String> {
        self.secrets.open_value(stored, &key_context(table, id)).ok_or_else(|| {
            crate::error::CloudError::internal(format!("{table} {id}: the private key does not open with this server's key"))
        })
    }

    /// Seals the private keys written in clear by a cloud that did not seal them.
    pub(super) async fn seal_private_keys(&self) -> Result<()> {
        let seal = |table: &str, id: &str, value: &str| self.secrets.seal_value(value, &key_context(table, id));
        let keys: Vec<(String, String)> = sqlx::query_as("SELECT kid, private_pem FROM signing_keys").fetch_all(self.pool()).await?;
        for (kid, pem) in keys.into_iter().filter(|(_, p)| !platform::secrets::SecretBox::is_sealed(p)) {
            sqlx::query("UPDATE signing_keys SET private_pem = $1 WHERE kid = $2")
                .bind(seal("signing_keys", &kid, &pem))
                .bind(&kid)
                .execute(self.pool())
                .await?;
        }
        let cas: Vec<(String, String)> = sqlx::query_as("SELECT tenant_id, key_pem FROM device_cas").fetch_all(self.pool()).await?;
        for (tenant, pem) in cas.into_iter().filter(|(_, p)| !platform::secrets::SecretBox::is_sealed(p)) {
            sqlx::query("UPDATE device_cas SET key_pem = $1 WHERE tenant_id = $2")
                .bind(seal("device_cas", &tenant, &pem))
                .bind(&tenant)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }
}

/// Seals every private key of the cloud's database again with a new key, in one
/// transaction: the new key is written to `<key>.next` first and takes the key file's
/// place once the database is committed (the old one kept as `<key>.previous`). Run with
/// the cloud stopped. Returns how many keys were sealed again.
pub async fn rotate_sealing_key(database_url: &str, key_path: &Path) -> Result<u64> {
    let old = Arc::new(SecretBox::load_or_create(key_path).map_err(CloudError::internal)?);
    let store = Store::connect(database_url, old.clone()).await?;
    let new = SecretBox::create_next(key_path).map_err(CloudError::internal)?;
    let mut txn = store.db.begin().await?;
    let mut count = 0;
    for (table, id_column, column) in SEALED {
        let rows: Vec<(String, String)> =
            sqlx::query_as(&format!("SELECT {id_column}, {column} FROM {table}")).fetch_all(&mut *txn).await?;
        for (id, sealed) in rows {
            let context = key_context(table, &id);
            let plain = old.open_value(&sealed, &context).ok_or_else(|| CloudError::internal(format!("{table} {id} does not open")))?;
            sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE {id_column} = $2"))
                .bind(new.seal_value(&plain, &context))
                .bind(&id)
                .execute(&mut *txn)
                .await?;
            count += 1;
        }
    }
    txn.commit().await?;
    store.db.close().await;
    SecretBox::promote_next(key_path).map_err(CloudError::internal)?;
    Ok(count)
}
