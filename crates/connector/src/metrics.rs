//! Counters of the connector, rendered in Prometheus text format at `/metrics`. Names
//! follow `cloudconnector_<thing>_total`; gauges are read from the database at scrape.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub intake_updates_total: AtomicU64,
    pub intake_superseded_total: AtomicU64,
    pub messages_created_total: AtomicU64,
    pub upload_requests_total: AtomicU64,
    pub upload_retries_total: AtomicU64,
    pub messages_completed_total: AtomicU64,
    pub devices_accepted_total: AtomicU64,
    pub devices_rejected_total: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The text exposition, with the database-derived gauges appended.
    pub fn render(&self, backlog: i64, dead: i64, active_links: i64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", v.load(Ordering::Relaxed)));
        };
        counter("cloudconnector_intake_updates_total", "Inventory updates accepted from instances.", &self.intake_updates_total);
        counter("cloudconnector_intake_superseded_total", "Updates older than one already held, kept out.", &self.intake_superseded_total);
        counter("cloudconnector_messages_created_total", "Upload messages formed.", &self.messages_created_total);
        counter("cloudconnector_upload_requests_total", "PUT DataUploadMessages requests sent.", &self.upload_requests_total);
        counter(
            "cloudconnector_upload_retries_total",
            "Uploads or status polls scheduled again after a failure.",
            &self.upload_retries_total,
        );
        counter("cloudconnector_messages_completed_total", "Messages the cloud finished processing.", &self.messages_completed_total);
        counter("cloudconnector_devices_accepted_total", "Device updates the cloud accepted.", &self.devices_accepted_total);
        counter("cloudconnector_devices_rejected_total", "Device updates refused by the cloud or given up.", &self.devices_rejected_total);
        for (name, help, v) in [
            ("cloudconnector_backlog_updates", "Updates accepted but not yet concluded.", backlog),
            ("cloudconnector_rejected_updates", "Updates the cloud refused or that were given up on.", dead),
            ("cloudconnector_active_links", "Links instance-tenant that are active.", active_links),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
        }
        out
    }
}
