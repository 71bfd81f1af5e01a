//! Adaptive concurrency per tenant (AIMD, as TCP does): each success widens the window by
//! one request per window's worth of successes; a sign of overload (429, 503, a timeout
//! or a dropped connection) halves it. The cloud's write budget is per tenant, so one
//! tenant's throttling never slows another.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::cloud_client::CallError;

pub struct Aimd {
    min: f64,
    max: f64,
    initial: f64,
    limits: Mutex<HashMap<String, f64>>,
}

/// What a call's result says about the tenant's capacity.
pub enum Signal {
    Success,
    Overload,
    Neutral,
}

impl Signal {
    pub fn of<T>(result: &Result<T, CallError>) -> Signal {
        match result {
            Ok(_) => Signal::Success,
            Err(CallError::Http { status: 429 | 503, .. }) | Err(CallError::Transport(_)) => Signal::Overload,
            Err(_) => Signal::Neutral,
        }
    }
}

impl Aimd {
    pub fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1) as f64;
        Aimd { min: 1.0, max, initial: (initial as f64).clamp(1.0, max), limits: Mutex::new(HashMap::new()) }
    }

    /// Requests a tenant may have in flight now.
    pub fn limit(&self, tenant: &str) -> usize {
        self.limits.lock().expect("aimd lock").get(tenant).copied().unwrap_or(self.initial).floor() as usize
    }

    pub fn observe(&self, tenant: &str, signal: Signal) {
        let mut limits = self.limits.lock().expect("aimd lock");
        let limit = limits.entry(tenant.to_string()).or_insert(self.initial);
        *limit = match signal {
            Signal::Success => (*limit + 1.0 / *limit).min(self.max),
            Signal::Overload => (*limit / 2.0).max(self.min),
            Signal::Neutral => *limit,
        };
    }

    /// The due items each tenant may start now, in order, up to its limit.
    pub fn pick<T>(&self, due: impl IntoIterator<Item = T>, tenant_of: impl Fn(&T) -> &str) -> Vec<T> {
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for item in due {
            let tenant = tenant_of(&item).to_string();
            let n = taken.entry(tenant.clone()).or_default();
            if *n < self.limit(&tenant) {
                *n += 1;
                out.push(item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_by_one_per_window_of_successes_and_halves_on_overload() {
        let aimd = Aimd::new(4, 16);
        for _ in 0..4 {
            aimd.observe("t", Signal::Success);
        }
        assert_eq!(aimd.limit("t"), 4, "4 + 4 × 1/4.x stays just under 5");
        for _ in 0..8 {
            aimd.observe("t", Signal::Success);
        }
        assert_eq!(aimd.limit("t"), 6);
        aimd.observe("t", Signal::Overload);
        assert_eq!(aimd.limit("t"), 3);
        for _ in 0..10 {
            aimd.observe("t", Signal::Overload);
        }
        assert_eq!(aimd.limit("t"), 1, "never below one");
        assert_eq!(aimd.limit("other"), 4, "tenants are independent");
        for _ in 0..1000 {
            aimd.observe("t", Signal::Success);
        }
        assert_eq!(aimd.limit("t"), 16, "capped");
        let picked = aimd.pick(["a", "b", "a", "a", "a", "a", "a"], |s| s);
        assert_eq!(picked, ["a", "b", "a", "a", "a"], "four of a, b untouched by a's limit");
    }
}
