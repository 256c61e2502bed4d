//! [`MinerService`]: the QUIC [`Handler`] of a miner, generic over its [`Task`].
//!
//! The server has already checked each request's size, version, signature, receiver,
//! timestamp and nonce. `admit` then refuses callers that are not registered, hold no
//! validator permit or are over their rate, before any work; `handle` answers the request
//! kinds: task requests go through the [`Batcher`] to the inference thread, model info and
//! weights chunks come from memory, health reports the miner's view and load.

use std::sync::Arc;
use std::time::Instant;

use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::keys::PublicKey;
use subnet_protocol::net::Handler;
use subnet_protocol::task::{Health, Task, WeightsChunk, WeightsRequest, decode, encode};
use subnet_protocol::{RejectReason, RequestKind, VerifiedRequest};

use crate::admission::Admission;
use crate::batch::Batcher;
use crate::metrics::MinerMetrics;

/// Largest weights request body: two varints.
const MAX_WEIGHTS_REQUEST_BYTES: usize = 16;

/// What the miner serves besides its task answers, prepared once at start.
#[derive(Debug)]
pub(crate) struct Served {
    /// The AINFT served.
    pub(crate) ainft: AinftId,
    /// The encoded [`ModelInfo`](subnet_protocol::task::ModelInfo) answer.
    pub(crate) model_info: Vec<u8>,
    /// The weights file.
    pub(crate) weights: Vec<u8>,
    /// BLAKE3 of `weights`.
    pub(crate) weights_digest: Digest,
}

/// The miner's request handler.
pub(crate) struct MinerService<T: Task> {
    pub(crate) task: T,
    pub(crate) admission: Arc<Admission>,
    pub(crate) batcher: Batcher<T>,
    pub(crate) served: Arc<Served>,
    pub(crate) metrics: MinerMetrics,
    /// Largest weights chunk sent, in bytes.
    pub(crate) chunk_bytes: u32,
    pub(crate) max_batch_size: u32,
}

impl<T: Task> MinerService<T> {
    async fn task(&self, request: &VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        let task_request = self.task.decode_request(request.body()).map_err(|e| {
            tracing::debug!(hotkey = %request.sender(), error = %e, "bad task request");
            RejectReason::BadRequest
        })?;
        let stake = self.admission.stake_of(&request.sender());
        let answer = self
            .batcher
            .submit(task_request, stake)?
            .await
            // The inference thread dropped the request: it is shutting down.
            .map_err(|_| RejectReason::Busy)??;
        self.task.encode_answer(&answer).map_err(|e| {
            tracing::warn!(error = %e, "answer not encodable");
            RejectReason::Internal
        })
    }

    fn weights(&self, body: &[u8]) -> Result<Vec<u8>, RejectReason> {
        let ask: WeightsRequest = decode::<_, ()>(body, MAX_WEIGHTS_REQUEST_BYTES)
            .map_err(|_| RejectReason::BadRequest)?;
        let weights = &self.served.weights;
        let total = weights.len() as u64;
        if ask.offset > total || (ask.max_bytes == 0 && ask.offset < total) {
            return Err(RejectReason::BadRequest);
        }
        // offset ≤ total = weights.len(), so it fits in usize.
        let start = usize::try_from(ask.offset).map_err(|_| RejectReason::BadRequest)?;
        let len = ask.max_bytes.min(self.chunk_bytes) as usize;
        let end = start.saturating_add(len).min(weights.len());
        let chunk = WeightsChunk {
            offset: ask.offset,
            total_bytes: total,
            file_digest: self.served.weights_digest,
            data: weights.get(start..end).unwrap_or_default().to_vec(),
        };
        encode::<_, ()>(&chunk, usize::MAX).map_err(|_| RejectReason::Internal)
    }

    fn health(&self) -> Result<Vec<u8>, RejectReason> {
        let health = Health {
            ainft: self.served.ainft,
            block: self.admission.block(),
            queue_depth: u32::try_from(self.batcher.depth()).unwrap_or(u32::MAX),
            max_batch_size: self.max_batch_size,
        };
        encode::<_, ()>(&health, usize::MAX).map_err(|_| RejectReason::Internal)
    }
}

impl<T: Task> Handler for MinerService<T> {
    fn screen(&self, sender: &PublicKey, _kind: RequestKind) -> Result<(), RejectReason> {
        self.admission.screen(sender)
    }

    fn admit(&self, sender: &PublicKey, _kind: RequestKind) -> Result<(), RejectReason> {
        self.admission.admit(sender, Instant::now()).map(|_| ())
    }

    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        let started = Instant::now();
        let kind = request.kind();
        let result = match kind {
            RequestKind::Task => self.task(&request).await,
            RequestKind::ModelInfo if request.body().is_empty() => {
                Ok(self.served.model_info.clone())
            }
            RequestKind::Health if request.body().is_empty() => self.health(),
            RequestKind::ModelInfo | RequestKind::Health => Err(RejectReason::BadRequest),
            RequestKind::Weights => self.weights(request.body()),
        };
        self.metrics.request(
            kind,
            result.as_ref().map(|_| ()).map_err(|r| *r),
            started.elapsed(),
        );
        result
    }

    fn on_reject(&self, reason: RejectReason) {
        self.metrics.rejection(reason);
    }
}
