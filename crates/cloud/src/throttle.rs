//! Request budgets per application per tenant, as Microsoft Graph and the Intune
//! services enforce them: beyond the budget of the current window a call gets 429 with
//! the seconds until the window ends in `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThrottleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests (reads and writes) per window.
    #[serde(default = "default_requests")]
    pub requests_per_window: u32,
    /// Writes per window.
    #[serde(default = "default_writes")]
    pub writes_per_window: u32,
    #[serde(default = "default_window")]
    pub window_s: u64,
}

fn yes() -> bool {
    true
}
fn default_requests() -> u32 {
    2000
}
fn default_writes() -> u32 {
    200
}
fn default_window() -> u64 {
    20
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { enabled: true, requests_per_window: 2000, writes_per_window: 200, window_s: 20 }
    }
}

#[derive(Default)]
struct Window {
    start_ms: i64,
    requests: u32,
    writes: u32,
}

pub struct Throttle {
    config: ThrottleConfig,
    windows: Mutex<HashMap<(String, String), Window>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle { config, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one call of `app` in `tenant`; `Err(seconds)` when over budget.
    pub fn check(&self, tenant: &str, app: &str, write: bool, now_ms: i64) -> Result<(), u64> {
        if !self.config.enabled {
            return Ok(());
        }
        let window_ms = (self.config.window_s * 1000) as i64;
        let mut windows = self.windows.lock().expect("throttle lock");
        if windows.len() > 100_000 {
            windows.retain(|_, w| now_ms - w.start_ms < window_ms);
        }
        let w = windows.entry((tenant.to_string(), app.to_string())).or_default();
        if now_ms - w.start_ms >= window_ms {
            *w = Window { start_ms: now_ms, requests: 0, writes: 0 };
        }
        if w.requests >= self.config.requests_per_window || (write && w.writes >= self.config.writes_per_window) {
            let remaining = (w.start_ms + window_ms - now_ms).max(1);
            return Err((remaining as u64).div_ceil(1000));
        }
        w.requests += 1;
        if write {
            w.writes += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_per_app_and_tenant_and_reset_with_the_window() {
        let t = Throttle::new(ThrottleConfig { enabled: true, requests_per_window: 3, writes_per_window: 1, window_s: 20 });
        assert!(t.check("t", "a", true, 0).is_ok());
        assert_eq!(t.check("t", "a", true, 1000), Err(19));
        assert!(t.check("t", "a", false, 1000).is_ok());
        assert!(t.check("t", "a", false, 2000).is_ok());
        assert_eq!(t.check("t", "a", false, 2000), Err(18));
        assert!(t.check("t", "b", false, 2000).is_ok(), "another app has its own budget");
        assert!(t.check("u", "a", false, 2000).is_ok(), "another tenant has its own budget");
        assert!(t.check("t", "a", true, 20_000).is_ok(), "a new window starts afresh");
    }
}
