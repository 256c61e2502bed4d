//! A plain binary export of a model's weights and of its outputs on fixed inputs, read by the
//! numpy reference forward pass in `bench/models/reference.py`.
//!
//! Layout: the 8 magic bytes [`REFERENCE_MAGIC`], the header length as u64 LE, a UTF-8 JSON
//! header, then a blob of little-endian f32. The header holds `config` (a [`ModelConfig`]),
//! `weights_digest`, `tensors` (`name`, `shape`, `offset` into the blob in f32 elements) and
//! `cases` (`name`, `tokens`: the input byte rows, `offset` of the expected
//! `[batch, seq, 256]` log-probabilities).

use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::config::{ModelConfig, VOCAB_SIZE};
use crate::corpus::Split;
use crate::digest::{WeightsDigest, WeightsReadError, digest_tensors, named_tensors};
use crate::model::{ByteLm, InferenceError};

/// First bytes of a reference bundle.
pub const REFERENCE_MAGIC: &[u8; 8] = b"SNMREF01";

/// One batch of equal-length inputs whose outputs go into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceCase {
    /// Label shown by the Python checker.
    pub name: String,
    /// Byte rows, all of the same length.
    pub rows: Vec<Vec<u8>>,
}

/// The fixed inputs of the reference check for a model of `context_len`: evaluation-split
/// windows (a full-context batch of 4 and a single short one) and synthetic bytes covering the
/// whole byte range, including values that never occur in the corpus.
pub fn reference_cases(eval: Split<'_>, context_len: usize) -> Vec<ReferenceCase> {
    let text_rows = |len: usize, n: usize| -> Vec<Vec<u8>> {
        eval.windows(len, Some(n))
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    };
    let synthetic: Vec<Vec<u8>> = (0..3u8)
        .map(|r| {
            (0..context_len)
                .map(|i| (i.wrapping_mul(97).wrapping_add(usize::from(r) * 31) % 256) as u8)
                .collect()
        })
        .collect();
    vec![
        ReferenceCase {
            name: "eval-full-context".into(),
            rows: text_rows(context_len, 4),
        },
        ReferenceCase {
            name: "eval-short".into(),
            rows: text_rows(context_len.min(17), 1),
        },
        ReferenceCase {
            name: "one-byte".into(),
            rows: vec![b"T".to_vec(), vec![0xff]],
        },
        ReferenceCase {
            name: "synthetic-all-bytes".into(),
            rows: synthetic,
        },
    ]
}

/// Encodes `model`'s weights and its log-probabilities on `cases` as a reference bundle.
///
/// # Errors
/// [`ExportError`] if a case is not a valid batch for the model or the backend fails.
pub fn reference_bundle<B: Backend>(
    model: &ByteLm<B>,
    cases: &[ReferenceCase],
    device: &B::Device,
) -> Result<Vec<u8>, ExportError> {
    let tensors = named_tensors(model)?;
    let mut blob: Vec<f32> = Vec::new();
    let mut tensor_headers = Vec::new();
    for tensor in &tensors {
        tensor_headers.push(TensorHeader {
            name: &tensor.name,
            shape: &tensor.shape,
            offset: blob.len(),
        });
        blob.extend_from_slice(&tensor.values);
    }
    let mut case_headers = Vec::new();
    for case in cases {
        let rows: Vec<&[u8]> = case.rows.iter().map(Vec::as_slice).collect();
        let out = model.infer(&rows, device)?;
        debug_assert_eq!(
            out.as_slice().len(),
            out.batch() * out.seq_len() * VOCAB_SIZE
        );
        case_headers.push(CaseHeader {
            name: &case.name,
            tokens: &case.rows,
            offset: blob.len(),
        });
        blob.extend_from_slice(out.as_slice());
    }
    let header = Header {
        config: model.config(),
        weights_digest: digest_tensors(&tensors),
        tensors: tensor_headers,
        cases: case_headers,
    };
    let json = serde_json::to_vec(&header).map_err(ExportError::Header)?;
    let mut bytes = Vec::with_capacity(16 + json.len() + blob.len() * 4);
    bytes.extend_from_slice(REFERENCE_MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for value in blob {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    Ok(bytes)
}

#[derive(Serialize)]
struct Header<'a> {
    config: ModelConfig,
    weights_digest: WeightsDigest,
    tensors: Vec<TensorHeader<'a>>,
    cases: Vec<CaseHeader<'a>>,
}

#[derive(Serialize)]
struct TensorHeader<'a> {
    name: &'a str,
    shape: &'a [usize],
    offset: usize,
}

#[derive(Serialize)]
struct CaseHeader<'a> {
    name: &'a str,
    tokens: &'a [Vec<u8>],
    offset: usize,
}

/// Why a reference bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The weights could not be read back.
    #[error(transparent)]
    Weights(#[from] WeightsReadError),
    /// A case is not a valid batch.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The header could not be encoded.
    #[error("encoding the bundle header failed")]
    Header(#[source] serde_json::Error),
}
