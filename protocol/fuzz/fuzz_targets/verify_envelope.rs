//! Envelope verification, two ways:
//! 1. arbitrary bytes as a frame payload, decoded and verified: never a panic;
//! 2. a valid signed request frame (body from the input) with byte flips from the input applied:
//!    accepted exactly when the flips leave the frame unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subnet_protocol::codec::{decode_frame, decode_payload, encode_frame_to_vec};
use subnet_protocol::replay::ReplayConfig;
use subnet_protocol::verifier::verify_answer;
use subnet_protocol::{
    Envelope, ExpectedAnswer, Keypair, MAX_FRAME_BYTES, RequestId, RequestKind, RequestVerifier,
    Stamp, VerifyingKeyCache,
};

const NOW: u64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let caller = Keypair::from_seed(&[1; 32]);
    let miner = Keypair::from_seed(&[2; 32]);
    let verifier = || {
        RequestVerifier::new(
            miner.public(),
            &ReplayConfig::default(),
            VerifyingKeyCache::new(4),
        )
    };

    if let Ok(envelope) = decode_payload(data.to_vec()) {
        let _ = verifier().verify(envelope.clone(), NOW);
        let expected = ExpectedAnswer {
            from: miner.public(),
            to: caller.public(),
            request_id: RequestId(1),
            kind: RequestKind::Task,
        };
        let _ = verify_answer(envelope, &expected, &VerifyingKeyCache::new(4));
    }

    let (body, flips) = data.split_at(data.len() / 2);
    let request = Envelope::request(
        &caller,
        miner.public(),
        RequestKind::Task,
        RequestId(1),
        Stamp {
            nonce: 1,
            timestamp_ms: NOW,
        },
        body.to_vec(),
    );
    let frame = encode_frame_to_vec(&request, MAX_FRAME_BYTES).expect("small frame");
    let mut mutated = frame.clone();
    for pair in flips.chunks_exact(2) {
        let at = usize::from(pair[0]) * 7 % mutated.len();
        mutated[at] ^= pair[1];
    }
    let accepted = decode_frame(&mutated, MAX_FRAME_BYTES)
        .ok()
        .and_then(|envelope| verifier().verify(envelope, NOW).ok());
    assert_eq!(
        accepted.is_some(),
        mutated == frame,
        "tampered frame accepted"
    );
});
