//! The [`Chain`] trait: everything miners, validators and the CLI ask of a chain.

use std::future::Future;
use std::time::Duration;

use subnet_protocol::ainft::{AinftId, AinftManifest, Digest};
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::chain::{
    AccountInfo, AinftRecord, AxonInfo, Block, Call, ChainInfo, EmissionReport, Hyperparameters,
    Metagraph, SignedTransaction, SubnetInfo,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};

use crate::error::ChainError;

/// Sparse rows by UID: row `i` lists `(target uid, u16 value)` for UID `i`, as the chain stores
/// weights (max-upscaled) and bonds.
pub type SparseRows = Vec<Vec<(Uid, u16)>>;

/// A chain as its users see it: queries of the protocol's views and signed writes.
///
/// Every method returns a `Send` future, so callers can spawn them. Writes take the signing
/// key, fetch its nonce and the genesis hash, sign a [`subnet_protocol::chain::Transaction`]
/// valid for a margin of blocks, submit it and resolve once its block is committed, with the
/// [`TxReceipt`] or [`ChainError::Rejected`]. Concurrent writes from one key are safe: each
/// backend orders them so that their nonces never collide.
///
/// The role of each write's key is in its name: `coldkey` (accounts, stake, ownership) or
/// `hotkey` (a neuron's own actions).
pub trait Chain: Send + Sync {
    /// Genesis hash, height, best hash and block time.
    fn info(&self) -> impl Future<Output = Result<ChainInfo, ChainError>> + Send;

    /// The committed block `number`, `None` if it is not (yet) committed.
    fn block(
        &self,
        number: BlockNumber,
    ) -> impl Future<Output = Result<Option<Block>, ChainError>> + Send;

    /// Waits until the chain's height exceeds `after` or `timeout` passes (the node caps it),
    /// and returns the height then (which is `after` or below when it timed out).
    fn wait_for_block(
        &self,
        after: BlockNumber,
        timeout: Duration,
    ) -> impl Future<Output = Result<BlockNumber, ChainError>> + Send;

    /// Balance and next nonce of `account` (zero for an unknown account).
    fn account(
        &self,
        account: &PublicKey,
    ) -> impl Future<Output = Result<AccountInfo, ChainError>> + Send;

    /// Stake from `coldkey` on `hotkey`, in rao.
    fn stake_of(
        &self,
        coldkey: &PublicKey,
        hotkey: &PublicKey,
    ) -> impl Future<Output = Result<Rao, ChainError>> + Send;

    /// Every subnet, by netuid.
    fn subnets(&self) -> impl Future<Output = Result<Vec<SubnetInfo>, ChainError>> + Send;

    /// One subnet. [`ChainError::NotFound`] if it does not exist.
    fn subnet(&self, netuid: NetUid)
    -> impl Future<Output = Result<SubnetInfo, ChainError>> + Send;

    /// A subnet's neurons at the current block. [`ChainError::NotFound`] if no such subnet.
    fn metagraph(
        &self,
        netuid: NetUid,
    ) -> impl Future<Output = Result<Metagraph, ChainError>> + Send;

    /// A subnet's stored weights (max-upscaled u16 rows). [`ChainError::NotFound`] if no such
    /// subnet.
    fn weights(
        &self,
        netuid: NetUid,
    ) -> impl Future<Output = Result<SparseRows, ChainError>> + Send;

    /// A subnet's bonds as of its last epoch. [`ChainError::NotFound`] if no such subnet.
    fn bonds(&self, netuid: NetUid) -> impl Future<Output = Result<SparseRows, ChainError>> + Send;

    /// A registered AINFT and its earnings, `None` if not registered.
    fn ainft(
        &self,
        id: &AinftId,
    ) -> impl Future<Output = Result<Option<AinftRecord>, ChainError>> + Send;

    /// Emission totals: emitted, credited, per AINFT, per account, per recent epoch.
    fn emissions(&self) -> impl Future<Output = Result<EmissionReport, ChainError>> + Send;

    /// Submits an already signed transaction and waits for its block.
    ///
    /// Prefer [`Chain::submit`] (or the named writes), which fill in nonce, genesis and expiry.
    fn submit_signed(
        &self,
        tx: SignedTransaction,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send;

    /// Signs `call` with `signer` (next nonce, this chain's genesis, expiry a margin of blocks
    /// ahead), submits it and waits for its block.
    fn submit(
        &self,
        signer: &Keypair,
        call: Call,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send;

    /// The latest committed block number.
    fn current_block(&self) -> impl Future<Output = Result<BlockNumber, ChainError>> + Send {
        async { Ok(self.info().await?.height) }
    }

    /// A subnet's hyperparameters. [`ChainError::NotFound`] if no such subnet.
    fn hyperparameters(
        &self,
        netuid: NetUid,
    ) -> impl Future<Output = Result<Hyperparameters, ChainError>> + Send {
        async move { Ok(self.subnet(netuid).await?.hyperparameters) }
    }

    /// Coldkey: moves `amount` to `dest`.
    fn transfer(
        &self,
        coldkey: &Keypair,
        dest: PublicKey,
        amount: Rao,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(coldkey, Call::Transfer { dest, amount })
    }

    /// Coldkey: creates a subnet owned by the signer, paying the chain's creation burn. The
    /// receipt's [`crate::ReceiptExt::created_netuid`] is the new netuid.
    fn create_subnet(
        &self,
        coldkey: &Keypair,
        hyperparameters: Hyperparameters,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(coldkey, Call::CreateSubnet { hyperparameters })
    }

    /// Subnet owner's coldkey: replaces the subnet's hyperparameters.
    fn set_hyperparameters(
        &self,
        owner: &Keypair,
        netuid: NetUid,
        hyperparameters: Hyperparameters,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(
            owner,
            Call::SetHyperparameters {
                netuid,
                hyperparameters,
            },
        )
    }

    /// Coldkey: records an AINFT owned by the signer. The receipt's
    /// [`crate::ReceiptExt::created_ainft`] is its id.
    fn register_ainft(
        &self,
        coldkey: &Keypair,
        manifest: AinftManifest,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(coldkey, Call::RegisterAinft { manifest })
    }

    /// Coldkey: registers `hotkey` on a subnet (burning the subnet's `burn`), serving `ainft`
    /// (miners) or none (validators). The receipt's [`crate::ReceiptExt::created_uid`] is the
    /// UID taken.
    fn register(
        &self,
        coldkey: &Keypair,
        netuid: NetUid,
        hotkey: PublicKey,
        ainft: Option<AinftId>,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(
            coldkey,
            Call::Register {
                netuid,
                hotkey,
                ainft,
            },
        )
    }

    /// Hotkey: points its UID at another registered AINFT (or none).
    fn set_neuron_ainft(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        ainft: Option<AinftId>,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(hotkey, Call::SetNeuronAinft { netuid, ainft })
    }

    /// Hotkey: publishes where its miner serves.
    fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        axon: AxonInfo,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(hotkey, Call::ServeAxon { netuid, axon })
    }

    /// Coldkey: stakes `amount` of its balance on `hotkey`.
    fn add_stake(
        &self,
        coldkey: &Keypair,
        hotkey: PublicKey,
        amount: Rao,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(coldkey, Call::AddStake { hotkey, amount })
    }

    /// Coldkey: returns `amount` of its stake on `hotkey` to its balance.
    fn remove_stake(
        &self,
        coldkey: &Keypair,
        hotkey: PublicKey,
        amount: Rao,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(coldkey, Call::RemoveStake { hotkey, amount })
    }

    /// Hotkey with validator permit: sets weights (u16 values, normalised and max-upscaled by
    /// the chain) on a subnet without commit-reveal.
    fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        uids: Vec<Uid>,
        values: Vec<u16>,
        version_key: u64,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(
            hotkey,
            Call::SetWeights {
                netuid,
                uids,
                values,
                version_key,
            },
        )
    }

    /// Hotkey with validator permit: commits to weights (`subnet_scoring` commit hash) on a
    /// commit-reveal subnet.
    fn commit_weights(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        commit: Digest,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(hotkey, Call::CommitWeights { netuid, commit })
    }

    /// Hotkey: reveals committed weights inside their reveal window.
    fn reveal_weights(
        &self,
        hotkey: &Keypair,
        netuid: NetUid,
        uids: Vec<Uid>,
        values: Vec<u16>,
        salt: Vec<u8>,
        version_key: u64,
    ) -> impl Future<Output = Result<TxReceipt, ChainError>> + Send {
        self.submit(
            hotkey,
            Call::RevealWeights {
                netuid,
                uids,
                values,
                salt,
                version_key,
            },
        )
    }
}
