//! The byte-level decoder-only transformer.

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor};

use crate::config::{ConfigError, ModelConfig, VOCAB_SIZE};
use crate::eval::byte_ids;
use crate::layers::{Block, LayerNorm, linear, normal_param};
use crate::sampler::init_rng;

/// A byte-level language model: token and learned positional embeddings, `n_layers`
/// pre-LayerNorm transformer blocks, a final LayerNorm and a linear head over the 256 byte
/// values.
///
/// Generic over the burn [`Backend`]; [`Cpu`](crate::Cpu) is the default. Parameter paths
/// (used by [`weights_digest`](crate::weights_digest) and the numpy export) are
/// `token_embedding`, `position_embedding`, `blocks.{i}.{ln1,ln2}.{gamma,beta}`,
/// `blocks.{i}.attn.{query,key,value,out}.{weight,bias}`,
/// `blocks.{i}.mlp.{fc,proj}.{weight,bias}`, `final_norm.{gamma,beta}` and
/// `head.{weight,bias}`; linear weights are `[d_in, d_out]` (`y = x W + b`).
#[derive(Module, Debug)]
pub struct ByteLm<B: Backend> {
    token_embedding: Param<Tensor<B, 2>>,
    position_embedding: Param<Tensor<B, 2>>,
    blocks: Vec<Block<B>>,
    final_norm: LayerNorm<B>,
    head: burn::nn::Linear<B>,
}

impl<B: Backend> ByteLm<B> {
    /// A freshly initialised model: weights `N(0, 0.02²)` (output projections of each block
    /// scaled by `1/sqrt(2 n_layers)`), zero biases, unit LayerNorm gains; all drawn from a
    /// ChaCha8 generator seeded with `seed`, so the same seed gives the same weights.
    ///
    /// # Errors
    /// [`ConfigError`] if `config` is invalid.
    pub fn new(config: &ModelConfig, seed: u64, device: &B::Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = init_rng(seed);
        let d = config.d_model;
        let token_embedding = normal_param([VOCAB_SIZE, d], 0.02, &mut rng, device);
        let position_embedding = normal_param([config.context_len, d], 0.02, &mut rng, device);
        let blocks = (0..config.n_layers)
            .map(|_| Block::new(config, &mut rng, device))
            .collect();
        let final_norm = LayerNorm::new(d, device);
        let head = linear(d, VOCAB_SIZE, 0.02, &mut rng, device);
        Ok(Self {
            token_embedding,
            position_embedding,
            blocks,
            final_norm,
            head,
        })
    }

    /// The architecture, read back from the parameter shapes.
    pub fn config(&self) -> ModelConfig {
        let [context_len, d_model] = self.position_embedding.dims();
        let d_ff = self
            .blocks
            .first()
            .map_or(0, |block| block.mlp.fc.weight.dims()[1]);
        let n_heads = self.blocks.first().map_or(1, |block| block.attn.n_heads());
        ModelConfig {
            d_model,
            n_heads,
            n_layers: self.blocks.len(),
            d_ff,
            context_len,
        }
    }

    /// Unnormalised next-byte scores, `[batch, seq, 256]`, for byte ids `[batch, seq]`.
    ///
    /// # Panics
    /// If `seq` exceeds the context length or an id is outside `0..256` (burn indexes
    /// unchecked); [`ByteLm::infer`] checks both.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [_, seq] = tokens.dims();
        let positions = self
            .position_embedding
            .val()
            .narrow(0, 0, seq)
            .unsqueeze::<3>();
        let mut x = embedding(self.token_embedding.val(), tokens) + positions;
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(self.final_norm.forward(x))
    }

    /// Natural-log probabilities of the next byte at every position, `[batch, seq, 256]`: entry
    /// `[b, t, v]` is `ln P(byte t+1 = v | bytes 0..=t)` of sequence `b`.
    ///
    /// # Panics
    /// As [`ByteLm::forward`].
    pub fn log_probs(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        log_softmax(self.forward(tokens), 2)
    }

    /// Log-probabilities for a batch of equal-length byte strings, checked and copied to host
    /// memory.
    ///
    /// A sequence's answer does not depend on the other sequences in the batch (bit-identical
    /// on the CPU backend; see the determinism tests).
    ///
    /// # Errors
    /// [`InferenceError`] if the batch is empty, the sequences are empty or of different
    /// lengths, or longer than the context length.
    pub fn infer(&self, batch: &[&[u8]], device: &B::Device) -> Result<LogProbs, InferenceError> {
        let seq = check_batch(batch, self.position_embedding.dims()[0])?;
        let data = self.log_probs(byte_ids(batch, seq, device)).into_data();
        let values = data.to_vec::<f32>().map_err(InferenceError::Readback)?;
        Ok(LogProbs::from_values(batch.len(), seq, values))
    }
}

/// The common length of `batch`'s sequences, checked against a model of `context_len`.
pub(crate) fn check_batch(batch: &[&[u8]], context_len: usize) -> Result<usize, InferenceError> {
    let seq = batch
        .first()
        .map(|s| s.len())
        .ok_or(InferenceError::EmptyBatch)?;
    if seq == 0 {
        return Err(InferenceError::EmptySequence);
    }
    if seq > context_len {
        return Err(InferenceError::TooLong {
            len: seq,
            context_len,
        });
    }
    if let Some((index, s)) = batch.iter().enumerate().find(|(_, s)| s.len() != seq) {
        return Err(InferenceError::RaggedBatch {
            index,
            len: s.len(),
            expected: seq,
        });
    }
    Ok(seq)
}

/// Next-byte log-probabilities copied out of a backend: `batch × seq × 256` natural logs in
/// row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct LogProbs {
    batch: usize,
    seq: usize,
    values: Vec<f32>,
}

impl LogProbs {
    pub(crate) fn from_values(batch: usize, seq: usize, values: Vec<f32>) -> Self {
        debug_assert_eq!(values.len(), batch * seq * VOCAB_SIZE);
        Self { batch, seq, values }
    }

    /// Number of sequences.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Positions per sequence.
    pub fn seq_len(&self) -> usize {
        self.seq
    }

    /// The 256 log-probabilities of the byte after position `pos` of sequence `seq`, or `None`
    /// out of range.
    pub fn at(&self, seq: usize, pos: usize) -> Option<&[f32]> {
        if seq >= self.batch || pos >= self.seq {
            return None;
        }
        let start = (seq * self.seq + pos) * VOCAB_SIZE;
        self.values.get(start..start + VOCAB_SIZE)
    }

    /// All of sequence `seq`'s rows (`seq_len × 256`), or `None` out of range.
    pub fn sequence(&self, seq: usize) -> Option<&[f32]> {
        let row = self.seq * VOCAB_SIZE;
        self.values
            .get(seq.checked_mul(row)?..seq.checked_add(1)?.checked_mul(row)?)
    }

    /// The largest absolute difference from `other`, element by element, or `None` if the
    /// shapes differ. Equal values (equal infinities included) differ by 0; a NaN on either side
    /// of an unequal pair counts as an infinite difference, so it never passes a tolerance.
    pub fn max_abs_diff(&self, other: &Self) -> Option<f32> {
        if (self.batch, self.seq) != (other.batch, other.seq) {
            return None;
        }
        let diff = |(a, b): (&f32, &f32)| {
            let d = (a - b).abs();
            if a == b {
                0.0
            } else if d.is_nan() {
                f32::INFINITY
            } else {
                d
            }
        };
        Some(
            self.values
                .iter()
                .zip(&other.values)
                .map(diff)
                .fold(0.0, f32::max),
        )
    }

    /// The flat row-major values.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }
}

/// Why [`ByteLm::infer`] refused a batch.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// No sequences.
    #[error("empty batch")]
    EmptyBatch,
    /// Zero-length sequences.
    #[error("empty sequence")]
    EmptySequence,
    /// A sequence whose length differs from the first one's.
    #[error("sequence {index} has {len} bytes, expected {expected} like the first")]
    RaggedBatch {
        /// Position in the batch.
        index: usize,
        /// Its length.
        len: usize,
        /// The first sequence's length.
        expected: usize,
    },
    /// Longer than the model's positional embedding.
    #[error("sequence of {len} bytes exceeds the context length {context_len}")]
    TooLong {
        /// Sequence length.
        len: usize,
        /// The model's context length.
        context_len: usize,
    },
    /// The backend could not hand back the result.
    #[error("reading the result back from the backend failed")]
    Readback(#[source] burn::tensor::DataError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_diff_counts_nan_as_infinite_and_refuses_other_shapes() {
        let row = |v: f32| vec![v; VOCAB_SIZE];
        let a = LogProbs::from_values(1, 1, row(-2.0));
        let mut close = row(-2.0);
        close[7] = -2.5;
        let b = LogProbs::from_values(1, 1, close);
        assert_eq!(a.max_abs_diff(&b), Some(0.5));
        assert_eq!(a.max_abs_diff(&a), Some(0.0));
        let mut nan = row(-2.0);
        nan[3] = f32::NAN;
        let c = LogProbs::from_values(1, 1, nan);
        assert_eq!(a.max_abs_diff(&c), Some(f32::INFINITY));
        let inf = LogProbs::from_values(1, 1, row(f32::NEG_INFINITY));
        assert_eq!(inf.max_abs_diff(&inf), Some(0.0));
        let longer = LogProbs::from_values(1, 2, [row(-2.0), row(-2.0)].concat());
        assert_eq!(a.max_abs_diff(&longer), None);
    }
}
