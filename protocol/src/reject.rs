//! [`RejectReason`]: why a receiver refused a request, as carried in an error answer.

use std::fmt;

/// Why a request was refused. Sent in [`MessageKind::ErrorAnswer`](crate::MessageKind) bodies as
/// a two-byte little-endian [code](Self::code), and counted by [label](Self::as_label) in
/// metrics. Codes and labels are stable: new reasons get new codes, old ones never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RejectReason {
    /// The frame's length prefix is above the receiver's limit.
    Oversized,
    /// The envelope's protocol version is not one the receiver speaks.
    BadVersion,
    /// The envelope is addressed to another hotkey.
    WrongReceiver,
    /// The timestamp is older than the allowed skew (or than the replay guard's low watermark).
    StaleTimestamp,
    /// The timestamp is further in the future than the allowed skew.
    FutureTimestamp,
    /// The nonce was already used, or is too far below the sender's highest.
    ReplayedNonce,
    /// The body does not hash to the header's body hash.
    BodyHashMismatch,
    /// The signature does not verify with the sender's key.
    BadSignature,
    /// The message kind byte is not one the receiver knows.
    UnknownKind,
    /// A known kind that the receiver does not accept here (an answer sent as a request).
    UnexpectedKind,
    /// The frame could not be decoded.
    Malformed,
    /// The sender is not registered on the subnet.
    NotRegistered,
    /// The sender has no validator permit, and the request needs one.
    NoPermit,
    /// The sender exceeded its request rate.
    RateLimited,
    /// The receiver is at capacity; retry later.
    Busy,
    /// The receiver does not serve this request kind.
    Unsupported,
    /// The body is not a valid request of its kind.
    BadRequest,
    /// The receiver did not finish within its time limit.
    Timeout,
    /// The receiver failed for a reason of its own.
    Internal,
    /// A code this version does not know (sent by a newer peer).
    Unrecognized,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 20] = [
        Self::Oversized,
        Self::BadVersion,
        Self::WrongReceiver,
        Self::StaleTimestamp,
        Self::FutureTimestamp,
        Self::ReplayedNonce,
        Self::BodyHashMismatch,
        Self::BadSignature,
        Self::UnknownKind,
        Self::UnexpectedKind,
        Self::Malformed,
        Self::NotRegistered,
        Self::NoPermit,
        Self::RateLimited,
        Self::Busy,
        Self::Unsupported,
        Self::BadRequest,
        Self::Timeout,
        Self::Internal,
        Self::Unrecognized,
    ];

    /// The stable wire code.
    pub const fn code(self) -> u16 {
        match self {
            Self::Unrecognized => 0,
            Self::Oversized => 1,
            Self::BadVersion => 2,
            Self::WrongReceiver => 3,
            Self::StaleTimestamp => 4,
            Self::FutureTimestamp => 5,
            Self::ReplayedNonce => 6,
            Self::BodyHashMismatch => 7,
            Self::BadSignature => 8,
            Self::UnknownKind => 9,
            Self::UnexpectedKind => 10,
            Self::Malformed => 11,
            Self::NotRegistered => 12,
            Self::NoPermit => 13,
            Self::RateLimited => 14,
            Self::Busy => 15,
            Self::Unsupported => 16,
            Self::BadRequest => 17,
            Self::Timeout => 18,
            Self::Internal => 19,
        }
    }

    /// The reason for a wire code; unknown codes become [`RejectReason::Unrecognized`].
    pub const fn from_code(code: u16) -> Self {
        match code {
            1 => Self::Oversized,
            2 => Self::BadVersion,
            3 => Self::WrongReceiver,
            4 => Self::StaleTimestamp,
            5 => Self::FutureTimestamp,
            6 => Self::ReplayedNonce,
            7 => Self::BodyHashMismatch,
            8 => Self::BadSignature,
            9 => Self::UnknownKind,
            10 => Self::UnexpectedKind,
            11 => Self::Malformed,
            12 => Self::NotRegistered,
            13 => Self::NoPermit,
            14 => Self::RateLimited,
            15 => Self::Busy,
            16 => Self::Unsupported,
            17 => Self::BadRequest,
            18 => Self::Timeout,
            19 => Self::Internal,
            _ => Self::Unrecognized,
        }
    }

    /// Parses an error answer's body: exactly two bytes, the little-endian code.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        let code: [u8; 2] = body.try_into().ok()?;
        Some(Self::from_code(u16::from_le_bytes(code)))
    }

    /// A stable lowercase name for metrics labels and logs.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::BadVersion => "bad_version",
            Self::WrongReceiver => "wrong_receiver",
            Self::StaleTimestamp => "stale_timestamp",
            Self::FutureTimestamp => "future_timestamp",
            Self::ReplayedNonce => "replayed_nonce",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::BadSignature => "bad_signature",
            Self::UnknownKind => "unknown_kind",
            Self::UnexpectedKind => "unexpected_kind",
            Self::Malformed => "malformed",
            Self::NotRegistered => "not_registered",
            Self::NoPermit => "no_permit",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
            Self::Unsupported => "unsupported",
            Self::BadRequest => "bad_request",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
            Self::Unrecognized => "unrecognized",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_and_labels_are_unique_and_round_trip() {
        let mut codes = HashSet::new();
        let mut labels = HashSet::new();
        for r in RejectReason::ALL {
            assert!(codes.insert(r.code()), "{r:?}");
            assert!(labels.insert(r.as_label()), "{r:?}");
            assert_eq!(RejectReason::from_code(r.code()), r);
            assert_eq!(
                RejectReason::from_body(&r.code().to_le_bytes()),
                Some(r),
                "{r:?}"
            );
        }
        assert_eq!(RejectReason::from_code(999), RejectReason::Unrecognized);
        assert_eq!(RejectReason::from_body(&[1]), None);
        assert_eq!(RejectReason::from_body(&[1, 0, 0]), None);
    }

    #[test]
    fn labels_the_chain_and_miner_rely_on_are_stable() {
        assert_eq!(RejectReason::NotRegistered.as_label(), "not_registered");
        assert_eq!(RejectReason::NoPermit.as_label(), "no_permit");
        assert_eq!(RejectReason::RateLimited.as_label(), "rate_limited");
        assert_eq!(RejectReason::ReplayedNonce.code(), 6);
    }
}
