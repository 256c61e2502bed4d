//! [`Snapshot`]: chain state at one block, read through storage entries named in the runtime's
//! own metadata, many keys per request.

use std::collections::HashMap;

use subxt::OnlineClientAtBlock;
use subxt::SubstrateConfig;
use subxt::config::RpcConfigFor;
use subxt::ext::frame_decode::storage::{IntoDecodableValues, IntoEncodableValues};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::rpcs::LegacyRpcMethods;
use subxt::storage::{PrefixOf, dynamic};
use subxt::utils::H256;

use crate::error::ChainError;

use super::client::{protocol_error, rpc_error};

/// Most keys asked for in one `state_queryStorageAt` (nodes cap request sizes).
const KEYS_PER_QUERY: usize = 512;

/// The state at one block: storage by pallet and entry name, decoded with the block's metadata.
pub(crate) struct Snapshot {
    pub(crate) at: OnlineClientAtBlock<SubstrateConfig>,
    pub(crate) rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("block", &self.at.block_number())
            .finish_non_exhaustive()
    }
}

/// The `Pallet.Entry` name of a storage item, for errors.
fn name(pallet: &str, entry: &str) -> String {
    format!("{pallet}.{entry}")
}

impl Snapshot {
    /// The block number.
    pub(crate) fn number(&self) -> u64 {
        self.at.block_number()
    }

    /// The block hash.
    pub(crate) fn hash(&self) -> H256 {
        self.at.block_hash()
    }

    /// Whether the runtime has this storage entry.
    pub(crate) fn has(&self, pallet: &str, entry: &str) -> bool {
        self.at
            .metadata_ref()
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .is_some()
    }

    /// The full key of one value; [`ChainError::Unsupported`] if the runtime lacks the entry or
    /// the key has another shape.
    pub(crate) fn key<K: IntoEncodableValues + IntoDecodableValues>(
        &self,
        pallet: &str,
        entry: &str,
        parts: K,
    ) -> Result<Vec<u8>, ChainError> {
        let unsupported = |_| ChainError::Unsupported {
            call: name(pallet, entry),
        };
        self.at
            .storage()
            .entry(dynamic::<K, subxt::dynamic::Value>(pallet, entry))
            .map_err(unsupported)?
            .fetch_key(parts)
            .map_err(unsupported)
    }

    /// The value type and default of an entry; [`ChainError::Unsupported`] if absent.
    fn entry_meta(&self, pallet: &str, entry: &str) -> Result<(u32, Option<Vec<u8>>), ChainError> {
        let meta = self
            .at
            .metadata_ref()
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .ok_or_else(|| ChainError::Unsupported {
                call: name(pallet, entry),
            })?;
        Ok((meta.value_ty(), meta.default_value().map(<[u8]>::to_vec)))
    }

    /// Raw values at `keys` (absent keys are missing from the map), [`KEYS_PER_QUERY`] keys
    /// per request.
    pub(crate) async fn query(
        &self,
        keys: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>, ChainError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sets = self
                .rpc
                .state_query_storage_at(chunk.iter().map(Vec::as_slice), Some(self.hash()))
                .await
                .map_err(rpc_error)?;
            for set in sets {
                for (key, value) in set.changes {
                    if let Some(value) = value {
                        found.insert(key.0, value.0);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Decodes `bytes` (or the entry's default when `None`) as the entry's value type.
    pub(crate) fn decode<V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        bytes: Option<&Vec<u8>>,
    ) -> Result<Option<V>, ChainError> {
        let (value_ty, default) = self.entry_meta(pallet, entry)?;
        let Some(bytes) = bytes.or(default.as_ref()) else {
            return Ok(None);
        };
        V::decode_as_type(
            &mut bytes.as_slice(),
            value_ty,
            self.at.metadata_ref().types(),
        )
        .map(Some)
        .map_err(|e| protocol_error(format!("decoding {}: {e}", name(pallet, entry))))
    }

    /// Values of one entry at many keys (built by [`Self::key`]), in order; the entry's
    /// default where no value is stored (`None` if it has no default).
    pub(crate) async fn fetch_many<V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<V>>, ChainError> {
        self.entry_meta(pallet, entry)?;
        let found = self.query(keys).await?;
        keys.iter()
            .map(|key| self.decode(pallet, entry, found.get(key)))
            .collect()
    }

    /// One value (or the entry's default).
    pub(crate) async fn fetch<K: IntoEncodableValues + IntoDecodableValues, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        parts: K,
    ) -> Result<Option<V>, ChainError> {
        let key = self.key(pallet, entry, parts)?;
        let mut values = self.fetch_many(pallet, entry, &[key]).await?;
        Ok(values.pop().flatten())
    }

    /// Like [`Self::fetch`], but an entry the runtime lacks reads as `None`.
    pub(crate) async fn fetch_opt<K: IntoEncodableValues + IntoDecodableValues, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        parts: K,
    ) -> Result<Option<V>, ChainError> {
        if !self.has(pallet, entry) {
            return Ok(None);
        }
        self.fetch(pallet, entry, parts).await
    }

    /// Every value of a map under the key prefix `prefix`, with the key part at `part` (the
    /// map's key after the prefix, e.g. the UID of `Keys(netuid, uid)`) decoded as `P`.
    pub(crate) async fn iter<K, Pre, P, V>(
        &self,
        pallet: &str,
        entry: &str,
        prefix: Pre,
        part: usize,
    ) -> Result<Vec<(P, V)>, ChainError>
    where
        K: IntoEncodableValues + IntoDecodableValues,
        Pre: PrefixOf<K>,
        P: DecodeAsType,
        V: DecodeAsType,
    {
        let unsupported = |_| ChainError::Unsupported {
            call: name(pallet, entry),
        };
        let storage = self.at.storage();
        let entry_client = storage
            .entry(dynamic::<K, V>(pallet, entry))
            .map_err(unsupported)?;
        let mut stream = entry_client.iter(prefix).await.map_err(rpc_error)?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(rpc_error)?;
            let key = item
                .key()
                .map_err(|e| protocol_error(format!("key of {}: {e}", name(pallet, entry))))?;
            let part = key
                .part(part)
                .and_then(|p| p.decode_as::<P>().transpose())
                .transpose()
                .map_err(|e| protocol_error(format!("key of {}: {e}", name(pallet, entry))))?
                .ok_or_else(|| {
                    protocol_error(format!(
                        "key of {} has no readable part {part} (hashed key)",
                        name(pallet, entry)
                    ))
                })?;
            let value = item
                .value()
                .decode_as::<V>()
                .map_err(|e| protocol_error(format!("decoding {}: {e}", name(pallet, entry))))?;
            out.push((part, value));
        }
        Ok(out)
    }
}
