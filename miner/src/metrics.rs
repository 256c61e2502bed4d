//! Prometheus metrics of a miner (served on `GET /metrics` by `subnet_service::metrics`).

use std::net::SocketAddr;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use subnet_protocol::{RejectReason, RequestKind};
use tokio::net::TcpListener;

/// The miner's metrics. Cheap to clone; clones share the counters.
///
/// | metric | type | labels |
/// | --- | --- | --- |
/// | `miner_requests_total` | counter | `kind`, `result` (`ok` or a rejection label) |
/// | `miner_rejections_total` | counter | `reason` ([`RejectReason::as_label`]), every stage |
/// | `miner_request_duration_seconds` | histogram | `kind` |
/// | `miner_batch_size` | histogram | |
/// | `miner_inference_seconds` | histogram (per batch) | |
/// | `miner_inferences_total` | counter (requests run through the model) | |
/// | `miner_displaced_total` | counter (queued requests displaced by higher stake) | |
/// | `miner_queue_depth` | gauge | |
/// | `miner_metagraph_block` | gauge | |
#[derive(Debug, Clone)]
pub struct MinerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    rejections: IntCounterVec,
    request_duration: HistogramVec,
    batch_size: Histogram,
    inference_seconds: Histogram,
    inferences: IntCounter,
    displaced: IntCounter,
    queue_depth: IntGauge,
    metagraph_block: IntGauge,
}

fn seconds_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
}

/// The label of a request kind.
pub(crate) fn kind_label(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Task => "task",
        RequestKind::ModelInfo => "model_info",
        RequestKind::Weights => "weights",
        RequestKind::Health => "health",
    }
}

impl MinerMetrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Errors
    /// A registration error (only on a name clash, which would be a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "miner_requests_total",
                "Admitted requests by kind and result (ok or rejection reason)",
            ),
            &["kind", "result"],
        )?;
        let rejections = IntCounterVec::new(
            Opts::new(
                "miner_rejections_total",
                "Rejected requests by reason, at any stage",
            ),
            &["reason"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "miner_request_duration_seconds",
                "Time to handle an admitted request",
            )
            .buckets(seconds_buckets()),
            &["kind"],
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("miner_batch_size", "Task requests per inference batch")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )?;
        let inference_seconds = Histogram::with_opts(
            HistogramOpts::new("miner_inference_seconds", "Time of one inference batch")
                .buckets(seconds_buckets()),
        )?;
        let inferences = IntCounter::new(
            "miner_inferences_total",
            "Task requests run through the model",
        )?;
        let displaced = IntCounter::new(
            "miner_displaced_total",
            "Queued requests displaced by a caller with more stake",
        )?;
        let queue_depth = IntGauge::new("miner_queue_depth", "Task requests waiting")?;
        let metagraph_block =
            IntGauge::new("miner_metagraph_block", "Block of the metagraph in use")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(inference_seconds.clone()))?;
        registry.register(Box::new(inferences.clone()))?;
        registry.register(Box::new(displaced.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(metagraph_block.clone()))?;
        Ok(Self {
            registry,
            requests,
            rejections,
            request_duration,
            batch_size,
            inference_seconds,
            inferences,
            displaced,
            queue_depth,
            metagraph_block,
        })
    }

    /// Task requests run through the model so far.
    pub fn inferences(&self) -> u64 {
        self.inferences.get()
    }

    /// Rejections for `reason` so far, at any stage.
    pub fn rejections(&self, reason: RejectReason) -> u64 {
        self.rejections
            .with_label_values(&[reason.as_label()])
            .get()
    }

    /// Admitted requests of `kind` answered successfully so far.
    pub fn answered(&self, kind: RequestKind) -> u64 {
        self.requests
            .with_label_values(&[kind_label(kind), "ok"])
            .get()
    }

    /// Inference batches run so far.
    pub fn batches(&self) -> u64 {
        self.batch_size.get_sample_count()
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        subnet_service::metrics::render(&self.registry)
    }

    /// The registry holding every metric (what the `/metrics` endpoint serves).
    pub(crate) fn registry(&self) -> Registry {
        self.registry.clone()
    }

    pub(crate) fn request(&self, kind: RequestKind, result: Result<(), RejectReason>, d: Duration) {
        let label = match result {
            Ok(()) => "ok",
            Err(reason) => reason.as_label(),
        };
        self.requests
            .with_label_values(&[kind_label(kind), label])
            .inc();
        self.request_duration
            .with_label_values(&[kind_label(kind)])
            .observe(d.as_secs_f64());
    }

    pub(crate) fn rejection(&self, reason: RejectReason) {
        self.rejections
            .with_label_values(&[reason.as_label()])
            .inc();
    }

    pub(crate) fn batch_done(&self, size: usize, took: Duration) {
        self.batch_size.observe(size as f64);
        self.inference_seconds.observe(took.as_secs_f64());
        self.inferences.inc_by(size as u64);
    }

    pub(crate) fn displaced(&self) {
        self.displaced.inc();
    }

    pub(crate) fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_metagraph_block(&self, block: u64) {
        self.metagraph_block
            .set(i64::try_from(block).unwrap_or(i64::MAX));
    }
}

/// Binds the metrics listener.
///
/// # Errors
/// The socket error.
pub(crate) async fn bind_metrics(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
