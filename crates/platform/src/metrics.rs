//! A service's metrics through the `metrics` crate, exposed by `metrics-exporter-prometheus`
//! at `GET /metrics` (Prometheus text format 0.0.4). Each service keeps a recorder of its
//! own rather than the process-global one, because the demo and the tests run several
//! services, and several nodes of one, in one process; every series carries the labels
//! `service` and `node`, so the series of the nodes behind a load balancer stay apart.
//! Names follow Prometheus practice: `cloudconnector_<thing>_total` for counters,
//! `_seconds` for durations.

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// Buckets of every duration histogram, in seconds: from a fast request to a slow delivery.
pub const SECONDS_BUCKETS: [f64; 14] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0];

/// One service's metric registry.
pub struct Registry {
    recorder: PrometheusRecorder,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

const TARGET: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Registry {
    /// A registry whose series are labelled `service` (`cloud`, `connector`, `mdm`) and
    /// `node` (the node's name, `platform::net::node_name` by default).
    pub fn new(service: &str, node: &str) -> Registry {
        let builder = PrometheusBuilder::new().add_global_label("service", service).add_global_label("node", node);
        // Any metric whose name ends in `_seconds` is a histogram with these buckets.
        let builder = builder.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS).unwrap_or_else(|_| {
            // Only an empty bucket list is refused; the list is a non-empty constant.
            PrometheusBuilder::new().add_global_label("service", service).add_global_label("node", node)
        });
        Registry { recorder: builder.build_recorder() }
    }

    /// A counter `name` described by `help`; `labels` are fixed for this handle.
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]) -> Counter {
        self.recorder.describe_counter(KeyName::from_const_str(name), None, SharedString::const_str(help));
        self.recorder.register_counter(&key(name, labels), &TARGET)
    }

    /// A gauge `name` described by `help`.
    pub fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        self.recorder.describe_gauge(KeyName::from_const_str(name), None, SharedString::const_str(help));
        self.recorder.register_gauge(&key(name, &[]), &TARGET)
    }

    /// A histogram of seconds `name` (ending in `_seconds`) described by `help`.
    pub fn seconds(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]) -> Histogram {
        self.recorder.describe_histogram(KeyName::from_const_str(name), Some(Unit::Seconds), SharedString::const_str(help));
        self.recorder.register_histogram(&key(name, labels), &TARGET)
    }

    /// The exposition of every series, as the exporter renders it.
    pub fn render(&self) -> String {
        let handle = self.recorder.handle();
        handle.run_upkeep();
        handle.render()
    }
}

/// The value of the series `name` (whatever its labels) in a text exposition: a sample
/// line is the name, its labels in braces, a space and the value. For benchmarks and
/// tests that read a service's `/metrics`.
pub fn value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        (series == name || series.strip_prefix(name)?.starts_with('{')).then(|| value.parse().ok())?
    })
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<metrics::Label> = labels.iter().map(|(k, v)| metrics::Label::from_static_parts(k, v)).collect();
    Key::from_parts(name, labels)
}

/// Every service's HTTP series: requests by status class
/// (`cloudconnector_http_requests_total{status="2xx"}`) and their duration
/// (`cloudconnector_http_request_seconds`), recorded by [`track`].
#[derive(Clone)]
pub struct HttpMetrics {
    by_class: [Counter; 5],
    seconds: Histogram,
}

impl HttpMetrics {
    pub fn new(r: &Registry) -> HttpMetrics {
        const HELP: &str = "HTTP requests answered, by status class.";
        let class = |c| r.counter("cloudconnector_http_requests_total", HELP, &[("status", c)]);
        HttpMetrics {
            by_class: [class("1xx"), class("2xx"), class("3xx"), class("4xx"), class("5xx")],
            seconds: r.seconds("cloudconnector_http_request_seconds", "Time to answer an HTTP request.", &[]),
        }
    }
}

/// Middleware counting and timing each request in `metrics`.
pub async fn track(
    axum::extract::State(metrics): axum::extract::State<HttpMetrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let class = (resp.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    metrics.by_class[class].increment(1);
    metrics.seconds.record(started.elapsed().as_secs_f64());
    resp
}

/// A service state that holds its metric registry.
pub trait HasMetrics {
    fn registry(&self) -> &Registry;
}

/// `GET /metrics`: the service's series in Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "health",
    summary = "Counters, gauges and histograms (Prometheus text format)",
    responses((status = 200, description = "Every series, labelled `service` and `node`.", body = String, content_type = "text/plain")))]
pub async fn serve<S, T>(axum::extract::State(state): axum::extract::State<S>) -> axum::response::Response
where
    S: std::ops::Deref<Target = T>,
    T: HasMetrics,
{
    response(state.registry())
}

/// The `/metrics` answer: the exposition with Prometheus's content type.
fn response(registry: &Registry) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], registry.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_the_service_and_node_and_render_as_prometheus_text() {
        let a = Registry::new("connector", "node-a:8444");
        let b = Registry::new("connector", "node-b:8444");
        a.counter("cloudconnector_test_total", "A test counter.", &[]).increment(3);
        a.counter("cloudconnector_outcomes_total", "Outcomes.", &[("outcome", "granted")]).increment(1);
        a.gauge("cloudconnector_backlog_updates", "A gauge.").set(7.0);
        a.seconds("cloudconnector_test_seconds", "A duration.", &[]).record(0.3);
        let text = a.render();
        assert!(text.contains("# HELP cloudconnector_test_total A test counter."), "{text}");
        assert!(text.contains(r#"cloudconnector_test_total{service="connector",node="node-a:8444"} 3"#), "{text}");
        assert!(text.contains(r#"cloudconnector_outcomes_total{service="connector",node="node-a:8444",outcome="granted"} 1"#), "{text}");
        assert!(text.contains(r#"cloudconnector_backlog_updates{service="connector",node="node-a:8444"} 7"#), "{text}");
        assert!(text.contains(r#"cloudconnector_test_seconds_bucket{service="connector",node="node-a:8444",le="0.5"} 1"#), "{text}");
        assert!(!b.render().contains("cloudconnector_test_total"), "each service's registry is its own");
        assert_eq!(value(&text, "cloudconnector_test_total"), Some(3.0));
        assert_eq!(value(&text, "cloudconnector_test"), None, "a prefix of a name is not the name");
    }
}
