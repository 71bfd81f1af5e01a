//! Counters of the connector, rendered in Prometheus text format at `/metrics`. Names
//! follow `cloudconnector_<thing>_total`; gauges are read from the database at scrape.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub intake_updates_total: AtomicU64,
    pub intake_superseded_total: AtomicU64,
    pub intake_future_dated_total: AtomicU64,
    pub messages_created_total: AtomicU64,
    pub upload_requests_total: AtomicU64,
    pub upload_retries_total: AtomicU64,
    pub messages_completed_total: AtomicU64,
    pub devices_accepted_total: AtomicU64,
    pub devices_rejected_total: AtomicU64,
    pub devices_stale_total: AtomicU64,
    pub reconciled_updates_total: AtomicU64,
    pub replayed_updates_total: AtomicU64,
    pub health_checks_total: AtomicU64,
    pub health_check_failures_total: AtomicU64,
    /// Seconds from intake to the cloud's acceptance, per device update.
    pub delivery_seconds: Histogram,
}

/// A Prometheus histogram with fixed buckets (seconds).
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: std::array::from_fn(|_| AtomicU64::new(0)), sum_micros: AtomicU64::new(0), count: AtomicU64::new(0) }
    }
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {}\n", count.load(Ordering::Relaxed)));
        }
        let n = self.count.load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {n}\n"));
        out.push_str(&format!("{name}_sum {}\n{name}_count {n}\n", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6));
    }
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
        counter(
            "cloudconnector_intake_future_dated_total",
            "Updates dated ahead of the connector's clock, taken as dated when received.",
            &self.intake_future_dated_total,
        );
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
        counter(
            "cloudconnector_devices_stale_total",
            "Device updates the cloud kept out because it held a newer state.",
            &self.devices_stale_total,
        );
        counter("cloudconnector_reconciled_updates_total", "Updates queued again by a reconcile.", &self.reconciled_updates_total);
        counter("cloudconnector_replayed_updates_total", "Dead letters queued again.", &self.replayed_updates_total);
        counter("cloudconnector_health_checks_total", "Scheduled or requested health re-tests of links.", &self.health_checks_total);
        counter("cloudconnector_health_check_failures_total", "Health re-tests that found a problem.", &self.health_check_failures_total);
        self.delivery_seconds.render(
            "cloudconnector_delivery_seconds",
            "Time from intake to the cloud accepting a device update.",
            &mut out,
        );
        for (name, help, v) in [
            ("cloudconnector_backlog_updates", "Updates accepted but not yet concluded.", backlog),
            ("cloudconnector_dead_letters", "Updates the cloud refused or that were given up on, kept for replay.", dead),
            ("cloudconnector_active_links", "Links instance-tenant that are active.", active_links),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
        }
        out
    }
}
