//! [`RequestVerifier`]: the receiver's checks on a decoded request, in order of cost, and
//! [`verify_answer`]: the caller's checks on the answer.
//!
//! Size and version are checked by the [codec](crate::codec) while decoding. The verifier then
//! checks, cheapest first: the kind is a request, the receiver is us, the timestamp is within the
//! skew, the nonce is unused ([`ReplayGuard::check`], nothing recorded yet), the body hash, and
//! the signature. Only a request that passed all of them may have its nonce recorded
//! ([`RequestVerifier::accept`]), so forged requests cannot use up a sender's nonces. A server
//! calls its admission hook (registration, permits, rate limits) between the two steps.
//!
//! No clock is read here: callers pass `now_ms`, milliseconds since the Unix epoch.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::envelope::{Envelope, Header, MessageKind, RequestId, RequestKind};
use crate::key_cache::VerifyingKeyCache;
use crate::keys::PublicKey;
use crate::reject::RejectReason;
use crate::replay::{ReplayConfig, ReplayError, ReplayGuard};

/// Checks requests addressed to one hotkey. Shared by all of a server's connections.
#[derive(Debug)]
pub struct RequestVerifier {
    own: PublicKey,
    replay: Mutex<ReplayGuard>,
    keys: VerifyingKeyCache,
}

/// A request that passed every check but has not had its nonce recorded.
#[derive(Debug)]
#[must_use = "a checked request must be accepted to record its nonce"]
pub struct CheckedRequest {
    kind: RequestKind,
    envelope: Envelope,
}

/// A request whose signature verified and whose nonce is now spent: safe to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    kind: RequestKind,
    header: Header,
    body: Vec<u8>,
}

/// Why a request was refused after decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The kind is not a request kind.
    #[error("{kind} is not a request")]
    UnexpectedKind {
        /// The kind received.
        kind: MessageKind,
    },
    /// Addressed to another hotkey.
    #[error("addressed to {got}, not {expected}")]
    WrongReceiver {
        /// Our hotkey.
        expected: PublicKey,
        /// The envelope's receiver.
        got: PublicKey,
    },
    /// The timestamp or nonce is not fresh.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The body does not hash to the header's body hash.
    #[error("body hash mismatch")]
    BodyHashMismatch,
    /// The signature does not verify with the sender's key, or the key is invalid or weak.
    #[error("bad signature")]
    BadSignature,
}

impl VerifyError {
    /// The reason sent back to the peer and counted in metrics.
    pub const fn reason(&self) -> RejectReason {
        match self {
            Self::UnexpectedKind { .. } => RejectReason::UnexpectedKind,
            Self::WrongReceiver { .. } => RejectReason::WrongReceiver,
            Self::Replay(e) => e.reason(),
            Self::BodyHashMismatch => RejectReason::BodyHashMismatch,
            Self::BadSignature => RejectReason::BadSignature,
        }
    }
}

impl RequestVerifier {
    /// A verifier for requests addressed to `own`, with its own replay guard and key cache.
    pub fn new(own: PublicKey, replay: &ReplayConfig, keys: VerifyingKeyCache) -> Self {
        Self {
            own,
            replay: Mutex::new(ReplayGuard::new(replay)),
            keys,
        }
    }

    /// The hotkey requests must be addressed to.
    pub const fn own(&self) -> &PublicKey {
        &self.own
    }

    /// Runs every check on `envelope` without recording its nonce.
    ///
    /// # Errors
    /// The first failing check, in the order of the [module docs](self).
    pub fn check(&self, envelope: Envelope, now_ms: u64) -> Result<CheckedRequest, VerifyError> {
        let h = envelope.header();
        let kind = h
            .kind
            .as_request()
            .ok_or(VerifyError::UnexpectedKind { kind: h.kind })?;
        if h.receiver != self.own {
            return Err(VerifyError::WrongReceiver {
                expected: self.own,
                got: h.receiver,
            });
        }
        self.guard()
            .check(&h.sender, h.nonce, h.timestamp_ms, now_ms)?;
        verify_body_and_signature(&envelope, &self.keys)?;
        Ok(CheckedRequest { kind, envelope })
    }

    /// Records the request's nonce. Fails if a copy was accepted since [`check`], or if the
    /// clock moved past its timestamp's skew.
    ///
    /// # Errors
    /// [`VerifyError::Replay`].
    ///
    /// [`check`]: RequestVerifier::check
    pub fn accept(
        &self,
        checked: CheckedRequest,
        now_ms: u64,
    ) -> Result<VerifiedRequest, VerifyError> {
        let (header, _, body) = checked.envelope.into_parts();
        self.guard()
            .record(&header.sender, header.nonce, header.timestamp_ms, now_ms)?;
        Ok(VerifiedRequest {
            kind: checked.kind,
            header,
            body,
        })
    }

    /// [`check`](Self::check) then [`accept`](Self::accept), for receivers with no admission
    /// step.
    ///
    /// # Errors
    /// As those two.
    pub fn verify(&self, envelope: Envelope, now_ms: u64) -> Result<VerifiedRequest, VerifyError> {
        let checked = self.check(envelope, now_ms)?;
        self.accept(checked, now_ms)
    }

    fn guard(&self) -> MutexGuard<'_, ReplayGuard> {
        // Nothing panics while the lock is held, and every guard state is valid.
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CheckedRequest {
    /// The verified sender.
    pub fn sender(&self) -> PublicKey {
        self.envelope.header().sender
    }

    /// The request kind.
    pub const fn kind(&self) -> RequestKind {
        self.kind
    }

    /// The header.
    pub const fn header(&self) -> &Header {
        self.envelope.header()
    }
}

impl VerifiedRequest {
    /// The verified sender.
    pub const fn sender(&self) -> PublicKey {
        self.header.sender
    }

    /// The request kind.
    pub const fn kind(&self) -> RequestKind {
        self.kind
    }

    /// The caller's request id.
    pub const fn request_id(&self) -> RequestId {
        self.header.request_id
    }

    /// The full header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The body bytes (hash-checked).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body bytes, owned.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// What the caller expects of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedAnswer {
    /// The hotkey the request was sent to; it must have signed the answer.
    pub from: PublicKey,
    /// The caller's hotkey; the answer must be addressed to it.
    pub to: PublicKey,
    /// The request's id, echoed by the answer.
    pub request_id: RequestId,
    /// The request's kind; the answer is its answer kind or an error answer.
    pub kind: RequestKind,
}

/// A verified successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    header: Header,
    body: Vec<u8>,
}

impl Answer {
    /// The header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The body bytes (hash-checked).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body bytes, owned.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// Why an answer is not the one expected, or the verified rejection it carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The receiver refused the request; the error answer was verified.
    #[error("rejected: {0}")]
    Rejected(RejectReason),
    /// Signed by another hotkey than the one called.
    #[error("answer from {got}, expected {expected}")]
    WrongSender {
        /// The hotkey called.
        expected: PublicKey,
        /// The answer's sender.
        got: PublicKey,
    },
    /// Addressed to another hotkey than the caller's.
    #[error("answer addressed to {got}, not to us")]
    WrongReceiver {
        /// The answer's receiver.
        got: PublicKey,
    },
    /// Echoes another request id.
    #[error("answer for request {got}, expected {expected}")]
    RequestIdMismatch {
        /// The request's id.
        expected: RequestId,
        /// The id in the answer.
        got: RequestId,
    },
    /// Neither the request's answer kind nor an error answer.
    #[error("unexpected answer kind {got}")]
    UnexpectedKind {
        /// The kind received.
        got: MessageKind,
    },
    /// The body does not hash to the header's body hash.
    #[error("body hash mismatch")]
    BodyHashMismatch,
    /// The signature does not verify with the called hotkey.
    #[error("bad signature")]
    BadSignature,
    /// An error answer whose body is not a reason code.
    #[error("malformed error answer")]
    MalformedRejection,
}

/// Checks an answer against what the request expects: sender, receiver, request id, kind, body
/// hash, then signature. A verified error answer becomes [`AnswerError::Rejected`].
///
/// Answers carry a timestamp and nonce but are not replay-checked: the request id is fresh per
/// call and the answer comes back on the request's own pinned-TLS stream.
///
/// # Errors
/// [`AnswerError`].
pub fn verify_answer(
    envelope: Envelope,
    expected: &ExpectedAnswer,
    keys: &VerifyingKeyCache,
) -> Result<Answer, AnswerError> {
    check_answer(envelope, expected)?.verify(keys)
}

/// An answer that passed every check of [`verify_answer`] but its signature: verify many at
/// once with [`verify_answers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncheckedAnswer {
    envelope: Envelope,
}

impl UncheckedAnswer {
    /// Verifies its signature on its own, and returns the answer or the rejection it carries.
    ///
    /// # Errors
    /// `BadSignature`, `Rejected` or `MalformedRejection`.
    pub fn verify(self, keys: &VerifyingKeyCache) -> Result<Answer, AnswerError> {
        let h = self.envelope.header();
        let key = keys.get(&h.sender).map_err(|_| AnswerError::BadSignature)?;
        PublicKey::verify_with(&key, &h.signing_bytes(), self.envelope.signature())
            .map_err(|_| AnswerError::BadSignature)?;
        self.open()
    }

    /// The answer or the rejection it carries, once its signature has verified.
    fn open(self) -> Result<Answer, AnswerError> {
        let (header, _, body) = self.envelope.into_parts();
        if header.kind == MessageKind::ErrorAnswer {
            let reason = RejectReason::from_body(&body).ok_or(AnswerError::MalformedRejection)?;
            return Err(AnswerError::Rejected(reason));
        }
        Ok(Answer { header, body })
    }
}

/// Every check of [`verify_answer`] except the signature: sender, receiver, request id, kind and
/// body hash.
///
/// # Errors
/// [`AnswerError`] other than `BadSignature`, `Rejected` and `MalformedRejection`.
pub fn check_answer(
    envelope: Envelope,
    expected: &ExpectedAnswer,
) -> Result<UncheckedAnswer, AnswerError> {
    let h = envelope.header();
    if h.sender != expected.from {
        return Err(AnswerError::WrongSender {
            expected: expected.from,
            got: h.sender,
        });
    }
    if h.receiver != expected.to {
        return Err(AnswerError::WrongReceiver { got: h.receiver });
    }
    if h.request_id != expected.request_id {
        return Err(AnswerError::RequestIdMismatch {
            expected: expected.request_id,
            got: h.request_id,
        });
    }
    if h.kind != MessageKind::ErrorAnswer && h.kind != expected.kind.answer() {
        return Err(AnswerError::UnexpectedKind { got: h.kind });
    }
    if !h.body_hash.matches(envelope.body()) {
        return Err(AnswerError::BodyHashMismatch);
    }
    Ok(UncheckedAnswer { envelope })
}

/// Signatures verified together by [`verify_answers`]: large enough for batch verification's
/// full saving, small enough that one bad signature costs few single re-verifications.
pub const ANSWER_BATCH: usize = 64;

/// Verifies the signatures of `answers` in batches of [`ANSWER_BATCH`] (about half the CPU of
/// verifying them one by one) and returns each answer, or why it failed, in order. A batch
/// with a bad signature in it is verified again one by one, so that only the bad answers fail.
pub fn verify_answers(
    answers: Vec<UncheckedAnswer>,
    keys: &VerifyingKeyCache,
) -> Vec<Result<Answer, AnswerError>> {
    let mut out = Vec::with_capacity(answers.len());
    let mut answers = answers.into_iter().peekable();
    while answers.peek().is_some() {
        let chunk: Vec<UncheckedAnswer> = answers.by_ref().take(ANSWER_BATCH).collect();
        // A sender key that is not a usable point fails its answer alone.
        let resolved: Vec<Result<_, AnswerError>> = chunk
            .iter()
            .map(|a| {
                let h = a.envelope.header();
                keys.get(&h.sender)
                    .map(|key| (key, h.signing_bytes()))
                    .map_err(|_| AnswerError::BadSignature)
            })
            .collect();
        let usable: Vec<usize> = (0..chunk.len())
            .filter(|&i| resolved.get(i).is_some_and(Result::is_ok))
            .collect();
        let (mut vks, mut msgs, mut sigs) = (Vec::new(), Vec::new(), Vec::new());
        for &i in &usable {
            if let (Some(Ok((key, bytes))), Some(a)) = (resolved.get(i), chunk.get(i)) {
                vks.push(*key);
                msgs.push(bytes.as_slice());
                sigs.push(*a.envelope.signature());
            }
        }
        let all_good = !usable.is_empty() && PublicKey::verify_batch(&vks, &msgs, &sigs).is_ok();
        for (answer, key) in chunk.into_iter().zip(resolved) {
            let verdict = key.and_then(|(key, bytes)| {
                if all_good {
                    return Ok(());
                }
                PublicKey::verify_with(&key, &bytes, answer.envelope.signature())
                    .map_err(|_| AnswerError::BadSignature)
            });
            out.push(verdict.and_then(|()| answer.open()));
        }
    }
    out
}

fn verify_body_and_signature(
    envelope: &Envelope,
    keys: &VerifyingKeyCache,
) -> Result<(), VerifyError> {
    let h = envelope.header();
    if !h.body_hash.matches(envelope.body()) {
        return Err(VerifyError::BodyHashMismatch);
    }
    let key = keys.get(&h.sender).map_err(|_| VerifyError::BadSignature)?;
    PublicKey::verify_with(&key, &h.signing_bytes(), envelope.signature())
        .map_err(|_| VerifyError::BadSignature)
}
