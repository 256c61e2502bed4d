//! [`Ed25519Signer`]: the project's ed25519 keys signing Substrate extrinsics.

use subnet_protocol::keys::{Keypair, PublicKey};
use subxt::SubstrateConfig;
use subxt::tx::Signer;
use subxt::utils::{AccountId32, MultiSignature};

/// A [`Keypair`] as a subxt [`Signer`]: the account is the ed25519 public key's 32 bytes (as
/// `AccountId32`; Substrate's `MultiSigner::Ed25519` maps to exactly those bytes), and the
/// signature is `MultiSignature::Ed25519` over subxt's signer payload (the payload is already
/// blake2-256 hashed by subxt when longer than 256 bytes, as Substrate expects).
///
/// So the same hotkeys and coldkeys sign for the local chain and for Bittensor.
#[derive(Debug, Clone)]
pub struct Ed25519Signer {
    key: Keypair,
}

impl Ed25519Signer {
    /// Wraps `key`.
    pub fn new(key: Keypair) -> Self {
        Self { key }
    }

    /// The wrapped key's public half.
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }
}

/// The Substrate account of an ed25519 public key.
pub fn account_id(key: &PublicKey) -> AccountId32 {
    AccountId32(*key.as_bytes())
}

/// The ed25519 public key behind a Substrate account (any 32 bytes; it is a valid key only if
/// the account was an ed25519 signer, which is what this backend assumes).
pub fn public_key(account: &AccountId32) -> PublicKey {
    PublicKey::from_bytes(account.0)
}

impl Signer<SubstrateConfig> for Ed25519Signer {
    fn account_id(&self) -> AccountId32 {
        account_id(&self.key.public())
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Ed25519(*self.key.sign(signer_payload).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;

    #[test]
    fn signs_the_payload_as_ed25519_for_the_public_key_account() {
        let key = Keypair::from_seed(&[7; 32]);
        let signer = Ed25519Signer::new(key.clone());
        let account = Signer::<SubstrateConfig>::account_id(&signer);
        assert_eq!(account.0, *key.public().as_bytes());
        assert_eq!(public_key(&account), key.public());

        let payload = b"\x07\x00call-data-and-extensions";
        let MultiSignature::Ed25519(bytes) = Signer::<SubstrateConfig>::sign(&signer, payload)
        else {
            panic!("not an ed25519 signature")
        };
        let verifying = VerifyingKey::from_bytes(&account.0).unwrap();
        let signature = Signature::from_bytes(&bytes);
        verifying.verify(payload, &signature).unwrap();
        assert!(verifying.verify(b"another payload", &signature).is_err());
        // Another key's account differs and its signature does not verify here.
        let other = Keypair::from_seed(&[8; 32]);
        assert_ne!(account_id(&other.public()), account);
        let MultiSignature::Ed25519(theirs) =
            Signer::<SubstrateConfig>::sign(&Ed25519Signer::new(other), payload)
        else {
            panic!("not an ed25519 signature")
        };
        assert!(
            verifying
                .verify(payload, &Signature::from_bytes(&theirs))
                .is_err()
        );
    }
}
