//! The gate every outbound request to a tenant passes, whatever sends it (uploads, polls,
//! heartbeats, provisioning, health re-tests, discovery, tokens) and however often it
//! is retried. A 429 or 503 with `Retry-After` closes the tenant's gate until then: the
//! cloud's request budget is per tenant, so one request's answer binds them all
//! (Microsoft Learn, "Microsoft Graph throttling guidance": wait the `Retry-After` delay
//! before any further request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use platform::Clock;

use crate::client::CallError;

/// Gates per (cloud, tenant), on the service clock.
pub struct Gates {
    clock: Clock,
    closed_until: Mutex<HashMap<(String, String), i64>>,
}

impl Gates {
    pub fn new(clock: Clock) -> Gates {
        Gates { clock, closed_until: Mutex::new(HashMap::new()) }
    }

    /// Milliseconds until requests to the tenant may go again; 0 when they may now.
    pub fn remaining_ms(&self, cloud: &str, tenant: &str) -> u64 {
        let now = self.clock.now_ms();
        let closed = self.closed_until.lock().expect("gate lock");
        closed.get(&(cloud.to_string(), tenant.to_ascii_lowercase())).map_or(0, |until| (until - now).max(0) as u64)
    }

    /// Passes a request, or refuses it without sending (`CallError::Paused`) while the
    /// tenant's gate is closed.
    pub fn pass(&self, cloud: &str, tenant: &str) -> Result<(), CallError> {
        match self.remaining_ms(cloud, tenant) {
            0 => Ok(()),
            retry_after_ms => Err(CallError::Paused { retry_after_ms }),
        }
    }

    /// Waits (up to `longest`) for the tenant's gate to open: for a request a person is
    /// waiting on, which should go late rather than not at all.
    pub async fn wait(&self, cloud: &str, tenant: &str, longest: Duration) -> Result<(), CallError> {
        let remaining = self.remaining_ms(cloud, tenant);
        if remaining as u128 > longest.as_millis() {
            return Err(CallError::Paused { retry_after_ms: remaining });
        }
        if remaining > 0 {
            tokio::time::sleep(Duration::from_millis(remaining)).await;
        }
        Ok(())
    }

    /// Reads an answer: a 429 or 503 carrying `Retry-After` closes the tenant's gate for
    /// that long (an earlier, longer closing stands).
    pub fn observe(&self, cloud: &str, tenant: &str, status: u16, retry_after_s: Option<u64>) {
        let (429 | 503, Some(seconds)) = (status, retry_after_s) else { return };
        self.close_until(cloud, tenant, self.clock.now_ms() + (seconds.min(3600) * 1000) as i64);
    }

    /// Closes the tenant's gate until `until_ms` (service clock), as another node sharing
    /// the tenant's budget was told to; an earlier, longer closing stands.
    pub fn close_until(&self, cloud: &str, tenant: &str, until_ms: i64) {
        let mut closed = self.closed_until.lock().expect("gate lock");
        let entry = closed.entry((cloud.to_string(), tenant.to_ascii_lowercase())).or_insert(until_ms);
        *entry = (*entry).max(until_ms);
    }

    /// The gates closed now: `(cloud, tenant, until_ms)`, for sharing with other nodes.
    pub fn closed(&self) -> Vec<(String, String, i64)> {
        let now = self.clock.now_ms();
        let closed = self.closed_until.lock().expect("gate lock");
        closed.iter().filter(|(_, until)| **until > now).map(|((cloud, tenant), until)| (cloud.clone(), tenant.clone(), *until)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_closes_the_tenants_gate_and_only_that_one() {
        let clock = Clock::test();
        let gates = Gates::new(clock.clone());
        assert!(gates.pass("global", "t1").is_ok());
        gates.observe("global", "t1", 429, Some(4));
        gates.observe("global", "t2", 503, None);
        gates.observe("global", "t2", 500, Some(9));
        assert!(matches!(gates.pass("global", "T1"), Err(CallError::Paused { retry_after_ms }) if retry_after_ms > 3_000));
        assert!(gates.pass("global", "t2").is_ok(), "no Retry-After, or not a throttling status: no pause");
        assert!(gates.pass("usgov", "t1").is_ok(), "another cloud's tenant of that ID");
        gates.observe("global", "t1", 429, Some(1));
        assert!(gates.remaining_ms("global", "t1") > 3_000, "a shorter pause does not shorten a longer one");
        clock.advance(chrono::Duration::seconds(5));
        assert!(gates.pass("global", "t1").is_ok());
    }

    #[test]
    fn a_pause_another_node_was_given_closes_the_gate_and_is_listed_while_it_lasts() {
        let clock = Clock::test();
        let gates = Gates::new(clock.clone());
        let now = clock.now_ms();
        gates.close_until("global", "T1", now + 2_000);
        gates.close_until("global", "t1", now + 1_000);
        assert_eq!(gates.remaining_ms("global", "t1"), 2_000, "the longer pause stands");
        assert_eq!(gates.closed(), [("global".to_string(), "t1".to_string(), now + 2_000)]);
        clock.advance(chrono::Duration::seconds(3));
        assert!(gates.closed().is_empty(), "over");
    }
}
