//! [`LmEvaluator`]: the default task, [`NextByte`], scored by cross-entropy in bits per byte.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand_chacha::ChaCha8Rng;
use subnet_models::{
    CheckpointError, CheckpointMeta, Corpus, CorpusError, Cpu, FusedLm, FusedLoadError,
    InferenceError, load_weights,
};
use subnet_protocol::ainft::Digest;
use subnet_protocol::task::{
    ModelInfo, NextByte, NextByteAnswer, NextByteError, NextByteRequest, VOCAB_SIZE,
};

use crate::config::EvalCorpus;
use crate::evaluator::{Evaluator, Probe};
use crate::sampling::index_below;

/// Evaluates [`NextByte`]: each request is a random window of the evaluation text with its
/// last byte withheld; an answer's loss is the mean cross-entropy of the true next bytes at
/// the scored positions, in bits per byte: `L = −(1/P) Σ_r log₂ p_r(b_r)`.
///
/// Spot checks decode the miner's registered [`ByteLm`](subnet_models::ByteLm) on the CPU and
/// predict each scored position exactly as the miner's solver does: from the longest window of
/// the context that ends at the position and fits the model, with the fused CPU forward pass
/// ([`FusedLm`]) a CPU miner serves with.
#[derive(Debug)]
pub struct LmEvaluator {
    /// The text, in pieces that windows do not straddle (chunks of the split).
    chunks: Vec<Vec<u8>>,
    /// `starts[i]`: windows that start in chunks `0..i`; one longer than `chunks`.
    starts: Vec<usize>,
    context_len: usize,
    positions: u16,
}

/// The true next bytes of a request's scored positions, in row order.
pub type NextBytes = Vec<u8>;

/// A miner's registered model, ready to re-run requests.
#[derive(Debug)]
pub struct LmReference {
    model: FusedLm,
}

/// Why [`LmEvaluator`] could not be built, or could not load or run a model.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// The built-in corpus did not decompress.
    #[error("loading the evaluation corpus")]
    Corpus(#[from] CorpusError),
    /// The corpus file could not be read.
    #[error("reading the evaluation corpus {path}")]
    CorpusFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No part of the corpus is as long as a request's window.
    #[error("the corpus holds no window of {len} bytes")]
    CorpusTooShort {
        /// Window length: context plus the withheld byte.
        len: usize,
    },
    /// The request shape is invalid (context length or positions).
    #[error("invalid request shape")]
    Shape(#[source] NextByteError),
    /// The model info's metadata is not checkpoint metadata.
    #[error("model metadata")]
    Metadata(#[source] serde_json::Error),
    /// The metadata disagrees with the registered manifest.
    #[error("metadata {field} disagrees with the registered manifest")]
    ManifestMismatch {
        /// The disagreeing field.
        field: &'static str,
    },
    /// The weights do not decode or are not the metadata's.
    #[error("weights")]
    Checkpoint(#[source] CheckpointError),
    /// The weights could not be laid out for the fused forward pass.
    #[error("preparing the weights for inference")]
    Fused(#[source] FusedLoadError),
    /// A forward pass failed.
    #[error("inference")]
    Inference(#[source] InferenceError),
    /// A forward pass came back without a row it should have.
    #[error("missing output row")]
    MissingRow,
}

impl LmEvaluator {
    /// An evaluator of `context_len`-byte contexts scored at their last `positions`
    /// positions, on `corpus`.
    ///
    /// # Errors
    /// [`LmError`]: an unreadable corpus, one with no window of `context_len + 1` bytes, or an
    /// invalid shape.
    pub fn new(corpus: &EvalCorpus, context_len: usize, positions: u16) -> Result<Self, LmError> {
        let chunks: Vec<Vec<u8>> = match corpus {
            EvalCorpus::JargonEval => Corpus::jargon()?
                .eval()
                .chunks()
                .map(<[u8]>::to_vec)
                .collect(),
            EvalCorpus::File { path } => {
                vec![std::fs::read(path).map_err(|source| LmError::CorpusFile {
                    path: path.clone(),
                    source,
                })?]
            }
        };
        Self::from_chunks(chunks, context_len, positions)
    }

    /// An evaluator on text given as `chunks` (windows never straddle two chunks).
    ///
    /// # Errors
    /// As [`LmEvaluator::new`].
    pub fn from_chunks(
        chunks: Vec<Vec<u8>>,
        context_len: usize,
        positions: u16,
    ) -> Result<Self, LmError> {
        NextByteRequest::new(vec![0; context_len], positions).map_err(LmError::Shape)?;
        let window = context_len + 1;
        let mut starts = vec![0];
        let mut total = 0usize;
        for chunk in &chunks {
            total += (chunk.len() + 1).saturating_sub(window);
            starts.push(total);
        }
        if total == 0 {
            return Err(LmError::CorpusTooShort { len: window });
        }
        Ok(Self {
            chunks,
            starts,
            context_len,
            positions,
        })
    }

    /// A uniformly random window of `context_len + 1` bytes inside one chunk.
    fn window(&self, rng: &mut ChaCha8Rng) -> &[u8] {
        let total = self.starts.last().copied().unwrap_or(0);
        let pick = index_below(rng, total);
        // The chunk whose range of starts holds `pick`.
        let chunk = self
            .starts
            .partition_point(|&s| s <= pick)
            .saturating_sub(1);
        let offset = pick - self.starts[chunk];
        &self.chunks[chunk][offset..offset + self.context_len + 1]
    }
}

impl Evaluator for LmEvaluator {
    type Task = NextByte;
    type Truth = NextBytes;
    type Reference = LmReference;
    type Error = LmError;

    fn task(&self) -> &NextByte {
        &NextByte
    }

    fn probes(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<Probe<NextByteRequest, NextBytes>> {
        let positions = usize::from(self.positions);
        (0..count)
            .filter_map(|_| {
                let window = self.window(rng);
                let (context, _) = window.split_at(self.context_len);
                let truth = window[window.len() - positions..].to_vec();
                // The shape was checked at construction.
                let request = NextByteRequest::new(context.to_vec(), self.positions).ok()?;
                Some(Probe { request, truth })
            })
            .collect()
    }

    fn loss(&self, probe: &Probe<NextByteRequest, NextBytes>, answer: &NextByteAnswer) -> f64 {
        cross_entropy_bits(answer, &probe.truth)
    }

    fn load_reference(&self, info: &ModelInfo, weights: Vec<u8>) -> Result<LmReference, LmError> {
        let meta: CheckpointMeta =
            serde_json::from_str(&info.metadata).map_err(LmError::Metadata)?;
        let spec = &info.manifest.model;
        if Digest::from_bytes(meta.weights_digest.0) != spec.weights_digest {
            return Err(LmError::ManifestMismatch {
                field: "weights_digest",
            });
        }
        if meta.architecture != spec.architecture {
            return Err(LmError::ManifestMismatch {
                field: "architecture",
            });
        }
        // Head count shapes no tensor, so the weights digest does not pin it: the manifest does.
        let c = &meta.config;
        for (field, value) in [
            ("d_model", c.d_model),
            ("n_heads", c.n_heads),
            ("n_layers", c.n_layers),
            ("d_ff", c.d_ff),
            ("context_len", c.context_len),
        ] {
            if spec.hyperparameters.get(field) != Some(&value.to_string()) {
                return Err(LmError::ManifestMismatch { field });
            }
        }
        let model = load_weights::<Cpu>(&meta, weights, &Default::default())
            .map_err(LmError::Checkpoint)?;
        Ok(LmReference {
            model: FusedLm::from_model(&model).map_err(LmError::Fused)?,
        })
    }

    fn rerun(
        &self,
        reference: &LmReference,
        requests: &[&NextByteRequest],
    ) -> Result<Vec<NextByteAnswer>, LmError> {
        requests.iter().map(|r| reference.answer(r)).collect()
    }

    fn matches(&self, answer: &NextByteAnswer, expected: &NextByteAnswer, tolerance: f64) -> bool {
        let (a, b) = (answer.as_slice(), expected.as_slice());
        a.len() == b.len()
            && a.iter().zip(b).all(|(&x, &y)| {
                // Equal infinities match; otherwise the difference decides (NaN never does).
                x == y || f64::from(x - y).abs() <= tolerance
            })
    }
}

impl LmReference {
    /// The model's context length, in bytes.
    pub fn context_len(&self) -> usize {
        self.model.config().context_len
    }

    /// The answer the miner's solver gives to `request`: positions below the context length
    /// share one pass over the first `min(len, C)` bytes; each later position `p` gets the
    /// window `context[p + 1 − C ..= p]`.
    fn answer(&self, request: &NextByteRequest) -> Result<NextByteAnswer, LmError> {
        let model = &self.model;
        let context = request.context();
        let c = self.context_len();
        let mut rows: BTreeMap<usize, Vec<f32>> = BTreeMap::new();
        let scored = request.scored_positions();
        let head_end = context.len().min(c);
        if scored.start < head_end {
            let out = model
                .infer(&[&context[..head_end]])
                .map_err(LmError::Inference)?;
            for p in scored.start..head_end {
                rows.insert(p, out.at(0, p).ok_or(LmError::MissingRow)?.to_vec());
            }
        }
        let tails: Vec<usize> = scored.clone().filter(|&p| p >= c).collect();
        if !tails.is_empty() {
            let windows: Vec<&[u8]> = tails.iter().map(|&p| &context[p + 1 - c..=p]).collect();
            let out = model.infer(&windows).map_err(LmError::Inference)?;
            for (seq, &p) in tails.iter().enumerate() {
                rows.insert(p, out.at(seq, c - 1).ok_or(LmError::MissingRow)?.to_vec());
            }
        }
        let mut values = Vec::with_capacity(request.answer_len());
        for p in scored {
            values.extend_from_slice(rows.get(&p).ok_or(LmError::MissingRow)?);
        }
        Ok(NextByteAnswer::new(values))
    }
}

/// Mean cross-entropy of `truth` under `answer`'s rows, in bits per byte:
/// `−(1/P) Σ_r log₂ p_r(truth_r)`. `+∞` when a true byte has probability 0, or when the answer
/// has fewer rows than `truth`.
pub fn cross_entropy_bits(answer: &NextByteAnswer, truth: &[u8]) -> f64 {
    if truth.is_empty() || answer.as_slice().len() < truth.len() * VOCAB_SIZE {
        return f64::INFINITY;
    }
    let nats: f64 = truth
        .iter()
        .enumerate()
        .map(|(row, &byte)| {
            answer
                .log_prob(row, byte)
                .map_or(f64::INFINITY, |lp| -f64::from(lp))
        })
        .sum();
    nats / truth.len() as f64 / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use subnet_protocol::task::Task;

    use super::*;
    use crate::sampling::step_rng;

    #[test]
    fn probes_withhold_the_byte_after_the_context() {
        let text: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        let e = LmEvaluator::from_chunks(vec![text, vec![1; 10]], 16, 4).unwrap();
        let probes = e.probes(&mut step_rng(3, 0), 50);
        assert_eq!(probes.len(), 50);
        for p in &probes {
            let ctx = p.request.context();
            assert_eq!(ctx.len(), 16);
            assert_eq!(p.request.positions(), 4);
            // In this text the next byte is always the last plus one.
            let last = *ctx.last().unwrap();
            assert_eq!(*p.truth.last().unwrap(), last.wrapping_add(1));
            assert_eq!(&p.truth[..3], &ctx[13..16]);
            NextByte.check_request(&p.request).unwrap();
        }
        assert_eq!(e.probes(&mut step_rng(3, 0), 50), probes);
        assert!(matches!(
            LmEvaluator::from_chunks(vec![vec![0; 16]], 16, 4),
            Err(LmError::CorpusTooShort { len: 17 })
        ));
        assert!(matches!(
            LmEvaluator::from_chunks(vec![vec![0; 100]], 16, 17),
            Err(LmError::Shape(_))
        ));
    }

    #[test]
    fn windows_cover_every_chunk_and_stay_inside_one() {
        let e = LmEvaluator::from_chunks(vec![vec![1; 20], vec![2; 5], vec![3; 20]], 9, 1).unwrap();
        let mut seen = [false; 4];
        let mut rng = step_rng(9, 0);
        for _ in 0..200 {
            let w = e.window(&mut rng);
            assert_eq!(w.len(), 10);
            assert!(w.iter().all(|&b| b == w[0]), "{w:?}");
            seen[usize::from(w[0])] = true;
        }
        assert_eq!(seen, [false, true, false, true]);
    }

    #[test]
    fn cross_entropy_is_in_bits() {
        let uniform = NextByteAnswer::new(vec![-(256f32.ln()); 2 * 256]);
        assert!((cross_entropy_bits(&uniform, b"ab") - 8.0).abs() < 1e-5);
        let mut point = vec![f32::NEG_INFINITY; 256];
        point[usize::from(b'x')] = 0.0;
        let point = NextByteAnswer::new(point);
        assert_eq!(cross_entropy_bits(&point, b"x"), 0.0);
        assert_eq!(cross_entropy_bits(&point, b"y"), f64::INFINITY);
        assert_eq!(cross_entropy_bits(&point, b"xx"), f64::INFINITY);
    }

    #[test]
    fn matching_allows_the_tolerance_only() {
        let e = LmEvaluator::from_chunks(vec![vec![0; 100]], 8, 1).unwrap();
        let a = NextByteAnswer::new(vec![-1.0, f32::NEG_INFINITY]);
        let near = NextByteAnswer::new(vec![-1.00005, f32::NEG_INFINITY]);
        let far = NextByteAnswer::new(vec![-1.001, f32::NEG_INFINITY]);
        assert!(e.matches(&a, &near, 1e-4));
        assert!(!e.matches(&a, &far, 1e-4));
        assert!(!e.matches(&a, &NextByteAnswer::new(vec![-1.0]), 1e-4));
    }
}
