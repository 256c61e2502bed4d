//! Bodies of the requests a miner serves besides its task: model info, weights download and
//! health.
//!
//! - `ModelInfoRequest` (empty body) → [`ModelInfo`]: the AINFT manifest of the served model,
//!   its id, and what a download of its weights will be.
//! - `WeightsRequest` ([`WeightsRequest`]: an offset and a length) → [`WeightsChunk`]: one slice
//!   of the weights file. A caller downloads the file chunk by chunk (each chunk is one
//!   request, so each is signed and rate-limited like any other), checks the BLAKE3 of the
//!   whole file against [`WeightsChunk::file_digest`], then decodes it and checks the weights
//!   digest (over tensor data) against the manifest's `model.weights_digest`.
//! - `HealthRequest` (empty body) → [`Health`].
//!
//! All bodies are postcard; decode them with [`decode`](super::decode) and a size limit.

use serde::{Deserialize, Serialize};

use crate::ainft::{AinftId, AinftManifest, Digest};
use crate::ids::BlockNumber;

/// Largest weights chunk a miner sends, in bytes (8 MiB): well under the default answer frame
/// limit.
pub const MAX_WEIGHTS_CHUNK_BYTES: u32 = 8 << 20;

/// Largest [`ModelInfo::metadata`], in bytes.
pub const MAX_METADATA_BYTES: usize = 64 << 10;

/// The served model: its AINFT and its weights file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The AINFT id the miner is registered with.
    pub id: AinftId,
    /// Its manifest (`id` is this manifest's [`AinftManifest::id`]).
    pub manifest: AinftManifest,
    /// Size of the weights file, in bytes.
    pub weights_bytes: u64,
    /// BLAKE3 of the weights file's bytes (a transfer check; identity is the manifest's
    /// weights digest over tensor data).
    pub weights_file_digest: Digest,
    /// How the weights file is encoded (for example `burn-0.21 named-mpk f32`).
    pub weights_format: String,
    /// The model crate's metadata for the weights file (JSON, at most [`MAX_METADATA_BYTES`]):
    /// what a caller needs to decode it, such as the architecture's dimensions.
    pub metadata: String,
}

/// Why a [`ModelInfo`] is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelInfoError {
    /// `id` is not the manifest's id.
    #[error("id {claimed} is not the manifest's id {actual}")]
    IdMismatch {
        /// The id sent.
        claimed: AinftId,
        /// The manifest's id.
        actual: AinftId,
    },
    /// The metadata is over [`MAX_METADATA_BYTES`].
    #[error("metadata of {len} bytes is over the {MAX_METADATA_BYTES}-byte limit")]
    MetadataTooLong {
        /// Its length.
        len: usize,
    },
}

impl ModelInfo {
    /// Checks that `id` is the manifest's id and the metadata is within its limit.
    ///
    /// # Errors
    /// [`ModelInfoError`].
    pub fn check(&self) -> Result<(), ModelInfoError> {
        let actual = self.manifest.id();
        if actual != self.id {
            return Err(ModelInfoError::IdMismatch {
                claimed: self.id,
                actual,
            });
        }
        if self.metadata.len() > MAX_METADATA_BYTES {
            return Err(ModelInfoError::MetadataTooLong {
                len: self.metadata.len(),
            });
        }
        Ok(())
    }
}

/// Ask for `max_bytes` of the weights file from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsRequest {
    /// First byte wanted.
    pub offset: u64,
    /// Most bytes wanted; the miner may send fewer (its own chunk limit) but at least one
    /// unless `offset` is at the end.
    pub max_bytes: u32,
}

/// One slice of the weights file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsChunk {
    /// Where `data` starts in the file.
    pub offset: u64,
    /// Size of the whole file, in bytes.
    pub total_bytes: u64,
    /// BLAKE3 of the whole file.
    pub file_digest: Digest,
    /// The bytes `offset..offset + data.len()`.
    pub data: Vec<u8>,
}

/// A miner's liveness and load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The AINFT served.
    pub ainft: AinftId,
    /// The chain height of the miner's latest metagraph view.
    pub block: BlockNumber,
    /// Task requests waiting for inference.
    pub queue_depth: u32,
    /// Most task requests run in one batch.
    pub max_batch_size: u32,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ainft::{DataSource, ModelSpec, ServiceSpec, StateLocation};
    use crate::ids::NetUid;
    use crate::task::{TaskCodecError, decode, encode};

    fn manifest() -> AinftManifest {
        AinftManifest {
            data: DataSource {
                uri: "file:///data".into(),
                digest: Digest::of(b"data"),
            },
            model: ModelSpec {
                name: "m".into(),
                architecture: "a".into(),
                hyperparameters: BTreeMap::new(),
                training_steps: 1,
                weights_digest: Digest::of(b"w"),
            },
            service: ServiceSpec {
                netuid: NetUid(1),
                task: "next-byte".into(),
                protocol_version: 1,
            },
            state: StateLocation {
                chain: "local".into(),
                genesis_hash: Digest::default(),
                netuid: NetUid(1),
            },
            parent: None,
        }
    }

    #[test]
    fn model_info_round_trips_and_checks_its_id() {
        let manifest = manifest();
        let info = ModelInfo {
            id: manifest.id(),
            manifest,
            weights_bytes: 10,
            weights_file_digest: Digest::of(b"file"),
            weights_format: "f".into(),
            metadata: "{}".into(),
        };
        assert_eq!(info.check(), Ok(()));
        let body = encode::<_, ()>(&info, 1 << 20).unwrap();
        assert_eq!(decode::<ModelInfo, ()>(&body, 1 << 20).unwrap(), info);
        let mut wrong = info.clone();
        wrong.id = AinftId::from_bytes([0; 32]);
        assert!(matches!(
            wrong.check(),
            Err(ModelInfoError::IdMismatch { .. })
        ));
        let mut long = info;
        long.metadata = "x".repeat(MAX_METADATA_BYTES + 1);
        assert!(matches!(
            long.check(),
            Err(ModelInfoError::MetadataTooLong { .. })
        ));
    }

    #[test]
    fn chunks_are_compact() {
        let chunk = WeightsChunk {
            offset: 0,
            total_bytes: 1000,
            file_digest: Digest::of(b"f"),
            data: vec![1; 1000],
        };
        let body = encode::<_, ()>(&chunk, 2000).unwrap();
        assert!(body.len() < 1000 + 48, "{}", body.len());
        assert_eq!(decode::<WeightsChunk, ()>(&body, 2000).unwrap(), chunk);
        assert!(matches!(
            decode::<WeightsChunk, ()>(&body, 100),
            Err(TaskCodecError::Oversized { .. })
        ));
    }
}
