//! The signed [`Envelope`] every request and answer travels in, and its [`Header`].
//!
//! An envelope is a header (protocol version, [`MessageKind`], [`RequestId`], sender and
//! receiver hotkeys, nonce, timestamp, BLAKE3 [`BodyHash`]), an ed25519 [`Signature`] by the
//! sender over the header's domain-separated [signing bytes](Header::signing_bytes), and an
//! opaque body. Higher layers (the miner's and validator's tasks) define the body types and
//! encode them with postcard; this layer only hashes and carries the bytes.
//!
//! Building an envelope never reads a clock: callers pass the [`Stamp`] (nonce and timestamp).
//! Checking one is [`RequestVerifier`](crate::verifier::RequestVerifier)'s job.

use std::fmt;

use crate::keys::{Keypair, PUBLIC_KEY_BYTES, PublicKey, Signature};
use crate::reject::RejectReason;
use crate::verifier::VerifiedRequest;

/// The protocol version this crate speaks; peers with another version are rejected.
pub const PROTOCOL_VERSION: u16 = 1;

/// Domain-separation tag at the start of every envelope's signing bytes, so that a signature over
/// an envelope can never be taken for a signature over a transaction or another protocol's data.
pub const SIGNING_DOMAIN: &[u8; 18] = b"subnet-envelope/v1";

/// Length of [`Header::signing_bytes`]: tag, version (2), kind (1), request id (8), sender (32),
/// receiver (32), nonce (8), timestamp (8), body hash (32).
pub const SIGNING_BYTES_LEN: usize = 18 + 2 + 1 + 8 + PUBLIC_KEY_BYTES * 2 + 8 + 8 + 32;

/// What an envelope carries. The discriminant is the byte on the wire; it never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageKind {
    /// Run the subnet's task on the body's input.
    TaskRequest = 1,
    /// The task's output.
    TaskAnswer = 2,
    /// Ask for the served model's AINFT manifest.
    ModelInfoRequest = 3,
    /// The AINFT manifest.
    ModelInfoAnswer = 4,
    /// Ask for one chunk of the served model's weights.
    WeightsRequest = 5,
    /// One chunk of the weights.
    WeightsChunk = 6,
    /// Liveness probe.
    HealthRequest = 7,
    /// Liveness answer.
    HealthAnswer = 8,
    /// The request was rejected; the body is a [`RejectReason`] code.
    ErrorAnswer = 9,
}

/// The kinds a caller may send: each has one answer kind (or [`MessageKind::ErrorAnswer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// [`MessageKind::TaskRequest`], answered by [`MessageKind::TaskAnswer`].
    Task,
    /// [`MessageKind::ModelInfoRequest`], answered by [`MessageKind::ModelInfoAnswer`].
    ModelInfo,
    /// [`MessageKind::WeightsRequest`], answered by [`MessageKind::WeightsChunk`].
    Weights,
    /// [`MessageKind::HealthRequest`], answered by [`MessageKind::HealthAnswer`].
    Health,
}

/// The caller's id for one request; the answer echoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// BLAKE3 hash of an envelope's body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyHash(pub [u8; 32]);

/// The per-message values a sender must never reuse: its nonce and its clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Per (sender, receiver) counter; the receiver accepts each value at most once.
    pub nonce: u64,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Everything the signature covers besides the domain tag and the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the body is.
    pub kind: MessageKind,
    /// Chosen by the requester; answers echo it.
    pub request_id: RequestId,
    /// Hotkey that signed the envelope.
    pub sender: PublicKey,
    /// Hotkey the envelope is for; receivers reject envelopes addressed to someone else.
    pub receiver: PublicKey,
    /// See [`Stamp::nonce`].
    pub nonce: u64,
    /// See [`Stamp::timestamp_ms`].
    pub timestamp_ms: u64,
    /// BLAKE3 of the body.
    pub body_hash: BodyHash,
}

/// A signed message: header, the sender's signature over it, and the body.
///
/// Building one with [`Envelope::request`], [`Envelope::answer`] or [`Envelope::error_answer`]
/// signs it. A decoded envelope ([`decode_payload`](crate::codec::decode_payload)) has a known
/// version and kind but is otherwise unchecked until a verifier accepts it.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    header: Header,
    signature: Signature,
    body: Vec<u8>,
}

impl MessageKind {
    /// Every kind, in wire-code order.
    pub const ALL: [Self; 9] = [
        Self::TaskRequest,
        Self::TaskAnswer,
        Self::ModelInfoRequest,
        Self::ModelInfoAnswer,
        Self::WeightsRequest,
        Self::WeightsChunk,
        Self::HealthRequest,
        Self::HealthAnswer,
        Self::ErrorAnswer,
    ];

    /// The wire byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a wire byte, or `None` for a byte this version does not know.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::TaskRequest,
            2 => Self::TaskAnswer,
            3 => Self::ModelInfoRequest,
            4 => Self::ModelInfoAnswer,
            5 => Self::WeightsRequest,
            6 => Self::WeightsChunk,
            7 => Self::HealthRequest,
            8 => Self::HealthAnswer,
            9 => Self::ErrorAnswer,
            _ => return None,
        })
    }

    /// The request kind, if this is a request.
    pub const fn as_request(self) -> Option<RequestKind> {
        match self {
            Self::TaskRequest => Some(RequestKind::Task),
            Self::ModelInfoRequest => Some(RequestKind::ModelInfo),
            Self::WeightsRequest => Some(RequestKind::Weights),
            Self::HealthRequest => Some(RequestKind::Health),
            _ => None,
        }
    }

    /// A stable lowercase name, usable as a metrics label.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::TaskRequest => "task_request",
            Self::TaskAnswer => "task_answer",
            Self::ModelInfoRequest => "model_info_request",
            Self::ModelInfoAnswer => "model_info_answer",
            Self::WeightsRequest => "weights_request",
            Self::WeightsChunk => "weights_chunk",
            Self::HealthRequest => "health_request",
            Self::HealthAnswer => "health_answer",
            Self::ErrorAnswer => "error_answer",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

impl RequestKind {
    /// Every request kind.
    pub const ALL: [Self; 4] = [Self::Task, Self::ModelInfo, Self::Weights, Self::Health];

    /// The message kind a request of this kind is sent as.
    pub const fn request(self) -> MessageKind {
        match self {
            Self::Task => MessageKind::TaskRequest,
            Self::ModelInfo => MessageKind::ModelInfoRequest,
            Self::Weights => MessageKind::WeightsRequest,
            Self::Health => MessageKind::HealthRequest,
        }
    }

    /// The message kind of a successful answer.
    pub const fn answer(self) -> MessageKind {
        match self {
            Self::Task => MessageKind::TaskAnswer,
            Self::ModelInfo => MessageKind::ModelInfoAnswer,
            Self::Weights => MessageKind::WeightsChunk,
            Self::Health => MessageKind::HealthAnswer,
        }
    }

    /// A stable lowercase name, usable as a metrics label.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::ModelInfo => "model_info",
            Self::Weights => "weights",
            Self::Health => "health",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl BodyHash {
    /// BLAKE3 of `body`.
    pub fn of(body: &[u8]) -> Self {
        Self(*blake3::hash(body).as_bytes())
    }

    /// Whether this is the hash of `body` (constant time in the hash comparison).
    pub fn matches(&self, body: &[u8]) -> bool {
        blake3::hash(body) == blake3::Hash::from_bytes(self.0)
    }
}

impl fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyHash({})", hex::encode(self.0))
    }
}

/// The all-zero key, the receiver of error answers to frames too broken to name their sender.
const NOBODY: PublicKey = PublicKey::from_bytes([0; PUBLIC_KEY_BYTES]);

impl Header {
    /// The bytes the sender signs: [`SIGNING_DOMAIN`], then every field in a fixed order and fixed
    /// width, integers little-endian. Independent of the wire encoding, so a change of codec
    /// cannot change what a signature means.
    pub fn signing_bytes(&self) -> [u8; SIGNING_BYTES_LEN] {
        let fields: [&[u8]; 9] = [
            SIGNING_DOMAIN,
            &PROTOCOL_VERSION.to_le_bytes(),
            &[self.kind.code()],
            &self.request_id.0.to_le_bytes(),
            self.sender.as_bytes(),
            self.receiver.as_bytes(),
            &self.nonce.to_le_bytes(),
            &self.timestamp_ms.to_le_bytes(),
            &self.body_hash.0,
        ];
        let mut out = [0u8; SIGNING_BYTES_LEN];
        // Slice copies: a byte-wise iterator chain cost about 9,000 instructions per call (four
        // calls per round trip). The lengths add up to SIGNING_BYTES_LEN exactly (a unit test
        // checks the layout), so `rest` never runs short.
        let mut rest = out.as_mut_slice();
        for field in fields {
            let (slot, tail) = rest
                .split_at_mut_checked(field.len())
                .unwrap_or((&mut [], &mut []));
            slot.copy_from_slice(field.get(..slot.len()).unwrap_or_default());
            rest = tail;
        }
        out
    }
}

impl Envelope {
    /// Signs an envelope of any kind. Prefer [`Envelope::request`], [`Envelope::answer`] and
    /// [`Envelope::error_answer`], which fill the kind, id and receiver consistently.
    pub fn sign(
        signer: &Keypair,
        kind: MessageKind,
        request_id: RequestId,
        receiver: PublicKey,
        stamp: Stamp,
        body: Vec<u8>,
    ) -> Self {
        let header = Header {
            kind,
            request_id,
            sender: signer.public(),
            receiver,
            nonce: stamp.nonce,
            timestamp_ms: stamp.timestamp_ms,
            body_hash: BodyHash::of(&body),
        };
        let signature = signer.sign(&header.signing_bytes());
        Self {
            header,
            signature,
            body,
        }
    }

    /// A signed request of `kind` from `signer` to `receiver`.
    pub fn request(
        signer: &Keypair,
        receiver: PublicKey,
        kind: RequestKind,
        request_id: RequestId,
        stamp: Stamp,
        body: Vec<u8>,
    ) -> Self {
        Self::sign(signer, kind.request(), request_id, receiver, stamp, body)
    }

    /// A signed successful answer to a verified request: it echoes the request id, goes back to
    /// the request's sender and has the request's answer kind.
    pub fn answer(
        signer: &Keypair,
        request: &VerifiedRequest,
        stamp: Stamp,
        body: Vec<u8>,
    ) -> Self {
        Self::sign(
            signer,
            request.kind().answer(),
            request.request_id(),
            request.sender(),
            stamp,
            body,
        )
    }

    /// A signed error answer. `request` is the rejected envelope's header when it could be
    /// decoded (its id is echoed and its sender addressed); otherwise the answer has request id 0
    /// and the all-zero receiver.
    pub fn error_answer(
        signer: &Keypair,
        request: Option<&Header>,
        reason: RejectReason,
        stamp: Stamp,
    ) -> Self {
        let (request_id, receiver) =
            request.map_or((RequestId(0), NOBODY), |h| (h.request_id, h.sender));
        let body = reason.code().to_le_bytes().to_vec();
        Self::sign(
            signer,
            MessageKind::ErrorAnswer,
            request_id,
            receiver,
            stamp,
            body,
        )
    }

    /// Reassembles an envelope from parts without checking anything (decoders, tests, fuzzing).
    pub const fn from_parts(header: Header, signature: Signature, body: Vec<u8>) -> Self {
        Self {
            header,
            signature,
            body,
        }
    }

    /// The header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The sender's signature over [`Header::signing_bytes`].
    pub const fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Splits into header, signature and body.
    pub fn into_parts(self) -> (Header, Signature, Vec<u8>) {
        (self.header, self.signature, self.body)
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("header", &self.header)
            .field("signature", &self.signature)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kind: MessageKind::TaskRequest,
            request_id: RequestId(7),
            sender: Keypair::from_seed(&[1; 32]).public(),
            receiver: Keypair::from_seed(&[2; 32]).public(),
            nonce: 42,
            timestamp_ms: 1_700_000_000_000,
            body_hash: BodyHash::of(b"body"),
        }
    }

    #[test]
    fn signing_bytes_cover_every_field_in_order() {
        let h = header();
        let bytes = h.signing_bytes();
        let mut expected = SIGNING_DOMAIN.to_vec();
        expected.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        expected.push(1);
        expected.extend_from_slice(&7u64.to_le_bytes());
        expected.extend_from_slice(h.sender.as_bytes());
        expected.extend_from_slice(h.receiver.as_bytes());
        expected.extend_from_slice(&42u64.to_le_bytes());
        expected.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
        expected.extend_from_slice(&h.body_hash.0);
        assert_eq!(expected.len(), SIGNING_BYTES_LEN);
        assert_eq!(bytes.to_vec(), expected);
    }

    #[test]
    fn every_field_changes_the_signing_bytes() {
        let h = header();
        let other = Keypair::from_seed(&[3; 32]).public();
        let variants = [
            Header {
                kind: MessageKind::HealthRequest,
                ..h
            },
            Header {
                request_id: RequestId(8),
                ..h
            },
            Header { sender: other, ..h },
            Header {
                receiver: other,
                ..h
            },
            Header { nonce: 43, ..h },
            Header {
                timestamp_ms: h.timestamp_ms + 1,
                ..h
            },
            Header {
                body_hash: BodyHash::of(b"other"),
                ..h
            },
        ];
        for v in variants {
            assert_ne!(v.signing_bytes(), h.signing_bytes(), "{v:?}");
        }
    }

    #[test]
    fn kinds_round_trip_their_codes_and_requests_pair_with_answers() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(MessageKind::from_code(0), None);
        assert_eq!(MessageKind::from_code(10), None);
        for kind in RequestKind::ALL {
            assert_eq!(kind.request().as_request(), Some(kind));
            assert_eq!(kind.answer().as_request(), None);
        }
        assert_eq!(MessageKind::ErrorAnswer.as_request(), None);
    }

    #[test]
    fn request_is_signed_by_the_sender() {
        let kp = Keypair::from_seed(&[1; 32]);
        let to = Keypair::from_seed(&[2; 32]).public();
        let stamp = Stamp {
            nonce: 1,
            timestamp_ms: 2,
        };
        let env = Envelope::request(
            &kp,
            to,
            RequestKind::Task,
            RequestId(9),
            stamp,
            b"x".to_vec(),
        );
        let h = env.header();
        assert_eq!(h.sender, kp.public());
        assert_eq!(h.receiver, to);
        assert_eq!(h.kind, MessageKind::TaskRequest);
        assert!(h.body_hash.matches(b"x"));
        assert!(!h.body_hash.matches(b"y"));
        assert!(
            kp.public()
                .verify(&h.signing_bytes(), env.signature())
                .is_ok()
        );
    }

    #[test]
    fn error_answer_without_a_header_goes_to_nobody() {
        let kp = Keypair::from_seed(&[1; 32]);
        let stamp = Stamp {
            nonce: 1,
            timestamp_ms: 2,
        };
        let env = Envelope::error_answer(&kp, None, RejectReason::Malformed, stamp);
        assert_eq!(env.header().receiver, NOBODY);
        assert_eq!(env.header().request_id, RequestId(0));
        assert_eq!(
            RejectReason::from_body(env.body()),
            Some(RejectReason::Malformed)
        );
    }
}
