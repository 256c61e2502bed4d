//! Who may call the miner: registered hotkeys with a validator permit, each within its rate.
//!
//! [`Admission::admit`] runs on every verified request before any work, so it only reads a
//! snapshot of the metagraph (replaced as blocks arrive) and takes a token from the caller's
//! bucket. Both are behind short, non-async locks.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use subnet_protocol::RejectReason;
use subnet_protocol::chain::Metagraph;
use subnet_protocol::ids::{BlockNumber, Rao};
use subnet_protocol::keys::PublicKey;

/// A caller as the latest metagraph shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caller {
    stake: Rao,
    permit: bool,
}

/// The callers the latest metagraph allows.
#[derive(Debug, Default)]
struct View {
    block: BlockNumber,
    callers: HashMap<PublicKey, Caller>,
}

/// Admission control: the metagraph snapshot and the per-caller rate limiter.
#[derive(Debug)]
pub(crate) struct Admission {
    view: RwLock<View>,
    limiter: Mutex<RateLimiter>,
}

impl Admission {
    /// No one admitted until [`Admission::update`]; `rate` requests per second per caller,
    /// `burst` at once.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        Self {
            view: RwLock::new(View::default()),
            limiter: Mutex::new(RateLimiter::new(rate, burst)),
        }
    }

    /// Replaces the snapshot with `metagraph`, and forgets the buckets of callers it no longer
    /// admits (so the limiter holds at most one bucket per permitted UID).
    pub(crate) fn update(&self, metagraph: &Metagraph) {
        let callers: HashMap<PublicKey, Caller> = metagraph
            .neurons
            .iter()
            .map(|n| {
                (
                    n.hotkey,
                    Caller {
                        stake: n.stake,
                        permit: n.validator_permit,
                    },
                )
            })
            .collect();
        self.limiter()
            .retain(|key| callers.get(key).is_some_and(|c| c.permit));
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = View {
            block: metagraph.block,
            callers,
        };
    }

    /// The block of the snapshot.
    pub(crate) fn block(&self) -> BlockNumber {
        self.read().block
    }

    /// Admits `sender` at `now`: registered, holding a validator permit, and within its rate.
    /// Returns its stake (its priority when the miner is busy).
    ///
    /// # Errors
    /// [`RejectReason::NotRegistered`], [`RejectReason::NoPermit`] or
    /// [`RejectReason::RateLimited`], checked in that order (an unadmitted caller never spends
    /// tokens).
    pub(crate) fn admit(&self, sender: &PublicKey, now: Instant) -> Result<Rao, RejectReason> {
        let caller = self
            .read()
            .callers
            .get(sender)
            .copied()
            .ok_or(RejectReason::NotRegistered)?;
        if !caller.permit {
            return Err(RejectReason::NoPermit);
        }
        if !self.limiter().take(sender, now) {
            return Err(RejectReason::RateLimited);
        }
        Ok(caller.stake)
    }

    /// Whether the claimed `sender` is registered with a validator permit, without spending
    /// its rate-limit budget: the check that may run before its signature is verified.
    pub(crate) fn screen(&self, sender: &PublicKey) -> Result<(), RejectReason> {
        match self.read().callers.get(sender) {
            None => Err(RejectReason::NotRegistered),
            Some(caller) if !caller.permit => Err(RejectReason::NoPermit),
            Some(_) => Ok(()),
        }
    }

    /// `sender`'s stake in the snapshot (zero if unknown).
    pub(crate) fn stake_of(&self, sender: &PublicKey) -> Rao {
        self.read()
            .callers
            .get(sender)
            .map_or(Rao::ZERO, |c| c.stake)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        // The view is replaced whole; a panic elsewhere cannot leave it half-written.
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, RateLimiter> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Token buckets per caller: each holds up to `burst` tokens and refills at `rate` per second;
/// a request takes one.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<PublicKey, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from `key`'s bucket at `now`; false if it is empty.
    fn take(&mut self, key: &PublicKey, now: Instant) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(*key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn retain(&mut self, keep: impl Fn(&PublicKey) -> bool) {
        self.buckets.retain(|key, _| keep(key));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use subnet_protocol::chain::NeuronInfo;
    use subnet_protocol::ids::{NetUid, Uid};
    use subnet_protocol::keys::Keypair;

    use super::*;

    fn neuron(uid: u16, key: &Keypair, stake: u64, permit: bool) -> NeuronInfo {
        NeuronInfo {
            uid: Uid(uid),
            hotkey: key.public(),
            coldkey: key.public(),
            ainft: None,
            axon: None,
            stake: Rao(stake),
            validator_permit: permit,
            last_update: BlockNumber(0),
            block_at_registration: BlockNumber(0),
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            emission: Rao(0),
            total_emission: Rao(0),
        }
    }

    #[test]
    fn screening_refuses_unknown_callers_and_spends_no_budget() {
        let (v, w, x) = (
            Keypair::from_seed(&[1; 32]),
            Keypair::from_seed(&[2; 32]),
            Keypair::from_seed(&[3; 32]),
        );
        let admission = Admission::new(1.0, 1);
        admission.update(&Metagraph {
            netuid: NetUid(1),
            block: BlockNumber(5),
            last_epoch_block: None,
            neurons: vec![neuron(0, &v, 70, true), neuron(1, &w, 0, false)],
        });
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(admission.screen(&v.public()), Ok(()));
        }
        assert_eq!(admission.screen(&w.public()), Err(RejectReason::NoPermit));
        assert_eq!(
            admission.screen(&x.public()),
            Err(RejectReason::NotRegistered)
        );
        // The burst of one is still whole after the screenings, and spent by one admission.
        assert_eq!(admission.admit(&v.public(), now), Ok(Rao(70)));
        assert_eq!(
            admission.admit(&v.public(), now),
            Err(RejectReason::RateLimited)
        );
        assert_eq!(admission.screen(&v.public()), Ok(()));
    }

    #[test]
    fn admits_permitted_callers_only() {
        let (v, w, x) = (
            Keypair::from_seed(&[1; 32]),
            Keypair::from_seed(&[2; 32]),
            Keypair::from_seed(&[3; 32]),
        );
        let admission = Admission::new(1.0, 10);
        let now = Instant::now();
        assert_eq!(
            admission.admit(&v.public(), now),
            Err(RejectReason::NotRegistered)
        );
        admission.update(&Metagraph {
            netuid: NetUid(1),
            block: BlockNumber(5),
            last_epoch_block: None,
            neurons: vec![neuron(0, &v, 70, true), neuron(1, &w, 0, false)],
        });
        assert_eq!(admission.block(), BlockNumber(5));
        assert_eq!(admission.admit(&v.public(), now), Ok(Rao(70)));
        assert_eq!(
            admission.admit(&w.public(), now),
            Err(RejectReason::NoPermit)
        );
        assert_eq!(
            admission.admit(&x.public(), now),
            Err(RejectReason::NotRegistered)
        );
        assert_eq!(admission.stake_of(&v.public()), Rao(70));
        assert_eq!(admission.stake_of(&x.public()), Rao::ZERO);
        // Losing the permit takes effect at the next update.
        admission.update(&Metagraph {
            netuid: NetUid(1),
            block: BlockNumber(6),
            last_epoch_block: None,
            neurons: vec![neuron(0, &v, 70, false)],
        });
        assert_eq!(
            admission.admit(&v.public(), now),
            Err(RejectReason::NoPermit)
        );
        assert!(admission.limiter().buckets.is_empty());
    }

    #[test]
    fn token_bucket_allows_burst_then_rate() {
        let key = Keypair::from_seed(&[1; 32]).public();
        let other = Keypair::from_seed(&[2; 32]).public();
        let mut limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.take(&key, t0)));
        assert!(!limiter.take(&key, t0));
        // Another caller has its own bucket.
        assert!(limiter.take(&other, t0));
        // 2 tokens per second: one more after 0.5 s, none after 0.25 s more.
        assert!(limiter.take(&key, t0 + Duration::from_millis(500)));
        assert!(!limiter.take(&key, t0 + Duration::from_millis(750)));
        assert!(limiter.take(&key, t0 + Duration::from_millis(1000)));
        // A long pause refills to the burst, no more.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.take(&key, later)));
        assert!(!limiter.take(&key, later));
        // A clock reading from the past refills nothing.
        assert!(!limiter.take(&key, t0));
    }
}
