//! [`VerifyingKeyCache`]: decompressed ed25519 keys of recent senders.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ed25519_dalek::VerifyingKey;

use crate::keys::{PublicKey, SignatureError};

/// Default number of keys kept.
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 4096;

/// A bounded map from a public key to its decompressed form.
///
/// Decompressing an ed25519 point (a field square root, roughly 10 µs) costs about a third of a
/// verification; a receiver sees the same few hundred hotkeys over and over, so it keeps them.
/// Keys that are not valid points, or are weak (of small order, for which a signature can verify
/// for many messages), are refused here and never cached, which is what lets
/// [`PublicKey::verify_with`]'s cheaper non-strict check stand in for `verify_strict` on every
/// message. When full, an arbitrary entry makes room: a miss only costs a decompression.
#[derive(Debug)]
pub struct VerifyingKeyCache {
    capacity: usize,
    keys: Mutex<HashMap<PublicKey, VerifyingKey>>,
}

impl VerifyingKeyCache {
    /// An empty cache holding at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The decompressed form of `key`, from the cache or computed and cached.
    ///
    /// # Errors
    /// [`SignatureError`] if `key` is not a valid curve point or is weak.
    pub fn get(&self, key: &PublicKey) -> Result<VerifyingKey, SignatureError> {
        if let Some(vk) = self.lock().get(key) {
            return Ok(*vk);
        }
        let vk = VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| SignatureError)?;
        if vk.is_weak() {
            return Err(SignatureError);
        }
        let mut keys = self.lock();
        if keys.len() >= self.capacity
            && let Some(victim) = keys.keys().next().copied()
        {
            keys.remove(&victim);
        }
        keys.insert(*key, vk);
        Ok(vk)
    }

    /// Keys currently cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PublicKey, VerifyingKey>> {
        // A panic cannot happen while the lock is held (map operations only), and the map is
        // valid in any state, so a poisoned lock is still usable.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for VerifyingKeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_KEY_CACHE_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn caches_valid_keys_within_capacity() {
        let cache = VerifyingKeyCache::new(2);
        for seed in 0..5u8 {
            let kp = Keypair::from_seed(&[seed; 32]);
            assert_eq!(cache.get(&kp.public()).unwrap(), kp.verifying_key());
            assert!(cache.len() <= 2);
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn refuses_weak_and_invalid_keys() {
        let cache = VerifyingKeyCache::new(4);
        // The identity point (compressed y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            cache.get(&PublicKey::from_bytes(identity)),
            Err(SignatureError)
        );
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            cache.get(&PublicKey::from_bytes(off_curve)),
            Err(SignatureError)
        );
        assert!(cache.is_empty());
    }
}
