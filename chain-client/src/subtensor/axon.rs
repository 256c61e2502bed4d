//! How an [`AxonInfo`] and an AINFT id are written to subtensor, and read back.
//!
//! Subtensor's `serve_axon` stores `ip: u128`, `ip_type: u8` (4 or 6), `port: u16`,
//! `protocol: u8` and `version: u32`: there is no room for the miner's QUIC certificate
//! fingerprint, nor for the AINFT id the UID serves. Those two go into the hotkey's commitment
//! (`Commitments.set_commitment(netuid, info)`, one per hotkey and subnet), as one `Raw` field
//! laid out by [`Publication`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::AxonInfo;
use subnet_protocol::fingerprint::CertFingerprint;

/// `protocol` written with every axon: the miner serves QUIC, over UDP (Bittensor's Python
/// axons write 4 for their HTTP/TCP axons).
pub const AXON_PROTOCOL_QUIC: u8 = 1;

/// Subtensor's encoding of `ip`: the address as a big-endian integer and its family (4 or 6).
pub fn encode_ip(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    }
}

/// The address behind subtensor's `(ip, ip_type)`, `None` for an unknown family or an IPv4
/// value above 32 bits.
pub fn decode_ip(ip: u128, ip_type: u8) -> Option<IpAddr> {
    match ip_type {
        4 => u32::try_from(ip)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(ip))),
        _ => None,
    }
}

/// The axon as subtensor stores it (the fields this crate reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredAxon {
    /// Address as an integer.
    pub ip: u128,
    /// 4 or 6.
    pub ip_type: u8,
    /// Port.
    pub port: u16,
    /// Protocol version served (our `protocol_version`).
    pub version: u32,
}

impl StoredAxon {
    /// The protocol's view: `None` if never served (subtensor's zero default) or unreadable.
    /// `cert_fingerprint` comes from the hotkey's commitment; [`CertFingerprint::HOTKEY`] when
    /// there is none (validators then pin the UID's hotkey: only a miner serving its hotkey's
    /// own certificate can answer).
    pub fn to_axon(self, cert_fingerprint: Option<CertFingerprint>) -> Option<AxonInfo> {
        if self.ip == 0 && self.port == 0 {
            return None;
        }
        Some(AxonInfo {
            ip: decode_ip(self.ip, self.ip_type)?,
            port: self.port,
            cert_fingerprint: cert_fingerprint.unwrap_or(CertFingerprint::HOTKEY),
            protocol_version: u16::try_from(self.version).unwrap_or(u16::MAX),
        })
    }
}

/// What a hotkey publishes in its commitment: the certificate its axon serves and the AINFT its
/// UID serves. Either may be absent (a validator has no AINFT; a fresh UID has no axon yet).
///
/// Encoded as `MAGIC ‖ flags ‖ fingerprint(32) ‖ ainft(32)` = [`Publication::BYTES`] bytes, with
/// zeros for an absent part; `flags` bit 0 = fingerprint present, bit 1 = AINFT present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Publication {
    /// SHA-256 of the miner's QUIC certificate.
    pub cert_fingerprint: Option<CertFingerprint>,
    /// The AINFT served from this UID.
    pub ainft: Option<AinftId>,
}

impl Publication {
    /// Tag that marks a commitment as written by this engine (format version 1).
    pub const MAGIC: &'static [u8; 4] = b"sne1";
    /// Encoded length (the pallet's `Data::Raw69`).
    pub const BYTES: usize = 4 + 1 + 32 + 32;

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BYTES);
        out.extend_from_slice(Self::MAGIC);
        let flags =
            u8::from(self.cert_fingerprint.is_some()) | (u8::from(self.ainft.is_some()) << 1);
        out.push(flags);
        out.extend_from_slice(&self.cert_fingerprint.map(|f| f.0).unwrap_or([0; 32]));
        out.extend_from_slice(self.ainft.as_ref().map_or(&[0; 32], |a| a.as_bytes()));
        out
    }

    /// Decodes [`Self::encode`]'s output; `None` for anything else (another tool's commitment).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(Self::MAGIC.as_slice())?;
        let (&flags, rest) = rest.split_first()?;
        let (fingerprint, ainft) = rest.split_at_checked(32)?;
        let fingerprint: [u8; 32] = fingerprint.try_into().ok()?;
        let ainft: [u8; 32] = ainft.try_into().ok()?;
        if flags > 0b11 {
            return None;
        }
        Some(Self {
            cert_fingerprint: (flags & 1 != 0).then_some(CertFingerprint(fingerprint)),
            ainft: (flags & 2 != 0).then(|| AinftId::from_bytes(ainft)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_round_trip_in_subtensor_form() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(encode_ip(v4), (0x7f00_0001, 4));
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(encode_ip(v6), (1, 6));
        for ip in [
            "10.1.2.3",
            "255.255.255.255",
            "2001:db8::8a2e:370:7334",
            "::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let (n, t) = encode_ip(ip);
            assert_eq!(decode_ip(n, t), Some(ip));
        }
        assert_eq!(decode_ip(1 << 40, 4), None);
        assert_eq!(decode_ip(1, 5), None);
    }

    #[test]
    fn stored_axons_map_to_the_protocol_view() {
        let stored = StoredAxon {
            ip: 0x7f00_0001,
            ip_type: 4,
            port: 8091,
            version: 3,
        };
        let fp = CertFingerprint([9; 32]);
        let axon = stored.to_axon(Some(fp)).unwrap();
        assert_eq!(axon.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((axon.port, axon.protocol_version), (8091, 3));
        assert_eq!(axon.cert_fingerprint, fp);
        assert_eq!(
            stored.to_axon(None).unwrap().cert_fingerprint,
            CertFingerprint([0; 32])
        );
        let never = StoredAxon {
            ip: 0,
            ip_type: 0,
            port: 0,
            version: 0,
        };
        assert_eq!(never.to_axon(Some(fp)), None);
    }

    #[test]
    fn publications_round_trip_and_reject_foreign_bytes() {
        let full = Publication {
            cert_fingerprint: Some(CertFingerprint([1; 32])),
            ainft: Some(AinftId::from_bytes([2; 32])),
        };
        for p in [
            full,
            Publication::default(),
            Publication {
                ainft: None,
                ..full
            },
            Publication {
                cert_fingerprint: None,
                ..full
            },
        ] {
            let bytes = p.encode();
            assert_eq!(bytes.len(), Publication::BYTES);
            assert_eq!(Publication::decode(&bytes), Some(p));
        }
        let bytes = full.encode();
        assert_eq!(Publication::decode(&bytes[..Publication::BYTES - 1]), None);
        assert_eq!(Publication::decode(b"{\"ainft\":\"x\"}"), None);
        let mut bad_flags = bytes.clone();
        bad_flags[4] = 4;
        assert_eq!(Publication::decode(&bad_flags), None);
        let mut trailing = bytes;
        trailing.push(0);
        assert_eq!(Publication::decode(&trailing), None);
    }
}
