//! The agent's side of commands: a Mac keeps a long poll open on its instance (standing
//! in for the push that wakes a real Mac) and answers each command as Jamf's agent does.

use std::sync::Arc;
use std::time::Duration;

use wire::agent::{AgentCommand, AgentCommands, UPDATE_INVENTORY};

use crate::{Fleet, FleetError, Mac, expect_ok, json};

/// Seconds each poll waits on the instance for a command.
pub const POLL_WAIT_S: u64 = 8;

impl Fleet {
    /// The commands waiting for the Mac, waiting up to `wait_s` seconds for one.
    pub async fn fetch_commands(&self, mac: &Mac, wait_s: u64) -> Result<Vec<AgentCommand>, FleetError> {
        let resp = self
            .http
            .get(format!("{}/api/agent/v1/commands", mac.instance_url))
            .query(&[("wait", wait_s)])
            .bearer_auth(&mac.credential)
            .send()
            .await;
        let answer: AgentCommands = json("commands", expect_ok("commands", resp).await?).await?;
        Ok(answer.commands)
    }

    /// Answers one command: `UpdateInventory` with a whole report collected at
    /// `collected_at`. Returns whether the command was understood.
    pub async fn answer(&self, mac: &Mac, command: &AgentCommand, collected_at: chrono::DateTime<chrono::Utc>) -> Result<bool, FleetError> {
        if command.request_type != UPDATE_INVENTORY {
            tracing::warn!(command = %command.command_uuid, request_type = %command.request_type, "command not understood");
            return Ok(false);
        }
        self.report_inventory(mac, collected_at).await?;
        Ok(true)
    }

    /// The Mac's agent: polls for commands and answers them, reading the Mac as it is at
    /// that moment (a user's change on it shows in the next answer) and dating each report
    /// by `clock`. Runs until its task is stopped; a failed poll is retried after a second,
    /// as an agent on a flaky network does.
    pub async fn run_agent(self, mac: Arc<tokio::sync::Mutex<Mac>>, clock: platform::clock::Clock) {
        loop {
            let snapshot = mac.lock().await.clone();
            if !snapshot.profile.checks_in {
                return;
            }
            let commands = match self.fetch_commands(&snapshot, POLL_WAIT_S).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(computer = snapshot.computer_id, error = %e, "command poll failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for command in commands {
                let now = mac.lock().await.clone();
                if let Err(e) = self.answer(&now, &command, clock.now()).await {
                    tracing::warn!(computer = now.computer_id, command = %command.command_uuid, error = %e, "command not answered");
                }
            }
        }
    }
}
