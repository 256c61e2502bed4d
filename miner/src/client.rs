//! Calling a miner: typed requests over a [`Client`], and downloading and checking its
//! weights. Validators and tests use these.

use std::net::SocketAddr;

use subnet_models::{ByteLm, CheckpointError, CheckpointMeta, Cpu, load_weights};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::NeuronInfo;
use subnet_protocol::keys::PublicKey;
use subnet_protocol::net::{CallError, CertFingerprint, Client};
use subnet_protocol::task::{
    Health, MAX_WEIGHTS_CHUNK_BYTES, ModelInfo, ModelInfoError, Task, TaskCodecError, WeightsChunk,
    WeightsRequest, decode, encode,
};
use subnet_protocol::{MAX_ANSWER_FRAME_BYTES, RejectReason, RequestKind};

use crate::manifest::model_spec;

/// Where a miner serves and who it is: enough to call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerTarget {
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Its pinned certificate.
    pub fingerprint: CertFingerprint,
    /// Its hotkey (signs its answers).
    pub hotkey: PublicKey,
}

impl MinerTarget {
    /// The target a metagraph entry publishes, if it has an axon.
    pub fn from_neuron(neuron: &NeuronInfo) -> Option<Self> {
        let axon = neuron.axon?;
        Some(Self {
            addr: SocketAddr::new(axon.ip, axon.port),
            fingerprint: axon.cert_fingerprint,
            hotkey: neuron.hotkey,
        })
    }
}

/// A call to a miner failed.
#[derive(Debug, thiserror::Error)]
pub enum MinerCallError<E: std::error::Error + 'static = std::convert::Infallible> {
    /// The QUIC call failed or the miner refused ([`CallError::Rejected`]).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The request could not be encoded, or the answer is not a valid answer to it.
    #[error("bad task body")]
    Body(#[source] TaskCodecError<E>),
    /// A model info answer that is inconsistent.
    #[error(transparent)]
    ModelInfo(#[from] ModelInfoError),
    /// A weights chunk that does not continue the download (wrong offset, size or digest, or
    /// empty before the end).
    #[error("weights chunk at {offset} does not continue the download")]
    BadChunk {
        /// Offset asked for.
        offset: u64,
    },
    /// The downloaded file does not hash to the digest announced.
    #[error("weights file digest {actual} is not the announced {expected}")]
    FileDigest {
        /// Announced.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The weights could not be decoded, or they are not the manifest's.
    #[error("weights")]
    Weights(#[source] CheckpointError),
    /// The metadata does not describe the manifest's model.
    #[error("metadata does not match the manifest")]
    MetadataMismatch,
}

impl<E: std::error::Error + 'static> MinerCallError<E> {
    /// The miner's reason, if it refused the request (a verified error answer).
    pub fn rejection(&self) -> Option<RejectReason> {
        match self {
            Self::Call(CallError::Rejected(reason)) => Some(*reason),
            _ => None,
        }
    }
}

/// Sends `request` of task `task` and returns the checked answer.
///
/// # Errors
/// [`MinerCallError::Call`] (including the miner's typed rejections),
/// [`MinerCallError::Body`] for an invalid request or answer.
pub async fn call_task<T: Task>(
    client: &Client,
    target: &MinerTarget,
    task: &T,
    request: &T::Request,
) -> Result<T::Answer, MinerCallError<T::Error>> {
    let body = task.encode_request(request).map_err(MinerCallError::Body)?;
    let answer = client
        .call(
            target.addr,
            target.fingerprint,
            target.hotkey,
            RequestKind::Task,
            body,
        )
        .await?;
    task.decode_answer(request, answer.body())
        .map_err(MinerCallError::Body)
}

/// Asks for the miner's model info and checks that its id is its manifest's.
///
/// # Errors
/// [`MinerCallError`].
pub async fn model_info(
    client: &Client,
    target: &MinerTarget,
) -> Result<ModelInfo, MinerCallError> {
    let answer = client
        .call(
            target.addr,
            target.fingerprint,
            target.hotkey,
            RequestKind::ModelInfo,
            Vec::new(),
        )
        .await?;
    let info: ModelInfo =
        decode(answer.body(), MAX_ANSWER_FRAME_BYTES).map_err(MinerCallError::Body)?;
    info.check()?;
    Ok(info)
}

/// Asks for the miner's health.
///
/// # Errors
/// [`MinerCallError`].
pub async fn health(client: &Client, target: &MinerTarget) -> Result<Health, MinerCallError> {
    let answer = client
        .call(
            target.addr,
            target.fingerprint,
            target.hotkey,
            RequestKind::Health,
            Vec::new(),
        )
        .await?;
    decode(answer.body(), MAX_ANSWER_FRAME_BYTES).map_err(MinerCallError::Body)
}

/// Downloads the weights file `info` describes, `chunk_bytes` per request (the miner may send
/// less), and checks its BLAKE3 against `info.weights_file_digest`.
///
/// # Errors
/// [`MinerCallError::BadChunk`] for a chunk that does not fit, [`MinerCallError::FileDigest`]
/// for a corrupt file, [`MinerCallError::Call`] for failed calls.
pub async fn download_weights(
    client: &Client,
    target: &MinerTarget,
    info: &ModelInfo,
    chunk_bytes: u32,
) -> Result<Vec<u8>, MinerCallError> {
    let total = info.weights_bytes;
    let mut file = Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1 << 30));
    let mut offset = 0u64;
    while offset < total {
        let ask = WeightsRequest {
            offset,
            max_bytes: chunk_bytes.clamp(1, MAX_WEIGHTS_CHUNK_BYTES),
        };
        let answer = client
            .call(
                target.addr,
                target.fingerprint,
                target.hotkey,
                RequestKind::Weights,
                encode(&ask, usize::MAX).map_err(MinerCallError::Body)?,
            )
            .await?;
        let chunk: WeightsChunk =
            decode(answer.body(), MAX_ANSWER_FRAME_BYTES).map_err(MinerCallError::Body)?;
        let fits = chunk.offset == offset
            && chunk.total_bytes == total
            && chunk.file_digest == info.weights_file_digest
            && !chunk.data.is_empty()
            && chunk.data.len() <= ask.max_bytes as usize;
        if !fits {
            return Err(MinerCallError::BadChunk { offset });
        }
        offset = offset.saturating_add(chunk.data.len() as u64);
        if offset > total {
            return Err(MinerCallError::BadChunk { offset });
        }
        file.extend_from_slice(&chunk.data);
    }
    let actual = Digest::of(&file);
    if actual != info.weights_file_digest {
        return Err(MinerCallError::FileDigest {
            expected: info.weights_file_digest,
            actual,
        });
    }
    Ok(file)
}

/// Decodes a downloaded weights file of a [`ByteLm`] on the CPU and checks it is the model
/// the manifest names: the metadata must describe the manifest's model (name, architecture,
/// dimensions, training steps, weights digest) and the decoded weights must have that digest.
///
/// # Errors
/// [`MinerCallError::MetadataMismatch`] or [`MinerCallError::Weights`].
pub fn decode_weights(info: &ModelInfo, file: Vec<u8>) -> Result<ByteLm<Cpu>, MinerCallError> {
    let meta: CheckpointMeta =
        serde_json::from_str(&info.metadata).map_err(|_| MinerCallError::MetadataMismatch)?;
    if model_spec(&meta) != info.manifest.model {
        return Err(MinerCallError::MetadataMismatch);
    }
    load_weights::<Cpu>(&meta, file, &Default::default()).map_err(MinerCallError::Weights)
}
