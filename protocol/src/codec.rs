//! Frames: how an [`Envelope`] becomes bytes on a stream and back.
//!
//! ```text
//! frame   = len: u32 little-endian ‖ payload            (len = payload length, ≤ the limit)
//! payload = postcard(version: u16, kind: u8, request_id: u64, sender: [u8; 32],
//!                    receiver: [u8; 32], nonce: u64, timestamp_ms: u64,
//!                    body_hash: [u8; 32], signature: [u8; 64])
//!           ‖ body                                       (the rest of the payload, opaque)
//! ```
//!
//! postcard writes integers as LEB128 varints and fixed-size arrays as raw bytes; its wire format
//! has a written, versioned specification, it is driven by serde (the same derives the rest of
//! the workspace uses), works without `std`, and is compact (a header is about 190 bytes).
//! bincode 3.0.0 is not an option: its whole source is a `compile_error!`.
//!
//! Decoding is validation: [`decode_payload`] returns an [`Envelope`] only if the version is
//! [`PROTOCOL_VERSION`] and the kind is known; everything else is a typed [`DecodeError`]. The
//! length prefix is checked against the limit by [`frame_len`] before any payload byte is read
//! or any memory is reserved for it. The version is decoded first and on its own, so a future
//! version may change everything after it.

use serde::{Deserialize, Serialize};

use crate::envelope::{BodyHash, Envelope, Header, MessageKind, PROTOCOL_VERSION, RequestId};
use crate::keys::{PublicKey, Signature};
use crate::reject::RejectReason;

/// Bytes of the length prefix.
pub const FRAME_PREFIX_BYTES: usize = 4;
/// Default limit on a request frame's payload, in bytes (1 MiB). Receivers may configure less.
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// Default limit on an answer frame's payload, in bytes (16 MiB): weights chunks are larger than
/// requests.
pub const MAX_ANSWER_FRAME_BYTES: usize = 16 << 20;
/// Upper bound of an encoded header (all varints at their longest); used to size buffers.
pub const MAX_HEADER_BYTES: usize = 3 + 1 + 10 + 32 + 32 + 10 + 10 + 32 + 64;

/// The header as postcard writes it. Kept private: the domain type is [`Header`], which cannot
/// hold an unknown kind. Keys and the signature are plain byte arrays here so that the wire
/// format does not depend on how those types choose to serialise elsewhere (serde has no
/// `[u8; 64]`, so the signature is two halves; postcard writes both as 64 raw bytes).
#[derive(Serialize, Deserialize)]
struct WireHeader {
    version: u16,
    kind: u8,
    request_id: u64,
    sender: [u8; 32],
    receiver: [u8; 32],
    nonce: u64,
    timestamp_ms: u64,
    body_hash: [u8; 32],
    signature: [[u8; 32]; 2],
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix announces more bytes than the limit.
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    Oversized {
        /// Announced payload length.
        len: u64,
        /// The limit in force.
        max: usize,
    },
    /// The buffer does not hold exactly the prefix plus the announced payload.
    #[error("frame announces {declared} payload bytes but holds {actual}")]
    LengthMismatch {
        /// Payload length from the prefix.
        declared: usize,
        /// Payload bytes present.
        actual: usize,
    },
    /// A protocol version this crate does not speak.
    #[error("protocol version {got}, expected {PROTOCOL_VERSION}")]
    BadVersion {
        /// Version found.
        got: u16,
    },
    /// A message kind byte this crate does not know.
    #[error("unknown message kind {got}")]
    UnknownKind {
        /// Kind byte found.
        got: u8,
    },
    /// The header is truncated or not valid postcard.
    #[error("malformed header")]
    Malformed(#[source] postcard::Error),
}

/// Why an envelope could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The payload would exceed the limit.
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    Oversized {
        /// Payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// postcard refused the header (does not happen for well-formed headers).
    #[error("header serialisation failed")]
    Serialize(#[source] postcard::Error),
}

impl DecodeError {
    /// The reason sent back to the peer and counted in metrics.
    pub const fn reason(&self) -> RejectReason {
        match self {
            Self::Oversized { .. } => RejectReason::Oversized,
            Self::BadVersion { .. } => RejectReason::BadVersion,
            Self::UnknownKind { .. } => RejectReason::UnknownKind,
            Self::LengthMismatch { .. } | Self::Malformed(_) => RejectReason::Malformed,
        }
    }
}

/// The payload length a prefix announces, if it is within `max_frame_bytes`.
///
/// # Errors
/// [`DecodeError::Oversized`] if the length is above `max_frame_bytes`.
pub fn frame_len(
    prefix: [u8; FRAME_PREFIX_BYTES],
    max_frame_bytes: usize,
) -> Result<usize, DecodeError> {
    let len = u32::from_le_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if n <= max_frame_bytes => Ok(n),
        _ => Err(DecodeError::Oversized {
            len: u64::from(len),
            max: max_frame_bytes,
        }),
    }
}

/// Appends `envelope` as one frame (prefix and payload) to `out`.
///
/// # Errors
/// [`EncodeError::Oversized`] if the payload would be over `max_frame_bytes` (or over
/// `u32::MAX`); `out` is then left as it was.
pub fn encode_frame(
    envelope: &Envelope,
    max_frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let h = envelope.header();
    let wire = WireHeader {
        version: PROTOCOL_VERSION,
        kind: h.kind.code(),
        request_id: h.request_id.0,
        sender: *h.sender.as_bytes(),
        receiver: *h.receiver.as_bytes(),
        nonce: h.nonce,
        timestamp_ms: h.timestamp_ms,
        body_hash: h.body_hash.0,
        signature: split_signature(envelope.signature()),
    };
    let mut header_buf = [0u8; MAX_HEADER_BYTES];
    let header = postcard::to_slice(&wire, &mut header_buf).map_err(EncodeError::Serialize)?;
    let body = envelope.body();
    out.reserve(
        FRAME_PREFIX_BYTES
            .saturating_add(header.len())
            .saturating_add(body.len()),
    );
    out.extend_from_slice(&[0; FRAME_PREFIX_BYTES]);
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    let payload = out
        .len()
        .saturating_sub(start)
        .saturating_sub(FRAME_PREFIX_BYTES);
    let declared = match u32::try_from(payload) {
        Ok(n) if payload <= max_frame_bytes => n,
        _ => {
            out.truncate(start);
            return Err(EncodeError::Oversized {
                len: payload,
                max: max_frame_bytes,
            });
        }
    };
    if let Some(prefix) = out.get_mut(start..start.saturating_add(FRAME_PREFIX_BYTES)) {
        prefix.copy_from_slice(&declared.to_le_bytes());
    }
    Ok(())
}

/// `envelope` as one frame in a new buffer. See [`encode_frame`].
///
/// # Errors
/// As [`encode_frame`].
pub fn encode_frame_to_vec(
    envelope: &Envelope,
    max_frame_bytes: usize,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_frame(envelope, max_frame_bytes, &mut out)?;
    Ok(out)
}

/// Decodes a payload (the bytes after the prefix) into an envelope, reusing its buffer for the
/// body.
///
/// # Errors
/// [`DecodeError::BadVersion`], [`DecodeError::UnknownKind`] or [`DecodeError::Malformed`].
pub fn decode_payload(mut payload: Vec<u8>) -> Result<Envelope, DecodeError> {
    let (header, signature, header_len) = decode_header(&payload)?;
    // Moving the body to the front avoids a second allocation; headers are ~190 bytes.
    payload.drain(..header_len);
    Ok(Envelope::from_parts(header, signature, payload))
}

/// Decodes one whole frame (prefix and payload, nothing more) with the given limit.
///
/// # Errors
/// [`DecodeError::Oversized`] or [`DecodeError::LengthMismatch`] for a bad prefix, then as
/// [`decode_payload`].
pub fn decode_frame(frame: &[u8], max_frame_bytes: usize) -> Result<Envelope, DecodeError> {
    let (prefix, payload) =
        frame
            .split_first_chunk::<FRAME_PREFIX_BYTES>()
            .ok_or(DecodeError::LengthMismatch {
                declared: FRAME_PREFIX_BYTES,
                actual: frame.len(),
            })?;
    let declared = frame_len(*prefix, max_frame_bytes)?;
    if declared != payload.len() {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: payload.len(),
        });
    }
    decode_payload(payload.to_vec())
}

fn decode_header(payload: &[u8]) -> Result<(Header, Signature, usize), DecodeError> {
    let (version, _) = postcard::take_from_bytes::<u16>(payload).map_err(DecodeError::Malformed)?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::BadVersion { got: version });
    }
    let (wire, rest) =
        postcard::take_from_bytes::<WireHeader>(payload).map_err(DecodeError::Malformed)?;
    let kind =
        MessageKind::from_code(wire.kind).ok_or(DecodeError::UnknownKind { got: wire.kind })?;
    let header = Header {
        kind,
        request_id: RequestId(wire.request_id),
        sender: PublicKey::from_bytes(wire.sender),
        receiver: PublicKey::from_bytes(wire.receiver),
        nonce: wire.nonce,
        timestamp_ms: wire.timestamp_ms,
        body_hash: BodyHash(wire.body_hash),
    };
    let header_len = payload.len().saturating_sub(rest.len());
    Ok((header, join_signature(&wire.signature), header_len))
}

fn split_signature(signature: &Signature) -> [[u8; 32]; 2] {
    let mut out = [[0u8; 32]; 2];
    for (slot, byte) in out.iter_mut().flatten().zip(signature.as_bytes()) {
        *slot = *byte;
    }
    out
}

fn join_signature(halves: &[[u8; 32]; 2]) -> Signature {
    let mut out = [0u8; 64];
    for (slot, byte) in out.iter_mut().zip(halves.iter().flatten()) {
        *slot = *byte;
    }
    Signature::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::envelope::{RequestKind, Stamp};
    use crate::keys::Keypair;

    fn sample(body: Vec<u8>) -> Envelope {
        let kp = Keypair::from_seed(&[1; 32]);
        let to = Keypair::from_seed(&[2; 32]).public();
        let stamp = Stamp {
            nonce: u64::MAX,
            timestamp_ms: u64::MAX,
        };
        Envelope::request(&kp, to, RequestKind::Task, RequestId(u64::MAX), stamp, body)
    }

    #[test]
    fn round_trip_and_header_bound() {
        let env = sample(vec![5; 256]);
        let frame = encode_frame_to_vec(&env, MAX_FRAME_BYTES).unwrap();
        let payload = frame.len() - FRAME_PREFIX_BYTES;
        assert_eq!(frame[..4], u32::try_from(payload).unwrap().to_le_bytes());
        // Every varint but the version's (one byte for version 1, up to three in general) is at
        // its longest here, so the header is the bound less two bytes.
        assert_eq!(payload - 256, MAX_HEADER_BYTES - 2);
        assert_eq!(decode_frame(&frame, MAX_FRAME_BYTES).unwrap(), env);
    }

    #[test]
    fn encode_appends_and_refuses_oversized_without_damage() {
        let mut out = vec![9, 9];
        encode_frame(&sample(vec![1; 10]), MAX_FRAME_BYTES, &mut out).unwrap();
        assert_eq!(&out[..2], &[9, 9]);
        assert_eq!(
            decode_frame(&out[2..], MAX_FRAME_BYTES).unwrap().body(),
            &[1; 10]
        );
        let before = out.clone();
        let err = encode_frame(&sample(vec![0; 300]), 256, &mut out).unwrap_err();
        assert!(
            matches!(err, EncodeError::Oversized { max: 256, .. }),
            "{err:?}"
        );
        assert_eq!(out, before);
    }

    #[test]
    fn oversized_prefix_is_rejected_before_reading() {
        let err = frame_len(u32::MAX.to_le_bytes(), MAX_FRAME_BYTES).unwrap_err();
        assert_eq!(err.reason(), RejectReason::Oversized);
        assert_eq!(frame_len(100u32.to_le_bytes(), 100), Ok(100));
        assert!(frame_len(101u32.to_le_bytes(), 100).is_err());
    }

    #[test]
    fn unknown_version_and_kind_are_typed() {
        let frame = encode_frame_to_vec(&sample(vec![]), MAX_FRAME_BYTES).unwrap();
        let mut payload = frame[4..].to_vec();
        payload[0] = 2; // version 2 (a one-byte varint)
        assert_eq!(
            decode_payload(payload).unwrap_err(),
            DecodeError::BadVersion { got: 2 }
        );
        let mut payload = frame[4..].to_vec();
        payload[1] = 200; // kind byte right after the one-byte version
        let err = decode_payload(payload).unwrap_err();
        assert_eq!(err, DecodeError::UnknownKind { got: 200 });
        assert_eq!(err.reason(), RejectReason::UnknownKind);
    }

    #[test]
    fn truncated_and_mislengthed_frames_are_malformed() {
        let frame = encode_frame_to_vec(&sample(vec![3; 8]), MAX_FRAME_BYTES).unwrap();
        for cut in 0..frame.len() {
            let err = decode_frame(&frame[..cut], MAX_FRAME_BYTES).unwrap_err();
            assert_eq!(err.reason(), RejectReason::Malformed, "cut {cut}");
        }
        let mut longer = frame.clone();
        longer.push(0);
        assert!(matches!(
            decode_frame(&longer, MAX_FRAME_BYTES),
            Err(DecodeError::LengthMismatch { .. })
        ));
        // A payload that stops inside the header.
        assert!(matches!(
            decode_payload(frame[4..40].to_vec()),
            Err(DecodeError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn any_envelope_round_trips(
            seed in any::<[u8; 32]>(),
            to in any::<[u8; 32]>(),
            kind in 1u8..=9,
            id in any::<u64>(),
            nonce in any::<u64>(),
            ts in any::<u64>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let kp = Keypair::from_seed(&seed);
            let kind = MessageKind::from_code(kind).unwrap();
            let stamp = Stamp { nonce, timestamp_ms: ts };
            let env = Envelope::sign(&kp, kind, RequestId(id), PublicKey::from_bytes(to), stamp, body);
            let frame = encode_frame_to_vec(&env, MAX_FRAME_BYTES).unwrap();
            prop_assert_eq!(decode_frame(&frame, MAX_FRAME_BYTES).unwrap(), env);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_frame(&bytes, MAX_FRAME_BYTES);
            let _ = decode_payload(bytes);
        }

        #[test]
        fn mutated_frames_never_panic(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut frame = encode_frame_to_vec(&sample(vec![7; 64]), MAX_FRAME_BYTES).unwrap();
            let len = frame.len();
            for (at, value) in flips {
                frame[at % len] = value;
            }
            if let Ok(env) = decode_frame(&frame, MAX_FRAME_BYTES) {
                // Whatever decodes re-encodes to an envelope that decodes the same.
                let again = encode_frame_to_vec(&env, MAX_FRAME_BYTES).unwrap();
                prop_assert_eq!(decode_frame(&again, MAX_FRAME_BYTES).unwrap(), env);
            }
        }
    }
}
