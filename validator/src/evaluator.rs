//! [`Evaluator`]: the validator's side of a task: what to ask, how to score the answers, and
//! how to re-run a miner's registered model to check that its answers came from it.

use rand_chacha::ChaCha8Rng;
use subnet_protocol::task::{ModelInfo, Task};

/// A request and what the validator keeps back to score its answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe<Q, U> {
    /// What is sent to miners.
    pub request: Q,
    /// What is withheld: the true answer, or whatever scoring needs.
    pub truth: U,
}

/// The [`Probe`] type of an evaluator.
pub type ProbeOf<E> = Probe<RequestOf<E>, <E as Evaluator>::Truth>;
/// The request type of an evaluator's task.
pub type RequestOf<E> = <<E as Evaluator>::Task as Task>::Request;
/// The answer type of an evaluator's task.
pub type AnswerOf<E> = <<E as Evaluator>::Task as Task>::Answer;

/// How a validator evaluates one [`Task`]: it builds requests whose truth it keeps back,
/// scores each answer by a loss, and re-runs requests on a miner's registered model.
///
/// The engine (sampling, QUIC, verification of signatures and identities, rewards, moving
/// averages, weights) is generic over this trait: a subnet designer adds a task by
/// implementing [`Task`] (the wire types, in `subnet_protocol::task`), a miner `Solver`, and an
/// `Evaluator`; nothing in the loop changes. The default task's evaluator is
/// [`LmEvaluator`](crate::LmEvaluator).
///
/// Rewards come from losses with the engine's rule, `exp(−loss / T)` (see
/// [`reward`](crate::score::reward)), so a loss must be `>= 0` (`+∞` for an answer that gives
/// the truth no chance), lower is better, and its unit is the one the configured temperature
/// is in.
///
/// The methods that touch models ([`Evaluator::load_reference`], [`Evaluator::rerun`]) are
/// called off the async executor, on a blocking thread.
pub trait Evaluator: Send + Sync + 'static {
    /// The task evaluated.
    type Task: Task;
    /// What is kept back from each request.
    type Truth: Send + Sync + 'static;
    /// A miner's registered model, loaded from its downloaded weights, to re-run requests on.
    type Reference: Send + Sync + 'static;
    /// Why weights could not be loaded or a request re-run.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The task.
    fn task(&self) -> &Self::Task;

    /// `count` fresh requests with their truths, drawn from `rng` (seeded: a validator's
    /// requests are reproducible from its seed and step).
    fn probes(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<ProbeOf<Self>>;

    /// The loss of `answer` (already through [`Task::check_answer`]) to `probe`: `>= 0`,
    /// lower is better, `+∞` for an answer that rules the truth out.
    fn loss(&self, probe: &ProbeOf<Self>, answer: &AnswerOf<Self>) -> f64;

    /// Loads the model a miner registered, from its model info and its downloaded weights
    /// file (whose file digest the engine has checked, as it has checked that `info` is the
    /// AINFT registered at the miner's UID). Must check that the weights are the ones
    /// `info.manifest.model.weights_digest` names.
    ///
    /// # Errors
    /// Weights that do not decode, or that are not the manifest's: the miner is rejected.
    fn load_reference(
        &self,
        info: &ModelInfo,
        weights: Vec<u8>,
    ) -> Result<Self::Reference, Self::Error>;

    /// Recomputes the answers to `requests` on `reference`, one per request, in order.
    ///
    /// # Errors
    /// The model failed: the spot check is skipped, the miner is not blamed.
    fn rerun(
        &self,
        reference: &Self::Reference,
        requests: &[&RequestOf<Self>],
    ) -> Result<Vec<AnswerOf<Self>>, Self::Error>;

    /// Whether a miner's `answer` matches the re-run `expected` within `tolerance` (absolute,
    /// per value).
    fn matches(&self, answer: &AnswerOf<Self>, expected: &AnswerOf<Self>, tolerance: f64) -> bool;
}
