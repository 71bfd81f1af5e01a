//! The cloud's metrics (`platform::metrics`): HTTP requests, tokens issued, Conditional
//! Access decisions by outcome and partner upload messages accepted, labelled with the
//! node.

use metrics::{Counter, Histogram};
use platform::metrics::{HttpMetrics, Registry};

use crate::entra::conditional_access::Outcome;

pub struct Metrics {
    pub registry: Registry,
    pub http: HttpMetrics,
    pub tokens_total: Counter,
    pub uploads_total: Counter,
    /// Time of a Conditional Access decision (device, groups, policies read; decided).
    pub decision_seconds: Histogram,
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
            decision_seconds: r.seconds("cloudconnector_sign_in_decision_seconds", "Time to decide an interactive sign-in.", &[]),
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
