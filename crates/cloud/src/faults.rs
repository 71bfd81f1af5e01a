//! Faults a test can ask the cloud to inject into its partner services (only when the
//! cloud runs with a test clock): throttling with `Retry-After`, outages, dropped
//! connections and refused fresh tokens, as the real services produce them. The cloud
//! also records when each partner request arrived, so a test can check clients waited.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 with `Retry-After: seconds`.
    Throttle { retry_after_s: u64 },
    /// 503 Service Unavailable.
    Unavailable,
    /// The connection is closed without an answer.
    Reset,
    /// 401: the (fresh) token is refused once.
    RejectToken,
    /// 400: the request is refused for good (no retry helps).
    BadRequest,
    /// 200 with a body cut off mid-way (nothing was done).
    Truncated,
    /// The answer comes only after this many (real) seconds.
    Slow { seconds: u64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct Arrival {
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub fault: Option<Fault>,
}

#[derive(Default)]
pub struct Faults {
    planned: Mutex<VecDeque<Fault>>,
    arrivals: Mutex<Vec<Arrival>>,
}

impl Faults {
    pub fn plan(&self, faults: Vec<Fault>) {
        self.planned.lock().expect("faults lock").extend(faults);
    }

    /// Records a partner request and returns the fault to inject into it, if any.
    pub fn on_request(&self, method: &str, path: &str, at_ms: i64) -> Option<Fault> {
        let fault = self.planned.lock().expect("faults lock").pop_front();
        self.arrivals.lock().expect("faults lock").push(Arrival { at_ms, method: method.into(), path: path.into(), fault: fault.clone() });
        fault
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().expect("faults lock").clone()
    }
}
