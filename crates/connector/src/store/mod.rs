//! Every SQL statement of the connector, behind one type, grouped by aggregate: registered
//! instances (`instances`), links and consent states (`links`), the delivery pipeline's
//! intake, messages, routes and outcomes (`delivery`), what operators and maintenance read
//! and replay (`operations`), what several nodes share (`cluster`), the pruning of old
//! history (`retention`), and the statements that run inside a caller's transaction
//! (`tx`).

use platform::db::Db;
use sqlx::Row;
use wire::connector_api::{DeadLetter, IntakeState, LinkStatus, OutcomeStatus};
use wire::{DeviceId, InstanceId, LinkId, MessageId, TenantId};

use crate::error::{ConnectorError, Result};

platform::migrations!();

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
}

mod cluster;
mod delivery;
mod instances;
mod links;
mod operations;
mod retention;
pub mod seeding;
pub mod tx;

pub use delivery::{IntakeRow, MessageRow, MessageState, Next, OutcomeRow};
pub use instances::InstanceRow;
pub use links::LinkRow;
pub use operations::TracedUpdate;
pub use retention::Pruned;

impl Store {
    pub async fn connect(url: &str) -> Result<Store, platform::Error> {
        Ok(Store { db: Db::connect(url, &MIGRATIONS).await? })
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Closes the pool: waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests;
