//! The connector's metrics (`platform::metrics`): counters of what it took in, formed,
//! sent and concluded, the time from intake to acceptance, and gauges read from the
//! database at scrape. Every series is labelled with the node.

use metrics::{Counter, Gauge, Histogram};
use platform::metrics::{HttpMetrics, Registry};

pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub intake_updates_total: Counter,
    pub intake_superseded_total: Counter,
    pub intake_future_dated_total: Counter,
    pub messages_created_total: Counter,
    pub upload_requests_total: Counter,
    pub upload_retries_total: Counter,
    pub messages_completed_total: Counter,
    pub devices_accepted_total: Counter,
    pub devices_rejected_total: Counter,
    pub devices_stale_total: Counter,
    pub reconciled_updates_total: Counter,
    pub replayed_updates_total: Counter,
    pub health_checks_total: Counter,
    pub health_check_failures_total: Counter,
    /// Rows of delivery history deleted by retention.
    pub pruned_rows_total: Counter,
    /// Seconds from intake to the cloud's acceptance, per device update.
    pub delivery_seconds: Histogram,
    backlog: Gauge,
    dead_letters: Gauge,
    active_links: Gauge,
}

impl Metrics {
    /// The connector's series, labelled with `node`.
    pub fn new(node: &str) -> Metrics {
        let r = Registry::new("connector", node);
        let c = |name, help| r.counter(name, help, &[]);
        Metrics {
            http: HttpMetrics::new(&r),
            intake_updates_total: c("cloudconnector_intake_updates_total", "Inventory updates accepted from instances."),
            intake_superseded_total: c("cloudconnector_intake_superseded_total", "Updates older than one already held, kept out."),
            intake_future_dated_total: c(
                "cloudconnector_intake_future_dated_total",
                "Updates dated ahead of the connector's clock, taken as dated when received.",
            ),
            messages_created_total: c("cloudconnector_messages_created_total", "Upload messages formed."),
            upload_requests_total: c("cloudconnector_upload_requests_total", "PUT DataUploadMessages requests sent."),
            upload_retries_total: c("cloudconnector_upload_retries_total", "Uploads or status polls scheduled again after a failure."),
            messages_completed_total: c("cloudconnector_messages_completed_total", "Messages the cloud finished processing."),
            devices_accepted_total: c("cloudconnector_devices_accepted_total", "Device updates the cloud accepted."),
            devices_rejected_total: c("cloudconnector_devices_rejected_total", "Device updates refused by the cloud or given up."),
            devices_stale_total: c(
                "cloudconnector_devices_stale_total",
                "Device updates the cloud kept out because it held a newer state.",
            ),
            reconciled_updates_total: c("cloudconnector_reconciled_updates_total", "Updates queued again by a reconcile."),
            replayed_updates_total: c("cloudconnector_replayed_updates_total", "Dead letters queued again."),
            health_checks_total: c("cloudconnector_health_checks_total", "Scheduled or requested health re-tests of links."),
            health_check_failures_total: c("cloudconnector_health_check_failures_total", "Health re-tests that found a problem."),
            pruned_rows_total: c("cloudconnector_pruned_rows_total", "Rows of delivery history older than the retention period deleted."),
            delivery_seconds: r.seconds("cloudconnector_delivery_seconds", "Time from intake to the cloud accepting a device update.", &[]),
            backlog: r.gauge("cloudconnector_backlog_updates", "Updates accepted but not yet concluded."),
            dead_letters: r.gauge("cloudconnector_dead_letters", "Updates the cloud refused or that were given up on, kept for replay."),
            active_links: r.gauge("cloudconnector_active_links", "Links instance-tenant that are active."),
            registry: r,
        }
    }

    /// The exposition, with the database-derived gauges set first.
    pub fn render(&self, backlog: i64, dead: i64, active_links: i64) -> String {
        self.backlog.set(backlog as f64);
        self.dead_letters.set(dead as f64);
        self.active_links.set(active_links as f64);
        self.registry.render()
    }

    /// The current value of a counter `name`, read from the exposition (for benchmarks and
    /// tests; a scrape reads `/metrics`).
    pub fn count(&self, name: &str) -> u64 {
        platform::metrics::value(&self.registry.render(), name).unwrap_or_default() as u64
    }
}
