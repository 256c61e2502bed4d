//! Tasks: what a subnet asks its miners, defined once for miners and validators.
//!
//! A [`Task`] names its request and answer types and the cheap checks both sides run on them
//! before any expensive work: [`Task::check_request`] (a miner, before inference) and
//! [`Task::check_answer`] (a validator, before scoring). Bodies travel in the envelope's body,
//! encoded with postcard; the provided [`Task::decode_request`] and [`Task::decode_answer`]
//! check the size limit first, decode, refuse trailing bytes, then run the shape check, so a
//! decoded value is always one the task accepts.
//!
//! How a miner computes answers lives in the miner crate (its `Solver`), how a validator scores
//! them in the validator crate: a subnet designer adds a task by implementing this trait for
//! new types, without touching the serving code.
//!
//! - [`lm`]: the default task, [`NextByte`] (byte-level next-token prediction).
//! - [`model`]: the bodies of the other requests a miner serves: [`ModelInfo`],
//!   [`WeightsRequest`] / [`WeightsChunk`] and [`Health`].
//!
//! ```
//! use subnet_protocol::task::{NextByte, NextByteAnswer, NextByteRequest, Task};
//!
//! let task = NextByte;
//! let request = NextByteRequest::new(b"hello wor".to_vec(), 2)?;
//! let body = task.encode_request(&request)?;
//! assert_eq!(task.decode_request(&body)?, request);
//!
//! // Uniform distributions over the 256 byte values for the 2 scored positions.
//! let answer = NextByteAnswer::new(vec![-(256f32.ln()); 2 * 256]);
//! let body = task.encode_answer(&answer)?;
//! assert_eq!(task.decode_answer(&request, &body)?, answer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod lm;
pub mod model;

pub use lm::{
    LOG_PROB_SUM_TOLERANCE, MAX_CONTEXT_BYTES, NextByte, NextByteAnswer, NextByteError,
    NextByteRequest, VOCAB_SIZE,
};
pub use model::{
    Health, MAX_METADATA_BYTES, MAX_WEIGHTS_CHUNK_BYTES, ModelInfo, ModelInfoError, WeightsChunk,
    WeightsRequest,
};

/// A task: its name, its request and answer types and their checks.
///
/// Implementations are usually unit structs (the default task is [`NextByte`]); methods take
/// `&self` so that a task may carry parameters.
pub trait Task: Send + Sync + 'static {
    /// Stable name, as written in AINFT manifests (`service.task`) and subnet configs.
    const NAME: &'static str;
    /// Largest encoded request body accepted, in bytes; checked before decoding.
    const MAX_REQUEST_BYTES: usize;
    /// Largest encoded answer body accepted, in bytes; checked before decoding.
    const MAX_ANSWER_BYTES: usize;

    /// What a validator sends.
    type Request: Serialize + DeserializeOwned + Clone + fmt::Debug + PartialEq + Send + Sync;
    /// What a miner answers.
    type Answer: Serialize + DeserializeOwned + Clone + fmt::Debug + PartialEq + Send + Sync;
    /// Why a request or answer has the wrong shape.
    type Error: std::error::Error + Clone + PartialEq + Send + Sync + 'static;

    /// Cheap size and shape checks of a request, run before any expensive work.
    ///
    /// # Errors
    /// The first rule the request breaks.
    fn check_request(&self, request: &Self::Request) -> Result<(), Self::Error>;

    /// Cheap shape checks of an answer to `request`, run before scoring it.
    ///
    /// # Errors
    /// The first rule the answer breaks.
    fn check_answer(
        &self,
        request: &Self::Request,
        answer: &Self::Answer,
    ) -> Result<(), Self::Error>;

    /// Checks `request` and encodes it as an envelope body.
    ///
    /// # Errors
    /// [`TaskCodecError::Invalid`] if the check fails, [`TaskCodecError::Oversized`] if the
    /// encoding is over [`Task::MAX_REQUEST_BYTES`].
    fn encode_request(
        &self,
        request: &Self::Request,
    ) -> Result<Vec<u8>, TaskCodecError<Self::Error>> {
        self.check_request(request)
            .map_err(TaskCodecError::Invalid)?;
        encode(request, Self::MAX_REQUEST_BYTES)
    }

    /// Decodes and checks a request body: size first, then postcard (no trailing bytes), then
    /// [`Task::check_request`].
    ///
    /// # Errors
    /// [`TaskCodecError`]; a miner answers any of them with `BadRequest`.
    fn decode_request(&self, body: &[u8]) -> Result<Self::Request, TaskCodecError<Self::Error>> {
        let request = decode(body, Self::MAX_REQUEST_BYTES)?;
        self.check_request(&request)
            .map_err(TaskCodecError::Invalid)?;
        Ok(request)
    }

    /// Encodes an answer as an envelope body. Answers are not checked here: the miner's own
    /// answers come from its model, and the validator checks them on receipt.
    ///
    /// # Errors
    /// [`TaskCodecError::Oversized`] if the encoding is over [`Task::MAX_ANSWER_BYTES`].
    fn encode_answer(&self, answer: &Self::Answer) -> Result<Vec<u8>, TaskCodecError<Self::Error>> {
        encode(answer, Self::MAX_ANSWER_BYTES)
    }

    /// Decodes an answer body to `request` and checks its shape with [`Task::check_answer`].
    ///
    /// # Errors
    /// [`TaskCodecError`].
    fn decode_answer(
        &self,
        request: &Self::Request,
        body: &[u8],
    ) -> Result<Self::Answer, TaskCodecError<Self::Error>> {
        let answer = decode(body, Self::MAX_ANSWER_BYTES)?;
        self.check_answer(request, &answer)
            .map_err(TaskCodecError::Invalid)?;
        Ok(answer)
    }
}

/// Why a task body could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskCodecError<E> {
    /// The body is longer than the task allows.
    #[error("body of {len} bytes is over the {max}-byte limit")]
    Oversized {
        /// Body length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// postcard could not encode the value.
    #[error("encoding failed")]
    Encode(#[source] postcard::Error),
    /// The bytes are not a postcard encoding of the type.
    #[error("undecodable body")]
    Decode(#[source] postcard::Error),
    /// Bytes left after the value: every value has exactly one encoding.
    #[error("{extra} bytes after the value")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The value decoded but breaks the task's rules.
    #[error("invalid body")]
    Invalid(#[source] E),
}

/// postcard-encodes `value`, refusing encodings over `max` bytes.
///
/// # Errors
/// [`TaskCodecError::Encode`] or [`TaskCodecError::Oversized`].
pub fn encode<T: Serialize, E>(value: &T, max: usize) -> Result<Vec<u8>, TaskCodecError<E>> {
    let bytes = postcard::to_allocvec(value).map_err(TaskCodecError::Encode)?;
    if bytes.len() > max {
        return Err(TaskCodecError::Oversized {
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

/// Decodes a postcard body of at most `max` bytes that holds exactly one `T`.
///
/// # Errors
/// [`TaskCodecError::Oversized`] (checked before decoding), [`TaskCodecError::Decode`] or
/// [`TaskCodecError::TrailingBytes`].
pub fn decode<T: DeserializeOwned, E>(body: &[u8], max: usize) -> Result<T, TaskCodecError<E>> {
    if body.len() > max {
        return Err(TaskCodecError::Oversized {
            len: body.len(),
            max,
        });
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(TaskCodecError::Decode)?;
    if !rest.is_empty() {
        return Err(TaskCodecError::TrailingBytes { extra: rest.len() });
    }
    Ok(value)
}
