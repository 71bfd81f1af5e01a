//! The mdm's metrics (`platform::metrics`): HTTP requests, inventory reports taken from
//! Macs and updates handed to the connector, labelled with the node.

use metrics::Counter;
use platform::metrics::{HttpMetrics, Registry};

pub struct Metrics {
    pub registry: Registry,
    pub http: HttpMetrics,
    /// Whole and partial inventory reports stored.
    pub inventory_reports_total: Counter,
    /// Updates the connector took from this node's outbox.
    pub updates_sent_total: Counter,
    /// Outbox batches the connector did not take (to be sent again).
    pub send_failures_total: Counter,
    /// Inventory history rows deleted by retention.
    pub pruned_rows_total: Counter,
}

impl Metrics {
    pub fn new(node: &str) -> Metrics {
        let r = Registry::new("mdm", node);
        Metrics {
            http: HttpMetrics::new(&r),
            inventory_reports_total: r.counter(
                "cloudconnector_inventory_reports_total",
                "Inventory reports stored, whole or partial.",
                &[],
            ),
            updates_sent_total: r.counter("cloudconnector_updates_sent_total", "Inventory updates the connector took.", &[]),
            send_failures_total: r.counter("cloudconnector_send_failures_total", "Batches the connector did not take.", &[]),
            pruned_rows_total: r.counter(
                "cloudconnector_pruned_rows_total",
                "Inventory history older than the retention period deleted.",
                &[],
            ),
            registry: r,
        }
    }
}
