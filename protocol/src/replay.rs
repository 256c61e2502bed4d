//! [`ReplayGuard`]: the timestamp window and per-sender nonce memory that stop a captured
//! request from being accepted twice.
//!
//! A request is fresh if its timestamp is within `max_skew` of the receiver's clock (and not
//! below the guard's low watermark, see below), and its nonce has not been accepted from that
//! sender before. Nonces are accepted at most once and must be above the sender's highest
//! accepted nonce minus [`REPLAY_WINDOW`]: strictly increasing, except that up to
//! [`REPLAY_WINDOW`] requests may arrive out of order. Strict ordering would reject honest
//! callers, because a client with many requests in flight on separate QUIC streams cannot
//! control which stream the receiver reads first (the same reason IPsec and WireGuard use a
//! window).
//!
//! # Bounded memory
//! At most `max_senders` senders are remembered (about 200 bytes each). When a new sender would
//! exceed that, the least recently seen sender is forgotten and the guard's low watermark rises
//! to just above the newest timestamp it had accepted from that sender. Every message the
//! forgotten sender ever had accepted is then below the watermark and is rejected as stale, so
//! eviction never re-opens a replay. The price is paid by honest senders only under eviction
//! pressure: their messages older than the watermark are refused too (they retry with a fresh
//! timestamp). Entries whose newest timestamp is already outside the skew window are the first
//! to go, and raise the watermark to a point that the skew check enforces anyway.
//!
//! The guard reads no clock: callers pass `now_ms` (milliseconds since the Unix epoch).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::keys::PublicKey;
use crate::reject::RejectReason;

/// How far below a sender's highest accepted nonce a nonce may still be accepted (once).
pub const REPLAY_WINDOW: u64 = 1024;
/// Default allowed difference between a sender's timestamp and the receiver's clock: 30 s.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(30);
/// Default number of senders remembered.
pub const DEFAULT_MAX_SENDERS: usize = 65_536;

const WINDOW_WORDS: usize = 16;
const _: () = assert!(WINDOW_WORDS as u64 * 64 == REPLAY_WINDOW);

/// Limits of a [`ReplayGuard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Allowed clock difference either way. Default [`DEFAULT_MAX_SKEW`].
    pub max_skew: Duration,
    /// Senders remembered before the least recently seen is evicted (at least 1). Default
    /// [`DEFAULT_MAX_SENDERS`].
    pub max_senders: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            max_skew: DEFAULT_MAX_SKEW,
            max_senders: DEFAULT_MAX_SENDERS,
        }
    }
}

/// Remembers recent senders' nonces and rejects replays. See the [module docs](self).
#[derive(Debug)]
pub struct ReplayGuard {
    max_skew_ms: u64,
    max_senders: usize,
    senders: HashMap<PublicKey, SenderState>,
    /// `(last_seen_ms, sender)` for every entry of `senders`: the eviction order.
    by_recency: BTreeSet<(u64, PublicKey)>,
    /// Messages with a timestamp below this are rejected; raised by evictions only.
    low_watermark_ms: u64,
    evictions: u64,
}

/// Why a message is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The timestamp is more than the allowed skew behind the receiver's clock.
    #[error("timestamp {timestamp_ms} ms is more than {max_skew_ms} ms before now ({now_ms} ms)")]
    StaleTimestamp {
        /// The message's timestamp.
        timestamp_ms: u64,
        /// The receiver's clock.
        now_ms: u64,
        /// The allowed skew.
        max_skew_ms: u64,
    },
    /// The timestamp is more than the allowed skew ahead of the receiver's clock.
    #[error("timestamp {timestamp_ms} ms is more than {max_skew_ms} ms after now ({now_ms} ms)")]
    FutureTimestamp {
        /// The message's timestamp.
        timestamp_ms: u64,
        /// The receiver's clock.
        now_ms: u64,
        /// The allowed skew.
        max_skew_ms: u64,
    },
    /// The timestamp is below the low watermark left by an eviction.
    #[error("timestamp {timestamp_ms} ms is below the replay watermark {watermark_ms} ms")]
    BelowWatermark {
        /// The message's timestamp.
        timestamp_ms: u64,
        /// The watermark.
        watermark_ms: u64,
    },
    /// This nonce was already accepted from this sender.
    #[error("nonce {nonce} already used")]
    ReplayedNonce {
        /// The nonce.
        nonce: u64,
    },
    /// The nonce is [`REPLAY_WINDOW`] or more below the sender's highest.
    #[error("nonce {nonce} is too far below the highest accepted ({highest})")]
    NonceTooOld {
        /// The nonce.
        nonce: u64,
        /// The sender's highest accepted nonce.
        highest: u64,
    },
}

impl ReplayError {
    /// The reason sent back to the peer and counted in metrics.
    pub const fn reason(&self) -> RejectReason {
        match self {
            Self::StaleTimestamp { .. } | Self::BelowWatermark { .. } => {
                RejectReason::StaleTimestamp
            }
            Self::FutureTimestamp { .. } => RejectReason::FutureTimestamp,
            Self::ReplayedNonce { .. } | Self::NonceTooOld { .. } => RejectReason::ReplayedNonce,
        }
    }
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new(config: &ReplayConfig) -> Self {
        Self {
            max_skew_ms: u64::try_from(config.max_skew.as_millis()).unwrap_or(u64::MAX),
            max_senders: config.max_senders.max(1),
            senders: HashMap::new(),
            by_recency: BTreeSet::new(),
            low_watermark_ms: 0,
            evictions: 0,
        }
    }

    /// Whether a message would be accepted now, without remembering it. Call before the
    /// expensive checks; call [`ReplayGuard::record`] only once the signature has verified, so
    /// that forged messages cannot use up a sender's nonces.
    ///
    /// # Errors
    /// A [`ReplayError`] naming the first check that failed: timestamp, then nonce.
    pub fn check(
        &self,
        sender: &PublicKey,
        nonce: u64,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayError> {
        if timestamp_ms < now_ms.saturating_sub(self.max_skew_ms) {
            return Err(ReplayError::StaleTimestamp {
                timestamp_ms,
                now_ms,
                max_skew_ms: self.max_skew_ms,
            });
        }
        if timestamp_ms > now_ms.saturating_add(self.max_skew_ms) {
            return Err(ReplayError::FutureTimestamp {
                timestamp_ms,
                now_ms,
                max_skew_ms: self.max_skew_ms,
            });
        }
        if timestamp_ms < self.low_watermark_ms {
            return Err(ReplayError::BelowWatermark {
                timestamp_ms,
                watermark_ms: self.low_watermark_ms,
            });
        }
        self.senders
            .get(sender)
            .map_or(Ok(()), |state| state.check(nonce))
    }

    /// Checks the message again (another copy may have been recorded since [`check`]) and
    /// remembers its nonce.
    ///
    /// # Errors
    /// As [`ReplayGuard::check`]; nothing is remembered then.
    ///
    /// [`check`]: ReplayGuard::check
    pub fn record(
        &mut self,
        sender: &PublicKey,
        nonce: u64,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayError> {
        self.check(sender, nonce, timestamp_ms, now_ms)?;
        if let Some(state) = self.senders.get_mut(sender) {
            state.mark(nonce);
            state.max_timestamp_ms = state.max_timestamp_ms.max(timestamp_ms);
            if state.last_seen_ms != now_ms {
                self.by_recency.remove(&(state.last_seen_ms, *sender));
                state.last_seen_ms = now_ms;
                self.by_recency.insert((now_ms, *sender));
            }
            return Ok(());
        }
        while self.senders.len() >= self.max_senders {
            self.evict_least_recent();
        }
        self.senders
            .insert(*sender, SenderState::new(nonce, timestamp_ms, now_ms));
        self.by_recency.insert((now_ms, *sender));
        Ok(())
    }

    /// Messages with a timestamp below this many ms since the epoch are rejected.
    pub const fn low_watermark_ms(&self) -> u64 {
        self.low_watermark_ms
    }

    /// Senders currently remembered.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether no sender is remembered.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Senders forgotten to keep within `max_senders` since the guard was made.
    pub const fn evictions(&self) -> u64 {
        self.evictions
    }

    fn evict_least_recent(&mut self) {
        let Some((_, key)) = self.by_recency.pop_first() else {
            // by_recency mirrors senders; if it is empty so is senders and the caller's loop ends.
            self.senders.clear();
            return;
        };
        if let Some(state) = self.senders.remove(&key) {
            self.low_watermark_ms = self
                .low_watermark_ms
                .max(state.max_timestamp_ms.saturating_add(1));
            self.evictions = self.evictions.saturating_add(1);
        }
    }
}

/// One sender's nonce memory: the highest accepted nonce and a ring bitmap of the
/// [`REPLAY_WINDOW`] nonces at or below it (bit `n mod REPLAY_WINDOW` is nonce `n`).
#[derive(Debug, Clone)]
struct SenderState {
    highest: u64,
    seen: [u64; WINDOW_WORDS],
    max_timestamp_ms: u64,
    last_seen_ms: u64,
}

impl SenderState {
    fn new(nonce: u64, timestamp_ms: u64, now_ms: u64) -> Self {
        let mut state = Self {
            highest: nonce,
            seen: [0; WINDOW_WORDS],
            max_timestamp_ms: timestamp_ms,
            last_seen_ms: now_ms,
        };
        state.set(nonce, true);
        state
    }

    fn check(&self, nonce: u64) -> Result<(), ReplayError> {
        if nonce > self.highest {
            return Ok(());
        }
        if self.highest.wrapping_sub(nonce) >= REPLAY_WINDOW {
            return Err(ReplayError::NonceTooOld {
                nonce,
                highest: self.highest,
            });
        }
        if self.is_set(nonce) {
            return Err(ReplayError::ReplayedNonce { nonce });
        }
        Ok(())
    }

    fn mark(&mut self, nonce: u64) {
        if nonce > self.highest {
            if nonce.wrapping_sub(self.highest) >= REPLAY_WINDOW {
                self.seen = [0; WINDOW_WORDS];
            } else {
                // The slots of the nonces skipped over still hold nonces a window older.
                for skipped in self.highest.saturating_add(1)..nonce {
                    self.set(skipped, false);
                }
            }
            self.highest = nonce;
        }
        self.set(nonce, true);
    }

    fn slot(nonce: u64) -> (usize, u64) {
        let bit = nonce & (REPLAY_WINDOW - 1);
        let word = usize::try_from(bit >> 6).unwrap_or(0);
        (
            word,
            1u64.wrapping_shl(u32::try_from(bit & 63).unwrap_or(0)),
        )
    }

    fn is_set(&self, nonce: u64) -> bool {
        let (word, mask) = Self::slot(nonce);
        self.seen.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, nonce: u64, on: bool) {
        let (word, mask) = Self::slot(nonce);
        if let Some(w) = self.seen.get_mut(word) {
            if on {
                *w |= mask;
            } else {
                *w &= !mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn guard(max_senders: usize) -> ReplayGuard {
        ReplayGuard::new(&ReplayConfig {
            max_skew: Duration::from_secs(30),
            max_senders,
        })
    }

    #[test]
    fn timestamps_outside_the_skew_are_rejected() {
        let g = guard(10);
        let k = key(1);
        assert!(g.check(&k, 1, NOW - 30_000, NOW).is_ok());
        assert!(g.check(&k, 1, NOW + 30_000, NOW).is_ok());
        let stale = g.check(&k, 1, NOW - 30_001, NOW).unwrap_err();
        assert!(matches!(stale, ReplayError::StaleTimestamp { .. }));
        assert_eq!(stale.reason(), RejectReason::StaleTimestamp);
        let future = g.check(&k, 1, NOW + 30_001, NOW).unwrap_err();
        assert_eq!(future.reason(), RejectReason::FutureTimestamp);
        // Clocks near the ends of the range do not overflow.
        assert!(g.check(&k, 1, 0, 0).is_ok());
        assert!(g.check(&k, 1, u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn a_nonce_is_accepted_once() {
        let mut g = guard(10);
        let k = key(1);
        g.record(&k, 5, NOW, NOW).unwrap();
        assert_eq!(
            g.check(&k, 5, NOW, NOW),
            Err(ReplayError::ReplayedNonce { nonce: 5 })
        );
        assert_eq!(
            g.record(&k, 5, NOW, NOW),
            Err(ReplayError::ReplayedNonce { nonce: 5 })
        );
        // Other senders have their own nonces.
        g.record(&key(2), 5, NOW, NOW).unwrap();
    }

    #[test]
    fn out_of_order_within_the_window_is_accepted_once() {
        let mut g = guard(10);
        let k = key(1);
        let base = 5000;
        g.record(&k, base, NOW, NOW).unwrap();
        g.record(&k, base - 1, NOW, NOW).unwrap();
        g.record(&k, base + 1, NOW, NOW).unwrap();
        assert!(g.record(&k, base - 1, NOW, NOW).is_err());
        assert!(g.record(&k, base, NOW, NOW).is_err());
        g.record(&k, base + 1 - REPLAY_WINDOW + 1, NOW, NOW)
            .unwrap();
        let old = g.check(&k, base + 1 - REPLAY_WINDOW, NOW, NOW).unwrap_err();
        assert!(matches!(old, ReplayError::NonceTooOld { .. }));
        assert_eq!(old.reason(), RejectReason::ReplayedNonce);
    }

    #[test]
    fn advancing_clears_slots_that_held_older_nonces() {
        let mut g = guard(10);
        let k = key(1);
        g.record(&k, 10, NOW, NOW).unwrap();
        // 10 + WINDOW shares a slot with 10; jumping there must not look like a replay.
        g.record(&k, 10 + REPLAY_WINDOW, NOW, NOW).unwrap();
        // 9 + WINDOW is inside the window and was never seen.
        g.record(&k, 9 + REPLAY_WINDOW, NOW, NOW).unwrap();
        g.record(&k, u64::MAX, NOW, NOW).unwrap();
        assert!(g.check(&k, u64::MAX, NOW, NOW).is_err());
        assert!(g.check(&k, u64::MAX - 1, NOW, NOW).is_ok());
    }

    #[test]
    fn eviction_is_bounded_and_does_not_reopen_replays() {
        let mut g = guard(2);
        g.record(&key(1), 1, NOW, NOW).unwrap();
        g.record(&key(2), 1, NOW + 5, NOW + 10).unwrap();
        // Third sender: key(1), least recently seen, is evicted.
        g.record(&key(3), 1, NOW + 20, NOW + 20).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g.evictions(), 1);
        assert_eq!(g.low_watermark_ms(), NOW + 1);
        // key(1)'s accepted message, replayed, is now below the watermark.
        let err = g.check(&key(1), 1, NOW, NOW + 20).unwrap_err();
        assert!(matches!(err, ReplayError::BelowWatermark { .. }));
        assert_eq!(err.reason(), RejectReason::StaleTimestamp);
        // Fresh messages from key(1) are fine, and it is tracked again.
        g.record(&key(1), 2, NOW + 20, NOW + 20).unwrap();
        assert_eq!(g.len(), 2);
        assert!(g.check(&key(1), 2, NOW + 20, NOW + 20).is_err());
    }

    #[test]
    fn recently_seen_senders_are_kept() {
        let mut g = guard(2);
        g.record(&key(1), 1, NOW, NOW).unwrap();
        g.record(&key(2), 1, NOW, NOW + 1).unwrap();
        g.record(&key(1), 2, NOW + 2, NOW + 2).unwrap(); // key(1) now most recent
        g.record(&key(3), 1, NOW + 3, NOW + 3).unwrap();
        assert!(
            g.check(&key(1), 2, NOW + 2, NOW + 3).is_err(),
            "key(1) still tracked"
        );
        assert_eq!(g.low_watermark_ms(), NOW + 1, "key(2) was evicted");
    }

    proptest! {
        /// Each (sender, nonce) is one signed message with one timestamp; delivered in any order,
        /// any number of times, under any eviction pressure, none is accepted twice.
        #[test]
        fn never_accepts_a_replay(
            ops in proptest::collection::vec((0u8..6, 0u64..40, 0u64..50), 1..300),
            cap in 1usize..5,
        ) {
            let mut g = guard(cap);
            let mut accepted = std::collections::HashSet::new();
            let mut now = NOW;
            for (sender, nonce, dt) in ops {
                now += dt;
                let ts = NOW + nonce * 100;
                if g.record(&key(sender), nonce, ts, now).is_ok() {
                    prop_assert!(accepted.insert((sender, nonce)), "replay of {sender}/{nonce}");
                }
            }
            prop_assert!(g.len() <= cap);
        }
    }
}
