//! Byte-level language models for the subnet's default task: a small decoder-only transformer
//! in burn, its training on an embedded public-domain corpus, checkpoints, and the digests that
//! name a model's weights and training data in its AINFT.
//!
//! - [`ByteLm`]: the model, generic over the burn backend; [`ByteLm::log_probs`] and
//!   [`ByteLm::infer`] give next-byte log-probabilities for every position.
//! - [`load_checkpoint`] / [`save_checkpoint`]: a burn record file plus [`CheckpointMeta`] JSON.
//! - [`FusedLm`]: the same forward pass through fused CPU kernels, several times faster than
//!   burn's ndarray backend at this size; what the miner serves with on CPU.
//! - [`weights_digest`]: BLAKE3 over tensor data in a canonical order, stable across saves.
//! - [`train()`](train::train): AdamW training on [`Corpus::jargon`] with a progress bar.
//!
//! Inference is deterministic on the CPU backend: the same weights and input give bit-identical
//! log-probabilities across runs, reloads and batch compositions.
//!
//! # Features
//! - `cuda`: the `Cuda` backend (burn-cuda). It builds without a GPU or CUDA toolkit; the
//!   driver is loaded at run time.
//!
//! # Example
//! ```
//! use subnet_models::{ByteLm, Cpu, ModelConfig, weights_digest};
//!
//! let device = Default::default();
//! let config = ModelConfig { d_model: 16, n_heads: 2, n_layers: 1, d_ff: 32, context_len: 8 };
//! let model = ByteLm::<Cpu>::new(&config, 42, &device)?;
//! let out = model.infer(&[b"hello"], &device)?;
//! let next = out.at(0, 4).expect("position 4 exists");
//! let total: f32 = next.iter().map(|lp| lp.exp()).sum();
//! assert!((total - 1.0).abs() < 1e-4);
//! println!("weights {}", weights_digest(&model)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod config;
mod corpus;
mod digest;
mod eval;
mod export;
mod fused;
mod layers;
mod model;
mod sampler;
pub mod train;

pub use checkpoint::{
    ARCHITECTURE, CHECKPOINT_FORMAT_VERSION, Checkpoint, CheckpointError, CheckpointMeta, DataInfo,
    MAX_RECORD_BYTES, RECORD_FORMAT, TrainingInfo, load_checkpoint, load_weights, meta_path,
    record_bytes, save_checkpoint,
};
pub use config::{ConfigError, MAX_DIMENSION, ModelConfig, VOCAB_SIZE};
pub use corpus::{
    CHUNK_BYTES, Corpus, CorpusError, EVAL_EVERY, JARGON_TXT_GZ, JARGON_TXT_LEN, Split, SplitKind,
};
pub use digest::{
    DataDigest, NamedTensor, WEIGHTS_DIGEST_CONTEXT, WEIGHTS_DTYPE_TAG, WeightsDigest,
    WeightsReadError, digest_tensors, named_tensors, weights_digest,
};
pub use eval::{EVAL_BATCH, EvalError, EvalReport, evaluate, evaluate_windows};
pub use export::{ExportError, REFERENCE_MAGIC, ReferenceCase, reference_bundle, reference_cases};
pub use fused::{FusedLm, FusedLoadError, Kernels, KernelsUnavailable};
pub use model::{ByteLm, InferenceError, LogProbs};
pub use train::{OptimizerConfig, Progress, TrainConfig, TrainError, TrainOutcome};

/// The default CPU backend: burn's ndarray backend in f32.
pub type Cpu = burn::backend::NdArray<f32>;

/// [`Cpu`] with autodiff, for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;

/// The CUDA backend in f32 (feature `cuda`).
#[cfg(feature = "cuda")]
pub type Cuda = burn_cuda::Cuda<f32, i32>;

/// [`Cuda`] with autodiff, for training on a GPU (feature `cuda`).
#[cfg(feature = "cuda")]
pub type CudaTrain = burn::backend::Autodiff<Cuda>;

/// The device type of [`Cuda`] (feature `cuda`).
#[cfg(feature = "cuda")]
pub type CudaDevice = burn_cuda::CudaDevice;
