//! Prometheus metrics of a validator (served on `GET /metrics` by `subnet_service::metrics`).

use std::time::Duration;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use subnet_protocol::ids::Uid;

use crate::query::QueryResult;
use crate::verify::Failure;

/// The validator's metrics. Cheap to clone; clones share the counters.
///
/// | metric | type | labels |
/// | --- | --- | --- |
/// | `validator_queries_total` | counter | `result` ([`QueryResult::as_label`]) |
/// | `validator_score` | gauge (moving average) | `uid` |
/// | `validator_verification_failures_total` | counter | `reason` ([`Failure::as_label`]) |
/// | `validator_spot_checks_total` | counter (requests re-run) | |
/// | `validator_weights_total` | counter | `action` (`set`, `commit`, `reveal`), `result` (`ok`, `rejected`, `failed`, `expired`) |
/// | `validator_step_duration_seconds` | histogram | |
/// | `validator_steps_total` | counter | |
/// | `validator_chain_errors_total` | counter | `call`, `transient` |
/// | `validator_metagraph_block` | gauge | |
#[derive(Debug, Clone)]
pub struct ValidatorMetrics {
    registry: Registry,
    queries: IntCounterVec,
    scores: GaugeVec,
    verification_failures: IntCounterVec,
    spot_checks: IntCounter,
    weights: IntCounterVec,
    step_duration: Histogram,
    steps: IntCounter,
    chain_errors: IntCounterVec,
    metagraph_block: IntGauge,
}

impl ValidatorMetrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Errors
    /// A registration error (only on a name clash, which would be a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let queries = IntCounterVec::new(
            Opts::new(
                "validator_queries_total",
                "Task requests to miners by result",
            ),
            &["result"],
        )?;
        let scores = GaugeVec::new(
            Opts::new("validator_score", "Moving average of each UID's rewards"),
            &["uid"],
        )?;
        let verification_failures = IntCounterVec::new(
            Opts::new(
                "validator_verification_failures_total",
                "Miners caught not serving their registered AINFT, by reason",
            ),
            &["reason"],
        )?;
        let spot_checks = IntCounter::new(
            "validator_spot_checks_total",
            "Answers re-run on the miner's registered weights",
        )?;
        let weights = IntCounterVec::new(
            Opts::new(
                "validator_weights_total",
                "Weight submissions by action and result",
            ),
            &["action", "result"],
        )?;
        let step_duration = Histogram::with_opts(
            HistogramOpts::new("validator_step_duration_seconds", "Time of one step").buckets(
                vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ],
            ),
        )?;
        let steps = IntCounter::new("validator_steps_total", "Steps completed")?;
        let chain_errors = IntCounterVec::new(
            Opts::new("validator_chain_errors_total", "Failed chain calls"),
            &["call", "transient"],
        )?;
        let metagraph_block =
            IntGauge::new("validator_metagraph_block", "Block of the metagraph in use")?;
        registry.register(Box::new(queries.clone()))?;
        registry.register(Box::new(scores.clone()))?;
        registry.register(Box::new(verification_failures.clone()))?;
        registry.register(Box::new(spot_checks.clone()))?;
        registry.register(Box::new(weights.clone()))?;
        registry.register(Box::new(step_duration.clone()))?;
        registry.register(Box::new(steps.clone()))?;
        registry.register(Box::new(chain_errors.clone()))?;
        registry.register(Box::new(metagraph_block.clone()))?;
        Ok(Self {
            registry,
            queries,
            scores,
            verification_failures,
            spot_checks,
            weights,
            step_duration,
            steps,
            chain_errors,
            metagraph_block,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        subnet_service::metrics::render(&self.registry)
    }

    /// The registry holding every metric (what the `/metrics` endpoint serves).
    pub(crate) fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Task requests with `result` so far.
    pub fn queries(&self, result: QueryResult) -> u64 {
        self.queries.with_label_values(&[result.as_label()]).get()
    }

    /// Rejections for `reason` so far.
    pub fn verification_failures(&self, reason: Failure) -> u64 {
        self.verification_failures
            .with_label_values(&[reason.as_label()])
            .get()
    }

    /// Answers re-run so far.
    pub fn spot_checks(&self) -> u64 {
        self.spot_checks.get()
    }

    /// Weight submissions of `action` (`set`, `commit`, `reveal`) with `result` so far.
    pub fn weights(&self, action: &str, result: &str) -> u64 {
        self.weights.with_label_values(&[action, result]).get()
    }

    /// Steps completed so far.
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// Failed calls named `call` so far, transient or not.
    pub fn chain_errors(&self, call: &str) -> u64 {
        ["true", "false"]
            .iter()
            .map(|t| self.chain_errors.with_label_values(&[call, t]).get())
            .sum()
    }

    pub(crate) fn query(&self, result: QueryResult) {
        self.queries.with_label_values(&[result.as_label()]).inc();
    }

    pub(crate) fn set_score(&self, uid: Uid, score: f64) {
        self.scores
            .with_label_values(&[&uid.to_string()])
            .set(score);
    }

    pub(crate) fn remove_score(&self, uid: Uid) {
        // Absent when the UID was never scored.
        let _ = self.scores.remove_label_values(&[&uid.to_string()]);
    }

    pub(crate) fn verification_failure(&self, reason: Failure) {
        self.verification_failures
            .with_label_values(&[reason.as_label()])
            .inc();
    }

    pub(crate) fn spot_checked(&self, requests: usize) {
        self.spot_checks.inc_by(requests as u64);
    }

    pub(crate) fn weights_submitted(&self, action: &str, result: &str) {
        self.weights.with_label_values(&[action, result]).inc();
    }

    pub(crate) fn step_done(&self, took: Duration) {
        self.step_duration.observe(took.as_secs_f64());
        self.steps.inc();
    }

    pub(crate) fn chain_error(&self, call: &str, transient: bool) {
        let transient = if transient { "true" } else { "false" };
        self.chain_errors
            .with_label_values(&[call, transient])
            .inc();
    }

    pub(crate) fn set_metagraph_block(&self, block: u64) {
        self.metagraph_block
            .set(i64::try_from(block).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = ValidatorMetrics::new().unwrap();
        m.query(QueryResult::Timeout);
        m.set_score(Uid(3), 0.5);
        m.verification_failure(Failure::SpotCheck);
        m.weights_submitted("set", "ok");
        m.step_done(Duration::from_millis(20));
        m.chain_error("metagraph", true);
        let text = m.render();
        for needle in [
            "validator_queries_total{result=\"timeout\"} 1",
            "validator_score{uid=\"3\"} 0.5",
            "validator_verification_failures_total{reason=\"spot_check\"} 1",
            "validator_weights_total{action=\"set\",result=\"ok\"} 1",
            "validator_step_duration_seconds_count 1",
            "validator_chain_errors_total{call=\"metagraph\",transient=\"true\"} 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        m.remove_score(Uid(3));
        assert!(!m.render().contains("validator_score{"));
        assert_eq!(m.queries(QueryResult::Timeout), 1);
        assert_eq!(m.steps(), 1);
    }
}
