//! Training on the embedded corpus with burn's autodiff and AdamW.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    ARCHITECTURE, CHECKPOINT_FORMAT_VERSION, CheckpointError, CheckpointMeta, DataInfo,
    RECORD_FORMAT, TrainingInfo, save_checkpoint,
};
use crate::config::{ConfigError, ModelConfig};
use crate::corpus::{Corpus, CorpusError};
use crate::digest::{WeightsReadError, weights_digest};
use crate::eval::{EvalError, EvalReport, evaluate, target_log_probs};
use crate::model::ByteLm;
use crate::sampler::data_rng;

/// Where the training data of every checkpoint comes from.
pub const DATA_SOURCE: &str = "Debian jargon-text 4.4.7-4.1, usr/share/doc/jargon-text/jargon.txt.gz (The Jargon File \
     4.4.7, public domain), train split: 4096-byte chunks, all but every 10th";

/// A training run's settings, read from TOML by the `train` command.
///
/// ```toml
/// name = "jargon-bytelm-d64-l2"
/// eval_windows = 512        # optional; all evaluation windows when absent
///
/// [model]
/// d_model = 64
/// n_heads = 4
/// n_layers = 2
/// d_ff = 256
/// context_len = 64
///
/// [optimizer]
/// batch_size = 32
/// learning_rate = 3e-3
/// min_learning_rate = 3e-4  # optional, default 0
/// warmup_steps = 20
/// weight_decay = 0.01
/// grad_clip_norm = 1.0      # optional
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model name written into the checkpoint metadata.
    pub name: String,
    /// Architecture.
    pub model: ModelConfig,
    /// Optimiser and schedule.
    pub optimizer: OptimizerConfig,
    /// Evaluation windows used for the checkpoint's reported loss; all when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_windows: Option<usize>,
}

/// AdamW with linear warm-up then cosine decay of the learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Windows of `context_len + 1` bytes per step.
    pub batch_size: usize,
    /// Peak learning rate, reached after the warm-up.
    pub learning_rate: f64,
    /// Learning rate at the last step (cosine floor). Default 0.
    #[serde(default)]
    pub min_learning_rate: f64,
    /// Steps of linear warm-up from `learning_rate / warmup_steps`.
    pub warmup_steps: u64,
    /// Decoupled weight decay, applied to every parameter.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value; no clipping when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip_norm: Option<f32>,
}

impl OptimizerConfig {
    /// The learning rate of step `step` (0-based) of a `steps`-step run.
    pub fn learning_rate_at(&self, step: u64, steps: u64) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.min_learning_rate + (self.learning_rate - self.min_learning_rate) * cosine
    }
}

impl TrainConfig {
    /// Parses a TOML config.
    ///
    /// # Errors
    /// [`TrainError::ConfigParse`] for invalid TOML or fields, [`TrainError::Model`] for an
    /// invalid architecture, [`TrainError::BatchSize`] for a zero batch.
    pub fn from_toml(text: &str) -> Result<Self, TrainError> {
        let config: Self =
            toml::from_str(text).map_err(|e| TrainError::ConfigParse(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML config file.
    ///
    /// # Errors
    /// [`TrainError::ConfigFile`] if it cannot be read, otherwise as [`TrainConfig::from_toml`].
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::ConfigFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks the architecture and the batch size.
    ///
    /// # Errors
    /// [`TrainError::Model`] or [`TrainError::BatchSize`].
    pub fn validate(&self) -> Result<(), TrainError> {
        self.model.validate()?;
        if self.optimizer.batch_size == 0 {
            return Err(TrainError::BatchSize);
        }
        Ok(())
    }
}

/// Whether [`train`] draws a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// An indicatif bar on stderr: step, loss (bits per byte) and throughput (bytes/s).
    Bar,
    /// Nothing.
    Hidden,
}

/// What one optimiser step reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Steps completed, 1-based.
    pub step: u64,
    /// Training cross-entropy of this step's batch, in bits per byte.
    pub loss_bits: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Predicted bytes per second since the start of training.
    pub bytes_per_sec: f64,
}

/// The result of [`train`].
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The metadata written next to the record.
    pub meta: CheckpointMeta,
    /// The evaluation behind `meta.eval_bits_per_byte`.
    pub eval: EvalReport,
    /// Wall time of the optimisation steps (without evaluation and saving).
    pub train_time: Duration,
}

/// Trains a model on the CPU from scratch and writes it as a checkpoint: the record to `out`,
/// the [`CheckpointMeta`] to `out` with extension `json`.
///
/// The same config, `steps` and `seed` give the same weights (and weights digest) on the same
/// platform.
///
/// # Errors
/// [`TrainError`] for invalid configs, divergence, evaluation or write failures.
pub fn train(
    config: &TrainConfig,
    steps: u64,
    seed: u64,
    out: &Path,
    progress: Progress,
) -> Result<TrainOutcome, TrainError> {
    train_on::<crate::CpuTrain>(config, steps, seed, out, progress, &Default::default())
}

/// [`train`] on any autodiff backend and device.
///
/// # Errors
/// As [`train`].
pub fn train_on<B: AutodiffBackend>(
    config: &TrainConfig,
    steps: u64,
    seed: u64,
    out: &Path,
    progress: Progress,
    device: &B::Device,
) -> Result<TrainOutcome, TrainError> {
    config.validate()?;
    let corpus = Corpus::jargon()?;
    let bar = match progress {
        Progress::Bar => progress_bar(steps),
        Progress::Hidden => ProgressBar::hidden(),
    };
    let started = Instant::now();
    let model = train_model::<B>(config, &corpus, steps, seed, device, &mut |stats| {
        bar.set_position(stats.step);
        bar.set_message(format!(
            "loss {:.3} bits/byte | {:.1} kB/s | lr {:.2e}",
            stats.loss_bits,
            stats.bytes_per_sec / 1e3,
            stats.learning_rate
        ));
    })?;
    let train_time = started.elapsed();
    bar.finish();

    let eval = evaluate(&model, corpus.eval(), config.eval_windows, device)?;
    let train_split = corpus.train();
    let meta = CheckpointMeta {
        format_version: CHECKPOINT_FORMAT_VERSION,
        name: config.name.clone(),
        architecture: ARCHITECTURE.to_owned(),
        config: config.model,
        num_params: config.model.num_params(),
        training: TrainingInfo {
            steps,
            seed,
            optimizer: config.optimizer.clone(),
        },
        data: DataInfo {
            source: DATA_SOURCE.to_owned(),
            digest: train_split.digest(),
            bytes: train_split.len() as u64,
        },
        weights_digest: weights_digest(&model)?,
        eval_bits_per_byte: eval.bits_per_byte,
        eval_windows: eval.windows as u64,
        record_format: RECORD_FORMAT.to_owned(),
    };
    save_checkpoint(&model, &meta, out)?;
    tracing::info!(
        name = %meta.name, steps, seed, bits_per_byte = eval.bits_per_byte,
        digest = %meta.weights_digest, "checkpoint written"
    );
    Ok(TrainOutcome {
        meta,
        eval,
        train_time,
    })
}

/// Runs `steps` AdamW steps on batches sampled from `corpus`'s training split and returns the
/// trained model, detached from autodiff. `on_step` sees every step's statistics.
///
/// Weight initialisation and batch sampling are seeded from `seed` (separate ChaCha8
/// streams); the backend RNG is seeded too, though the model draws nothing from it.
///
/// # Errors
/// [`TrainError::Model`] / [`TrainError::BatchSize`] for invalid configs,
/// [`TrainError::CorpusTooShort`] if no training window fits, [`TrainError::Diverged`] on a
/// non-finite loss.
pub fn train_model<B: AutodiffBackend>(
    config: &TrainConfig,
    corpus: &Corpus,
    steps: u64,
    seed: u64,
    device: &B::Device,
    on_step: &mut dyn FnMut(&StepStats),
) -> Result<ByteLm<B::InnerBackend>, TrainError> {
    config.validate()?;
    B::seed(device, seed);
    let opt = &config.optimizer;
    let window = config.model.context_len + 1;
    let mut rng = data_rng(seed);
    let mut model = ByteLm::<B>::new(&config.model, seed, device)?;
    let mut adam = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(opt.weight_decay)
        .with_grad_clipping(opt.grad_clip_norm.map(GradientClippingConfig::Norm))
        .init::<B, ByteLm<B>>();
    let train = corpus.train();
    let started = Instant::now();
    for step in 0..steps {
        let batch: Vec<&[u8]> = (0..opt.batch_size)
            .map(|_| {
                train
                    .sample_window(&mut rng, window)
                    .ok_or(TrainError::CorpusTooShort)
            })
            .collect::<Result<_, _>>()?;
        let inputs: Vec<&[u8]> = batch.iter().map(|w| &w[..window - 1]).collect();
        let targets: Vec<&[u8]> = batch.iter().map(|w| &w[1..]).collect();
        let loss = target_log_probs(&model, &inputs, &targets, device)
            .mean()
            .neg();
        let loss_nats: f64 = loss.clone().into_scalar().elem();
        if !loss_nats.is_finite() {
            return Err(TrainError::Diverged { step: step + 1 });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let learning_rate = opt.learning_rate_at(step, steps);
        model = adam.step(learning_rate, model, grads);
        let done = step + 1;
        let bytes = (done * (opt.batch_size * (window - 1)) as u64) as f64;
        on_step(&StepStats {
            step: done,
            loss_bits: loss_nats / std::f64::consts::LN_2,
            learning_rate,
            bytes_per_sec: bytes / started.elapsed().as_secs_f64().max(1e-9),
        });
    }
    Ok(model.valid())
}

fn progress_bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    // The template is a constant; should indicatif reject it, the default style still works.
    if let Ok(style) = ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:30.cyan/blue} step {pos}/{len} | {msg} | eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The config file could not be read.
    #[error("reading training config {path}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config is not valid TOML for [`TrainConfig`].
    #[error("invalid training config")]
    ConfigParse(#[source] Box<toml::de::Error>),
    /// The architecture is invalid.
    #[error(transparent)]
    Model(#[from] ConfigError),
    /// `batch_size` is zero.
    #[error("batch_size must be positive")]
    BatchSize,
    /// The corpus could not be loaded.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// No training chunk is as long as a window.
    #[error("no training chunk holds a full context window")]
    CorpusTooShort,
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}")]
    Diverged {
        /// 1-based step.
        step: u64,
    },
    /// Evaluating the trained model failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Hashing the trained weights failed.
    #[error(transparent)]
    Weights(#[from] WeightsReadError),
    /// Writing the checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let opt = OptimizerConfig {
            batch_size: 1,
            learning_rate: 1e-3,
            min_learning_rate: 1e-4,
            warmup_steps: 10,
            weight_decay: 0.0,
            grad_clip_norm: None,
        };
        assert!((opt.learning_rate_at(0, 100) - 1e-4).abs() < 1e-12);
        assert!((opt.learning_rate_at(9, 100) - 1e-3).abs() < 1e-12);
        assert!((opt.learning_rate_at(10, 100) - 1e-3).abs() < 1e-12);
        assert!((opt.learning_rate_at(100, 100) - 1e-4).abs() < 1e-12);
        let mid = opt.learning_rate_at(55, 100);
        assert!((mid - 5.5e-4).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn config_parses_and_rejects_unknown_fields() {
        let text = r#"
            name = "t"
            [model]
            d_model = 16
            n_heads = 2
            n_layers = 1
            d_ff = 32
            context_len = 8
            [optimizer]
            batch_size = 4
            learning_rate = 1e-3
            warmup_steps = 0
            weight_decay = 0.0
        "#;
        let config = TrainConfig::from_toml(text).unwrap();
        assert_eq!(config.model.d_model, 16);
        assert_eq!(config.optimizer.grad_clip_norm, None);
        let typo = text.replace("warmup_steps", "warmup");
        assert!(matches!(
            TrainConfig::from_toml(&typo),
            Err(TrainError::ConfigParse(_))
        ));
        let bad = text.replace("n_heads = 2", "n_heads = 3");
        assert!(matches!(
            TrainConfig::from_toml(&bad),
            Err(TrainError::Model(_))
        ));
    }
}
