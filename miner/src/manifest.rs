//! The AINFT manifest of a checkpoint: what names the served model on chain.

use std::collections::BTreeMap;

use subnet_models::CheckpointMeta;
use subnet_protocol::PROTOCOL_VERSION;
use subnet_protocol::ainft::{
    AinftManifest, DataSource, Digest, ModelSpec, ServiceSpec, StateLocation,
};
use subnet_protocol::ids::NetUid;

/// Chain name written in manifests for the local chain (the node or its embedded ledger).
pub const LOCAL_CHAIN: &str = "local";

/// The model part of a checkpoint's manifest: name, architecture, its dimensions and size as
/// text (`d_model`, `n_heads`, `n_layers`, `d_ff`, `context_len`, `num_params`,
/// `training_seed`), training steps and the weights digest over tensor data.
pub fn model_spec(meta: &CheckpointMeta) -> ModelSpec {
    let c = &meta.config;
    let hyperparameters = BTreeMap::from(
        [
            ("d_model", c.d_model.to_string()),
            ("n_heads", c.n_heads.to_string()),
            ("n_layers", c.n_layers.to_string()),
            ("d_ff", c.d_ff.to_string()),
            ("context_len", c.context_len.to_string()),
            ("num_params", meta.num_params.to_string()),
            ("training_seed", meta.training.seed.to_string()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    ModelSpec {
        name: meta.name.clone(),
        architecture: meta.architecture.clone(),
        hyperparameters,
        training_steps: meta.training.steps,
        weights_digest: Digest::from_bytes(meta.weights_digest.0),
    }
}

/// The training data part: `uri` (or, by default, the metadata's description of its source)
/// and the BLAKE3 digest of the training split.
pub fn data_source(meta: &CheckpointMeta, uri: Option<&str>) -> DataSource {
    DataSource {
        uri: uri.unwrap_or(&meta.data.source).to_owned(),
        digest: Digest::from_bytes(meta.data.digest.0),
    }
}

/// The full manifest of a model serving `task` on `netuid` of the local chain whose genesis
/// hash is `genesis_hash`. No parent: a checkpoint trained from scratch.
pub fn manifest(
    data: DataSource,
    model: ModelSpec,
    task: &str,
    netuid: NetUid,
    genesis_hash: Digest,
) -> AinftManifest {
    AinftManifest {
        data,
        model,
        service: ServiceSpec {
            netuid,
            task: task.to_owned(),
            protocol_version: u32::from(PROTOCOL_VERSION),
        },
        state: StateLocation {
            chain: LOCAL_CHAIN.to_owned(),
            genesis_hash,
            netuid,
        },
        parent: None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use subnet_protocol::task::{NextByte, Task};

    use super::*;

    fn tiny_meta() -> CheckpointMeta {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/checkpoints/tiny.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn manifest_names_the_checkpoint() {
        let meta = tiny_meta();
        let m = manifest(
            data_source(&meta, None),
            model_spec(&meta),
            NextByte::NAME,
            NetUid(2),
            Digest::of(b"genesis"),
        );
        m.validate().unwrap();
        assert_eq!(m.model.weights_digest.as_bytes(), &meta.weights_digest.0);
        assert_eq!(m.data.digest.as_bytes(), &meta.data.digest.0);
        assert_eq!(m.model.training_steps, meta.training.steps);
        assert_eq!(m.model.hyperparameters["context_len"], "64");
        assert_eq!(
            m.model.hyperparameters["num_params"],
            meta.num_params.to_string()
        );
        assert_eq!(m.service.task, "next-byte");
        // Another subnet, chain or data URI is another AINFT.
        let other = manifest(
            data_source(&meta, Some("deb:jargon-text")),
            model_spec(&meta),
            NextByte::NAME,
            NetUid(2),
            Digest::of(b"genesis"),
        );
        assert_ne!(m.id(), other.id());
    }
}
