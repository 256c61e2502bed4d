//! [`Solver`]: how a miner computes a task's answers, and [`LmSolver`], the default task's
//! solver on a [`ByteLm`].

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use subnet_models::{ByteLm, FusedLm, FusedLoadError, InferenceError, LogProbs};
use subnet_protocol::task::{NextByte, NextByteAnswer, NextByteRequest, Task, VOCAB_SIZE};

/// Computes answers of task `T`, a batch at a time.
///
/// The miner calls it on its inference thread (never on the async executor) with up to
/// `limits.max_batch_size` requests that passed [`Task::check_request`]. Implementations
/// must return one result per request, in order, and a request's answer must not depend on
/// the other requests in its batch (validators re-run requests one at a time to spot-check).
pub trait Solver<T: Task>: Send {
    /// Why one request could not be answered; its caller gets `internal`.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Answers `requests`, one result per request, in order.
    fn solve(&mut self, requests: &[T::Request]) -> Vec<Result<T::Answer, Self::Error>>;
}

/// Why [`LmSolver`] could not answer a request.
#[derive(Debug, thiserror::Error)]
pub enum LmSolveError {
    /// The model refused or failed a forward pass.
    #[error("inference failed")]
    Inference(#[source] Arc<InferenceError>),
    /// A forward pass came back without a row the request needs (a model bug).
    #[error("missing output row")]
    MissingRow,
}

/// Answers [`NextByte`] requests with a [`ByteLm`] on any burn backend, or with its
/// [`FusedLm`] CPU forward pass ([`LmSolver::into_fused`]; what the miner runs on CPU).
///
/// Each scored position `p` of a request is predicted from the longest window of the context
/// that ends at `p` and fits the model: `context[p + 1 - C ..= p]` for a model of context `C`
/// (or the whole prefix when `p < C`). All positions below `C` share one forward pass over the
/// first `min(len, C)` bytes; each position from `C` on gets its own `C`-byte window. Windows
/// of equal length from all requests of a batch run together, in passes of at most
/// [`LmSolver::max_sequences_per_pass`] sequences.
#[derive(Debug)]
pub struct LmSolver<B: Backend> {
    engine: Engine<B>,
    context_len: usize,
    max_sequences: usize,
}

/// What runs the forward passes.
#[derive(Debug)]
enum Engine<B: Backend> {
    Burn {
        model: Box<ByteLm<B>>,
        device: B::Device,
    },
    Fused(Box<FusedLm>),
}

/// One forward-pass sequence: a slice of a request's context, and which of its output
/// positions fill which answer rows.
#[derive(Debug)]
struct Window {
    request: usize,
    start: usize,
    end: usize,
    /// `(position in the window, answer row)`.
    rows: Vec<(usize, usize)>,
}

/// Default sequences per forward pass: enough to batch 64 requests of one window each.
pub const DEFAULT_MAX_SEQUENCES_PER_PASS: usize = 64;

impl<B: Backend> LmSolver<B> {
    /// A solver running `model` on `device`.
    pub fn new(model: ByteLm<B>, device: B::Device) -> Self {
        let context_len = model.config().context_len;
        Self {
            engine: Engine::Burn {
                model: Box::new(model),
                device,
            },
            context_len,
            max_sequences: DEFAULT_MAX_SEQUENCES_PER_PASS,
        }
    }

    /// The same solver running the model's [`FusedLm`] CPU forward pass instead of burn's:
    /// the same answers within 1e-4, and still independent of the batch bit for bit.
    ///
    /// # Errors
    /// [`FusedLoadError`] if the weights cannot be read back from the backend.
    pub fn into_fused(self) -> Result<Self, FusedLoadError> {
        let engine = match self.engine {
            Engine::Burn { model, .. } => Engine::Fused(Box::new(FusedLm::from_model(&model)?)),
            fused @ Engine::Fused(_) => fused,
        };
        Ok(Self { engine, ..self })
    }

    /// Whether forward passes run on [`FusedLm`].
    pub fn is_fused(&self) -> bool {
        matches!(self.engine, Engine::Fused(_))
    }

    fn infer(&self, sequences: &[&[u8]]) -> Result<LogProbs, InferenceError> {
        match &self.engine {
            Engine::Burn { model, device } => model.infer(sequences, device),
            Engine::Fused(fused) => fused.infer(sequences),
        }
    }

    /// Caps the sequences of one forward pass (memory grows with it). Default
    /// [`DEFAULT_MAX_SEQUENCES_PER_PASS`]; at least 1.
    pub fn max_sequences_per_pass(&mut self, sequences: usize) -> &mut Self {
        self.max_sequences = sequences.max(1);
        self
    }

    /// The model's context length, in bytes.
    pub fn context_len(&self) -> usize {
        self.context_len
    }

    /// The windows `request` (index `index` in the batch) needs.
    fn windows(&self, index: usize, request: &NextByteRequest, out: &mut Vec<Window>) {
        let len = request.context().len();
        let scored = request.scored_positions();
        let c = self.context_len;
        let head_end = len.min(c);
        let head_rows: Vec<(usize, usize)> = scored
            .clone()
            .enumerate()
            .filter(|&(_, p)| p < head_end)
            .map(|(row, p)| (p, row))
            .collect();
        if !head_rows.is_empty() {
            out.push(Window {
                request: index,
                start: 0,
                end: head_end,
                rows: head_rows,
            });
        }
        for (row, p) in scored.enumerate().filter(|&(_, p)| p >= c) {
            out.push(Window {
                request: index,
                start: p + 1 - c,
                end: p + 1,
                rows: vec![(c - 1, row)],
            });
        }
    }
}

impl<B: Backend> Solver<NextByte> for LmSolver<B>
where
    B::Device: Send,
    ByteLm<B>: Send,
{
    type Error = LmSolveError;

    fn solve(&mut self, requests: &[NextByteRequest]) -> Vec<Result<NextByteAnswer, LmSolveError>> {
        let mut windows = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            self.windows(index, request, &mut windows);
        }
        let mut answers: Vec<Result<Vec<f32>, LmSolveError>> = requests
            .iter()
            .map(|r| Ok(vec![0.0; r.answer_len()]))
            .collect();
        // Equal lengths only: the model takes no padding, and unpadded sequences keep each
        // request's numbers independent of its batch.
        let mut by_len: BTreeMap<usize, Vec<&Window>> = BTreeMap::new();
        for w in &windows {
            by_len.entry(w.end - w.start).or_default().push(w);
        }
        for group in by_len.values() {
            for pass in group.chunks(self.max_sequences) {
                self.run_pass(requests, pass, &mut answers);
            }
        }
        answers
            .into_iter()
            .map(|a| a.map(NextByteAnswer::new))
            .collect()
    }
}

impl<B: Backend> LmSolver<B> {
    fn run_pass(
        &self,
        requests: &[NextByteRequest],
        pass: &[&Window],
        answers: &mut [Result<Vec<f32>, LmSolveError>],
    ) {
        let sequences: Vec<&[u8]> = pass
            .iter()
            .map(|w| &requests[w.request].context()[w.start..w.end])
            .collect();
        let out = match self.infer(&sequences) {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %e, "forward pass failed");
                let shared = Arc::new(e);
                for w in pass {
                    answers[w.request] = Err(LmSolveError::Inference(Arc::clone(&shared)));
                }
                return;
            }
        };
        for (seq, w) in pass.iter().enumerate() {
            let Ok(buffer) = &mut answers[w.request] else {
                continue;
            };
            for &(pos, row) in &w.rows {
                let source = out.at(seq, pos);
                let target = buffer.get_mut(row * VOCAB_SIZE..(row + 1) * VOCAB_SIZE);
                match (source, target) {
                    (Some(source), Some(target)) => target.copy_from_slice(source),
                    _ => {
                        answers[w.request] = Err(LmSolveError::MissingRow);
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use subnet_models::{Cpu, ModelConfig};

    use super::*;

    fn solver(context_len: usize) -> LmSolver<Cpu> {
        let config = ModelConfig {
            d_model: 16,
            n_heads: 2,
            n_layers: 1,
            d_ff: 32,
            context_len,
        };
        let device = Default::default();
        LmSolver::new(ByteLm::<Cpu>::new(&config, 3, &device).unwrap(), device)
    }

    fn request(context: &[u8], positions: u16) -> NextByteRequest {
        NextByteRequest::new(context.to_vec(), positions).unwrap()
    }

    #[test]
    fn answers_are_the_model_rows_of_the_scored_positions() {
        let mut s = solver(8);
        let r = request(b"abcdef", 3);
        let answer = s.solve(std::slice::from_ref(&r)).pop().unwrap().unwrap();
        let direct = s.infer(&[b"abcdef"]).unwrap();
        for (row, p) in r.scored_positions().enumerate() {
            assert_eq!(answer.row(row).unwrap(), direct.at(0, p).unwrap());
        }
        assert_eq!(answer.as_slice().len(), 3 * 256);
        NextByte.check_answer(&r, &answer).unwrap();
    }

    #[test]
    fn long_contexts_slide_a_full_window_to_each_position() {
        let mut s = solver(4);
        let context = b"0123456789";
        let r = request(context, 8);
        let answer = s.solve(std::slice::from_ref(&r)).pop().unwrap().unwrap();
        let head = s.infer(&[&context[..4]]).unwrap();
        for (row, p) in r.scored_positions().enumerate() {
            let expected = if p < 4 {
                head.at(0, p).unwrap().to_vec()
            } else {
                let window = &context[p - 3..=p];
                s.infer(&[window]).unwrap().at(0, 3).unwrap().to_vec()
            };
            assert_eq!(answer.row(row).unwrap(), expected, "position {p}");
        }
    }

    #[test]
    fn batched_answers_equal_single_answers_bit_for_bit() {
        for fused in [false, true] {
            let mut s = solver(8);
            if fused {
                s = s.into_fused().unwrap();
            }
            batch_independence(s);
        }
    }

    #[test]
    fn fused_answers_match_burn_answers() {
        let mut burn = solver(8);
        let mut fused = solver(8).into_fused().unwrap();
        assert!(fused.is_fused() && !burn.is_fused());
        let requests = vec![request(b"hello world, again", 12), request(b"x", 1)];
        let a = burn.solve(&requests);
        let b = fused.solve(&requests);
        for (a, b) in a.into_iter().zip(b) {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.as_slice().len(), b.as_slice().len());
            let diff = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-4, "max |diff| {diff}");
        }
    }

    fn batch_independence(mut s: LmSolver<Cpu>) {
        let requests = vec![
            request(b"hello", 2),
            request(b"hello world, again", 5),
            request(b"x", 1),
            request(b"world", 5),
            request(b"12345678", 8),
        ];
        let batched: Vec<_> = s.solve(&requests).into_iter().map(Result::unwrap).collect();
        s.max_sequences_per_pass(2);
        let small_passes: Vec<_> = s.solve(&requests).into_iter().map(Result::unwrap).collect();
        for (i, r) in requests.iter().enumerate() {
            let single = s.solve(std::slice::from_ref(r)).pop().unwrap().unwrap();
            let bits =
                |a: &NextByteAnswer| a.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&batched[i]), bits(&single), "request {i}");
            assert_eq!(bits(&small_passes[i]), bits(&single), "request {i}");
        }
    }
}
