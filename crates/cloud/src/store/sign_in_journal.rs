//! The writes of interactive sign-ins, committed together (group commit). A sign-in's
//! writes (its authorize request used up, its device's last sign-in, its sign-in log
//! entry, its authorization code) go to one writer task, which commits everything that
//! arrived meanwhile in one transaction and then answers each sender. A sign-in is
//! answered only once its writes are committed, so none is lost, and concurrent sign-ins
//! share one commit instead of each queueing four times for SQLite's single writer. A
//! request is used up once: of two sign-ins of one request, the second writes nothing.

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

/// What became of one sign-in's writes: committed, or not written because its authorize
/// request had already been used by another sign-in; or the database's error.
type Ack = oneshot::Sender<std::result::Result<Written, String>>;

/// Whether a sign-in's writes were committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Committed,
    /// Its authorize request was used up by another sign-in first: nothing was written.
    RequestAlreadyUsed,
}

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
    /// Errors: the database's, as [`CloudError::Internal`].
    pub async fn write(&self, writes: SignInWrites) -> Result<Written> {
        let (ack, done) = oneshot::channel();
        self.sender.send((writes, ack)).await.map_err(|_| CloudError::internal("the sign-in writer has stopped"))?;
        done.await.map_err(|_| CloudError::internal("the sign-in writer has stopped"))?.map_err(CloudError::internal)
    }
}

async fn run(store: Store, mut receiver: mpsc::Receiver<(SignInWrites, Ack)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        let writes: Vec<&SignInWrites> = group.iter().map(|(w, _)| w).collect();
        let results = match store.commit_sign_ins(&writes).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            // One sign-in's failure (or a deadlock between nodes) must not refuse the
            // others: each is committed on its own.
            Err(e) => {
                tracing::warn!(error = %e, sign_ins = group.len(), "group of sign-in writes failed; writing each on its own");
                let mut each = Vec::with_capacity(writes.len());
                for w in &writes {
                    each.push(store.commit_sign_ins(&[w]).await.map(|r| r[0]).map_err(|e| e.to_string()));
                }
                each
            }
        };
        for ((_, ack), result) in group.drain(..).zip(results) {
            let _ = ack.send(result);
        }
    }
}

impl Store {
    /// Writes the sign-ins of a group in one transaction. A sign-in whose authorize
    /// request is already gone (used by another sign-in, perhaps of the same group)
    /// writes nothing.
    async fn commit_sign_ins(&self, group: &[&SignInWrites]) -> Result<Vec<Written>> {
        let mut tx = self.db.begin().await?;
        let mut written = Vec::with_capacity(group.len());
        for w in group {
            let used = sqlx::query("DELETE FROM authorize_requests WHERE id = $1").bind(&w.request_used).execute(&mut *tx).await?;
            if used.rows_affected() == 0 {
                written.push(Written::RequestAlreadyUsed);
                continue;
            }
            written.push(Written::Committed);
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
        Ok(written)
    }
}
