//! Signed chain transactions: what an account asks the chain to do, and every reason the chain
//! may refuse it.
//!
//! A [`Transaction`] names its signer, the signer's next account nonce, the chain's genesis hash
//! and a last valid block, so that it can be applied once, on one chain, for a bounded time. The
//! signature covers `TX_SIGNING_TAG ‖ postcard(transaction)`. On the wire (RPC) a
//! [`SignedTransaction`] is `postcard(signed)` in hex.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::hyperparams::{HyperparameterError, Hyperparameters};
use crate::ainft::{AinftId, AinftManifest, Digest};
use crate::fingerprint::CertFingerprint;
use crate::ids::{BlockNumber, NetUid, Rao, Uid};
use crate::keys::{Keypair, PublicKey, Signature};

/// Domain separation for transaction signatures.
pub const TX_SIGNING_TAG: &[u8] = b"subnet-tx/v1";
/// Largest encoded transaction the chain accepts, in bytes.
pub const MAX_TX_BYTES: usize = 256 * 1024;

/// What a transaction asks for. The signer's role is given per variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// Coldkey: move `amount` to `dest`.
    Transfer {
        /// Receiving account.
        dest: PublicKey,
        /// Amount moved.
        amount: Rao,
    },
    /// Coldkey: create a subnet owned by the signer, paying the chain's subnet creation burn.
    CreateSubnet {
        /// Its rules.
        hyperparameters: Hyperparameters,
    },
    /// Subnet owner's coldkey: replace the subnet's hyperparameters (validated).
    SetHyperparameters {
        /// The subnet.
        netuid: NetUid,
        /// The new rules.
        hyperparameters: Hyperparameters,
    },
    /// Coldkey: record an AINFT owned by the signer. Its parent, if any, must exist.
    RegisterAinft {
        /// The manifest; its id is its hash.
        manifest: AinftManifest,
    },
    /// Coldkey: register `hotkey` on a subnet, burning the subnet's `burn`. When the subnet is
    /// full the lowest-emission UID outside its immunity period is replaced.
    Register {
        /// The subnet.
        netuid: NetUid,
        /// The hotkey taking the UID; owned by the signer from now on.
        hotkey: PublicKey,
        /// The model served from this UID (miners); validators register without one.
        ainft: Option<AinftId>,
    },
    /// Hotkey: point its UID at another registered AINFT (a new model version).
    SetNeuronAinft {
        /// The subnet.
        netuid: NetUid,
        /// The new model, or none.
        ainft: Option<AinftId>,
    },
    /// Hotkey: publish where its miner serves.
    ServeAxon {
        /// The subnet.
        netuid: NetUid,
        /// Address, port and certificate.
        axon: AxonInfo,
    },
    /// Coldkey: stake `amount` from the signer's balance on `hotkey`.
    AddStake {
        /// Hotkey staked on.
        hotkey: PublicKey,
        /// Amount moved from the balance.
        amount: Rao,
    },
    /// Coldkey: return `amount` of the signer's stake on `hotkey` to its balance.
    RemoveStake {
        /// Hotkey unstaked from.
        hotkey: PublicKey,
        /// Amount returned.
        amount: Rao,
    },
    /// Hotkey with validator permit: set weights (stored max-upscaled).
    SetWeights {
        /// The subnet.
        netuid: NetUid,
        /// Target UIDs, no duplicates.
        uids: Vec<Uid>,
        /// Weights, u16, one per UID.
        values: Vec<u16>,
        /// Must be at least the subnet's `weights_version`.
        version_key: u64,
    },
    /// Hotkey with validator permit: commit to weights to reveal later.
    CommitWeights {
        /// The subnet.
        netuid: NetUid,
        /// `scoring::commit_hash` of the weights to be revealed.
        commit: Digest,
    },
    /// Hotkey: reveal committed weights inside their reveal window.
    RevealWeights {
        /// The subnet.
        netuid: NetUid,
        /// Target UIDs.
        uids: Vec<Uid>,
        /// Weights.
        values: Vec<u16>,
        /// The salt the commitment was made with.
        salt: Vec<u8>,
        /// Version key, as in `SetWeights`.
        version_key: u64,
    },
}

/// Where a miner serves: published on chain with the axon, pinned by validators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxonInfo {
    /// IP address (loopback for a local subnet).
    pub ip: IpAddr,
    /// UDP port of the QUIC endpoint.
    pub port: u16,
    /// SHA-256 of the miner's self-signed certificate.
    pub cert_fingerprint: CertFingerprint,
    /// Major wire protocol version served.
    pub protocol_version: u16,
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The account that signs and pays.
    pub signer: PublicKey,
    /// The signer's account nonce; must equal the chain's next nonce for it.
    pub nonce: u64,
    /// The chain this is for.
    pub genesis_hash: Digest,
    /// Last block in which it may be included.
    pub valid_until: BlockNumber,
    /// What it does.
    pub call: Call,
}

/// A transaction and its signer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// `signer`'s signature over `TX_SIGNING_TAG ‖ postcard(tx)`.
    pub signature: Signature,
}

impl Transaction {
    /// The bytes the signer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = TX_SIGNING_TAG.to_vec();
        // postcard into a Vec only fails on types serde cannot encode, which these are not.
        if let Ok(body) = postcard::to_allocvec(self) {
            out.extend_from_slice(&body);
        }
        out
    }

    /// Signs with `key` (which should be the signer's).
    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

impl SignedTransaction {
    /// Checks the signature against `tx.signer`.
    ///
    /// # Errors
    /// [`TxError::BadSignature`].
    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.tx
            .signer
            .verify(&self.tx.signing_bytes(), &self.signature)
            .map_err(|_| TxError::BadSignature)
    }

    /// The wire encoding (postcard).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes the wire encoding, refusing more than [`MAX_TX_BYTES`] and trailing bytes.
    ///
    /// # Errors
    /// [`TxError::TooLarge`] or [`TxError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                bytes: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((tx, [])) => Ok(tx),
            Ok((_, rest)) => Err(TxError::Malformed {
                reason: format!("{} trailing bytes", rest.len()),
            }),
            Err(e) => Err(TxError::Malformed {
                reason: e.to_string(),
            }),
        }
    }

    /// The transaction's hash: BLAKE3 of its encoding.
    pub fn hash(&self) -> Digest {
        Digest::of(&self.encode())
    }
}

/// Why the chain refused a transaction. A refused transaction changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum TxError {
    /// Not a valid encoding.
    #[error("malformed transaction: {reason}")]
    Malformed {
        /// Decoder message.
        reason: String,
    },
    /// Larger than [`MAX_TX_BYTES`].
    #[error("transaction of {bytes} bytes exceeds {max}")]
    TooLarge {
        /// Size received.
        bytes: usize,
        /// Limit.
        max: usize,
    },
    /// The signature is not the signer's over this transaction.
    #[error("bad signature")]
    BadSignature,
    /// Signed for another chain.
    #[error("transaction is for another chain (genesis {got})")]
    WrongGenesis {
        /// Genesis hash in the transaction.
        got: Digest,
    },
    /// `valid_until` has passed.
    #[error("transaction expired at block {valid_until}, chain is at {current}")]
    Expired {
        /// Its last valid block.
        valid_until: BlockNumber,
        /// The block it would go into.
        current: BlockNumber,
    },
    /// The nonce was already used (a replay, or a resend of an applied transaction).
    #[error("stale nonce {got}, next is {expected}")]
    StaleNonce {
        /// Nonce given.
        got: u64,
        /// Account's next nonce.
        expected: u64,
    },
    /// The nonce skips ahead of the account's next nonce.
    #[error("future nonce {got}, next is {expected}")]
    FutureNonce {
        /// Nonce given.
        got: u64,
        /// Account's next nonce.
        expected: u64,
    },
    /// Not enough free balance.
    #[error("insufficient balance: need {needed}, have {available}")]
    InsufficientBalance {
        /// Amount needed.
        needed: Rao,
        /// Free balance.
        available: Rao,
    },
    /// Not enough stake from this coldkey on this hotkey.
    #[error("insufficient stake: need {needed}, have {available}")]
    InsufficientStake {
        /// Amount asked.
        needed: Rao,
        /// Stake held.
        available: Rao,
    },
    /// A zero amount, or one that would overflow a total.
    #[error("invalid amount {amount}")]
    InvalidAmount {
        /// Amount given.
        amount: Rao,
    },
    /// No such subnet.
    #[error("subnet {netuid} does not exist")]
    UnknownSubnet {
        /// Subnet asked for.
        netuid: NetUid,
    },
    /// Only the subnet's owner may do this.
    #[error("only the owner of subnet {netuid} may do this")]
    NotSubnetOwner {
        /// The subnet.
        netuid: NetUid,
    },
    /// A hyperparameter out of range.
    #[error(transparent)]
    InvalidHyperparameter(#[from] HyperparameterError),
    /// The chain has no more subnet slots.
    #[error("no more subnets can be created")]
    TooManySubnets,
    /// No AINFT with this id.
    #[error("unknown AINFT {ainft}")]
    UnknownAinft {
        /// The id.
        ainft: AinftId,
    },
    /// This AINFT is already registered.
    #[error("AINFT {ainft} already exists")]
    AinftExists {
        /// The id.
        ainft: AinftId,
    },
    /// The manifest is not valid.
    #[error("invalid AINFT manifest: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// The hotkey is not registered on the subnet.
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered {
        /// The hotkey.
        hotkey: PublicKey,
        /// The subnet.
        netuid: NetUid,
    },
    /// The hotkey already has a UID on the subnet.
    #[error("hotkey {hotkey} is already registered on subnet {netuid}")]
    AlreadyRegistered {
        /// The hotkey.
        hotkey: PublicKey,
        /// The subnet.
        netuid: NetUid,
    },
    /// The hotkey belongs to another coldkey.
    #[error("hotkey {hotkey} is owned by another coldkey")]
    HotkeyOwnedByOther {
        /// The hotkey.
        hotkey: PublicKey,
    },
    /// The subnet is full and every UID is immune.
    #[error("subnet {netuid} is full and every UID is within its immunity period")]
    SubnetFull {
        /// The subnet.
        netuid: NetUid,
    },
    /// Setting weights needs a validator permit.
    #[error("hotkey has no validator permit on subnet {netuid}")]
    NoValidatorPermit {
        /// The subnet.
        netuid: NetUid,
    },
    /// `uids` and `values` differ in length.
    #[error("{uids} uids but {values} values")]
    WeightsLengthMismatch {
        /// Number of UIDs.
        uids: usize,
        /// Number of values.
        values: usize,
    },
    /// A UID appears twice.
    #[error("uid {uid} appears more than once")]
    DuplicateUid {
        /// The UID.
        uid: Uid,
    },
    /// A UID beyond the subnet's size.
    #[error("uid {uid} does not exist (subnet has {n})")]
    UnknownUid {
        /// The UID.
        uid: Uid,
        /// Number of UIDs.
        n: u16,
    },
    /// The version key is below the subnet's `weights_version`.
    #[error("weights version {got} is below the required {required}")]
    IncorrectWeightsVersion {
        /// Version given.
        got: u64,
        /// Required at least.
        required: u64,
    },
    /// Weights were set too recently.
    #[error("weights rate limit: next allowed at block {next_allowed}")]
    WeightsRateLimited {
        /// First block at which it is allowed again.
        next_allowed: BlockNumber,
    },
    /// Fewer non-zero weights than `min_allowed_weights`.
    #[error("{got} non-zero weights, at least {min} required")]
    TooFewWeights {
        /// Non-zero weights given.
        got: usize,
        /// Required.
        min: u16,
    },
    /// A normalised weight exceeds `max_weight_limit`.
    #[error("a weight exceeds the max weight limit {limit}")]
    MaxWeightExceeded {
        /// The subnet's limit (u16 ratio).
        limit: u16,
    },
    /// `SetWeights` on a commit-reveal subnet, or commit/reveal on one without it.
    #[error("commit-reveal is {} on subnet {netuid}", if *enabled { "enabled" } else { "disabled" })]
    CommitRevealMode {
        /// Whether the subnet uses commit-reveal.
        enabled: bool,
        /// The subnet.
        netuid: NetUid,
    },
    /// Too many unrevealed commits from this hotkey.
    #[error("too many pending weight commits")]
    TooManyCommits,
    /// No pending commit matches the revealed weights.
    #[error("no pending commit matches the revealed weights")]
    RevealMismatch,
    /// The matching commit's reveal window has not opened.
    #[error("reveal too early: window opens at block {opens}")]
    RevealTooEarly {
        /// First block of the window.
        opens: BlockNumber,
    },
    /// The matching commit's reveal window has closed.
    #[error("reveal too late: window closed at block {closed}")]
    RevealTooLate {
        /// Last block of the window.
        closed: BlockNumber,
    },
}

impl TxError {
    /// A stable short name for metrics and logs.
    pub fn as_label(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::BadSignature => "bad_signature",
            Self::WrongGenesis { .. } => "wrong_genesis",
            Self::Expired { .. } => "expired",
            Self::StaleNonce { .. } => "stale_nonce",
            Self::FutureNonce { .. } => "future_nonce",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::InsufficientStake { .. } => "insufficient_stake",
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::UnknownSubnet { .. } => "unknown_subnet",
            Self::NotSubnetOwner { .. } => "not_subnet_owner",
            Self::InvalidHyperparameter(_) => "invalid_hyperparameter",
            Self::TooManySubnets => "too_many_subnets",
            Self::UnknownAinft { .. } => "unknown_ainft",
            Self::AinftExists { .. } => "ainft_exists",
            Self::InvalidManifest { .. } => "invalid_manifest",
            Self::NotRegistered { .. } => "not_registered",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::HotkeyOwnedByOther { .. } => "hotkey_owned_by_other",
            Self::SubnetFull { .. } => "subnet_full",
            Self::NoValidatorPermit { .. } => "no_validator_permit",
            Self::WeightsLengthMismatch { .. } => "weights_length_mismatch",
            Self::DuplicateUid { .. } => "duplicate_uid",
            Self::UnknownUid { .. } => "unknown_uid",
            Self::IncorrectWeightsVersion { .. } => "incorrect_weights_version",
            Self::WeightsRateLimited { .. } => "weights_rate_limited",
            Self::TooFewWeights { .. } => "too_few_weights",
            Self::MaxWeightExceeded { .. } => "max_weight_exceeded",
            Self::CommitRevealMode { .. } => "commit_reveal_mode",
            Self::TooManyCommits => "too_many_commits",
            Self::RevealMismatch => "reveal_mismatch",
            Self::RevealTooEarly { .. } => "reveal_too_early",
            Self::RevealTooLate { .. } => "reveal_too_late",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(key: &Keypair) -> SignedTransaction {
        Transaction {
            signer: key.public(),
            nonce: 3,
            genesis_hash: Digest::of(b"genesis"),
            valid_until: BlockNumber(100),
            call: Call::SetWeights {
                netuid: NetUid(1),
                uids: vec![Uid(0), Uid(2)],
                values: vec![10, 65535],
                version_key: 0,
            },
        }
        .sign(key)
    }

    #[test]
    fn signs_encodes_and_verifies() {
        let key = Keypair::from_seed(&[5; 32]);
        let tx = sample(&key);
        tx.verify_signature().unwrap();
        let back = SignedTransaction::decode(&tx.encode()).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        let json = serde_json::to_string(&tx).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedTransaction>(&json).unwrap(),
            tx
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let key = Keypair::from_seed(&[5; 32]);
        let mut tx = sample(&key);
        tx.tx.nonce = 4;
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
        let mut tx = sample(&key);
        tx.tx.genesis_hash = Digest::of(b"other chain");
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
        let mut tx = sample(&key);
        tx.tx.signer = Keypair::from_seed(&[6; 32]).public();
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
    }

    #[test]
    fn decode_rejects_garbage_trailing_bytes_and_oversize() {
        let key = Keypair::from_seed(&[5; 32]);
        let mut bytes = sample(&key).encode();
        bytes.push(0);
        assert!(matches!(
            SignedTransaction::decode(&bytes),
            Err(TxError::Malformed { .. })
        ));
        assert!(matches!(
            SignedTransaction::decode(&[0xff; 7]),
            Err(TxError::Malformed { .. })
        ));
        let big = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTransaction::decode(&big),
            Err(TxError::TooLarge { .. })
        ));
        let truncated = &sample(&key).encode()[..40];
        assert!(matches!(
            SignedTransaction::decode(truncated),
            Err(TxError::Malformed { .. })
        ));
    }

    #[test]
    fn errors_serialize_with_a_tag_and_label() {
        let e = TxError::StaleNonce {
            got: 1,
            expected: 2,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["error"], "stale_nonce");
        assert_eq!(e.as_label(), "stale_nonce");
        assert_eq!(serde_json::from_value::<TxError>(json).unwrap(), e);
    }
}
