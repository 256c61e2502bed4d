//! [`Chain`] for [`SubtensorChain`]: queries from storage, writes as subtensor extrinsics.

use std::time::Duration;

use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::chain::{
    AccountInfo, AinftRecord, AxonInfo, Block, BlockHeader, Call, ChainInfo, EmissionReport,
    Metagraph, SignedTransaction, SubnetInfo,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};
use subxt::dynamic::Value;
use subxt::ext::codec::Decode;
use subxt::utils::H256;

use super::axon::{AXON_PROTOCOL_QUIC, Publication, encode_ip};
use super::client::{Context, SubtensorChain, deadline, digest, protocol_error, rpc_error};
use super::runtime::{COMMITMENTS, Runtime, SUBTENSOR, StakeStorage};
use super::signer::account_id;
use super::state::{self, args};
use crate::chain::{Chain, SparseRows};
use crate::error::{ChainError, TransportError, TransportKind};

/// Block time when the runtime does not say (Bittensor's 12 s).
const DEFAULT_BLOCK_TIME_MS: u64 = 12_000;

fn account(key: &PublicKey) -> Value {
    Value::from_bytes(account_id(key).0)
}

fn unsupported(call: &str) -> ChainError {
    ChainError::Unsupported {
        call: call.to_owned(),
    }
}

impl SubtensorChain {
    /// Hotkey: publishes `publication` (certificate fingerprint, AINFT id) as its commitment on
    /// `netuid`, replacing its previous one.
    ///
    /// # Errors
    /// [`ChainError::Unsupported`] where the runtime has no commitments pallet; as
    /// [`Chain::submit`] otherwise.
    pub async fn publish(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        publication: Publication,
    ) -> Result<TxReceipt, ChainError> {
        self.submit_call(
            hotkey,
            COMMITMENTS,
            "set_commitment",
            args([
                ("netuid", Value::u128(netuid.get().into())),
                ("info", state::commitment_info(&publication)),
            ]),
            Context {
                netuid: Some(netuid),
                hotkey: Some(hotkey.public()),
            },
        )
        .await
    }

    /// The hotkey's current engine commitment on `netuid` (default if none or unsupported).
    async fn publication(
        &self,
        hotkey: &PublicKey,
        netuid: NetUid,
    ) -> Result<Publication, ChainError> {
        let snap = self.snapshot().await?;
        let published = state::publications(&snap, netuid).await?;
        Ok(published
            .get(&account_id(hotkey).0)
            .copied()
            .unwrap_or_default())
    }

    /// Coldkey: stakes `amount` on `hotkey` on subnet `netuid` (dynamic-TAO runtimes, whose
    /// stake is per subnet).
    ///
    /// # Errors
    /// [`ChainError::Unsupported`] on a runtime whose `add_stake` takes no netuid (use
    /// [`Chain::add_stake`]); as [`Chain::submit`] otherwise.
    pub async fn add_stake_on(
        &self,
        coldkey: &Keypair,
        hotkey: PublicKey,
        netuid: NetUid,
        amount: Rao,
    ) -> Result<TxReceipt, ChainError> {
        self.submit_call(
            coldkey,
            SUBTENSOR,
            "add_stake",
            args([
                ("hotkey", account(&hotkey)),
                ("netuid", Value::u128(netuid.get().into())),
                ("amount_staked", Value::u128(amount.get().into())),
            ]),
            Context {
                netuid: Some(netuid),
                hotkey: Some(hotkey),
            },
        )
        .await
    }

    /// Maps one of the protocol's calls onto subtensor and submits it.
    async fn submit_mapped(&self, signer: &Keypair, call: Call) -> Result<TxReceipt, ChainError> {
        let me = signer.public();
        match call {
            Call::Transfer { dest, amount } => {
                self.submit_call(
                    signer,
                    "Balances",
                    "transfer_keep_alive",
                    args([
                        ("dest", Value::unnamed_variant("Id", [account(&dest)])),
                        ("value", Value::u128(amount.get().into())),
                    ]),
                    Context::default(),
                )
                .await
            }
            Call::Register {
                netuid,
                hotkey,
                ainft,
            } => {
                let mut receipt = self
                    .submit_call(
                        signer,
                        SUBTENSOR,
                        "burned_register",
                        args([
                            ("netuid", Value::u128(netuid.get().into())),
                            ("hotkey", account(&hotkey)),
                        ]),
                        Context {
                            netuid: Some(netuid),
                            hotkey: Some(hotkey),
                        },
                    )
                    .await?;
                if ainft.is_some() {
                    // The commitment must be signed by the hotkey, which this call does not
                    // hold: the miner publishes it with `set_neuron_ainft` (SUBTENSOR.md).
                    tracing::info!(%netuid, hotkey = %hotkey,
                        "registered; the AINFT id is published by the hotkey's set_neuron_ainft");
                }
                let snap = self.snapshot().await?;
                let uid: Option<u16> = snap
                    .fetch_opt(SUBTENSOR, "Uids", (netuid.get(), account_id(&hotkey)))
                    .await?;
                receipt.created = uid.map(|u| Uid(u).to_string());
                Ok(receipt)
            }
            Call::SetNeuronAinft { netuid, ainft } => {
                if !self.runtime().await?.commitments {
                    return Err(unsupported(
                        "Commitments.set_commitment (the AINFT id of a UID)",
                    ));
                }
                let mut publication = self.publication(&me, netuid).await?;
                publication.ainft = ainft;
                self.publish(signer, netuid, publication).await
            }
            Call::ServeAxon { netuid, axon } => self.serve_axon_to(signer, netuid, axon).await,
            Call::AddStake { hotkey, amount } => {
                self.stake_call(signer, "add_stake", hotkey, amount).await
            }
            Call::RemoveStake { hotkey, amount } => {
                self.stake_call(signer, "remove_stake", hotkey, amount)
                    .await
            }
            Call::SetWeights {
                netuid,
                uids,
                values,
                version_key,
            } => {
                self.submit_call(
                    signer,
                    SUBTENSOR,
                    "set_weights",
                    args([
                        ("netuid", Value::u128(netuid.get().into())),
                        ("dests", uid_list(&uids)),
                        ("weights", u16_list(&values)),
                        ("version_key", Value::u128(version_key.into())),
                    ]),
                    Context {
                        netuid: Some(netuid),
                        hotkey: Some(me),
                    },
                )
                .await
            }
            Call::CommitWeights { netuid, commit } => {
                self.submit_call(
                    signer,
                    SUBTENSOR,
                    "commit_weights",
                    args([
                        ("netuid", Value::u128(netuid.get().into())),
                        ("commit_hash", Value::from_bytes(commit.as_bytes())),
                    ]),
                    Context {
                        netuid: Some(netuid),
                        hotkey: Some(me),
                    },
                )
                .await
            }
            Call::RevealWeights {
                netuid,
                uids,
                values,
                salt,
                version_key,
            } => {
                let salt: Vec<u16> = salt.into_iter().map(u16::from).collect();
                self.submit_call(
                    signer,
                    SUBTENSOR,
                    "reveal_weights",
                    args([
                        ("netuid", Value::u128(netuid.get().into())),
                        ("uids", uid_list(&uids)),
                        ("values", u16_list(&values)),
                        ("salt", u16_list(&salt)),
                        ("version_key", Value::u128(version_key.into())),
                    ]),
                    Context {
                        netuid: Some(netuid),
                        hotkey: Some(me),
                    },
                )
                .await
            }
            Call::CreateSubnet { .. } => Err(unsupported(
                "creating a subnet with the engine's hyperparameters (subtensor's \
                 register_network takes none; create it with btcli, then set them with \
                 AdminUtils as the owner)",
            )),
            Call::SetHyperparameters { .. } => Err(unsupported(
                "SetHyperparameters (subtensor sets each one with an AdminUtils.sudo_set_* call)",
            )),
            Call::RegisterAinft { .. } => Err(unsupported(
                "RegisterAinft (Bittensor has no AINFT registry: a UID publishes its AINFT id in \
                 its commitment, see SUBTENSOR.md)",
            )),
        }
    }

    async fn stake_call(
        &self,
        coldkey: &Keypair,
        call: &str,
        hotkey: PublicKey,
        amount: Rao,
    ) -> Result<TxReceipt, ChainError> {
        let amount_field = if call == "add_stake" {
            "amount_staked"
        } else {
            "amount_unstaked"
        };
        self.submit_call(
            coldkey,
            SUBTENSOR,
            call,
            args([
                ("hotkey", account(&hotkey)),
                (amount_field, Value::u128(amount.get().into())),
            ]),
            Context {
                netuid: None,
                hotkey: Some(hotkey),
            },
        )
        .await
    }

    /// `serve_axon` with subtensor's encoding, then (where the runtime has commitments) the
    /// certificate fingerprint in the hotkey's commitment, keeping its AINFT id.
    async fn serve_axon_to(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        axon: AxonInfo,
    ) -> Result<TxReceipt, ChainError> {
        let (ip, ip_type) = encode_ip(axon.ip);
        let receipt = self
            .submit_call(
                hotkey,
                SUBTENSOR,
                "serve_axon",
                args([
                    ("netuid", Value::u128(netuid.get().into())),
                    ("version", Value::u128(axon.protocol_version.into())),
                    ("ip", Value::u128(ip)),
                    ("port", Value::u128(axon.port.into())),
                    ("ip_type", Value::u128(ip_type.into())),
                    ("protocol", Value::u128(AXON_PROTOCOL_QUIC.into())),
                    ("placeholder1", Value::u128(0)),
                    ("placeholder2", Value::u128(0)),
                ]),
                Context {
                    netuid: Some(netuid),
                    hotkey: Some(hotkey.public()),
                },
            )
            .await?;
        // A hotkey certificate (`CertFingerprint::HOTKEY`) is pinned by the hotkey already on
        // chain: nothing more to publish, and an older fingerprint is withdrawn.
        let fingerprint = (!axon.cert_fingerprint.is_hotkey()).then_some(axon.cert_fingerprint);
        if !self.runtime().await?.commitments {
            if fingerprint.is_some() {
                // The axon is served, but its certificate cannot be published on this runtime:
                // the metagraph shows `CertFingerprint::HOTKEY`, and validators will pin the
                // hotkey, which this certificate does not prove.
                tracing::warn!(%netuid, hotkey = %hotkey.public(),
                    "runtime has no Commitments pallet: certificate fingerprint not published; \
                     serve a hotkey certificate (miner `hotkey_certificate = true`)");
            }
            return Ok(receipt);
        }
        let mut publication = self.publication(&hotkey.public(), netuid).await?;
        if publication.cert_fingerprint == fingerprint {
            return Ok(receipt);
        }
        publication.cert_fingerprint = fingerprint;
        self.publish(hotkey, netuid, publication).await
    }
}

fn uid_list(uids: &[Uid]) -> Value {
    Value::unnamed_composite(uids.iter().map(|u| Value::u128(u.get().into())))
}

fn u16_list(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|v| Value::u128((*v).into())))
}

impl Chain for SubtensorChain {
    async fn info(&self) -> Result<ChainInfo, ChainError> {
        deadline(self.config().request_timeout, async {
            let conn = self.conn().await?;
            let snap = self.snapshot().await?;
            let md = snap.at.metadata_ref();
            let block_time_ms = md
                .pallet_by_name("Timestamp")
                .and_then(|p| p.constant_by_name("MinimumPeriod"))
                .and_then(|c| u64::decode(&mut c.value()).ok())
                .map_or(DEFAULT_BLOCK_TIME_MS, |p| p.saturating_mul(2));
            let lock: Option<u64> = snap.fetch_opt(SUBTENSOR, "NetworkLastLockCost", ()).await?;
            Ok(ChainInfo {
                genesis_hash: digest(conn.client.genesis_hash()),
                height: BlockNumber(snap.number()),
                best_hash: digest(snap.hash()),
                block_time_ms,
                subnet_creation_burn: Rao(lock.unwrap_or(0)),
            })
        })
        .await
    }

    async fn block(&self, number: BlockNumber) -> Result<Option<Block>, ChainError> {
        deadline(self.config().request_timeout, async {
            let conn = self.conn().await?;
            let Some(hash) = conn
                .rpc
                .chain_get_block_hash(Some(number.get().into()))
                .await
                .map_err(rpc_error)?
            else {
                return Ok(None);
            };
            let Some(header) = conn
                .rpc
                .chain_get_header(Some(hash))
                .await
                .map_err(rpc_error)?
            else {
                return Ok(None);
            };
            let now_key =
                subxt::ext::frame_decode::storage::encode_storage_key_prefix("Timestamp", "Now");
            let timestamp_ms = conn
                .rpc
                .state_get_storage(&now_key, Some(hash))
                .await
                .map_err(rpc_error)?
                .and_then(|b| u64::decode(&mut b.as_slice()).ok())
                .unwrap_or(0);
            Ok(Some(Block {
                header: BlockHeader {
                    number: BlockNumber(header.number),
                    parent_hash: digest(header.parent_hash),
                    state_root: digest(header.state_root),
                    extrinsics_root: digest(header.extrinsics_root),
                    timestamp_ms,
                },
                // Subtensor's extrinsics are not the engine's signed transactions.
                transactions: Vec::new(),
            }))
        })
        .await
    }

    async fn wait_for_block(
        &self,
        after: BlockNumber,
        timeout: Duration,
    ) -> Result<BlockNumber, ChainError> {
        let conn = self.conn().await?;
        let mut heads = deadline(self.config().request_timeout, async {
            conn.rpc
                .chain_subscribe_finalized_heads()
                .await
                .map_err(rpc_error)
        })
        .await?;
        let current = self.current_block().await?;
        if current > after {
            return Ok(current);
        }
        let wait = async {
            while let Some(head) = heads.next().await {
                let head = head.map_err(rpc_error)?;
                if head.number > after.get() {
                    return Ok(BlockNumber(head.number));
                }
            }
            Err(ChainError::Unavailable(TransportError::bare(
                TransportKind::Io,
            )))
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Ok(current),
        }
    }

    async fn current_block(&self) -> Result<BlockNumber, ChainError> {
        deadline(self.config().request_timeout, async {
            let conn = self.conn().await?;
            let hash = conn
                .rpc
                .chain_get_finalized_head()
                .await
                .map_err(rpc_error)?;
            let header = conn
                .rpc
                .chain_get_header(Some(hash))
                .await
                .map_err(rpc_error)?
                .ok_or_else(|| protocol_error("no header for the finalized head".into()))?;
            Ok(BlockNumber(header.number))
        })
        .await
    }

    async fn account(&self, account: &PublicKey) -> Result<AccountInfo, ChainError> {
        deadline(self.config().request_timeout, async {
            Self::account_at(&self.snapshot().await?, account).await
        })
        .await
    }

    async fn stake_of(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Result<Rao, ChainError> {
        deadline(self.config().request_timeout, async {
            let snap = self.snapshot().await?;
            if Runtime::of(&snap).stake != StakeStorage::Tao {
                return Err(unsupported(
                    "SubtensorModule.Stake (stake per coldkey without a subnet; this runtime \
                     stakes alpha per subnet)",
                ));
            }
            let stake: Option<u64> = snap
                .fetch(
                    SUBTENSOR,
                    "Stake",
                    (account_id(hotkey), account_id(coldkey)),
                )
                .await?;
            Ok(Rao(stake.unwrap_or(0)))
        })
        .await
    }

    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ChainError> {
        deadline(self.config().request_timeout, async {
            let snap = self.snapshot().await?;
            let mut out = Vec::new();
            for netuid in state::netuids(&snap).await? {
                out.push(state::subnet(&snap, netuid).await?);
            }
            Ok(out)
        })
        .await
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        deadline(self.config().request_timeout, async {
            state::subnet(&self.snapshot().await?, netuid).await
        })
        .await
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        deadline(self.config().request_timeout, async {
            state::metagraph(&self.snapshot().await?, netuid).await
        })
        .await
    }

    async fn weights(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        deadline(self.config().request_timeout, async {
            state::rows(&self.snapshot().await?, netuid, "Weights").await
        })
        .await
    }

    async fn bonds(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        deadline(self.config().request_timeout, async {
            state::rows(&self.snapshot().await?, netuid, "Bonds").await
        })
        .await
    }

    async fn ainft(&self, _id: &AinftId) -> Result<Option<AinftRecord>, ChainError> {
        Err(unsupported(
            "AINFT records (Bittensor has no AINFT registry; see SubtensorChain::ainft_emissions)",
        ))
    }

    async fn emissions(&self) -> Result<EmissionReport, ChainError> {
        Err(unsupported(
            "the lifetime emission ledger (subtensor keeps only each UID's last-epoch emission; \
             see SubtensorChain::ainft_emissions)",
        ))
    }

    async fn submit_signed(&self, _tx: SignedTransaction) -> Result<TxReceipt, ChainError> {
        Err(unsupported(
            "the local chain's signed transactions (sign with Chain::submit instead)",
        ))
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<TxReceipt, ChainError> {
        Box::pin(self.submit_mapped(signer, call)).await
    }
}

/// Subtensor's weight-commit hash: BLAKE2-256 of the SCALE encoding of
/// `(account, netuid, uids, values, salt, version_key)`, with the salt's bytes widened to u16
/// (subtensor's salt is `Vec<u16>`). A validator committing on subtensor must commit this, not
/// the local chain's BLAKE3 commit, for its reveal to match.
pub fn subtensor_commit_hash(
    hotkey: &PublicKey,
    netuid: NetUid,
    uids: &[Uid],
    values: &[u16],
    salt: &[u8],
    version_key: u64,
) -> Digest {
    use subxt::ext::codec::Encode;
    let uids: Vec<u16> = uids.iter().map(|u| u.get()).collect();
    let salt: Vec<u16> = salt.iter().map(|b| u16::from(*b)).collect();
    let encoded = (
        account_id(hotkey).0,
        netuid.get(),
        uids,
        values.to_vec(),
        salt,
        version_key,
    )
        .encode();
    digest(H256(blake2_256(&encoded)))
}

fn blake2_256(data: &[u8]) -> [u8; 32] {
    use blake2::digest::consts::U32;
    use blake2::{Blake2b, Digest as _};
    Blake2b::<U32>::digest(data).into()
}
