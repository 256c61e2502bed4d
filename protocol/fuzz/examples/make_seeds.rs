//! Writes the seed corpora under `seeds/` (committed; small): valid frames, payloads and signed
//! transactions made with the crate's own encoders, plus a few broken ones. Run from
//! `protocol/fuzz` with `cargo run --example make_seeds`; the output is deterministic.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{AxonInfo, Call, Transaction};
use subnet_protocol::codec::encode_frame_to_vec;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::{
    CertFingerprint, Envelope, Keypair, MAX_FRAME_BYTES, MessageKind, RejectReason, RequestId,
    RequestKind, Stamp,
};

/// The clock the `verify_envelope` target verifies at.
const NOW: u64 = 1_700_000_000_000;

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(dir);
    fs::create_dir_all(&dir).expect("seed dir");
    fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    let caller = Keypair::from_seed(&[1; 32]);
    let miner = Keypair::from_seed(&[2; 32]);
    let stamp = Stamp {
        nonce: 1,
        timestamp_ms: NOW,
    };
    let request = |kind, body: &[u8]| {
        Envelope::request(
            &caller,
            miner.public(),
            kind,
            RequestId(1),
            stamp,
            body.to_vec(),
        )
    };
    let envelopes = [
        ("task", request(RequestKind::Task, b"the context bytes")),
        ("health", request(RequestKind::Health, b"")),
        ("weights", request(RequestKind::Weights, &[0, 128, 128, 4])),
        (
            "error_answer",
            Envelope::error_answer(&miner, None, RejectReason::Malformed, stamp),
        ),
        (
            "task_answer",
            Envelope::sign(
                &miner,
                MessageKind::TaskAnswer,
                RequestId(1),
                caller.public(),
                stamp,
                vec![7; 64],
            ),
        ),
    ];
    for (name, envelope) in &envelopes {
        let frame = encode_frame_to_vec(envelope, MAX_FRAME_BYTES).expect("small frame");
        write("decode_frame", &format!("{name}.bin"), &frame);
        write("verify_envelope", &format!("{name}.bin"), &frame[4..]);
        write(
            "decode_frame",
            &format!("{name}_cut.bin"),
            &frame[..frame.len() / 2],
        );
    }
    write(
        "decode_frame",
        "oversized_prefix.bin",
        &u32::MAX.to_le_bytes(),
    );
    write(
        "verify_envelope",
        "body_and_flips.bin",
        b"body bytes\x05\x01\x09\x80",
    );

    let genesis = Digest::of(b"fuzz chain");
    let bob = Keypair::from_seed(&[2; 32]).public();
    let calls = [
        (
            "transfer",
            Call::Transfer {
                dest: bob,
                amount: Rao(1_000),
            },
        ),
        (
            "register",
            Call::Register {
                netuid: NetUid(1),
                hotkey: bob,
                ainft: None,
            },
        ),
        (
            "serve_axon",
            Call::ServeAxon {
                netuid: NetUid(1),
                axon: AxonInfo {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 8091,
                    cert_fingerprint: CertFingerprint([9; 32]),
                    protocol_version: 1,
                },
            },
        ),
        (
            "set_weights",
            Call::SetWeights {
                netuid: NetUid(1),
                uids: vec![Uid(0), Uid(1), Uid(2)],
                values: vec![65_535, 100, 0],
                version_key: 0,
            },
        ),
        (
            "reveal_weights",
            Call::RevealWeights {
                netuid: NetUid(1),
                uids: vec![Uid(1)],
                values: vec![1],
                salt: b"salt".to_vec(),
                version_key: 3,
            },
        ),
    ];
    for (name, call) in calls {
        let tx = Transaction {
            signer: caller.public(),
            nonce: 5,
            genesis_hash: genesis,
            valid_until: BlockNumber(100),
            call,
        }
        .sign(&caller);
        let bytes = tx.encode();
        write("decode_transaction", &format!("{name}.bin"), &bytes);
        if name == "transfer" {
            write(
                "decode_transaction",
                "transfer_cut.bin",
                &bytes[..bytes.len() - 7],
            );
            let mut trailing = bytes.clone();
            trailing.push(0);
            write("decode_transaction", "transfer_trailing.bin", &trailing);
        }
    }
}
