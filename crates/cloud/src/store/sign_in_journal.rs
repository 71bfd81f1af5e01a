//! The writes of interactive sign-ins, committed together (group commit). A sign-in's
//! writes (its authorize request used up, its device's last sign-in, its sign-in log
//! entry, its authorization code) go to one writer task, which commits everything that
//! arrived meanwhile in one transaction and then answers each sender. A sign-in is
//! answered only once its writes are committed, so none is lost, and concurrent sign-ins
//! share one commit instead of each queueing four times for SQLite's single writer.

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::error::CloudError;

/// Sign-ins committed in one transaction at most.
const MAX_GROUP: usize = 256;

/// What one sign-in writes.
pub struct SignInWrites {
    /// The authorize request it used up (single use).
    pub request_used: String,
    /// The registered device it was made from: its last sign-in (Graph
    /// `approximateLastSignInDateTime`) becomes the log entry's time.
    pub device: Option<DeviceId>,
    pub log: SignInRow,
    /// A granted sign-in's authorization code: its digest and what it stands for.
    pub code: Option<(String, CodeRow)>,
}

type Ack = oneshot::Sender<std::result::Result<(), String>>;

/// The handle requests send their writes through; cheap to clone.
#[derive(Clone)]
pub struct SignInJournal {
    sender: mpsc::Sender<(SignInWrites, Ack)>,
}

impl SignInJournal {
    /// Starts the writer task on `store`; it ends when every handle is dropped.
    pub fn start(store: Store) -> (SignInJournal, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(4 * MAX_GROUP);
        (SignInJournal { sender }, tokio::spawn(run(store, receiver)))
    }

    /// Hands one sign-in's writes to the writer and waits until they are committed.
    /// Errors: the database's, as [`CloudError::Internal`], when the group failed.
    pub async fn write(&self, writes: SignInWrites) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.sender.send((writes, ack)).await.map_err(|_| CloudError::internal("the sign-in writer has stopped"))?;
        done.await.map_err(|_| CloudError::internal("the sign-in writer has stopped"))?.map_err(CloudError::internal)
    }
}

async fn run(store: Store, mut receiver: mpsc::Receiver<(SignInWrites, Ack)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        let result = store.commit_sign_ins(group.iter().map(|(w, _)| w)).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::warn!(error = %e, sign_ins = group.len(), "sign-in writes failed; each sign-in is refused");
        }
        for (_, ack) in group.drain(..) {
            let _ = ack.send(result.clone());
        }
    }
}

impl Store {
    /// Writes the sign-ins of a group in one transaction.
    async fn commit_sign_ins(&self, group: impl Iterator<Item = &SignInWrites>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for w in group {
            sqlx::query("DELETE FROM authorize_requests WHERE id = $1").bind(&w.request_used).execute(&mut *tx).await?;
            if let Some(device) = &w.device {
                sqlx::query("UPDATE devices SET last_sign_in_ms = $1 WHERE tenant_id = $2 AND device_id = $3")
                    .bind(w.log.at_ms)
                    .bind(&w.log.tenant_id)
                    .bind(device)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_sign_in_query(&w.log).execute(&mut *tx).await?;
            if let Some((digest, code)) = &w.code {
                insert_code_query(digest, code).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
