//! Prometheus metrics of the node, served as text on `GET /metrics`.

use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use subnet_service::http::HttpResponse;

/// The node's metrics and the registry that exposes them.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Latest committed block.
    pub(crate) height: IntGauge,
    /// Transactions waiting in the pool.
    pub(crate) pool_pending: IntGauge,
    /// Transactions applied in blocks.
    pub(crate) txs_applied: IntCounter,
    /// Transactions refused, by `stage` (`admission` or `block`) and `reason`
    /// ([`subnet_protocol::chain::TxError::as_label`]).
    pub(crate) txs_rejected: IntCounterVec,
    /// Wall time of `produce_block`: transactions, emission, epochs, commit and flush.
    pub(crate) block_production: Histogram,
    /// Wall time of the epochs a block ran (blocks without an epoch are not observed).
    pub(crate) epoch_duration: Histogram,
    /// JSON-RPC requests by `method` (unknown names grouped as `unknown`) and `result`.
    pub(crate) rpc_requests: IntCounterVec,
}

fn seconds_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Errors
    /// A registration error (only on a name clash, which would be a bug here).
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let height = IntGauge::new("subnet_node_block_height", "Latest committed block")?;
        let pool_pending = IntGauge::new(
            "subnet_node_pool_pending",
            "Transactions waiting in the pool",
        )?;
        let txs_applied = IntCounter::new(
            "subnet_node_txs_applied_total",
            "Transactions applied in blocks",
        )?;
        let txs_rejected = IntCounterVec::new(
            Opts::new(
                "subnet_node_txs_rejected_total",
                "Transactions refused, by stage and reason",
            ),
            &["stage", "reason"],
        )?;
        let block_production = Histogram::with_opts(
            HistogramOpts::new(
                "subnet_node_block_production_seconds",
                "Time to produce, commit and flush a block",
            )
            .buckets(seconds_buckets()),
        )?;
        let epoch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "subnet_node_epoch_duration_seconds",
                "Time of the epochs run inside a block",
            )
            .buckets(seconds_buckets()),
        )?;
        let rpc_requests = IntCounterVec::new(
            Opts::new(
                "subnet_node_rpc_requests_total",
                "JSON-RPC requests by method and result",
            ),
            &["method", "result"],
        )?;
        registry.register(Box::new(height.clone()))?;
        registry.register(Box::new(pool_pending.clone()))?;
        registry.register(Box::new(txs_applied.clone()))?;
        registry.register(Box::new(txs_rejected.clone()))?;
        registry.register(Box::new(block_production.clone()))?;
        registry.register(Box::new(epoch_duration.clone()))?;
        registry.register(Box::new(rpc_requests.clone()))?;
        Ok(Self {
            registry,
            height,
            pool_pending,
            txs_applied,
            txs_rejected,
            block_production,
            epoch_duration,
            rpc_requests,
        })
    }

    /// Counts one refused transaction.
    pub(crate) fn rejected(&self, stage: &str, reason: &str) {
        self.txs_rejected.with_label_values(&[stage, reason]).inc();
    }

    /// Counts one JSON-RPC request.
    pub(crate) fn rpc(&self, method: &str, result: &str) {
        self.rpc_requests.with_label_values(&[method, result]).inc();
    }

    /// Records a duration in a histogram, in seconds.
    pub(crate) fn observe(histogram: &Histogram, d: Duration) {
        histogram.observe(d.as_secs_f64());
    }

    /// Answers `GET /metrics`; anything else is 404 or 405.
    pub(crate) fn handle(&self, req: &Request<Incoming>) -> HttpResponse {
        subnet_service::metrics::respond(&self.registry, req)
    }
}
