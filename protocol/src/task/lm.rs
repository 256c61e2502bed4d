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

use super::{Task, TaskCodecError};

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

    /// As the provided [`Task::decode_answer`] (same results and errors for every body), with
    /// a well-formed body read directly: postcard's `Vec<f32>` is the value count (varint), then
    /// 4 little-endian bytes per value, and reading them through serde cost about 15
    /// instructions per value (a 64-row answer holds 16,384). Any other body goes through the
    /// generic decoder, which names its error.
    fn decode_answer(
        &self,
        request: &NextByteRequest,
        body: &[u8],
    ) -> Result<NextByteAnswer, TaskCodecError<NextByteError>> {
        let answer = match direct_answer(body) {
            Some(values) => NextByteAnswer::new(values),
            None => super::decode(body, MAX_ANSWER_BYTES)?,
        };
        self.check_answer(request, &answer)
            .map_err(TaskCodecError::Invalid)?;
        Ok(answer)
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
            if !is_normalized(values) {
                return Err(NextByteError::NotNormalized { row });
            }
        }
        Ok(())
    }
}

/// The values of a body that is exactly a postcard `Vec<f32>` within [`MAX_ANSWER_BYTES`];
/// `None` for anything else.
fn direct_answer(body: &[u8]) -> Option<Vec<f32>> {
    if body.len() > MAX_ANSWER_BYTES {
        return None;
    }
    // The count is read by postcard itself, so that it is accepted exactly as the generic
    // decoder accepts a sequence length.
    let (count, bytes) = postcard::take_from_bytes::<usize>(body).ok()?;
    if count.checked_mul(4)? != bytes.len() {
        return None;
    }
    bytes
        .chunks_exact(4)
        .map(|b| b.try_into().map(f32::from_le_bytes))
        .collect::<Result<Vec<f32>, _>>()
        .ok()
}

/// Whether `|ln Σ exp(row)| ≤` [`LOG_PROB_SUM_TOLERANCE`], for a row without NaN or +∞.
///
/// Decided as the plain `f64::exp` sum ([`exact_is_normalized`]) decides it, at a fraction of
/// the cost: the sum is first taken with [`fast_exp`] (relative error below 1e-12 per term, so
/// below 1e-12 plus rounding for the sum and its logarithm); only a row whose result lies
/// within 1e-9 of the tolerance, or that holds a value outside [-700, 700] (-∞ included), is
/// summed with `f64::exp`. With `f64::exp` a 256-value row costs about 15,000 instructions,
/// most of a validator's work per 64-row answer.
fn is_normalized(values: &[f32]) -> bool {
    // A fold, not `all`: no early exit, so it vectorises.
    let in_range = values
        .iter()
        .fold(true, |ok, v| ok & (*v >= -700.0) & (*v <= 700.0));
    if !in_range {
        return exact_is_normalized(values);
    }
    // Eight running sums, so that the compiler may vectorise (one sum is a strict sequence of
    // additions); the order only moves the result by rounding, far inside the 1e-9 margin.
    let mut lanes = [0.0_f64; 8];
    let chunks = values.chunks_exact(lanes.len());
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|v| fast_exp(f64::from(*v)))
        .sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += fast_exp(f64::from(*v));
        }
    }
    let fast = lanes.iter().sum::<f64>() + tail;
    let distance = fast.ln().abs() - LOG_PROB_SUM_TOLERANCE;
    if distance.abs() > 1e-9 {
        return distance < 0.0;
    }
    exact_is_normalized(values)
}

/// The definition: `|ln Σ exp(row)| ≤` [`LOG_PROB_SUM_TOLERANCE`], summed in row order with
/// `f64::exp`.
fn exact_is_normalized(values: &[f32]) -> bool {
    let mass: f64 = values.iter().map(|v| f64::from(*v).exp()).sum();
    // Written so that a NaN (from a sum of infinities) also fails.
    mass.ln().abs() <= LOG_PROB_SUM_TOLERANCE
}

/// `exp(x)` for `x` in [-700, 700], relative error below 1e-12 (callers check the range).
///
/// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`; `e^r` by its Taylor series to degree 11 (remainder
/// below 0.35¹²/12! ≈ 6e-15); `2^n` written into the exponent bits. Branch-free, so the
/// compiler vectorises the row sum.
fn fast_exp(x: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5 · 2^52: adding it rounds to an integer, found in the low mantissa bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    // Plain products, not `mul_add`: without a target FMA that is a slow library call.
    let shifted = x * core::f64::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // n·LN2_HI is exact (LN2_HI has 32 significant bits, |n| ≤ 1010).
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 39_916_800.0;
    for k in [
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = p * r + 1.0 / k;
    }
    // |n| ≤ 1010, so n + 1023 fits the 11 exponent bits; the shift drops the rest of the word.
    p * f64::from_bits(shifted.to_bits().wrapping_add(1023).wrapping_shl(52))
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

    #[test]
    fn fast_exp_is_within_1e12_of_exp() {
        let mut x = -700.0_f64;
        while x <= 700.0 {
            let (fast, exact) = (fast_exp(x), x.exp());
            assert!(
                ((fast - exact) / exact).abs() < 1e-12,
                "{x}: {fast} vs {exact}"
            );
            x += 0.0137;
        }
        assert_eq!(fast_exp(0.0), 1.0);
    }

    #[test]
    fn normalisation_check_decides_as_exp_does_at_the_boundary() {
        // A softmax row shifted so that ln Σ exp lands just inside, on, and just outside the
        // tolerance: the fast check must fall back and agree with the plain one every time.
        let base: Vec<f32> = (0..VOCAB_SIZE).map(|i| -((i % 37) as f32) * 0.31).collect();
        let lse = base.iter().map(|v| f64::from(*v).exp()).sum::<f64>().ln();
        let mut decided = [0usize; 2];
        for step in -400..=400 {
            for sign in [-1.0, 1.0] {
                let target = sign * (LOG_PROB_SUM_TOLERANCE + f64::from(step) * 2e-10);
                let shift = (target - lse) as f32;
                let mut row: Vec<f32> = base.iter().map(|v| v + shift).collect();
                // Nudge one value by single ulps to land on every side of the boundary.
                row[0] = f32::from_bits(row[0].to_bits().wrapping_add((step % 3) as u32));
                let expected = exact_is_normalized(&row);
                assert_eq!(is_normalized(&row), expected, "step {step} sign {sign}");
                decided[usize::from(expected)] += 1;
            }
        }
        assert!(decided[0] > 100 && decided[1] > 100, "{decided:?}");
        // Rows with -inf, huge and tiny values.
        let mut row = vec![f32::NEG_INFINITY; VOCAB_SIZE];
        row[7] = 0.0;
        assert!(is_normalized(&row));
        row[8] = 88.0;
        assert!(!is_normalized(&row));
        let tiny = vec![-800.0_f32; VOCAB_SIZE];
        assert!(!is_normalized(&tiny));
        let mut edge = vec![-700.0_f32; VOCAB_SIZE];
        edge[3] = 0.0;
        assert!(is_normalized(&edge));
        edge[4] = 700.0;
        assert!(!is_normalized(&edge));
    }

    /// The provided `Task::decode_answer`: the generic postcard decoder, then the check.
    fn generic_decode(
        request: &NextByteRequest,
        body: &[u8],
    ) -> Result<NextByteAnswer, TaskCodecError<NextByteError>> {
        let answer: NextByteAnswer = crate::task::decode(body, MAX_ANSWER_BYTES)?;
        NextByte
            .check_answer(request, &answer)
            .map_err(TaskCodecError::Invalid)?;
        Ok(answer)
    }

    fn same(
        a: &Result<NextByteAnswer, TaskCodecError<NextByteError>>,
        b: &Result<NextByteAnswer, TaskCodecError<NextByteError>>,
    ) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => a
                .as_slice()
                .iter()
                .map(|v| v.to_bits())
                .eq(b.as_slice().iter().map(|v| v.to_bits())),
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn direct_decode_matches_postcard(
            rows in 1usize..4,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in 0usize..8,
            extra in proptest::collection::vec(any::<u8>(), 0..3),
            weird in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let request = NextByteRequest::new(vec![b'x'; 8], rows as u16).unwrap();
            let mut body = NextByte.encode_answer(&uniform(rows)).unwrap();
            for (at, byte) in edits {
                let len = body.len();
                body[at % len] = byte;
            }
            body.truncate(body.len().saturating_sub(cut));
            body.extend_from_slice(&extra);
            prop_assert!(same(&NextByte.decode_answer(&request, &body), &generic_decode(&request, &body)));
            prop_assert!(same(&NextByte.decode_answer(&request, &weird), &generic_decode(&request, &weird)));
        }

        #[test]
        fn normalisation_check_matches_exp(
            row in proptest::collection::vec(-30.0f32..2.0, VOCAB_SIZE),
            offset in -0.01f64..0.01,
        ) {
            // Renormalise, then move the whole row by a small offset around the tolerance.
            let lse = row.iter().map(|v| f64::from(*v).exp()).sum::<f64>().ln();
            let row: Vec<f32> = row.iter().map(|v| (f64::from(*v) - lse + offset) as f32).collect();
            prop_assert_eq!(is_normalized(&row), exact_is_normalized(&row));
        }
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
