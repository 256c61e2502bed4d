//! Per-AINFT emissions on Bittensor: each UID's last-epoch emission joined with the AINFT id
//! its hotkey published.

use std::collections::BTreeMap;

use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::Metagraph;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;

use super::client::{SubtensorChain, deadline};
use super::state;
use crate::error::ChainError;

/// What one AINFT earned in a subnet's last epoch, summed over the UIDs that published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AinftEmission {
    /// The AINFT, as published in the hotkeys' commitments (a claim, not a registry entry).
    pub ainft: AinftId,
    /// The UIDs that named it, with their hotkeys.
    pub uids: Vec<(Uid, PublicKey)>,
    /// Their emission in the last epoch (rao; on dynamic-TAO runtimes, the subnet's alpha).
    pub emission: Rao,
}

/// A subnet's last-epoch emissions by AINFT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AinftEmissions {
    /// The subnet.
    pub netuid: NetUid,
    /// Block the metagraph was read at.
    pub block: BlockNumber,
    /// Block of the epoch these emissions come from, if one ran.
    pub epoch_block: Option<BlockNumber>,
    /// Per AINFT, by id.
    pub ainfts: Vec<AinftEmission>,
    /// Emission of UIDs that published no AINFT (validators, other software).
    pub unattributed: Rao,
    /// Sum of every UID's emission: the sum over `ainfts` plus `unattributed`.
    pub total: Rao,
}

/// Groups a metagraph's emissions by the AINFT each UID serves.
pub fn join(metagraph: &Metagraph) -> AinftEmissions {
    let mut by_id: BTreeMap<AinftId, AinftEmission> = BTreeMap::new();
    let (mut unattributed, mut total) = (Rao::ZERO, Rao::ZERO);
    for n in &metagraph.neurons {
        total = total.saturating_add(n.emission);
        match n.ainft {
            Some(id) => {
                let entry = by_id.entry(id).or_insert_with(|| AinftEmission {
                    ainft: id,
                    uids: Vec::new(),
                    emission: Rao::ZERO,
                });
                entry.uids.push((n.uid, n.hotkey));
                entry.emission = entry.emission.saturating_add(n.emission);
            }
            None => unattributed = unattributed.saturating_add(n.emission),
        }
    }
    AinftEmissions {
        netuid: metagraph.netuid,
        block: metagraph.block,
        epoch_block: metagraph.last_epoch_block,
        ainfts: by_id.into_values().collect(),
        unattributed,
        total,
    }
}

impl SubtensorChain {
    /// The last epoch's emission of `netuid`, by the AINFT each UID published in its
    /// commitment. See `SUBTENSOR.md` for what this does and does not guarantee.
    ///
    /// # Errors
    /// [`ChainError::NotFound`] if no such subnet; transport errors.
    pub async fn ainft_emissions(&self, netuid: NetUid) -> Result<AinftEmissions, ChainError> {
        deadline(self.config().request_timeout, async {
            let snap = self.snapshot().await?;
            Ok(join(&state::metagraph(&snap, netuid).await?))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use subnet_protocol::chain::NeuronInfo;

    use super::*;

    fn neuron(uid: u16, ainft: Option<u8>, emission: u64) -> NeuronInfo {
        NeuronInfo {
            uid: Uid(uid),
            hotkey: PublicKey::from_bytes([uid as u8; 32]),
            coldkey: PublicKey::from_bytes([0; 32]),
            ainft: ainft.map(|b| AinftId::from_bytes([b; 32])),
            axon: None,
            stake: Rao::ZERO,
            validator_permit: false,
            last_update: BlockNumber(0),
            block_at_registration: BlockNumber(0),
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            emission: Rao(emission),
            total_emission: Rao(emission),
        }
    }

    #[test]
    fn joins_emissions_by_published_ainft() {
        let metagraph = Metagraph {
            netuid: NetUid(3),
            block: BlockNumber(100),
            last_epoch_block: Some(BlockNumber(99)),
            neurons: vec![
                neuron(0, None, 500),
                neuron(1, Some(7), 100),
                neuron(2, Some(9), 40),
                neuron(3, Some(7), 60),
            ],
        };
        let joined = join(&metagraph);
        assert_eq!(joined.total, Rao(700));
        assert_eq!(joined.unattributed, Rao(500));
        assert_eq!(joined.ainfts.len(), 2);
        let seven = &joined.ainfts[0];
        assert_eq!(seven.ainft, AinftId::from_bytes([7; 32]));
        assert_eq!(seven.emission, Rao(160));
        assert_eq!(
            seven.uids.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
            vec![Uid(1), Uid(3)]
        );
        let attributed: u64 = joined.ainfts.iter().map(|a| a.emission.get()).sum();
        assert_eq!(attributed + joined.unattributed.get(), joined.total.get());
    }
}
