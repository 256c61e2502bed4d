//! The AINFT registry: `RegisterAinft`.

use subnet_protocol::ainft::AinftManifest;
use subnet_protocol::chain::TxError;
use subnet_protocol::ids::{BlockNumber, Rao};
use subnet_protocol::keys::PublicKey;

use super::Created;
use crate::state::{AinftEntry, State};

/// `RegisterAinft`: records the manifest under its id, owned by the signer (who is credited
/// with its emission from then on). Lineage is acyclic by construction: a parent must already
/// exist, and an id is the hash of a manifest that names its parent.
///
/// Errors, in order: [`TxError::InvalidManifest`], [`TxError::AinftExists`],
/// [`TxError::UnknownAinft`] (the parent).
pub(super) fn register(
    state: &mut State,
    signer: &PublicKey,
    manifest: &AinftManifest,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    manifest.validate().map_err(|e| TxError::InvalidManifest {
        reason: e.to_string(),
    })?;
    let id = manifest.id();
    if state.ainfts.contains(&id) {
        return Err(TxError::AinftExists { ainft: id });
    }
    if let Some(parent) = &manifest.parent
        && !state.ainfts.contains(&parent.id)
    {
        return Err(TxError::UnknownAinft { ainft: parent.id });
    }
    state.ainfts.insert(
        id,
        AinftEntry {
            manifest: manifest.clone(),
            owner: *signer,
            registered_at: at,
            earned: Rao::ZERO,
            royalties_received: Rao::ZERO,
            royalties_paid: Rao::ZERO,
        },
    );
    Ok(Some(Created::Ainft(id)))
}
