//! Evaluation: mean next-byte cross-entropy in bits per byte.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::corpus::Split;
use crate::model::ByteLm;

/// Windows per forward pass during evaluation.
pub const EVAL_BATCH: usize = 64;

/// The result of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalReport {
    /// Mean cross-entropy of the true next byte, in bits (`-log2 p`), over all predicted bytes.
    pub bits_per_byte: f64,
    /// Windows evaluated.
    pub windows: usize,
    /// Bytes predicted (`windows × context_len`).
    pub predicted_bytes: u64,
}

/// Evaluates `model` on the fixed evaluation windows of `split`
/// ([`Split::windows`] of `context_len + 1` bytes, at most `max_windows` of them): every byte
/// after the first of each window is predicted from the bytes before it in that window.
///
/// The sum runs in f64 on the host in window order, so the result is reproducible.
///
/// # Errors
/// [`EvalError::NoWindows`] if the split has no window of that length,
/// [`EvalError::Readback`] if the backend cannot return results.
pub fn evaluate<B: Backend>(
    model: &ByteLm<B>,
    split: Split<'_>,
    max_windows: Option<usize>,
    device: &B::Device,
) -> Result<EvalReport, EvalError> {
    let windows = split.windows(model.config().context_len + 1, max_windows);
    evaluate_windows(model, &windows, device)
}

/// [`evaluate`] on given windows, each of the same length, at least 2 and at most
/// `context_len + 1` bytes.
///
/// # Errors
/// [`EvalError`] for no windows, windows of unusable or unequal lengths, or readback failure.
pub fn evaluate_windows<B: Backend>(
    model: &ByteLm<B>,
    windows: &[&[u8]],
    device: &B::Device,
) -> Result<EvalReport, EvalError> {
    let len = windows
        .first()
        .map(|w| w.len())
        .ok_or(EvalError::NoWindows)?;
    let context_len = model.config().context_len;
    if len < 2 || len > context_len + 1 || windows.iter().any(|w| w.len() != len) {
        return Err(EvalError::WindowLength { len, context_len });
    }
    let mut nats = 0.0f64;
    for batch in windows.chunks(EVAL_BATCH) {
        let inputs: Vec<&[u8]> = batch.iter().map(|w| &w[..len - 1]).collect();
        let targets: Vec<&[u8]> = batch.iter().map(|w| &w[1..]).collect();
        let picked = target_log_probs(model, &inputs, &targets, device)
            .into_data()
            .to_vec::<f32>()
            .map_err(EvalError::Readback)?;
        nats -= picked.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    let predicted_bytes = (windows.len() * (len - 1)) as u64;
    Ok(EvalReport {
        bits_per_byte: nats / predicted_bytes as f64 / std::f64::consts::LN_2,
        windows: windows.len(),
        predicted_bytes,
    })
}

/// `ln P(target)` at every position, `[batch, seq]`, for equal-length inputs and targets.
pub(crate) fn target_log_probs<B: Backend>(
    model: &ByteLm<B>,
    inputs: &[&[u8]],
    targets: &[&[u8]],
    device: &B::Device,
) -> Tensor<B, 2> {
    let seq = inputs.first().map_or(0, |s| s.len());
    let log_probs = model.log_probs(byte_ids(inputs, seq, device));
    let targets = byte_ids::<B>(targets, seq, device).unsqueeze_dim::<3>(2);
    log_probs.gather(2, targets).squeeze_dim::<2>(2)
}

/// `[batch, seq]` byte ids; every row must have `seq` bytes.
pub(crate) fn byte_ids<B: Backend>(
    rows: &[&[u8]],
    seq: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&b| i64::from(b)))
        .collect();
    Tensor::from_data(TensorData::new(ids, [rows.len(), seq]), device)
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The split yields no window.
    #[error("no evaluation windows")]
    NoWindows,
    /// Windows are shorter than 2 bytes, longer than the context plus one, or of unequal
    /// lengths.
    #[error("evaluation windows of {len} bytes do not fit a model with context {context_len}")]
    WindowLength {
        /// Length of the first window.
        len: usize,
        /// The model's context length.
        context_len: usize,
    },
    /// The backend could not return the result.
    #[error("reading the result back from the backend failed")]
    Readback(#[source] burn::tensor::DataError),
}
