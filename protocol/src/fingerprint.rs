//! [`CertFingerprint`]: the SHA-256 of a miner's QUIC certificate, as published on chain with
//! its axon and pinned by callers.
//!
//! The type lives outside feature `net` because the chain stores it; computing one from a
//! certificate (`CertFingerprint::of_der`) needs feature `net`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// SHA-256 of a DER-encoded certificate. Displayed and parsed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CertFingerprint(pub [u8; 32]);

/// A string is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a certificate fingerprint is 64 hex digits")]
pub struct FingerprintParseError;

impl CertFingerprint {
    /// Published instead of a digest by a server whose TLS key *is* its hotkey (a miner on a
    /// chain that has nowhere to publish 32 more bytes, such as subtensor without the
    /// Commitments pallet). Callers then pin the hotkey they call: the TLS 1.3 handshake
    /// signature must verify under it, whatever certificate carries it. All zeros, which no
    /// SHA-256 of a certificate is in practice, and what such a chain reports for "none".
    pub const HOTKEY: Self = Self([0; 32]);

    /// Whether this is [`CertFingerprint::HOTKEY`].
    pub fn is_hotkey(&self) -> bool {
        *self == Self::HOTKEY
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

impl FromStr for CertFingerprint {
    type Err = FingerprintParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| FingerprintParseError)?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let fp = CertFingerprint([0xAB; 32]);
        let s = fp.to_string();
        assert_eq!(s, "ab".repeat(32));
        assert_eq!(s.parse::<CertFingerprint>(), Ok(fp));
        assert_eq!(
            "AB".repeat(32).parse::<CertFingerprint>(),
            Ok(fp),
            "upper case is accepted"
        );
        assert!("ab".repeat(31).parse::<CertFingerprint>().is_err());
        assert!("zz".repeat(32).parse::<CertFingerprint>().is_err());
    }
}
