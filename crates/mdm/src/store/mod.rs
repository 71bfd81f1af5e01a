//! Every SQL statement of the mdm server, behind one type, grouped by aggregate: instances
//! with their admins and API clients (`instances`), computers and their local users
//! (`computers`), Conditional Access settings and the change-management log
//! (`conditional_access`), the outbox (`outbox`), and the statements that run inside a
//! caller's transaction (`tx`).

use platform::db::Db;
use sqlx::{AnyConnection, Row};

use crate::domain::settings::{CaSettings, CaStatus};
use crate::error::{MdmError, Result};
use wire::{DeviceId, InstanceId, LinkId};

platform::migrations!();

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// Seals the secrets of instance rows: in memory plaintext, in the database sealed.
    pub(crate) secrets: std::sync::Arc<platform::secrets::SecretBox>,
}

mod cluster;
mod commands;
mod computers;
mod conditional_access;
mod instances;
mod outbox;
pub mod tx;

pub use commands::CommandRow;
pub use computers::{ComputerRow, HistoryRow, InventoryQuery, LocalUserRow, SortColumn};
pub use conditional_access::{CaRow, ChangeRow};
pub use instances::{AdminRow, InstanceRow};
pub use outbox::OutboxRow;
pub use tx::Registration;

impl Store {
    /// Connects and seals any instance secret still held in clear (written before the
    /// mdm sealed them).
    pub async fn connect(url: &str, secrets: std::sync::Arc<platform::secrets::SecretBox>) -> Result<Store, MdmError> {
        let store = Store { db: Db::connect(url, &MIGRATIONS).await.map_err(MdmError::internal)?, secrets };
        store.seal_instance_secrets().await?;
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Closes the pool: waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.db.close().await;
    }

    pub fn begin(&self) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error>> + '_ {
        self.db.begin()
    }
}

#[cfg(test)]
mod tests;
