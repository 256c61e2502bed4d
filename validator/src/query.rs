//! The network side: task requests to many miners at once with bounded concurrency, and the
//! model info and weights downloads that identity checks need.
//!
//! Every call goes through the protocol's [`Client`], which pins the miner's certificate,
//! signs the request, bounds the call by the request timeout and verifies the answer's
//! signature, addressee and request id. What comes back is classified as a [`QueryResult`];
//! a failed request never fails the step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use subnet_models::MAX_RECORD_BYTES;
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::NeuronInfo;
use subnet_protocol::ids::Uid;
use subnet_protocol::keys::PublicKey;
use subnet_protocol::net::{CallError, CertFingerprint, Client};
use subnet_protocol::task::{
    MAX_WEIGHTS_CHUNK_BYTES, ModelInfo, Task, WeightsChunk, WeightsRequest, decode, encode,
};
use subnet_protocol::verifier::UncheckedAnswer;
use subnet_protocol::{MAX_ANSWER_FRAME_BYTES, RequestKind};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::evaluator::{AnswerOf, Evaluator, RequestOf};

/// A miner to call: its UID and what its axon publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Its UID.
    pub uid: Uid,
    /// Its hotkey (signs its answers).
    pub hotkey: PublicKey,
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Its pinned certificate.
    pub fingerprint: CertFingerprint,
}

impl Target {
    /// The target a metagraph entry publishes, if it has an axon.
    pub fn from_neuron(neuron: &NeuronInfo) -> Option<Self> {
        let axon = neuron.axon?;
        Some(Self {
            uid: neuron.uid,
            hotkey: neuron.hotkey,
            addr: SocketAddr::new(axon.ip, axon.port),
            fingerprint: axon.cert_fingerprint,
        })
    }
}

/// How one request to a miner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryResult {
    /// A verified answer of the right shape.
    Ok,
    /// No answer within the request timeout.
    Timeout,
    /// No connection: unreachable, handshake failed or another certificate than the pinned one.
    Unreachable,
    /// The connection or stream broke (reset, closed) before the answer.
    Stream,
    /// The miner refused with a signed rejection.
    Refused,
    /// An answer that does not verify: bad signature, another signer or request id.
    BadSignature,
    /// A verified answer whose body is garbage: undecodable, or the wrong shape for the task.
    BadAnswer,
}

impl QueryResult {
    /// Every result, for metrics.
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Timeout,
        Self::Unreachable,
        Self::Stream,
        Self::Refused,
        Self::BadSignature,
        Self::BadAnswer,
    ];

    /// The metrics label.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Stream => "stream",
            Self::Refused => "refused",
            Self::BadSignature => "bad_signature",
            Self::BadAnswer => "bad_answer",
        }
    }

    /// The result a failed call counts as.
    pub fn of_error(error: &CallError) -> Self {
        match error {
            CallError::Timeout => Self::Timeout,
            CallError::Connect(_)
            | CallError::FingerprintMismatch { .. }
            | CallError::NotHotkey { .. }
            | CallError::Handshake(_)
            | CallError::Setup(_) => Self::Unreachable,
            CallError::Connection(_) | CallError::Stream(_) | CallError::Encode(_) => Self::Stream,
            CallError::Rejected(_) => Self::Refused,
            CallError::InvalidAnswer(_) => Self::BadSignature,
            CallError::Decode(_) => Self::BadAnswer,
        }
    }
}

/// What a round of task requests brought back.
#[derive(Debug)]
pub(crate) struct Round<A> {
    /// `answers[t][r]`: target `t`'s answer to request `r`, or how it failed.
    pub(crate) answers: Vec<Vec<Result<A, QueryResult>>>,
    /// The longest time an answer took, from sending to received (its signature is verified
    /// afterwards, in a batch with the others).
    pub(crate) slowest: Duration,
}

/// Sends each of `bodies` (the encodings of `requests`) to each target, at most as many at
/// once as `permits` allows (a permit is held from sending to the answer, so waiting for one
/// does not count against a miner's timeout). Requests go out round-robin over the targets so
/// that a slow miner holds at most its share of the permits.
pub(crate) async fn query_all<E: Evaluator>(
    client: &Arc<Client>,
    evaluator: &Arc<E>,
    targets: &[Target],
    requests: &Arc<Vec<RequestOf<E>>>,
    bodies: &Arc<Vec<Vec<u8>>>,
    permits: &Arc<Semaphore>,
) -> Round<AnswerOf<E>> {
    let mut received: Vec<Vec<Result<UncheckedAnswer, QueryResult>>> = targets
        .iter()
        .map(|_| {
            (0..bodies.len())
                .map(|_| Err(QueryResult::Timeout))
                .collect()
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut calls = JoinSet::new();
    for r in 0..bodies.len() {
        for (t, target) in targets.iter().enumerate() {
            let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
                // Closed only at shutdown: the unsent requests stay failed.
                break;
            };
            let client = Arc::clone(client);
            let (bodies, target) = (Arc::clone(bodies), *target);
            calls.spawn(async move {
                let _permit = permit;
                let started = Instant::now();
                let body = bodies.get(r).cloned().unwrap_or_default();
                let outcome = client
                    .call_unchecked(
                        target.addr,
                        target.fingerprint,
                        target.hotkey,
                        RequestKind::Task,
                        body,
                    )
                    .await
                    .map_err(|e| QueryResult::of_error(&e));
                (t, r, outcome, started.elapsed())
            });
        }
        while calls.try_join_next().is_some_and(|done| {
            record(done, &mut received, &mut slowest);
            true
        }) {}
    }
    while let Some(done) = calls.join_next().await {
        record(done, &mut received, &mut slowest);
    }
    Round {
        answers: open_answers(client, evaluator.as_ref(), requests, received),
        slowest,
    }
}

/// Verifies the signatures of every answer received, in batches, and decodes the good ones.
fn open_answers<E: Evaluator>(
    client: &Client,
    evaluator: &E,
    requests: &[RequestOf<E>],
    received: Vec<Vec<Result<UncheckedAnswer, QueryResult>>>,
) -> Vec<Vec<Result<AnswerOf<E>, QueryResult>>> {
    // Answers leave their slots in order and come back verified in the same order.
    let mut unchecked = Vec::new();
    let slots: Vec<Vec<Result<(), QueryResult>>> = received
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|outcome| outcome.map(|answer| unchecked.push(answer)))
                .collect()
        })
        .collect();
    let mut verified = client.verify_answers(unchecked).into_iter();
    slots
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(r, slot)| {
                    slot?;
                    let answer = verified
                        .next()
                        .ok_or(QueryResult::BadAnswer)?
                        .map_err(|e| QueryResult::of_error(&e))?;
                    let request = requests.get(r).ok_or(QueryResult::BadAnswer)?;
                    evaluator
                        .task()
                        .decode_answer(request, answer.body())
                        .map_err(|_| QueryResult::BadAnswer)
                })
                .collect()
        })
        .collect()
}

type Done = (usize, usize, Result<UncheckedAnswer, QueryResult>, Duration);

fn record(
    done: Result<Done, tokio::task::JoinError>,
    received: &mut [Vec<Result<UncheckedAnswer, QueryResult>>],
    slowest: &mut Duration,
) {
    // A panicked call leaves its slot failed.
    let Ok((t, r, outcome, took)) = done else {
        return;
    };
    if outcome.is_ok() {
        *slowest = (*slowest).max(took);
    }
    if let Some(slot) = received.get_mut(t).and_then(|row| row.get_mut(r)) {
        *slot = outcome;
    }
}

/// Why model info or weights could not be had from a miner.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The call failed (timeout, unreachable, refused...): try again later.
    #[error("no answer ({})", .0.as_label())]
    Unanswered(QueryResult),
    /// The miner answered something wrong: proof that it does not serve what it claims.
    #[error("{0}")]
    Invalid(&'static str),
}

async fn call(
    client: &Client,
    target: &Target,
    kind: RequestKind,
    body: Vec<u8>,
) -> Result<Vec<u8>, FetchError> {
    match client
        .call(target.addr, target.fingerprint, target.hotkey, kind, body)
        .await
    {
        Ok(answer) => Ok(answer.into_body()),
        Err(e) => match QueryResult::of_error(&e) {
            // A signed answer that does not decode is the miner's doing.
            QueryResult::BadAnswer => Err(FetchError::Invalid("undecodable answer")),
            other => Err(FetchError::Unanswered(other)),
        },
    }
}

/// Asks a miner for its model info and checks that its id is its manifest's.
///
/// # Errors
/// [`FetchError`].
pub(crate) async fn model_info(client: &Client, target: &Target) -> Result<ModelInfo, FetchError> {
    let body = call(client, target, RequestKind::ModelInfo, Vec::new()).await?;
    let info: ModelInfo = decode::<_, ()>(&body, MAX_ANSWER_FRAME_BYTES)
        .map_err(|_| FetchError::Invalid("undecodable model info"))?;
    info.check()
        .map_err(|_| FetchError::Invalid("model info id is not its manifest's"))?;
    Ok(info)
}

/// Downloads the weights file `info` describes, `chunk_bytes` per request, and checks its
/// BLAKE3 against `info.weights_file_digest`.
///
/// # Errors
/// [`FetchError::Invalid`] for a file over the size limit, a chunk that does not continue the
/// download or a corrupt file; [`FetchError::Unanswered`] for failed calls.
pub(crate) async fn download_weights(
    client: &Client,
    target: &Target,
    info: &ModelInfo,
    chunk_bytes: u32,
) -> Result<Vec<u8>, FetchError> {
    let total = info.weights_bytes;
    if total > MAX_RECORD_BYTES {
        return Err(FetchError::Invalid("weights file over the size limit"));
    }
    let mut file = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut offset = 0u64;
    while offset < total {
        let ask = WeightsRequest {
            offset,
            max_bytes: chunk_bytes.clamp(1, MAX_WEIGHTS_CHUNK_BYTES),
        };
        let body = encode::<_, ()>(&ask, usize::MAX)
            .map_err(|_| FetchError::Invalid("unencodable weights request"))?;
        let body = call(client, target, RequestKind::Weights, body).await?;
        let chunk: WeightsChunk = decode::<_, ()>(&body, MAX_ANSWER_FRAME_BYTES)
            .map_err(|_| FetchError::Invalid("undecodable weights chunk"))?;
        let fits = chunk.offset == offset
            && chunk.total_bytes == total
            && chunk.file_digest == info.weights_file_digest
            && !chunk.data.is_empty()
            && chunk.data.len() <= ask.max_bytes as usize
            && offset.saturating_add(chunk.data.len() as u64) <= total;
        if !fits {
            return Err(FetchError::Invalid(
                "weights chunk does not continue the file",
            ));
        }
        offset = offset.saturating_add(chunk.data.len() as u64);
        file.extend_from_slice(&chunk.data);
    }
    if Digest::of(&file) != info.weights_file_digest {
        return Err(FetchError::Invalid("weights file digest mismatch"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use subnet_protocol::RejectReason;

    use super::*;

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            QueryResult::of_error(&CallError::Timeout),
            QueryResult::Timeout
        );
        assert_eq!(
            QueryResult::of_error(&CallError::Rejected(RejectReason::Busy)),
            QueryResult::Refused
        );
        let labels: std::collections::BTreeSet<_> =
            QueryResult::ALL.iter().map(|r| r.as_label()).collect();
        assert_eq!(labels.len(), QueryResult::ALL.len());
    }
}
