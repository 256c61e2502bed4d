//! A ledger driven by hand, with a shadow twin that tells whether a refused transaction changed
//! anything.

use std::collections::BTreeMap;

use subnet_chain::{BlockOutcome, Genesis, GenesisSubnet, Ledger};
use subnet_protocol::ainft::{
    AinftId, AinftManifest, DataSource, Digest, ModelSpec, Parent, ServiceSpec, StateLocation,
};
use subnet_protocol::chain::{Call, Hyperparameters, SignedTransaction, Transaction, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};

/// The subnet every test genesis starts with.
pub(crate) const NET: NetUid = NetUid(1);
/// Timestamp step per block (informational only).
const BLOCK_MS: u64 = 1000;

pub(crate) fn key(name: &str) -> Keypair {
    Keypair::dev(name)
}

pub(crate) fn pk(name: &str) -> PublicKey {
    key(name).public()
}

/// Test hyperparameters: short tempo, no rate limit, cheap registration, no immunity.
pub(crate) fn hp() -> Hyperparameters {
    Hyperparameters {
        tempo: 5,
        weights_rate_limit: 0,
        immunity_period: 0,
        burn: Rao(1_000),
        emission_per_block: Rao(1_000_000),
        max_allowed_uids: 16,
        max_allowed_validators: 4,
        activity_cutoff: 1_000,
        ..Hyperparameters::default()
    }
}

/// The dev accounts, plus subnet 1 owned by alice with `hp`.
pub(crate) fn genesis(hp: Hyperparameters) -> Genesis {
    let mut g = Genesis::dev();
    g.max_subnets = 3;
    g.subnets.push(GenesisSubnet {
        owner: pk("alice"),
        hyperparameters: hp,
    });
    g
}

/// A manifest named `name`, optionally derived from `parent` with a royalty in ppm.
pub(crate) fn manifest(name: &str, parent: Option<(AinftId, u32)>) -> AinftManifest {
    AinftManifest {
        data: DataSource {
            uri: format!("file:///data/{name}"),
            digest: Digest::of(name.as_bytes()),
        },
        model: ModelSpec {
            name: name.into(),
            architecture: "byte-mlp".into(),
            hyperparameters: BTreeMap::from([("width".into(), "64".into())]),
            training_steps: 10,
            weights_digest: Digest::of(format!("w-{name}").as_bytes()),
        },
        service: ServiceSpec {
            netuid: NET,
            task: "next-byte".into(),
            protocol_version: 1,
        },
        state: StateLocation {
            chain: "local".into(),
            genesis_hash: Digest::default(),
            netuid: NET,
        },
        parent: parent.map(|(id, royalty_ppm)| Parent { id, royalty_ppm }),
    }
}

/// A ledger plus a twin fed the same accepted blocks.
pub(crate) struct Chain {
    pub(crate) ledger: Ledger,
    shadow: Option<Ledger>,
}

impl Chain {
    /// A chain from `genesis` with a shadow twin.
    pub(crate) fn new(genesis: &Genesis) -> Self {
        Self {
            ledger: Ledger::open_temporary(genesis).unwrap(),
            shadow: Some(Ledger::open_temporary(genesis).unwrap()),
        }
    }

    /// A chain from `genesis` without a twin (faster).
    pub(crate) fn single(genesis: &Genesis) -> Self {
        Self {
            ledger: Ledger::open_temporary(genesis).unwrap(),
            shadow: None,
        }
    }

    pub(crate) fn height(&self) -> BlockNumber {
        self.ledger.height()
    }

    /// `call` signed by `signer` with its next nonce, valid for 100 blocks.
    pub(crate) fn tx(&self, signer: &Keypair, call: Call) -> SignedTransaction {
        self.tx_with_nonce(signer, self.ledger.account(&signer.public()).nonce, call)
    }

    pub(crate) fn tx_with_nonce(
        &self,
        signer: &Keypair,
        nonce: u64,
        call: Call,
    ) -> SignedTransaction {
        Transaction {
            signer: signer.public(),
            nonce,
            genesis_hash: self.ledger.info().genesis_hash,
            valid_until: self.height().saturating_add(100),
            call,
        }
        .sign(signer)
    }

    /// Produces the next block from `txs` on both ledgers.
    pub(crate) fn block(&mut self, txs: Vec<SignedTransaction>) -> BlockOutcome {
        let ts = (self.height().get() + 1) * BLOCK_MS;
        let outcome = self.ledger.produce_block(txs.clone(), ts).unwrap();
        if let Some(shadow) = &mut self.shadow {
            let twin = shadow.produce_block(txs, ts).unwrap();
            assert_eq!(twin, outcome, "twin ledgers diverged");
        }
        outcome
    }

    /// Applies one transaction in its own block; its `created` text or its error.
    pub(crate) fn submit(
        &mut self,
        signer: &Keypair,
        call: Call,
    ) -> Result<Option<String>, TxError> {
        let tx = self.tx(signer, call);
        self.submit_signed(tx)
    }

    pub(crate) fn submit_signed(
        &mut self,
        tx: SignedTransaction,
    ) -> Result<Option<String>, TxError> {
        let ts = (self.height().get() + 1) * BLOCK_MS;
        let outcome = self.ledger.produce_block(vec![tx.clone()], ts).unwrap();
        match (outcome.receipts.first(), outcome.rejected.first()) {
            (Some(receipt), None) => {
                if let Some(shadow) = &mut self.shadow {
                    let twin = shadow.produce_block(vec![tx], ts).unwrap();
                    assert_eq!(twin, outcome);
                }
                Ok(receipt.created.clone())
            }
            (None, Some(rejected)) => {
                // A refused transaction must leave the block and the state exactly as an empty
                // block does.
                if let Some(shadow) = &mut self.shadow {
                    let twin = shadow.produce_block(Vec::new(), ts).unwrap();
                    assert_eq!(twin.hash, outcome.hash, "rejected tx changed the block");
                    assert_eq!(shadow.state_root(), self.ledger.state_root());
                }
                Err(rejected.error.clone())
            }
            other => panic!("one tx gave {other:?}"),
        }
    }

    /// Submits and expects success.
    pub(crate) fn ok(&mut self, signer: &Keypair, call: Call) -> Option<String> {
        match self.submit(signer, call.clone()) {
            Ok(created) => created,
            Err(e) => panic!("{call:?} refused: {e}"),
        }
    }

    /// Submits and expects `error`; checks the signer's nonce did not move.
    pub(crate) fn err(&mut self, signer: &Keypair, call: Call, error: TxError) {
        let nonce = self.ledger.account(&signer.public()).nonce;
        assert_eq!(self.submit(signer, call), Err(error));
        assert_eq!(self.ledger.account(&signer.public()).nonce, nonce);
    }

    /// Produces empty blocks until the height is `target`.
    pub(crate) fn advance_to(&mut self, target: u64) {
        while self.height().get() < target {
            self.block(Vec::new());
        }
    }

    /// Produces `n` empty blocks.
    pub(crate) fn advance(&mut self, n: u64) {
        let target = self.height().get() + n;
        self.advance_to(target);
    }

    /// Produces empty blocks through the next epoch of `NET`.
    pub(crate) fn through_epoch(&mut self) {
        let next = self.ledger.next_epoch_block(NET).unwrap();
        self.advance_to(next.get());
    }

    /// Registers `hotkey` (owned by `coldkey`) on `NET`; returns its UID.
    pub(crate) fn register(
        &mut self,
        coldkey: &Keypair,
        hotkey: &str,
        ainft: Option<AinftId>,
    ) -> Uid {
        let created = self.ok(
            coldkey,
            Call::Register {
                netuid: NET,
                hotkey: pk(hotkey),
                ainft,
            },
        );
        Uid(created.unwrap().parse().unwrap())
    }

    /// Stakes `amount` from `coldkey` on `hotkey`.
    pub(crate) fn stake(&mut self, coldkey: &Keypair, hotkey: &str, amount: u64) {
        self.ok(
            coldkey,
            Call::AddStake {
                hotkey: pk(hotkey),
                amount: Rao(amount),
            },
        );
    }

    /// Sets weights from `hotkey` on `NET`.
    pub(crate) fn set_weights(&mut self, hotkey: &str, uids: &[u16], values: &[u16]) {
        self.ok(&key(hotkey), weights_call(uids, values, 0));
    }
}

pub(crate) fn weights_call(uids: &[u16], values: &[u16], version_key: u64) -> Call {
    Call::SetWeights {
        netuid: NET,
        uids: uids.iter().copied().map(Uid).collect(),
        values: values.to_vec(),
        version_key,
    }
}
