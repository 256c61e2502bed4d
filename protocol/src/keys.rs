//! ed25519 keys: the [`Keypair`] that signs, the [`PublicKey`] that names an account (hotkey or
//! coldkey) and the [`Signature`] it makes.
//!
//! Hotkeys and coldkeys are the same kind of key; the role is where it is used. Substrate chains
//! accept ed25519 account keys, so the same keys can sign for a real chain.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Length of a public key in bytes.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Length of a signature in bytes.
pub const SIGNATURE_BYTES: usize = 64;
/// Length of a secret seed in bytes.
pub const SEED_BYTES: usize = 32;

/// An ed25519 public key: the identity of a hotkey or a coldkey.
///
/// Displayed as its SS58 address (prefix 42); `{:?}` shows the same. Serialized as the SS58
/// string in human-readable formats (JSON, TOML) and as 32 raw bytes in binary ones (postcard).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; PUBLIC_KEY_BYTES]);

/// An ed25519 signature. Serialized as hex in human-readable formats, 64 raw bytes otherwise.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; SIGNATURE_BYTES]);

/// A signing key. `Debug` shows only the public key; the secret is zeroed on drop.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

/// A signature did not verify, or the public key is not a valid curve point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct SignatureError;

impl PublicKey {
    /// Wraps raw key bytes. Validity as a curve point is checked when verifying.
    pub const fn from_bytes(bytes: [u8; PUBLIC_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.0
    }

    /// Checks `signature` over `message` (strict verification: no malleable or small-order keys).
    ///
    /// # Errors
    /// [`SignatureError`] if the key is not a valid point or the signature does not match.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig).map_err(|_| SignatureError)
    }

    /// Checks `signature` with an already decompressed key (cheaper when one key verifies often).
    ///
    /// # Errors
    /// [`SignatureError`] if the signature does not match.
    pub fn verify_with(
        key: &VerifyingKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify(message, &sig).map_err(|_| SignatureError)
    }

    /// Verifies many signatures at once, each `(key, message, signature)`: about half the cost
    /// per signature of [`PublicKey::verify_with`] from 8 signatures up. Succeeds only if every
    /// signature is valid; it does not say which failed (verify those one by one).
    ///
    /// Batch verification checks the cofactored equation, which accepts the same honestly made
    /// signatures as single verification; crafted signatures with small-order components may be
    /// accepted by one and not the other, which matters for consensus, not for authentication.
    ///
    /// # Errors
    /// [`SignatureError`] if any signature is invalid, or the slices differ in length.
    pub fn verify_batch(
        keys: &[VerifyingKey],
        messages: &[&[u8]],
        signatures: &[Signature],
    ) -> Result<(), SignatureError> {
        let sigs: Vec<ed25519_dalek::Signature> = signatures
            .iter()
            .map(|s| ed25519_dalek::Signature::from_bytes(&s.0))
            .collect();
        ed25519_dalek::verify_batch(messages, &sigs, keys).map_err(|_| SignatureError)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::ss58::encode(self, crate::ss58::DEFAULT_PREFIX))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl Signature {
    /// Wraps raw signature bytes.
    pub const fn from_bytes(bytes: [u8; SIGNATURE_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw signature bytes.
    pub const fn as_bytes(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..8]))
    }
}

impl Keypair {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        rand::fill(&mut seed[..]);
        Self::from_seed(&seed)
    }

    /// The key for a 32-byte secret seed (deterministic: use for tests and keyfiles).
    pub fn from_seed(seed: &[u8; SEED_BYTES]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// A well-known development key, `//Name` style: the seed is `BLAKE3("subnet-dev//" ‖ name)`.
    ///
    /// **Insecure by design**: anyone can derive it. For the `--dev` chain, local subnets and tests.
    pub fn dev(name: &str) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"subnet-dev//");
        hasher.update(name.as_bytes());
        Self::from_seed(hasher.finalize().as_bytes())
    }

    /// The secret seed. Handle with care; it is zeroed when dropped.
    pub fn seed(&self) -> Zeroizing<[u8; SEED_BYTES]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The decompressed public key, for repeated verification.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            byte_array::serialize(&self.0, s)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            byte_array::deserialize(d).map(Self)
        }
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(self.0))
        } else {
            byte_array::serialize(&self.0, s)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
            let mut out = [0u8; SIGNATURE_BYTES];
            hex::decode_to_slice(text.as_bytes(), &mut out).map_err(serde::de::Error::custom)?;
            Ok(Self(out))
        } else {
            byte_array::deserialize(d).map(Self)
        }
    }
}

/// Fixed-size byte arrays as serde tuples: no length prefix in postcard, any size (serde's own
/// impls stop at 32).
pub(crate) mod byte_array {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    /// Writes `bytes` as an `N`-tuple.
    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(N)?;
        for b in bytes {
            t.serialize_element(b)?;
        }
        t.end()
    }

    /// Reads an `N`-tuple of bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        let kp = Keypair::from_seed(&[7; 32]);
        let sig = kp.sign(b"hello");
        assert!(kp.public().verify(b"hello", &sig).is_ok());
        assert_eq!(kp.public().verify(b"hellO", &sig), Err(SignatureError));
        let other = Keypair::from_seed(&[8; 32]);
        assert_eq!(other.public().verify(b"hello", &sig), Err(SignatureError));
        let mut bad = *sig.as_bytes();
        bad[3] ^= 1;
        assert!(
            kp.public()
                .verify(b"hello", &Signature::from_bytes(bad))
                .is_err()
        );
    }

    #[test]
    fn dev_keys_are_stable_and_distinct() {
        assert_eq!(
            Keypair::dev("alice").public(),
            Keypair::dev("alice").public()
        );
        assert_ne!(Keypair::dev("alice").public(), Keypair::dev("bob").public());
        let expected = Keypair::from_seed(blake3::hash(b"subnet-dev//alice").as_bytes());
        assert_eq!(Keypair::dev("alice").public(), expected.public());
    }

    #[test]
    fn debug_hides_the_secret() {
        let kp = Keypair::from_seed(&[0xAB; 32]);
        let shown = format!("{kp:?}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(shown.contains("public"));
    }

    #[test]
    fn json_uses_ss58_and_hex_postcard_uses_raw_bytes() {
        let kp = Keypair::from_seed(&[3; 32]);
        let json = serde_json::to_string(&kp.public()).unwrap();
        assert_eq!(json, format!("\"{}\"", kp.public()));
        assert_eq!(
            serde_json::from_str::<PublicKey>(&json).unwrap(),
            kp.public()
        );
        assert!(serde_json::from_str::<PublicKey>("\"5notanaddress\"").is_err());
        assert_eq!(
            postcard::to_allocvec(&kp.public()).unwrap(),
            kp.public().as_bytes()
        );
        let sig = kp.sign(b"m");
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(json.len(), 2 + 128);
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
    }

    #[test]
    fn signature_postcard_round_trip_is_64_bytes() {
        let sig = Keypair::from_seed(&[1; 32]).sign(b"x");
        let bytes = postcard::to_allocvec(&sig).unwrap();
        assert_eq!(bytes.len(), SIGNATURE_BYTES);
        let back: Signature = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, sig);
    }
}
