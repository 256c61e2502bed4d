//! Checkpoints on disk: a burn record file with the weights and a JSON [`CheckpointMeta`]
//! beside it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ModelConfig};
use crate::digest::{DataDigest, WeightsDigest, WeightsReadError, weights_digest};
use crate::model::ByteLm;
use crate::train::OptimizerConfig;

/// Version of the [`CheckpointMeta`] layout.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;

/// Name of the architecture implemented by [`ByteLm`], as recorded in metadata.
pub const ARCHITECTURE: &str = "byte-transformer-v1";

/// How the weights file is encoded: burn's `NamedMpkBytesRecorder` (named MessagePack) with
/// full-precision (f32) settings. Its bytes differ between saves of the same weights (burn
/// writes random parameter ids), so identity comes from [`CheckpointMeta::weights_digest`].
pub const RECORD_FORMAT: &str = "burn-0.21 named-mpk f32";

/// Largest record file [`load_checkpoint`] reads, in bytes.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Largest metadata file [`load_checkpoint`] reads, in bytes.
const MAX_META_BYTES: u64 = 1 << 20;

/// Everything known about a checkpoint besides its weights: enough to rebuild the model, check
/// its weights and describe it in an AINFT manifest. Stored as pretty JSON next to the record
/// file (see [`meta_path`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Model name, e.g. `jargon-bytelm-d64-l2`.
    pub name: String,
    /// [`ARCHITECTURE`].
    pub architecture: String,
    /// Architecture hyperparameters.
    pub config: ModelConfig,
    /// Number of scalar parameters.
    pub num_params: u64,
    /// How the weights were produced.
    pub training: TrainingInfo,
    /// The data the model was trained on.
    pub data: DataInfo,
    /// Digest of the weights over their tensor data (see [`crate::weights_digest`]).
    pub weights_digest: WeightsDigest,
    /// Mean cross-entropy on the evaluation split, in bits per byte.
    pub eval_bits_per_byte: f64,
    /// Number of evaluation windows behind `eval_bits_per_byte`.
    pub eval_windows: u64,
    /// [`RECORD_FORMAT`] of the weights file.
    pub record_format: String,
}

/// The training run behind a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Optimiser steps taken.
    pub steps: u64,
    /// Seed of weight initialisation and batch sampling.
    pub seed: u64,
    /// Optimiser settings.
    pub optimizer: OptimizerConfig,
}

/// The training data of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    /// Human-readable source: package, version, file and split.
    pub source: String,
    /// BLAKE3 of the training split's bytes.
    pub digest: DataDigest,
    /// Size of the training split in bytes.
    pub bytes: u64,
}

/// A model with its metadata.
#[derive(Debug)]
pub struct Checkpoint<B: Backend> {
    /// The weights, ready for inference.
    pub model: ByteLm<B>,
    /// Its metadata; `meta.weights_digest` was verified against `model` on load.
    pub meta: CheckpointMeta,
}

/// Where the metadata of the record file `record` lives: the same path with extension `json`.
pub fn meta_path(record: &Path) -> PathBuf {
    record.with_extension("json")
}

/// Encodes `model`'s weights as a record file ([`RECORD_FORMAT`]).
///
/// # Errors
/// [`CheckpointError::Record`] if burn cannot encode the record.
pub fn record_bytes<B: Backend>(model: &ByteLm<B>) -> Result<Vec<u8>, CheckpointError> {
    NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(model.clone().into_record(), ())
        .map_err(|e| CheckpointError::Record(e.to_string()))
}

/// Writes `model` to `record` and `meta` to [`meta_path`]`(record)`.
///
/// # Errors
/// [`CheckpointError::Io`] on write failures, [`CheckpointError::Record`] if encoding fails.
pub fn save_checkpoint<B: Backend>(
    model: &ByteLm<B>,
    meta: &CheckpointMeta,
    record: &Path,
) -> Result<(), CheckpointError> {
    let bytes = record_bytes(model)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    std::fs::write(record, bytes).map_err(io(record))?;
    let json = serde_json::to_string_pretty(meta).map_err(CheckpointError::Meta)?;
    let meta_file = meta_path(record);
    std::fs::write(&meta_file, json + "\n").map_err(io(&meta_file))
}

/// Reads a checkpoint written by [`save_checkpoint`] and verifies its weights digest.
///
/// # Errors
/// [`CheckpointError`]: unreadable or oversized files, invalid metadata or architecture, a
/// record that does not decode into that architecture, or weights whose digest differs from
/// the metadata's.
pub fn load_checkpoint<B: Backend>(
    record: &Path,
    device: &B::Device,
) -> Result<Checkpoint<B>, CheckpointError> {
    let meta_file = meta_path(record);
    let meta_json = read_limited(&meta_file, MAX_META_BYTES)?;
    let meta: CheckpointMeta = serde_json::from_slice(&meta_json).map_err(CheckpointError::Meta)?;
    let bytes = read_limited(record, MAX_RECORD_BYTES)?;
    let model = load_weights(&meta, bytes, device)?;
    Ok(Checkpoint { model, meta })
}

/// Decodes record bytes (for example a weights download) into the architecture of `meta` and
/// checks them against `meta.weights_digest`.
///
/// Safe on untrusted bytes: decoding panics inside burn are caught and reported as
/// [`CheckpointError::Record`].
///
/// # Errors
/// As [`load_checkpoint`], minus file errors; [`CheckpointError::RecordTooSmall`] before any
/// allocation if `bytes` cannot hold the architecture's parameters.
pub fn load_weights<B: Backend>(
    meta: &CheckpointMeta,
    bytes: Vec<u8>,
    device: &B::Device,
) -> Result<ByteLm<B>, CheckpointError> {
    if meta.architecture != ARCHITECTURE {
        return Err(CheckpointError::Architecture(meta.architecture.clone()));
    }
    meta.config.validate()?;
    // Allocating the architecture comes before decoding: refuse a config whose parameters
    // cannot be in these bytes, so a hostile header cannot make us allocate gigabytes.
    let params = meta.config.num_params();
    if params.saturating_mul(4) > bytes.len() as u64 {
        return Err(CheckpointError::RecordTooSmall {
            params,
            bytes: bytes.len() as u64,
        });
    }
    let fresh = ByteLm::<B>::new(&meta.config, 0, device)?;
    let expected = shapes(&fresh);
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        recorder
            .load::<<ByteLm<B> as Module<B>>::Record>(bytes, device)
            .map(|record| fresh.load_record(record))
    }));
    let model = match loaded {
        Ok(Ok(model)) => model,
        Ok(Err(e)) => return Err(CheckpointError::Record(e.to_string())),
        Err(_) => {
            return Err(CheckpointError::Record(
                "burn panicked while decoding".into(),
            ));
        }
    };
    if shapes(&model) != expected {
        return Err(CheckpointError::ShapeMismatch);
    }
    let digest = weights_digest(&model)?;
    if digest != meta.weights_digest {
        return Err(CheckpointError::DigestMismatch {
            expected: meta.weights_digest,
            actual: digest,
        });
    }
    Ok(model)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, CheckpointError> {
    use std::io::Read;
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(CheckpointError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Every float parameter's dimensions, in visiting order.
fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.val().dims().to_vec());
        }
    }
    let mut visitor = Shapes(Vec::new());
    module.visit(&mut visitor);
    visitor.0
}

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    #[error("i/o on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than allowed.
    #[error("{path} exceeds {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Limit in bytes.
        limit: u64,
    },
    /// The metadata JSON is invalid.
    #[error("invalid checkpoint metadata")]
    Meta(#[source] serde_json::Error),
    /// The metadata names an architecture this crate does not implement.
    #[error("unknown architecture `{0}`")]
    Architecture(String),
    /// The metadata's model config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// burn could not encode or decode the record; burn's error is only available as text.
    #[error("invalid weights record: {0}")]
    Record(String),
    /// The record is too small to hold the f32 parameters of the metadata's architecture.
    #[error("a record of {bytes} bytes cannot hold {params} f32 parameters")]
    RecordTooSmall {
        /// Parameters of the architecture.
        params: u64,
        /// Size of the record.
        bytes: u64,
    },
    /// The record's tensors do not have the shapes of the metadata's architecture.
    #[error("the weights do not match the architecture in the metadata")]
    ShapeMismatch,
    /// The weights are not the ones the metadata names.
    #[error("weights digest {actual} differs from the expected {expected}")]
    DigestMismatch {
        /// Digest in the metadata.
        expected: WeightsDigest,
        /// Digest of the loaded weights.
        actual: WeightsDigest,
    },
    /// The weights could not be read back for hashing.
    #[error(transparent)]
    Read(#[from] WeightsReadError),
}
