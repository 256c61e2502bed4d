//! The default task, [`NextByte`]: byte-level language modelling.
//!
//! A validator takes a window of text, keeps its last byte back, and sends the rest as the
//! context with the number of final positions to score. The miner answers, for each scored
//! position, the natural-log probabilities of the byte that follows it: 256 `f32` per position,
//! row-major. The last row predicts the withheld byte; the earlier rows predict bytes the
//! validator also knows (the context's own last bytes), so one request scores several
//! predictions. The validator scores an answer by the cross-entropy of the true bytes.
//!
//! Wire form (postcard): the request is the context's length (varint) and bytes, then the
//! position count (varint): at most 262 bytes. The answer is the value count (varint) and the
//! values as 4-byte little-endian floats: at most 256 KiB + 3 bytes.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::Task;

/// Longest context a request may carry, in bytes. Models with a shorter context window use the
/// last bytes that fit before each scored position.
pub const MAX_CONTEXT_BYTES: usize = 256;

/// Symbols a position is scored over: one per byte value.
pub const VOCAB_SIZE: usize = 256;

/// How far from 1 the probabilities of one row may sum, as `|ln Σ exp(row)|`: generous for
/// float32 rounding, tight enough that a miner cannot claim probability mass it does not
/// spread over the 256 values.
pub const LOG_PROB_SUM_TOLERANCE: f64 = 1e-3;

/// Request bytes: a varint (≤ 3 bytes) and the context, then a varint (≤ 3 bytes).
const MAX_REQUEST_BYTES: usize = MAX_CONTEXT_BYTES + 6;
/// Answer bytes: a varint (≤ 3 bytes) and 4 bytes per value.
const MAX_ANSWER_BYTES: usize = MAX_CONTEXT_BYTES * VOCAB_SIZE * 4 + 3;

/// The next-byte prediction task; its [`Task::NAME`] is `next-byte`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextByte;

/// A context and how many of its final positions to score.
///
/// Built with [`NextByteRequest::new`]; a decoded request has passed the same checks when it
/// came through [`Task::decode_request`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NextByteRequest {
    context: Vec<u8>,
    positions: u16,
}

/// Next-byte log-probabilities: `positions × 256` natural logs, row-major, one row per scored
/// position in context order (the last row predicts the byte after the context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextByteAnswer {
    log_probs: Vec<f32>,
}

/// Why a next-byte request or answer is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextByteError {
    /// The context is empty: there is nothing to predict from.
    #[error("empty context")]
    EmptyContext,
    /// The context is longer than [`MAX_CONTEXT_BYTES`].
    #[error("context of {len} bytes is over the {MAX_CONTEXT_BYTES}-byte limit")]
    ContextTooLong {
        /// Its length.
        len: usize,
    },
    /// Zero positions, or more than the context has.
    #[error("{positions} scored positions for a context of {context_len} bytes")]
    Positions {
        /// Positions asked for.
        positions: u16,
        /// Context length.
        context_len: usize,
    },
    /// The answer does not hold `positions × 256` values.
    #[error("answer holds {got} values, expected {expected}")]
    AnswerLength {
        /// Values in the answer.
        got: usize,
        /// Values expected.
        expected: usize,
    },
    /// A row holds NaN or +∞: not log-probabilities.
    #[error("row {row} holds NaN or +inf")]
    NotLogProbs {
        /// The row (0 = first scored position).
        row: usize,
    },
    /// A row's probabilities do not sum to 1 within [`LOG_PROB_SUM_TOLERANCE`].
    #[error("row {row} is not a probability distribution")]
    NotNormalized {
        /// The row (0 = first scored position).
        row: usize,
    },
}

impl NextByteRequest {
    /// A request for the last `positions` predictions of `context`.
    ///
    /// # Errors
    /// [`NextByteError::EmptyContext`], [`NextByteError::ContextTooLong`] or
    /// [`NextByteError::Positions`] (zero, or more than `context.len()`).
    pub fn new(context: Vec<u8>, positions: u16) -> Result<Self, NextByteError> {
        let request = Self { context, positions };
        request.check()?;
        Ok(request)
    }

    /// The context bytes.
    pub fn context(&self) -> &[u8] {
        &self.context
    }

    /// How many final positions are scored.
    pub const fn positions(&self) -> u16 {
        self.positions
    }

    /// Indices into [`Self::context`] of the scored positions: row `r` of the answer predicts
    /// the byte after `context[..=start + r]`. The last index is `context.len() - 1`.
    pub fn scored_positions(&self) -> Range<usize> {
        let len = self.context.len();
        len.saturating_sub(usize::from(self.positions))..len
    }

    /// Values a valid answer holds: `positions × 256`.
    pub fn answer_len(&self) -> usize {
        usize::from(self.positions).saturating_mul(VOCAB_SIZE)
    }

    fn check(&self) -> Result<(), NextByteError> {
        let len = self.context.len();
        if len == 0 {
            return Err(NextByteError::EmptyContext);
        }
        if len > MAX_CONTEXT_BYTES {
            return Err(NextByteError::ContextTooLong { len });
        }
        if self.positions == 0 || usize::from(self.positions) > len {
            return Err(NextByteError::Positions {
                positions: self.positions,
                context_len: len,
            });
        }
        Ok(())
    }
}

impl NextByteAnswer {
    /// An answer from row-major log-probabilities (unchecked; see [`Task::check_answer`]).
    pub fn new(log_probs: Vec<f32>) -> Self {
        Self { log_probs }
    }

    /// Every value, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.log_probs
    }

    /// The values, owned.
    pub fn into_inner(self) -> Vec<f32> {
        self.log_probs
    }

    /// The rows: one per scored position, each [`VOCAB_SIZE`] values (a trailing partial row
    /// of a malformed answer is not returned).
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        self.log_probs.chunks_exact(VOCAB_SIZE)
    }

    /// Row `row`, or `None` past the end.
    pub fn row(&self, row: usize) -> Option<&[f32]> {
        self.rows().nth(row)
    }

    /// `ln P(next byte = byte)` at row `row`, or `None` past the end.
    pub fn log_prob(&self, row: usize, byte: u8) -> Option<f32> {
        self.row(row)?.get(usize::from(byte)).copied()
    }
}

impl Task for NextByte {
    const NAME: &'static str = "next-byte";
    const MAX_REQUEST_BYTES: usize = MAX_REQUEST_BYTES;
    const MAX_ANSWER_BYTES: usize = MAX_ANSWER_BYTES;

    type Request = NextByteRequest;
    type Answer = NextByteAnswer;
    type Error = NextByteError;

    fn check_request(&self, request: &NextByteRequest) -> Result<(), NextByteError> {
        request.check()
    }

    /// Checks the length (`positions × 256`) and that every row is a log-probability
    /// distribution: no NaN or +∞, and `|ln Σ exp(row)| ≤` [`LOG_PROB_SUM_TOLERANCE`].
    fn check_answer(
        &self,
        request: &NextByteRequest,
        answer: &NextByteAnswer,
    ) -> Result<(), NextByteError> {
        let expected = request.answer_len();
        if answer.log_probs.len() != expected {
            return Err(NextByteError::AnswerLength {
                got: answer.log_probs.len(),
                expected,
            });
        }
        for (row, values) in answer.rows().enumerate() {
            if values.iter().any(|v| v.is_nan() || *v == f32::INFINITY) {
                return Err(NextByteError::NotLogProbs { row });
            }
            let mass: f64 = values.iter().map(|v| f64::from(*v).exp()).sum();
            // Written so that a NaN (from a sum of infinities) also fails.
            let is_normalized = mass.ln().abs() <= LOG_PROB_SUM_TOLERANCE;
            if !is_normalized {
                return Err(NextByteError::NotNormalized { row });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::task::TaskCodecError;

    fn uniform(rows: usize) -> NextByteAnswer {
        NextByteAnswer::new(vec![-(256f32.ln()); rows * VOCAB_SIZE])
    }

    #[test]
    fn name_is_stable() {
        assert_eq!(NextByte::NAME, "next-byte");
    }

    #[test]
    fn request_rules() {
        assert_eq!(
            NextByteRequest::new(Vec::new(), 1),
            Err(NextByteError::EmptyContext)
        );
        assert_eq!(
            NextByteRequest::new(vec![0; MAX_CONTEXT_BYTES + 1], 1),
            Err(NextByteError::ContextTooLong {
                len: MAX_CONTEXT_BYTES + 1
            })
        );
        assert!(matches!(
            NextByteRequest::new(b"ab".to_vec(), 0),
            Err(NextByteError::Positions { .. })
        ));
        assert!(matches!(
            NextByteRequest::new(b"ab".to_vec(), 3),
            Err(NextByteError::Positions { .. })
        ));
        let r = NextByteRequest::new(b"abcd".to_vec(), 2).unwrap();
        assert_eq!(r.scored_positions(), 2..4);
        assert_eq!(r.answer_len(), 512);
        assert!(NextByteRequest::new(vec![7; MAX_CONTEXT_BYTES], 256).is_ok());
    }

    #[test]
    fn decode_checks_what_new_checks() {
        let task = NextByte;
        let bad = NextByteRequest {
            context: b"ab".to_vec(),
            positions: 3,
        };
        assert!(matches!(
            task.encode_request(&bad),
            Err(TaskCodecError::Invalid(NextByteError::Positions { .. }))
        ));
        let body = postcard::to_allocvec(&bad).unwrap();
        assert!(matches!(
            task.decode_request(&body),
            Err(TaskCodecError::Invalid(NextByteError::Positions { .. }))
        ));
        let good = NextByteRequest::new(b"ab".to_vec(), 1).unwrap();
        let mut body = task.encode_request(&good).unwrap();
        body.push(0);
        assert_eq!(
            task.decode_request(&body),
            Err(TaskCodecError::TrailingBytes { extra: 1 })
        );
        assert!(matches!(
            task.decode_request(&vec![0; MAX_REQUEST_BYTES + 1]),
            Err(TaskCodecError::Oversized { .. })
        ));
        assert!(matches!(
            task.decode_request(&[0xff]),
            Err(TaskCodecError::Decode(_))
        ));
    }

    #[test]
    fn the_largest_messages_fit_their_limits() {
        let task = NextByte;
        let request = NextByteRequest::new(vec![0xff; MAX_CONTEXT_BYTES], 256).unwrap();
        let body = task.encode_request(&request).unwrap();
        assert!(body.len() <= MAX_REQUEST_BYTES);
        let answer = uniform(256);
        let body = task.encode_answer(&answer).unwrap();
        assert_eq!(body.len(), MAX_ANSWER_BYTES);
        assert_eq!(task.decode_answer(&request, &body).unwrap(), answer);
    }

    #[test]
    fn answer_rules() {
        let task = NextByte;
        let request = NextByteRequest::new(b"abc".to_vec(), 2).unwrap();
        assert_eq!(task.check_answer(&request, &uniform(2)), Ok(()));
        assert_eq!(
            task.check_answer(&request, &uniform(1)),
            Err(NextByteError::AnswerLength {
                got: 256,
                expected: 512
            })
        );
        let mut values = uniform(2).into_inner();
        values[300] = f32::NAN;
        assert_eq!(
            task.check_answer(&request, &NextByteAnswer::new(values)),
            Err(NextByteError::NotLogProbs { row: 1 })
        );
        // Claiming probability 1 for every byte must not pass as a distribution.
        assert_eq!(
            task.check_answer(&request, &NextByteAnswer::new(vec![0.0; 512])),
            Err(NextByteError::NotNormalized { row: 0 })
        );
        assert_eq!(
            task.check_answer(&request, &NextByteAnswer::new(vec![f32::NEG_INFINITY; 512])),
            Err(NextByteError::NotNormalized { row: 0 })
        );
        // A point mass is a valid distribution.
        let mut point = vec![f32::NEG_INFINITY; 512];
        point[b'x' as usize] = 0.0;
        point[256 + 3] = 0.0;
        let answer = NextByteAnswer::new(point);
        assert_eq!(task.check_answer(&request, &answer), Ok(()));
        assert_eq!(answer.log_prob(0, b'x'), Some(0.0));
        assert_eq!(answer.log_prob(1, 3), Some(0.0));
        assert_eq!(answer.log_prob(2, 0), None);
        assert_eq!(answer.rows().len(), 2);
    }

    proptest! {
        #[test]
        fn requests_round_trip(
            context in proptest::collection::vec(any::<u8>(), 1..=MAX_CONTEXT_BYTES),
            positions in 1u16..=256,
        ) {
            let positions = positions.min(u16::try_from(context.len()).unwrap());
            let task = NextByte;
            let request = NextByteRequest::new(context, positions).unwrap();
            let body = task.encode_request(&request).unwrap();
            prop_assert!(body.len() <= MAX_REQUEST_BYTES);
            prop_assert_eq!(task.decode_request(&body).unwrap(), request);
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let task = NextByte;
            let _ = task.decode_request(&body);
            let request = NextByteRequest::new(b"ab".to_vec(), 1).unwrap();
            let _ = task.decode_answer(&request, &body);
        }
    }
}
