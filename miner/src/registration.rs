//! Getting the miner onto the chain: its AINFT, its hotkey's UID, the UID's AINFT and its
//! axon, each written only if the chain does not already hold it.

use subnet_chain_client::{Chain, ChainError, ReceiptExt};
use subnet_protocol::ainft::{AinftId, AinftManifest};
use subnet_protocol::chain::{AxonInfo, Metagraph, TxError};
use subnet_protocol::ids::{NetUid, Uid};
use subnet_protocol::keys::Keypair;

/// A write the miner made at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainWrite {
    /// `RegisterAinft`: the chain did not know the model.
    RegisteredAinft,
    /// `Register`: the hotkey took a UID (paying the subnet's burn).
    RegisteredHotkey,
    /// `SetNeuronAinft`: the UID pointed at another model.
    SetNeuronAinft,
    /// `ServeAxon`: the published address or certificate differed.
    ServedAxon,
}

/// Where the miner stands on chain after [`ensure_registered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The hotkey's UID.
    pub uid: Uid,
    /// The AINFT it serves.
    pub ainft: AinftId,
    /// The writes made, in order; empty when everything was already in place.
    pub writes: Vec<ChainWrite>,
    /// The metagraph read after the writes.
    pub metagraph: Metagraph,
}

/// Registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// A chain call failed at `step`.
    #[error("chain call failed while {step}")]
    Chain {
        /// What the miner was doing.
        step: &'static str,
        /// Why.
        #[source]
        source: ChainError,
    },
    /// After registering, the hotkey is still not in the metagraph (pruned at once by a full
    /// subnet, or the chain is inconsistent).
    #[error("hotkey {hotkey} is not registered on subnet {netuid} after registering")]
    NotInMetagraph {
        /// The hotkey.
        hotkey: subnet_protocol::keys::PublicKey,
        /// The subnet.
        netuid: NetUid,
    },
}

fn at(step: &'static str) -> impl FnOnce(ChainError) -> RegistrationError {
    move |source| RegistrationError::Chain { step, source }
}

/// `SetNeuronAinft`: the hotkey's UID now serves `ainft`. A chain that cannot record it (a
/// subtensor runtime without the Commitments pallet) gets a warning, and the miner serves on.
async fn point_uid_at<C: Chain>(
    chain: &C,
    hotkey: &Keypair,
    netuid: NetUid,
    ainft: AinftId,
    writes: &mut Vec<ChainWrite>,
) -> Result<(), RegistrationError> {
    match chain.set_neuron_ainft(hotkey, netuid, Some(ainft)).await {
        Ok(_) => {
            writes.push(ChainWrite::SetNeuronAinft);
            tracing::info!(%ainft, "UID now serves this AINFT");
            Ok(())
        }
        Err(ChainError::Unsupported { call }) => {
            tracing::warn!(%call, %ainft, "the chain cannot record which AINFT this UID serves");
            Ok(())
        }
        Err(e) => Err(at("pointing the UID at the AINFT")(e)),
    }
}

/// Makes the chain hold what the miner serves, writing only what is missing or different:
/// 1. the AINFT of `manifest` (signed by `coldkey`, its owner);
/// 2. a UID for `hotkey` on `netuid`, registered with that AINFT (the coldkey pays the burn);
///    if the hotkey already has a UID with another AINFT, `SetNeuronAinft` (by the hotkey);
/// 3. the axon `axon`, if the UID publishes another one (by the hotkey).
///
/// A restart with the same model, keys and axon writes nothing.
///
/// # Errors
/// [`RegistrationError`]: the subnet does not exist, the coldkey cannot pay, the chain is
/// unreachable, or the hotkey belongs to another coldkey.
pub async fn ensure_registered<C: Chain>(
    chain: &C,
    hotkey: &Keypair,
    coldkey: &Keypair,
    netuid: NetUid,
    manifest: &AinftManifest,
    axon: AxonInfo,
) -> Result<Registration, RegistrationError> {
    let mut writes = Vec::new();
    let ainft = manifest.id();
    let known = match chain.ainft(&ainft).await {
        Ok(known) => Some(known),
        // Subtensor: no AINFT registry; the id travels with the UID only.
        Err(ChainError::Unsupported { call }) => {
            tracing::info!(%call, "the chain keeps no AINFT registry; publishing the id with the UID");
            None
        }
        Err(e) => return Err(at("looking up the AINFT")(e)),
    };
    if let Some(None) = known {
        match chain.register_ainft(coldkey, manifest.clone()).await {
            Ok(_) => writes.push(ChainWrite::RegisteredAinft),
            // Registered meanwhile (another miner serving the same weights): what we wanted.
            Err(ChainError::Rejected(TxError::AinftExists { .. })) => {}
            Err(e) => return Err(at("registering the AINFT")(e)),
        }
        tracing::info!(%ainft, "AINFT registered");
    }

    let hotkey_pub = hotkey.public();
    let metagraph = chain
        .metagraph(netuid)
        .await
        .map_err(at("reading the metagraph"))?;
    match metagraph.by_hotkey(&hotkey_pub) {
        None => {
            let receipt = chain
                .register(coldkey, netuid, hotkey_pub, Some(ainft))
                .await
                .map_err(at("registering the hotkey"))?;
            writes.push(ChainWrite::RegisteredHotkey);
            tracing::info!(uid = ?receipt.created_uid().ok(), hotkey = %hotkey_pub, %netuid,
                "hotkey registered");
            // A chain whose registration cannot carry the AINFT (subtensor) gets it next.
            let registered = chain
                .metagraph(netuid)
                .await
                .map_err(at("reading the metagraph"))?;
            if registered
                .by_hotkey(&hotkey_pub)
                .is_some_and(|n| n.ainft != Some(ainft))
            {
                point_uid_at(chain, hotkey, netuid, ainft, &mut writes).await?;
            }
        }
        Some(neuron) if neuron.ainft != Some(ainft) => {
            point_uid_at(chain, hotkey, netuid, ainft, &mut writes).await?;
        }
        Some(_) => {}
    }

    let metagraph = if writes.is_empty() {
        metagraph
    } else {
        chain
            .metagraph(netuid)
            .await
            .map_err(at("reading the metagraph"))?
    };
    let neuron = metagraph
        .by_hotkey(&hotkey_pub)
        .ok_or(RegistrationError::NotInMetagraph {
            hotkey: hotkey_pub,
            netuid,
        })?;
    let uid = neuron.uid;
    if neuron.axon != Some(axon) {
        chain
            .serve_axon(hotkey, netuid, axon)
            .await
            .map_err(at("publishing the axon"))?;
        writes.push(ChainWrite::ServedAxon);
        tracing::info!(%uid, ip = %axon.ip, port = axon.port, fingerprint = %axon.cert_fingerprint,
            "axon published");
    }
    let metagraph = if writes.last() == Some(&ChainWrite::ServedAxon) {
        chain
            .metagraph(netuid)
            .await
            .map_err(at("reading the metagraph"))?
    } else {
        metagraph
    };
    Ok(Registration {
        uid,
        ainft,
        writes,
        metagraph,
    })
}
