//! Identity checks: is a miner serving the model its UID registered?
//!
//! 1. **Model info.** The miner's signed [`ModelInfo`] must name the AINFT registered at its
//!    UID on chain (its manifest hashes to that id) and the task this validator evaluates. On
//!    a chain that records no AINFT for the UID (subtensor without the Commitments pallet) the
//!    id the miner names is taken as its claim: its manifest must still hash to it, and the
//!    weights and spot checks below hold it to that claim.
//! 2. **Weights, once per weights digest.** The first miner met with a given registered
//!    weights digest is asked for its weights file; the file must hash to the announced file
//!    digest and the [`Evaluator`] must find in it the weights the manifest names. The loaded
//!    model (the *reference*) is kept for every miner registering that digest.
//! 3. **Spot checks.** Each step, a fraction of each verified miner's answered requests is
//!    re-run on its reference; an answer off by more than the tolerance rejects the miner.
//!
//! A miner that proves itself wrong at any point is [`Standing::Rejected`] until its hotkey
//! or AINFT changes; one that does not answer stays [`Standing::Unverified`] and is asked
//! again after a backoff (1, 2, 4 … up to [`MAX_VERIFY_BACKOFF_STEPS`] steps), so that silent
//! miners do not cost every step a request timeout. Only verified miners are sent tasks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::ids::Uid;
use subnet_protocol::net::Client;
use subnet_protocol::task::{ModelInfo, Task};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::evaluator::{AnswerOf, Evaluator, RequestOf};
use crate::query::{FetchError, Target, download_weights, model_info};
use crate::sampling::choose;

/// Most steps an unanswering miner waits before its identity is checked again.
pub const MAX_VERIFY_BACKOFF_STEPS: u64 = 32;

/// Where a UID's identity check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not checked yet, or the miner did not answer the last check.
    Unverified,
    /// Its model info names its registered AINFT, whose weights (this digest) are loaded.
    Verified {
        /// The registered weights digest.
        weights: Digest,
    },
    /// It proved not to serve its registered AINFT; scored 0 until its identity changes.
    Rejected,
}

/// Why a miner was rejected (the label of `validator_verification_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// Its model info is undecodable or inconsistent.
    ModelInfo,
    /// Its model info names another AINFT than the one registered at its UID.
    AinftMismatch,
    /// Its AINFT serves another task.
    TaskMismatch,
    /// Its weights file is corrupt or does not hold the registered weights.
    Weights,
    /// A re-run of one of its answers on its registered weights differs.
    SpotCheck,
}

impl Failure {
    /// Every failure, for metrics.
    pub const ALL: [Self; 5] = [
        Self::ModelInfo,
        Self::AinftMismatch,
        Self::TaskMismatch,
        Self::Weights,
        Self::SpotCheck,
    ];

    /// The metrics label.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::ModelInfo => "model_info",
            Self::AinftMismatch => "ainft_mismatch",
            Self::TaskMismatch => "task_mismatch",
            Self::Weights => "weights",
            Self::SpotCheck => "spot_check",
        }
    }
}

/// The identity checks' state: each UID's standing and the loaded reference models.
pub(crate) struct Identities<E: Evaluator> {
    standing: HashMap<Uid, Standing>,
    references: HashMap<Digest, Arc<E::Reference>>,
    /// Unanswered checks in a row, and the first step at which to ask again.
    backoff: HashMap<Uid, (u32, u64)>,
}

impl<E: Evaluator> std::fmt::Debug for Identities<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("standing", &self.standing)
            .field("references", &self.references.len())
            .finish()
    }
}

/// What one miner's spot check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpotCheck {
    /// Every re-run matched (or nothing needed checking).
    Passed {
        /// Requests re-run.
        checked: usize,
    },
    /// A re-run differed.
    Failed,
}

impl<E: Evaluator> Identities<E> {
    pub(crate) fn new() -> Self {
        Self {
            standing: HashMap::new(),
            references: HashMap::new(),
            backoff: HashMap::new(),
        }
    }

    /// The standing of `uid` (unverified if never seen).
    pub(crate) fn standing(&self, uid: Uid) -> Standing {
        self.standing
            .get(&uid)
            .copied()
            .unwrap_or(Standing::Unverified)
    }

    /// Sets the standing of `uid` (a restored rejection, or a fresh identity).
    pub(crate) fn set(&mut self, uid: Uid, standing: Standing) {
        self.standing.insert(uid, standing);
    }

    /// Forgets `uid`'s standing: its identity changed.
    pub(crate) fn reset(&mut self, uid: Uid) {
        self.standing.remove(&uid);
        self.backoff.remove(&uid);
    }

    /// Records an unanswered check of `uid` at `step`: the next is due after 1, 2, 4 … steps.
    fn unanswered(&mut self, uid: Uid, step: u64) {
        let failures = self.backoff.get(&uid).map_or(0, |b| b.0).saturating_add(1);
        let wait = (1u64 << failures.saturating_sub(1).min(5)).min(MAX_VERIFY_BACKOFF_STEPS);
        self.backoff
            .insert(uid, (failures, step.saturating_add(wait)));
    }

    /// Reference models loaded.
    pub(crate) fn references(&self) -> usize {
        self.references.len()
    }

    /// Checks every unverified target (not backing off at `step`) against the AINFT
    /// registered at its UID (`None`: the chain records none, the miner's own claim is
    /// checked), downloading weights for digests not yet loaded. Returns the rejections made.
    pub(crate) async fn verify(
        &mut self,
        step: u64,
        client: &Arc<Client>,
        evaluator: &Arc<E>,
        targets: &[(Target, Option<AinftId>)],
        permits: &Arc<Semaphore>,
        chunk_bytes: u32,
    ) -> Vec<(Uid, Failure)> {
        let mut rejected = Vec::new();
        let mut infos = JoinSet::new();
        for &(target, ainft) in targets {
            let backing_off = self.backoff.get(&target.uid).is_some_and(|b| b.1 > step);
            if self.standing(target.uid) != Standing::Unverified || backing_off {
                continue;
            }
            let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
                break;
            };
            let client = Arc::clone(client);
            infos.spawn(async move {
                let _permit = permit;
                (target, ainft, model_info(&client, &target).await)
            });
        }
        // Weights digests not yet loaded, with the miners claiming them.
        let mut wanted: BTreeMap<Digest, Vec<(Target, ModelInfo)>> = BTreeMap::new();
        while let Some(joined) = infos.join_next().await {
            let Ok((target, ainft, fetched)) = joined else {
                continue;
            };
            let info = match fetched {
                Ok(info) => info,
                Err(FetchError::Unanswered(result)) => {
                    tracing::debug!(uid = %target.uid, result = result.as_label(),
                        "no model info; retrying later");
                    self.unanswered(target.uid, step);
                    continue;
                }
                Err(FetchError::Invalid(why)) => {
                    tracing::warn!(uid = %target.uid, why, "invalid model info");
                    rejected.push((target.uid, Failure::ModelInfo));
                    continue;
                }
            };
            if let Some(ainft) = ainft.filter(|a| *a != info.id) {
                tracing::warn!(uid = %target.uid, registered = %ainft, served = %info.id,
                    "miner serves another AINFT than its registered one");
                rejected.push((target.uid, Failure::AinftMismatch));
                continue;
            }
            if info.manifest.service.task != E::Task::NAME {
                rejected.push((target.uid, Failure::TaskMismatch));
                continue;
            }
            self.backoff.remove(&target.uid);
            let weights = info.manifest.model.weights_digest;
            if self.references.contains_key(&weights) {
                self.standing
                    .insert(target.uid, Standing::Verified { weights });
            } else {
                wanted.entry(weights).or_default().push((target, info));
            }
        }
        let mut loads = JoinSet::new();
        for (weights, claimants) in wanted {
            let Some((target, info)) = claimants.first().cloned() else {
                continue;
            };
            let (client, evaluator) = (Arc::clone(client), Arc::clone(evaluator));
            let uids: Vec<Uid> = claimants.iter().map(|(t, _)| t.uid).collect();
            loads.spawn(async move {
                let loaded = load(&client, &evaluator, &target, info, chunk_bytes).await;
                (weights, target.uid, uids, loaded)
            });
        }
        while let Some(joined) = loads.join_next().await {
            let Ok((weights, source, uids, loaded)) = joined else {
                continue;
            };
            match loaded {
                Ok(reference) => {
                    tracing::info!(weights = %weights, uid = %source, "loaded registered weights");
                    self.references.insert(weights, Arc::new(reference));
                    for uid in uids {
                        self.standing.insert(uid, Standing::Verified { weights });
                    }
                }
                Err(Some(failure)) => rejected.push((source, failure)),
                Err(None) => {}
            }
        }
        for &(uid, _) in &rejected {
            self.standing.insert(uid, Standing::Rejected);
        }
        rejected
    }

    /// Re-runs a sample of each verified miner's answers on its reference: `rate` of its
    /// answered requests, at least one when `rate > 0`; answers match within `tolerance`. Re-runs of one request on one
    /// reference are shared by all miners that need it. Returns each checked miner's result;
    /// a failed one is rejected.
    pub(crate) async fn spot_check(
        &mut self,
        evaluator: &Arc<E>,
        rng: &mut ChaCha8Rng,
        uids: &[Uid],
        requests: &Arc<Vec<RequestOf<E>>>,
        answers: &[Vec<Result<AnswerOf<E>, crate::query::QueryResult>>],
        (rate, tolerance): (f64, f64),
    ) -> Vec<(Uid, SpotCheck)> {
        if rate <= 0.0 {
            return Vec::new();
        }
        // (miner index, request index) to check, and the re-runs they need by digest.
        let mut picks: Vec<(usize, Digest, Vec<usize>)> = Vec::new();
        let mut needed: BTreeMap<Digest, Vec<usize>> = BTreeMap::new();
        for (i, (uid, row)) in uids.iter().zip(answers).enumerate() {
            let Standing::Verified { weights } = self.standing(*uid) else {
                continue;
            };
            let answered: Vec<usize> = (0..row.len()).filter(|&r| row[r].is_ok()).collect();
            let k = ((answered.len() as f64) * rate).ceil() as usize;
            let chosen: Vec<usize> = choose(rng, answered.len(), k.max(1))
                .into_iter()
                .filter_map(|j| answered.get(j).copied())
                .collect();
            let list = needed.entry(weights).or_default();
            list.extend(&chosen);
            list.sort_unstable();
            list.dedup();
            picks.push((i, weights, chosen));
        }
        let mut reruns = JoinSet::new();
        for (weights, indices) in needed {
            let Some(reference) = self.references.get(&weights).cloned() else {
                continue;
            };
            let (evaluator, requests) = (Arc::clone(evaluator), Arc::clone(requests));
            reruns.spawn_blocking(move || {
                let batch: Vec<&RequestOf<E>> =
                    indices.iter().filter_map(|&r| requests.get(r)).collect();
                let out = evaluator.rerun(&reference, &batch);
                (weights, indices, out)
            });
        }
        let mut expected: HashMap<(Digest, usize), AnswerOf<E>> = HashMap::new();
        while let Some(joined) = reruns.join_next().await {
            let Ok((weights, indices, out)) = joined else {
                continue;
            };
            match out {
                Ok(answers) if answers.len() == indices.len() => {
                    for (r, a) in indices.into_iter().zip(answers) {
                        expected.insert((weights, r), a);
                    }
                }
                Ok(_) => tracing::warn!(weights = %weights, "re-run returned the wrong count"),
                Err(e) => tracing::warn!(weights = %weights, error = %e, "re-run failed"),
            }
        }
        let mut results = Vec::new();
        for (i, weights, chosen) in picks {
            let (Some(uid), Some(row)) = (uids.get(i), answers.get(i)) else {
                continue;
            };
            let mut checked = 0;
            let mut failed = false;
            for r in chosen {
                let (Some(Ok(answer)), Some(want)) = (row.get(r), expected.get(&(weights, r)))
                else {
                    continue;
                };
                checked += 1;
                if !evaluator.matches(answer, want, tolerance) {
                    failed = true;
                    break;
                }
            }
            if failed {
                tracing::warn!(uid = %uid, weights = %weights,
                    "answer differs from the registered model's");
                self.standing.insert(*uid, Standing::Rejected);
                results.push((*uid, SpotCheck::Failed));
            } else {
                results.push((*uid, SpotCheck::Passed { checked }));
            }
        }
        results
    }
}

/// Downloads `target`'s weights and loads them as a reference (off the executor). `Err(None)`:
/// no answer, try again later; `Err(Some(_))`: the miner is to be rejected.
async fn load<E: Evaluator>(
    client: &Client,
    evaluator: &Arc<E>,
    target: &Target,
    info: ModelInfo,
    chunk_bytes: u32,
) -> Result<E::Reference, Option<Failure>> {
    let file = match download_weights(client, target, &info, chunk_bytes).await {
        Ok(file) => file,
        Err(FetchError::Unanswered(result)) => {
            tracing::debug!(uid = %target.uid, result = result.as_label(),
                "weights download failed; retrying next step");
            return Err(None);
        }
        Err(FetchError::Invalid(why)) => {
            tracing::warn!(uid = %target.uid, why, "invalid weights download");
            return Err(Some(Failure::Weights));
        }
    };
    let evaluator = Arc::clone(evaluator);
    let uid = target.uid;
    match tokio::task::spawn_blocking(move || evaluator.load_reference(&info, file)).await {
        Ok(Ok(reference)) => Ok(reference),
        Ok(Err(e)) => {
            tracing::warn!(uid = %uid, error = %e, "weights are not the registered ones");
            Err(Some(Failure::Weights))
        }
        Err(_) => Err(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::LmEvaluator;

    #[test]
    fn unanswering_miners_back_off_exponentially() {
        let mut ids = Identities::<LmEvaluator>::new();
        let uid = Uid(4);
        let mut step = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            ids.unanswered(uid, step);
            let next = ids.backoff[&uid].1;
            waits.push(next - step);
            step = next;
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 32, 32]);
        ids.reset(uid);
        assert!(!ids.backoff.contains_key(&uid));
        assert_eq!(ids.standing(uid), Standing::Unverified);
    }
}
