//! Envelope verification without a network: every rejection reason, one at a time, in the
//! order the receiver checks them; and the caller's checks on answers.

use proptest::prelude::*;
use subnet_protocol::codec::{
    FRAME_PREFIX_BYTES, decode_frame, decode_payload, encode_frame_to_vec, frame_len,
};
use subnet_protocol::envelope::{BodyHash, Header};
use subnet_protocol::replay::{REPLAY_WINDOW, ReplayConfig};
use subnet_protocol::verifier::{ANSWER_BATCH, check_answer, verify_answer, verify_answers};
use subnet_protocol::{
    AnswerError, Envelope, ExpectedAnswer, Keypair, MAX_FRAME_BYTES, MessageKind, PublicKey,
    RejectReason, RequestId, RequestKind, RequestVerifier, Signature, Stamp, VerifyError,
    VerifyingKeyCache,
};

const NOW: u64 = 1_700_000_000_000;

fn caller() -> Keypair {
    Keypair::from_seed(&[1; 32])
}

fn miner() -> Keypair {
    Keypair::from_seed(&[2; 32])
}

fn verifier() -> RequestVerifier {
    RequestVerifier::new(
        miner().public(),
        &ReplayConfig::default(),
        VerifyingKeyCache::default(),
    )
}

fn request(nonce: u64, timestamp_ms: u64, body: &[u8]) -> Envelope {
    Envelope::request(
        &caller(),
        miner().public(),
        RequestKind::Task,
        RequestId(nonce),
        Stamp {
            nonce,
            timestamp_ms,
        },
        body.to_vec(),
    )
}

/// Encodes, decodes and verifies, as a receiver would; returns the reason on rejection.
fn receive(v: &RequestVerifier, envelope: &Envelope) -> Result<(), RejectReason> {
    let frame = encode_frame_to_vec(envelope, MAX_FRAME_BYTES).unwrap();
    let decoded = decode_frame(&frame, MAX_FRAME_BYTES).map_err(|e| e.reason())?;
    v.verify(decoded, NOW).map(|_| ()).map_err(|e| e.reason())
}

fn tampered(envelope: &Envelope, edit: impl FnOnce(&mut Header, &mut Vec<u8>)) -> Envelope {
    let (mut header, signature, mut body) = envelope.clone().into_parts();
    edit(&mut header, &mut body);
    Envelope::from_parts(header, signature, body)
}

#[test]
fn an_honest_request_is_accepted_with_its_fields() {
    let v = verifier();
    let env = request(7, NOW, b"context");
    let req = v.verify(env, NOW).unwrap();
    assert_eq!(req.sender(), caller().public());
    assert_eq!(req.kind(), RequestKind::Task);
    assert_eq!(req.request_id(), RequestId(7));
    assert_eq!(req.body(), b"context");
}

#[test]
fn oversized_frame() {
    let frame = encode_frame_to_vec(&request(1, NOW, &[0; 600]), MAX_FRAME_BYTES).unwrap();
    let err = decode_frame(&frame, 512).unwrap_err();
    assert_eq!(err.reason(), RejectReason::Oversized);
    let prefix: [u8; FRAME_PREFIX_BYTES] = frame[..4].try_into().unwrap();
    assert_eq!(
        frame_len(prefix, 512).unwrap_err().reason(),
        RejectReason::Oversized
    );
    assert!(encode_frame_to_vec(&request(1, NOW, &[0; 600]), 512).is_err());
}

#[test]
fn unknown_version() {
    let mut frame = encode_frame_to_vec(&request(1, NOW, b"x"), MAX_FRAME_BYTES).unwrap();
    frame[FRAME_PREFIX_BYTES] = 9;
    let err = decode_frame(&frame, MAX_FRAME_BYTES).unwrap_err();
    assert_eq!(err.reason(), RejectReason::BadVersion);
}

#[test]
fn unknown_and_unexpected_kind() {
    let mut frame = encode_frame_to_vec(&request(1, NOW, b"x"), MAX_FRAME_BYTES).unwrap();
    frame[FRAME_PREFIX_BYTES + 1] = 77;
    let err = decode_frame(&frame, MAX_FRAME_BYTES).unwrap_err();
    assert_eq!(err.reason(), RejectReason::UnknownKind);

    let answer_kind = Envelope::sign(
        &caller(),
        MessageKind::TaskAnswer,
        RequestId(1),
        miner().public(),
        Stamp {
            nonce: 1,
            timestamp_ms: NOW,
        },
        vec![],
    );
    assert_eq!(
        receive(&verifier(), &answer_kind),
        Err(RejectReason::UnexpectedKind)
    );
}

#[test]
fn wrong_receiver() {
    let env = Envelope::request(
        &caller(),
        Keypair::from_seed(&[3; 32]).public(),
        RequestKind::Task,
        RequestId(1),
        Stamp {
            nonce: 1,
            timestamp_ms: NOW,
        },
        vec![],
    );
    let err = verifier().verify(env, NOW).unwrap_err();
    assert!(matches!(err, VerifyError::WrongReceiver { .. }), "{err:?}");
    assert_eq!(err.reason(), RejectReason::WrongReceiver);
}

#[test]
fn stale_and_future_timestamps() {
    let v = verifier();
    assert_eq!(
        receive(&v, &request(1, NOW - 30_001, b"")),
        Err(RejectReason::StaleTimestamp)
    );
    assert_eq!(
        receive(&v, &request(2, NOW + 30_001, b"")),
        Err(RejectReason::FutureTimestamp)
    );
    // The edges of the window are accepted.
    assert_eq!(receive(&v, &request(3, NOW - 30_000, b"")), Ok(()));
    assert_eq!(receive(&v, &request(4, NOW + 30_000, b"")), Ok(()));
}

#[test]
fn replayed_nonce() {
    let v = verifier();
    let env = request(10, NOW, b"a");
    assert_eq!(receive(&v, &env), Ok(()));
    assert_eq!(receive(&v, &env), Err(RejectReason::ReplayedNonce));
    // Same nonce, new content and timestamp: still a replayed nonce.
    assert_eq!(
        receive(&v, &request(10, NOW + 1, b"b")),
        Err(RejectReason::ReplayedNonce)
    );
    // Far below the highest: too old, reported the same way.
    assert_eq!(receive(&v, &request(10 + REPLAY_WINDOW, NOW, b"")), Ok(()));
    assert_eq!(
        receive(&v, &request(9, NOW, b"")),
        Err(RejectReason::ReplayedNonce)
    );
}

#[test]
fn body_hash_mismatch() {
    let env = tampered(&request(1, NOW, b"real"), |_, body| {
        *body = b"fake".to_vec()
    });
    assert_eq!(
        receive(&verifier(), &env),
        Err(RejectReason::BodyHashMismatch)
    );
}

#[test]
fn bad_signature() {
    let env = request(1, NOW, b"x");
    let (header, signature, body) = env.into_parts();
    let mut bytes = *signature.as_bytes();
    bytes[10] ^= 0x40;
    let env = Envelope::from_parts(header, Signature::from_bytes(bytes), body);
    assert_eq!(receive(&verifier(), &env), Err(RejectReason::BadSignature));
}

#[test]
fn signature_by_another_key() {
    // Mallory signs a request that claims to come from the caller.
    let mallory = Keypair::from_seed(&[66; 32]);
    let genuine = request(1, NOW, b"x");
    let header = *genuine.header();
    let forged_sig = mallory.sign(&header.signing_bytes());
    let env = Envelope::from_parts(header, forged_sig, b"x".to_vec());
    assert_eq!(receive(&verifier(), &env), Err(RejectReason::BadSignature));
}

#[test]
fn a_header_field_changed_after_signing_breaks_the_signature() {
    let env = request(1, NOW, b"x");
    let env = tampered(&env, |h, _| h.request_id = RequestId(2));
    assert_eq!(receive(&verifier(), &env), Err(RejectReason::BadSignature));
    // A body swapped together with its hash is still caught, by the signature.
    let env = tampered(&request(2, NOW, b"x"), |h, body| {
        *body = b"y".to_vec();
        h.body_hash = BodyHash::of(body);
    });
    assert_eq!(receive(&verifier(), &env), Err(RejectReason::BadSignature));
}

#[test]
fn forged_requests_do_not_use_up_nonces() {
    let v = verifier();
    let genuine = request(5, NOW, b"x");
    let (header, _, body) = genuine.clone().into_parts();
    let forged = Envelope::from_parts(header, Signature::from_bytes([7; 64]), body);
    assert_eq!(receive(&v, &forged), Err(RejectReason::BadSignature));
    assert_eq!(receive(&v, &genuine), Ok(()));
}

#[test]
fn a_checked_request_is_not_recorded_until_accepted() {
    let v = verifier();
    let env = request(3, NOW, b"x");
    let first = v.check(env.clone(), NOW).unwrap();
    // A second copy passes `check` too: nothing is recorded yet (the server's admission hook
    // runs here, and a rejected caller must not use up the nonce).
    let second = v.check(env, NOW).unwrap();
    assert_eq!(first.sender(), caller().public());
    assert!(v.accept(first, NOW).is_ok());
    let err = v.accept(second, NOW).unwrap_err();
    assert_eq!(err.reason(), RejectReason::ReplayedNonce);
}

#[test]
fn weak_sender_keys_are_refused() {
    // The identity point as a sender key: small order, refused before any signature check.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let env = tampered(&request(1, NOW, b""), |h, _| {
        h.sender = PublicKey::from_bytes(identity);
    });
    assert_eq!(receive(&verifier(), &env), Err(RejectReason::BadSignature));
}

fn expected(request_id: u64) -> ExpectedAnswer {
    ExpectedAnswer {
        from: miner().public(),
        to: caller().public(),
        request_id: RequestId(request_id),
        kind: RequestKind::Task,
    }
}

fn verified_request(nonce: u64) -> subnet_protocol::VerifiedRequest {
    verifier().verify(request(nonce, NOW, b"q"), NOW).unwrap()
}

#[test]
fn answers_are_checked_against_the_request() {
    let keys = VerifyingKeyCache::default();
    let stamp = Stamp {
        nonce: 1,
        timestamp_ms: NOW,
    };
    let req = verified_request(4);
    let answer = Envelope::answer(&miner(), &req, stamp, b"a".to_vec());
    assert_eq!(answer.header().kind, MessageKind::TaskAnswer);
    assert_eq!(answer.header().receiver, caller().public());
    let ok = verify_answer(answer.clone(), &expected(4), &keys).unwrap();
    assert_eq!(ok.body(), b"a");

    let err = verify_answer(answer.clone(), &expected(5), &keys).unwrap_err();
    assert!(
        matches!(err, AnswerError::RequestIdMismatch { .. }),
        "{err:?}"
    );

    let mut other_kind = expected(4);
    other_kind.kind = RequestKind::Health;
    let err = verify_answer(answer.clone(), &other_kind, &keys).unwrap_err();
    assert!(matches!(err, AnswerError::UnexpectedKind { .. }), "{err:?}");

    let mut other_sender = expected(4);
    other_sender.from = Keypair::from_seed(&[9; 32]).public();
    let err = verify_answer(answer.clone(), &other_sender, &keys).unwrap_err();
    assert!(matches!(err, AnswerError::WrongSender { .. }), "{err:?}");

    let mut other_receiver = expected(4);
    other_receiver.to = Keypair::from_seed(&[9; 32]).public();
    let err = verify_answer(answer.clone(), &other_receiver, &keys).unwrap_err();
    assert!(matches!(err, AnswerError::WrongReceiver { .. }), "{err:?}");

    let bad_body = tampered(&answer, |_, body| body.push(0));
    let err = verify_answer(bad_body, &expected(4), &keys).unwrap_err();
    assert_eq!(err, AnswerError::BodyHashMismatch);

    let (h, _, body) = answer.into_parts();
    let forged = Envelope::from_parts(h, caller().sign(&h.signing_bytes()), body);
    let err = verify_answer(forged, &expected(4), &keys).unwrap_err();
    assert_eq!(err, AnswerError::BadSignature);
}

#[test]
fn batch_verification_gives_each_answer_what_single_verification_gives() {
    let keys = VerifyingKeyCache::default();
    let stamp = Stamp {
        nonce: 1,
        timestamp_ms: NOW,
    };
    // Two full batches and a partial one; forged signatures in the first and last, a rejection,
    // and a second batch that is all good.
    let n = 2 * ANSWER_BATCH + 22;
    let forged = [5, 2 * ANSWER_BATCH + 3];
    let rejected = 10;
    let answers: Vec<(Envelope, ExpectedAnswer)> = (0..n)
        .map(|i| {
            let id = 1000 + i as u64;
            let req = request(id, NOW, b"q");
            let answer = if i == rejected {
                Envelope::error_answer(&miner(), Some(req.header()), RejectReason::Busy, stamp)
            } else {
                let verified = verifier().verify(req, NOW).unwrap();
                Envelope::answer(&miner(), &verified, stamp, vec![i as u8; 3])
            };
            let answer = if forged.contains(&i) {
                let (h, _, body) = answer.into_parts();
                Envelope::from_parts(h, caller().sign(&h.signing_bytes()), body)
            } else {
                answer
            };
            (answer, expected(id))
        })
        .collect();
    let one_by_one: Vec<_> = answers
        .iter()
        .map(|(a, e)| verify_answer(a.clone(), e, &keys))
        .collect();
    let unchecked = answers
        .iter()
        .map(|(a, e)| check_answer(a.clone(), e).unwrap())
        .collect();
    let batched = verify_answers(unchecked, &keys);
    assert_eq!(batched, one_by_one);
    for (i, outcome) in batched.iter().enumerate() {
        match outcome {
            Ok(answer) => assert_eq!(answer.body(), [i as u8; 3]),
            Err(AnswerError::BadSignature) => assert!(forged.contains(&i), "{i}"),
            Err(AnswerError::Rejected(RejectReason::Busy)) => assert_eq!(i, rejected),
            Err(e) => panic!("{i}: {e:?}"),
        }
    }
    assert_eq!(batched.iter().filter(|a| a.is_ok()).count(), n - 3);
    assert!(verify_answers(Vec::new(), &keys).is_empty());
}

#[test]
fn a_signed_error_answer_is_a_rejection() {
    let keys = VerifyingKeyCache::default();
    let stamp = Stamp {
        nonce: 1,
        timestamp_ms: NOW,
    };
    let req = request(4, NOW, b"q");
    let err_answer =
        Envelope::error_answer(&miner(), Some(req.header()), RejectReason::NoPermit, stamp);
    assert_eq!(
        verify_answer(err_answer, &expected(4), &keys).unwrap_err(),
        AnswerError::Rejected(RejectReason::NoPermit)
    );
    let not_a_code = Envelope::sign(
        &miner(),
        MessageKind::ErrorAnswer,
        RequestId(4),
        caller().public(),
        stamp,
        vec![1, 2, 3],
    );
    assert_eq!(
        verify_answer(not_a_code, &expected(4), &keys).unwrap_err(),
        AnswerError::MalformedRejection
    );
}

proptest! {
    /// Changing any one byte of a valid request frame never gives an accepted request.
    #[test]
    fn any_single_byte_change_is_rejected(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let env = request(1, NOW, &[5; 40]);
        let mut frame = encode_frame_to_vec(&env, MAX_FRAME_BYTES).unwrap();
        let i = at.index(frame.len());
        frame[i] ^= xor;
        let verdict = decode_frame(&frame, MAX_FRAME_BYTES)
            .map_err(|e| e.reason())
            .and_then(|env| verifier().verify(env, NOW).map_err(|e| e.reason()));
        prop_assert!(verdict.is_err(), "byte {} ^ {:#x} accepted", i, xor);
    }

    /// Arbitrary payload bytes never panic decoding or verification.
    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(env) = decode_payload(bytes) {
            let _ = verifier().verify(env, NOW);
        }
    }
}
