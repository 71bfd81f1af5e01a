//! The secrets the mdm keeps, sealed at rest with its key (`secret_key_path`): each
//! instance's enrolment invitation and connector credential, and Manual client secrets
//! (sealed where they are entered). Rows are opened on the way out of the store; values a
//! version before sealing wrote in clear are sealed when the mdm starts; the key is
//! rotated offline by [`rotate_sealing_key`].

use std::path::Path;
use std::sync::Arc;

use platform::secrets::SecretBox;

use crate::error::{MdmError, Result};
use crate::store::{InstanceRow, Store};

/// What a sealed instance secret is bound to: its field and instance.
pub(crate) fn secret_context(field: &str, instance_id: &str) -> String {
    format!("instances.{field}:{instance_id}")
}

impl Store {
    /// An instance row with its secrets opened.
    pub(crate) fn opened(&self, mut row: InstanceRow) -> Result<InstanceRow> {
        let open = |field: &str, value: &str| {
            self.secrets
                .open_value(value, &secret_context(field, &row.id))
                .ok_or_else(|| MdmError::internal(format!("instance {}: the {field} does not open with this server's key", row.id)))
        };
        row.invitation = open("invitation", &row.invitation)?;
        row.connector_credential = row.connector_credential.as_deref().map(|c| open("connector_credential", c)).transpose()?;
        Ok(row)
    }

    /// Seals the instance secrets written in clear by an mdm that did not seal them.
    pub(crate) async fn seal_instance_secrets(&self) -> Result<u64> {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, invitation, connector_credential FROM instances").fetch_all(self.pool()).await?;
        let mut sealed = 0;
        for (id, invitation, credential) in rows {
            let seal = |field: &str, value: &str| {
                if platform::secrets::SecretBox::is_sealed(value) {
                    value.to_string()
                } else {
                    self.secrets.seal_value(value, &secret_context(field, &id))
                }
            };
            let (new_invitation, new_credential) =
                (seal("invitation", &invitation), credential.as_deref().map(|c| seal("connector_credential", c)));
            if new_invitation != invitation || new_credential != credential {
                sqlx::query("UPDATE instances SET invitation = $1, connector_credential = $2 WHERE id = $3")
                    .bind(new_invitation)
                    .bind(new_credential)
                    .bind(&id)
                    .execute(self.pool())
                    .await?;
                sealed += 1;
            }
        }
        if sealed > 0 {
            tracing::info!(instances = sealed, "instance secrets sealed");
        }
        Ok(sealed)
    }
}

/// Seals every secret of the mdm's database again with a new key, in one transaction:
/// the new key is written to `<key>.next` first and takes the key file's place once the
/// database is committed (the old one kept as `<key>.previous`). Run with the mdm
/// stopped. Returns how many values were sealed again.
pub async fn rotate_sealing_key(database_url: &str, key_path: &Path) -> Result<u64> {
    let old = Arc::new(SecretBox::load_or_create(key_path).map_err(MdmError::internal)?);
    let store = Store::connect(database_url, old.clone()).await?;
    let new = SecretBox::create_next(key_path).map_err(MdmError::internal)?;
    let mut txn = store.db.begin().await?;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, invitation, connector_credential FROM instances").fetch_all(&mut *txn).await?;
    let mut count = 0;
    for (id, invitation, credential) in rows {
        let reseal = |field: &str, value: &str| -> Result<String> {
            let context = secret_context(field, &id);
            let plain =
                old.open_value(value, &context).ok_or_else(|| MdmError::internal(format!("instance {id}: {field} does not open")))?;
            Ok(new.seal_value(&plain, &context))
        };
        let credential = credential.as_deref().map(|c| reseal("connector_credential", c)).transpose()?;
        sqlx::query("UPDATE instances SET invitation = $1, connector_credential = $2 WHERE id = $3")
            .bind(reseal("invitation", &invitation)?)
            .bind(credential)
            .bind(&id)
            .execute(&mut *txn)
            .await?;
        count += 1;
    }
    let manual: Vec<(String, String)> =
        sqlx::query_as("SELECT instance_id, manual_secret FROM ca_settings WHERE manual_secret IS NOT NULL").fetch_all(&mut *txn).await?;
    for (instance, sealed) in manual {
        let plain = old
            .open(&sealed, &instance)
            .ok_or_else(|| MdmError::internal(format!("instance {instance}: the Manual secret does not open")))?;
        sqlx::query("UPDATE ca_settings SET manual_secret = $1 WHERE instance_id = $2")
            .bind(new.seal(&plain, &instance))
            .bind(&instance)
            .execute(&mut *txn)
            .await?;
        count += 1;
    }
    txn.commit().await?;
    store.db.close().await;
    SecretBox::promote_next(key_path).map_err(MdmError::internal)?;
    Ok(count)
}
