//! Drives the real ledger ([`subnet_chain::Ledger`]) through a scenario: signed registrations,
//! stake, and every tempo each validator's weights through `SetWeights`, or `CommitWeights` then
//! `RevealWeights` when the variant enables commit-reveal, so the chain's own checks (permits,
//! rate limits, reveal windows, version keys) and its Yuma epoch decide what happens.
//!
//! # Timeline
//!
//! The subnet exists from genesis (netuid 1, created at block 0), so its epochs run at the end of
//! blocks `T, 2T, …` (`T` = tempo). Block 1 registers every validator (UIDs `0..V`) and miner
//! (UIDs `V..`) and stakes the validators. The epoch at block `T` is a warm-up: it hands out the
//! validator permits that weight submissions need. Simulated epoch `e = 1, 2, …` is the epoch at
//! block `(e + 1)·T`; its weights are submitted in the first block of its interval,
//! `e·T + 1`, right after epoch `e − 1` published its consensus (what a copier copies). Under
//! commit-reveal a validator commits in interval `e` the weights it computed then and reveals
//! them in interval `e + commit_reveal_period`, as the chain's reveal window requires.

use std::collections::{BTreeMap, VecDeque};

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use subnet_chain::{Genesis, GenesisSubnet, Ledger};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Call, Hyperparameters, Metagraph, SignedTransaction, Transaction};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};
use subnet_scoring::weights::{WeightCommit, WeightLimits, WeightVector, scores_to_weights};

use super::scenario::{Behaviour, Scenario};

/// The simulated subnet.
const NETUID: NetUid = NetUid(1);
/// Blocks a simulated transaction stays valid.
const TX_VALIDITY_BLOCKS: u64 = 64;
/// Bytes of each commit-reveal salt.
const SALT_BYTES: usize = 16;
/// Free balance each coldkey gets beyond its stake and registration burn, in tokens.
const SPARE_TOKENS: u64 = 10;
/// Stream offset so that salts do not consume the noise stream (variants with and without
/// commit-reveal then see the same noise).
const SALT_STREAM: u64 = 0x5a17;

/// One validator in one epoch.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ValidatorEpoch {
    /// Stake on its hotkey before the epoch paid out.
    pub(crate) stake_before: Rao,
    /// Dividends credited to its stakers by the epoch.
    pub(crate) dividends: Rao,
    /// Dividends per unit of stake held before the epoch.
    pub(crate) per_stake: f64,
    /// Its share of the epoch's dividends (u16 ratio as a fraction).
    pub(crate) dividend_share: f64,
    /// Validator trust (fraction).
    pub(crate) validator_trust: f64,
}

/// One miner in one epoch.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MinerEpoch {
    /// True quality in that epoch.
    pub(crate) quality: f64,
    /// Incentive (fraction).
    pub(crate) incentive: f64,
    /// Consensus weight (fraction).
    pub(crate) consensus: f64,
    /// Emission credited for its UID.
    pub(crate) emission: Rao,
}

/// Everything one simulated epoch produced.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EpochRecord {
    /// Simulated epoch, 1-based.
    pub(crate) epoch: u64,
    /// Block the epoch ran at.
    pub(crate) block: u64,
    /// By validator, scenario order.
    pub(crate) validators: Vec<ValidatorEpoch>,
    /// By miner, scenario order.
    pub(crate) miners: Vec<MinerEpoch>,
    /// `bonds[v][m]`: validator `v`'s bond on miner `m` after the epoch (fraction of 65535).
    pub(crate) bonds: Vec<Vec<f64>>,
}

/// The result of one variant.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Run {
    /// Epoch records, in order.
    pub(crate) epochs: Vec<EpochRecord>,
    /// Per validator: weight transactions the chain refused, counted by reason.
    pub(crate) rejected: Vec<BTreeMap<String, u64>>,
}

/// A weight commitment waiting for its reveal interval.
#[derive(Debug)]
struct Pending {
    reveal_epoch: u64,
    weights: WeightVector,
    salt: Vec<u8>,
}

/// The keys of one participant.
#[derive(Debug)]
struct Keys {
    coldkey: Keypair,
    hotkey: Keypair,
}

impl Keys {
    fn new(role: &str, index: usize) -> Self {
        Self {
            coldkey: Keypair::dev(&format!("simulate//{role}{index}//cold")),
            hotkey: Keypair::dev(&format!("simulate//{role}{index}//hot")),
        }
    }
}

/// Transactions for the next block, with their nonces assigned.
#[derive(Debug, Default)]
struct NextBlock {
    txs: Vec<SignedTransaction>,
    /// The validator a transaction is for, to count its rejections.
    owners: Vec<Option<usize>>,
}

impl NextBlock {
    fn push(&mut self, ledger: &Ledger, signer: &Keypair, call: Call, owner: Option<usize>) {
        let key = signer.public();
        let queued = self.txs.iter().filter(|t| t.tx.signer == key).count() as u64;
        let info = ledger.info();
        let tx = Transaction {
            signer: key,
            nonce: ledger.account(&key).nonce.saturating_add(queued),
            genesis_hash: info.genesis_hash,
            valid_until: info.height.saturating_add(TX_VALIDITY_BLOCKS),
            call,
        }
        .sign(signer);
        self.txs.push(tx);
        self.owners.push(owner);
    }
}

/// The scenario running on one ledger.
struct Sim<'a> {
    scenario: &'a Scenario,
    hp: Hyperparameters,
    ledger: Ledger,
    validators: Vec<Keys>,
    miners: Vec<Keys>,
    noise_rng: ChaCha8Rng,
    salt_rng: ChaCha8Rng,
    pending: Vec<VecDeque<Pending>>,
    rejected: Vec<BTreeMap<String, u64>>,
}

/// Runs `epochs` simulated epochs of `scenario` on a fresh ledger with hyperparameters `hp`,
/// calling `on_epoch` after each.
///
/// # Errors
/// A scenario the chain cannot host (more UIDs than `max_allowed_uids`, too few validator
/// permits), a refused setup transaction, or a storage failure of the temporary ledger.
pub(crate) fn run(
    scenario: &Scenario,
    hp: &Hyperparameters,
    epochs: u64,
    on_epoch: &mut dyn FnMut(),
) -> Result<Run> {
    let mut sim = Sim::new(scenario, hp)?;
    sim.setup()?;
    let mut records = Vec::new();
    for epoch in 1..=epochs {
        records.push(sim.epoch(epoch)?);
        on_epoch();
    }
    Ok(Run {
        epochs: records,
        rejected: sim.rejected,
    })
}

fn tokens(n: u64) -> Result<Rao> {
    Rao::from_tokens(n).with_context(|| format!("{n} tokens overflow the supply"))
}

impl<'a> Sim<'a> {
    fn new(scenario: &'a Scenario, hp: &Hyperparameters) -> Result<Self> {
        let uids = scenario
            .validators
            .len()
            .saturating_add(scenario.miners.len());
        if uids > usize::from(hp.max_allowed_uids) {
            bail!(
                "the scenario has {uids} participants but max_allowed_uids is {}",
                hp.max_allowed_uids
            );
        }
        if scenario.validators.len() > usize::from(hp.max_allowed_validators) {
            bail!(
                "the scenario has {} validators but max_allowed_validators is {}",
                scenario.validators.len(),
                hp.max_allowed_validators
            );
        }
        let validators: Vec<Keys> = (0..scenario.validators.len())
            .map(|i| Keys::new("validator", i))
            .collect();
        let miners: Vec<Keys> = (0..scenario.miners.len())
            .map(|i| Keys::new("miner", i))
            .collect();
        let owner = Keypair::dev("simulate//owner").public();
        let mut balances: BTreeMap<PublicKey, Rao> = BTreeMap::new();
        let spare = tokens(SPARE_TOKENS)?.saturating_add(hp.burn);
        for (keys, spec) in validators.iter().zip(&scenario.validators) {
            balances.insert(
                keys.coldkey.public(),
                tokens(spec.stake)?.saturating_add(spare),
            );
        }
        for keys in &miners {
            balances.insert(keys.coldkey.public(), spare);
        }
        let genesis = Genesis {
            // Informational only: the simulation produces blocks as fast as it can.
            block_time_ms: 12_000,
            subnet_creation_burn: Rao::ZERO,
            max_subnets: 1,
            balances,
            subnets: vec![GenesisSubnet {
                owner,
                hyperparameters: hp.clone(),
            }],
        };
        let ledger = Ledger::open_temporary(&genesis).context("opening a temporary ledger")?;
        Ok(Self {
            scenario,
            hp: hp.clone(),
            ledger,
            noise_rng: ChaCha8Rng::seed_from_u64(scenario.seed),
            salt_rng: ChaCha8Rng::seed_from_u64(scenario.seed ^ SALT_STREAM),
            pending: validators.iter().map(|_| VecDeque::new()).collect(),
            rejected: vec![BTreeMap::new(); validators.len()],
            validators,
            miners,
        })
    }

    fn tempo(&self) -> u64 {
        u64::from(self.hp.tempo.max(1))
    }

    /// Produces one block; counts refusals of validator transactions, fails on others.
    fn produce(&mut self, block: NextBlock) -> Result<()> {
        let height = self.ledger.height().saturating_add(1);
        let timestamp = height
            .get()
            .saturating_mul(self.ledger.genesis().block_time_ms);
        let outcome = self
            .ledger
            .produce_block(block.txs, timestamp)
            .context("producing a block")?;
        for r in outcome.rejected {
            match block.owners.get(r.index).copied().flatten() {
                Some(v) => {
                    let reason = reason(&format!("{:?}", r.error));
                    if let Some(counts) = self.rejected.get_mut(v) {
                        *counts.entry(reason).or_insert(0) += 1;
                    }
                }
                None => bail!("setup transaction refused at block {height}: {}", r.error),
            }
        }
        Ok(())
    }

    fn produce_until(&mut self, height: BlockNumber) -> Result<()> {
        while self.ledger.height() < height {
            self.produce(NextBlock::default())?;
        }
        Ok(())
    }

    /// Registers everyone, stakes the validators and runs the warm-up epoch.
    fn setup(&mut self) -> Result<()> {
        let mut block = NextBlock::default();
        for keys in self.validators.iter().chain(&self.miners) {
            let call = Call::Register {
                netuid: NETUID,
                hotkey: keys.hotkey.public(),
                ainft: None,
            };
            block.push(&self.ledger, &keys.coldkey, call, None);
        }
        for (keys, spec) in self.validators.iter().zip(&self.scenario.validators) {
            let call = Call::AddStake {
                hotkey: keys.hotkey.public(),
                amount: tokens(spec.stake)?,
            };
            block.push(&self.ledger, &keys.coldkey, call, None);
        }
        self.produce(block)?;
        self.produce_until(BlockNumber(self.tempo()))?;
        Ok(())
    }

    fn metagraph(&self) -> Result<Metagraph> {
        self.ledger
            .metagraph(NETUID)
            .context("the simulated subnet is gone")
    }

    /// Runs simulated epoch `epoch`: weights in the interval's first block, then blocks up to
    /// the epoch block.
    fn epoch(&mut self, epoch: u64) -> Result<EpochRecord> {
        let before = self.metagraph()?;
        let mut block = NextBlock::default();
        for v in 0..self.validators.len() {
            let scores = self.scores(v, epoch, &before);
            let limits = WeightLimits {
                max_weight_limit: self.hp.max_weight_limit,
                min_allowed_weights: self.hp.min_allowed_weights,
            };
            let weights = match scores_to_weights(&scores, limits) {
                Ok(w) => Some(w),
                Err(e) => {
                    let counts = self.rejected.get_mut(v);
                    if let Some(counts) = counts {
                        *counts.entry(format!("NoWeights: {e}")).or_insert(0) += 1;
                    }
                    None
                }
            };
            self.submit(&mut block, v, epoch, weights);
        }
        self.produce(block)?;
        let epoch_block = BlockNumber(epoch.saturating_add(1).saturating_mul(self.tempo()));
        self.produce_until(epoch_block)?;
        self.record(epoch, &before)
    }

    /// Queues validator `v`'s weight transactions for `epoch`.
    fn submit(
        &mut self,
        block: &mut NextBlock,
        v: usize,
        epoch: u64,
        weights: Option<WeightVector>,
    ) {
        let Some(keys) = self.validators.get(v) else {
            return;
        };
        let version_key = self.hp.weights_version;
        if !self.hp.commit_reveal_weights_enabled {
            if let Some(w) = weights {
                let call = Call::SetWeights {
                    netuid: NETUID,
                    uids: w.uids.iter().copied().map(Uid).collect(),
                    values: w.values,
                    version_key,
                };
                block.push(&self.ledger, &keys.hotkey, call, Some(v));
            }
            return;
        }
        let Some(queue) = self.pending.get_mut(v) else {
            return;
        };
        while queue.front().is_some_and(|p| p.reveal_epoch <= epoch) {
            let Some(p) = queue.pop_front() else { break };
            if p.reveal_epoch < epoch {
                continue;
            }
            let call = Call::RevealWeights {
                netuid: NETUID,
                uids: p.weights.uids.iter().copied().map(Uid).collect(),
                values: p.weights.values,
                salt: p.salt,
                version_key,
            };
            block.push(&self.ledger, &keys.hotkey, call, Some(v));
        }
        if let Some(w) = weights {
            let mut salt = vec![0u8; SALT_BYTES];
            self.salt_rng.fill_bytes(&mut salt);
            let hash = WeightCommit {
                hotkey: keys.hotkey.public().as_bytes(),
                netuid: NETUID.0,
                uids: &w.uids,
                values: &w.values,
                salt: &salt,
                version_key,
            }
            .hash();
            let call = Call::CommitWeights {
                netuid: NETUID,
                commit: Digest::from_bytes(hash),
            };
            block.push(&self.ledger, &keys.hotkey, call, Some(v));
            queue.push_back(Pending {
                reveal_epoch: epoch.saturating_add(self.hp.commit_reveal_period),
                weights: w,
                salt,
            });
        }
    }

    /// Scores by UID (validators 0) that validator `v` submits in `epoch`.
    fn scores(&mut self, v: usize, epoch: u64, published: &Metagraph) -> Vec<f64> {
        let n_validators = self.validators.len();
        let mut scores = vec![0.0; n_validators.saturating_add(self.miners.len())];
        let Some(spec) = self.scenario.validators.get(v) else {
            return scores;
        };
        let miner_scores = &mut scores[n_validators..];
        match spec.behaviour {
            Behaviour::Honest | Behaviour::Late => {
                let seen = if spec.behaviour == Behaviour::Late {
                    epoch.saturating_sub(spec.lag)
                } else {
                    epoch
                };
                for (s, m) in miner_scores.iter_mut().zip(&self.scenario.miners) {
                    *s = m.quality_at(seen) + spec.noise * gaussian(&mut self.noise_rng);
                }
            }
            Behaviour::Copier => {
                for (k, s) in miner_scores.iter_mut().enumerate() {
                    *s = published
                        .neurons
                        .get(n_validators.saturating_add(k))
                        .map_or(0.0, |n| f64::from(n.consensus));
                }
                if miner_scores.iter().all(|s| *s <= 0.0) {
                    // Nothing published yet: spread evenly, as a copier without a source would.
                    miner_scores.fill(1.0);
                }
            }
            Behaviour::OutOfConsensus if !spec.targets.is_empty() => {
                for t in &spec.targets {
                    if let Some(s) = self
                        .scenario
                        .miner_index(t)
                        .and_then(|i| miner_scores.get_mut(i))
                    {
                        *s = 1.0;
                    }
                }
            }
            Behaviour::OutOfConsensus => {
                for (s, m) in miner_scores.iter_mut().zip(&self.scenario.miners) {
                    *s = 1.0 - m.quality_at(epoch) + spec.noise * gaussian(&mut self.noise_rng);
                }
            }
        }
        for s in miner_scores.iter_mut() {
            *s = s.max(0.0);
        }
        scores
    }

    /// Reads what epoch `epoch` did.
    fn record(&self, epoch: u64, before: &Metagraph) -> Result<EpochRecord> {
        let after = self.metagraph()?;
        let n_validators = self.validators.len();
        let neuron = |m: &'_ Metagraph, uid: usize| m.neurons.get(uid).cloned();
        let mut validators = Vec::with_capacity(n_validators);
        for v in 0..n_validators {
            let (Some(b), Some(a)) = (neuron(before, v), neuron(&after, v)) else {
                bail!("validator uid {v} is missing from the metagraph");
            };
            let per_stake = if b.stake.is_zero() {
                0.0
            } else {
                a.emission.get() as f64 / b.stake.get() as f64
            };
            validators.push(ValidatorEpoch {
                stake_before: b.stake,
                dividends: a.emission,
                per_stake,
                dividend_share: fraction(a.dividends),
                validator_trust: fraction(a.validator_trust),
            });
        }
        let mut miners = Vec::with_capacity(self.miners.len());
        for (k, spec) in self.scenario.miners.iter().enumerate() {
            let Some(a) = neuron(&after, n_validators.saturating_add(k)) else {
                bail!("miner `{}` is missing from the metagraph", spec.name);
            };
            miners.push(MinerEpoch {
                quality: spec.quality_at(epoch),
                incentive: fraction(a.incentive),
                consensus: fraction(a.consensus),
                emission: a.emission,
            });
        }
        let rows = self.ledger.bonds(NETUID).unwrap_or_default();
        let bonds = (0..n_validators)
            .map(|v| {
                let row = rows.get(v).map(Vec::as_slice).unwrap_or_default();
                (0..self.miners.len())
                    .map(|k| {
                        let uid = n_validators.saturating_add(k);
                        row.iter()
                            .find(|(u, _)| u.index() == uid)
                            .map_or(0.0, |(_, b)| fraction(*b))
                    })
                    .collect()
            })
            .collect();
        Ok(EpochRecord {
            epoch,
            block: self.ledger.height().get(),
            validators,
            miners,
            bonds,
        })
    }
}

fn fraction(v: u16) -> f64 {
    f64::from(v) / f64::from(u16::MAX)
}

/// The variant name of a `Debug`-printed error (`WeightsRateLimited { .. }` → its name).
fn reason(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or(debug)
        .to_owned()
}

/// A standard normal draw (Box–Muller on two uniform draws with 53 random bits each).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let uniform = |rng: &mut ChaCha8Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u1 = 1.0 - uniform(rng);
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_has_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draws: Vec<f64> = (0..20_000).map(|_| gaussian(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert_eq!(
            reason("WeightsRateLimited { next_allowed: 5 }"),
            "WeightsRateLimited"
        );
    }
}
