//! A second task, to show how a task plugs into the engine: **linear regression**.
//!
//! The validator draws inputs `x ∈ [−1, 1]^DIM`, keeps back the true answer `y = w*·x + b*`
//! of a linear "world" only it knows, and scores a miner's prediction by its squared error.
//! A miner's model is a linear model too; its weights file is the model's postcard encoding
//! and its AINFT's weights digest is the BLAKE3 of that file, so the validator can download
//! it, check it against the registered AINFT and re-run requests on it.
//!
//! What a designer writes, and nothing else:
//! 1. the wire types and their checks: [`Regression`] implements `subnet_protocol::task::Task`;
//! 2. the miner side: [`LinearSolver`] implements `subnet_miner::Solver`, and [`served`]
//!    describes the model for its AINFT manifest;
//! 3. the validator side: [`RegressionEvaluator`] implements `subnet_validator::Evaluator`.
//!
//! Then `Miner::start_with(config, chain, served(..))` and
//! `Validator::start_with(config, chain, RegressionEvaluator::new(..))` run them with the same
//! serving, querying, verification, scoring and weight-setting code as the default task.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use subnet_miner::{ServedModel, Solver};
use subnet_protocol::ainft::{DataSource, Digest, ModelSpec};
use subnet_protocol::task::{ModelInfo, Task};
use subnet_validator::{Evaluator, Probe};

/// Features per input.
pub const DIM: usize = 4;

/// The regression task; its name is `regression`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Regression;

/// An input point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// `DIM` finite features.
    pub x: Vec<f32>,
}

/// A prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted value.
    pub y: f32,
}

/// Why a point, a prediction or a model is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegressionError {
    /// Not `DIM` features.
    #[error("{got} features, expected {DIM}")]
    Dimension {
        /// Features given.
        got: usize,
    },
    /// NaN or infinite values.
    #[error("non-finite value")]
    NotFinite,
    /// A weights file that does not decode.
    #[error("undecodable weights file")]
    Undecodable,
    /// Weights other than the registered ones.
    #[error("weights are not the registered ones")]
    WrongWeights,
}

impl Task for Regression {
    const NAME: &'static str = "regression";
    // A varint length and DIM floats; one float.
    const MAX_REQUEST_BYTES: usize = 1 + 4 * DIM;
    const MAX_ANSWER_BYTES: usize = 4;

    type Request = Point;
    type Answer = Prediction;
    type Error = RegressionError;

    fn check_request(&self, request: &Point) -> Result<(), RegressionError> {
        if request.x.len() != DIM {
            return Err(RegressionError::Dimension {
                got: request.x.len(),
            });
        }
        if !request.x.iter().all(|v| v.is_finite()) {
            return Err(RegressionError::NotFinite);
        }
        Ok(())
    }

    fn check_answer(&self, _request: &Point, answer: &Prediction) -> Result<(), RegressionError> {
        if answer.y.is_finite() {
            Ok(())
        } else {
            Err(RegressionError::NotFinite)
        }
    }
}

/// `y = w·x + b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Weights, one per feature.
    pub w: Vec<f32>,
    /// Bias.
    pub b: f32,
}

impl LinearModel {
    /// The prediction at `x`.
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() + self.b
    }

    /// The weights file: the postcard encoding (canonical for this type).
    pub fn to_file(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// The miner side: answers with its linear model.
#[derive(Debug)]
pub struct LinearSolver(pub LinearModel);

impl Solver<Regression> for LinearSolver {
    type Error = Infallible;

    fn solve(&mut self, requests: &[Point]) -> Vec<Result<Prediction, Infallible>> {
        requests
            .iter()
            .map(|p| {
                Ok(Prediction {
                    y: self.0.predict(&p.x),
                })
            })
            .collect()
    }
}

/// What a miner serving `model` (and answering with `solver`) registers: the AINFT's model
/// part names the weights file's BLAKE3.
pub fn served(
    name: &str,
    model: &LinearModel,
    solver: LinearSolver,
) -> ServedModel<Regression, LinearSolver> {
    let file = model.to_file();
    ServedModel {
        task: Regression,
        solver,
        data: DataSource {
            uri: "synthetic:linear-world".into(),
            digest: Digest::of(b"synthetic"),
        },
        model: ModelSpec {
            name: name.into(),
            architecture: "linear".into(),
            hyperparameters: BTreeMap::from([("dim".to_owned(), DIM.to_string())]),
            training_steps: 0,
            weights_digest: Digest::of(&file),
        },
        weights_file: file,
        weights_format: "postcard LinearModel f32".into(),
        metadata: "{}".into(),
    }
}

/// The validator side: a hidden linear world, squared-error loss.
#[derive(Debug)]
pub struct RegressionEvaluator {
    world: LinearModel,
}

impl RegressionEvaluator {
    /// An evaluator whose true answers come from `world`.
    pub fn new(world: LinearModel) -> Self {
        Self { world }
    }
}

/// A uniform float in `[−1, 1)` from raw generator output.
fn uniform(rng: &mut ChaCha8Rng) -> f32 {
    ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

impl Evaluator for RegressionEvaluator {
    type Task = Regression;
    type Truth = f32;
    type Reference = LinearModel;
    type Error = RegressionError;

    fn task(&self) -> &Regression {
        &Regression
    }

    fn probes(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<Probe<Point, f32>> {
        (0..count)
            .map(|_| {
                let x: Vec<f32> = (0..DIM).map(|_| uniform(rng)).collect();
                let truth = self.world.predict(&x);
                Probe {
                    request: Point { x },
                    truth,
                }
            })
            .collect()
    }

    /// Squared error `(y − y*)²`.
    fn loss(&self, probe: &Probe<Point, f32>, answer: &Prediction) -> f64 {
        let e = f64::from(answer.y) - f64::from(probe.truth);
        e * e
    }

    fn load_reference(
        &self,
        info: &ModelInfo,
        weights: Vec<u8>,
    ) -> Result<LinearModel, RegressionError> {
        if Digest::of(&weights) != info.manifest.model.weights_digest {
            return Err(RegressionError::WrongWeights);
        }
        let model: LinearModel =
            postcard::from_bytes(&weights).map_err(|_| RegressionError::Undecodable)?;
        if model.w.len() != DIM {
            return Err(RegressionError::Dimension { got: model.w.len() });
        }
        Ok(model)
    }

    fn rerun(
        &self,
        reference: &LinearModel,
        requests: &[&Point],
    ) -> Result<Vec<Prediction>, RegressionError> {
        Ok(requests
            .iter()
            .map(|p| Prediction {
                y: reference.predict(&p.x),
            })
            .collect())
    }

    fn matches(&self, answer: &Prediction, expected: &Prediction, tolerance: f64) -> bool {
        (f64::from(answer.y) - f64::from(expected.y)).abs() <= tolerance
    }
}
