//! The cloud's metrics (`platform::metrics`): HTTP requests, tokens issued, Conditional
//! Access decisions by outcome and partner upload messages accepted, labelled with the
//! node.

use metrics::Counter;
use platform::metrics::{HttpMetrics, Registry};

use crate::entra::conditional_access::Outcome;

pub struct Metrics {
    pub registry: Registry,
    pub http: HttpMetrics,
    pub tokens_total: Counter,
    pub uploads_total: Counter,
    decisions: [(Outcome, Counter); 5],
}

impl Metrics {
    pub fn new(node: &str) -> Metrics {
        let r = Registry::new("cloud", node);
        const HELP: &str = "Interactive sign-ins decided by Conditional Access, by outcome.";
        let decision = |o: Outcome, label| (o, r.counter("cloudconnector_sign_in_decisions_total", HELP, &[("outcome", label)]));
        Metrics {
            http: HttpMetrics::new(&r),
            tokens_total: r.counter("cloudconnector_tokens_issued_total", "Access tokens issued by the token endpoints.", &[]),
            uploads_total: r.counter("cloudconnector_upload_messages_total", "Partner upload messages accepted for processing.", &[]),
            decisions: [
                decision(Outcome::Granted, "granted"),
                decision(Outcome::DeviceNotCompliant, "device_not_compliant"),
                decision(Outcome::DeviceNotRecognized, "device_not_recognized"),
                decision(Outcome::Blocked, "blocked"),
                decision(Outcome::DeviceDisabled, "device_disabled"),
            ],
            registry: r,
        }
    }

    /// Counts one Conditional Access decision.
    pub fn decided(&self, outcome: Outcome) {
        if let Some((_, c)) = self.decisions.iter().find(|(o, _)| *o == outcome) {
            c.increment(1);
        }
    }
}
