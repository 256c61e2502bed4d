//! Transaction decoding and signature checking, as the node's `tx_submit` does them:
//! 1. arbitrary bytes never panic [`SignedTransaction::decode`], `verify_signature` or `hash`;
//!    whatever decodes re-encodes to bytes that decode to the same transaction, with the same
//!    hash and the same signature verdict;
//! 2. a valid signed transfer (amount and nonce from the input) with byte flips from the input
//!    applied is accepted (decodes and verifies) only if it still says what was signed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subnet_protocol::Keypair;
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Call, SignedTransaction, Transaction};
use subnet_protocol::ids::{BlockNumber, Rao};

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedTransaction::decode(data) {
        let verdict = signed.verify_signature();
        let again = signed.encode();
        let decoded = SignedTransaction::decode(&again).expect("re-encoding decodes");
        assert_eq!(decoded, signed);
        assert_eq!(decoded.hash(), signed.hash());
        assert_eq!(decoded.verify_signature(), verdict);
    }

    let (head, flips) = data.split_at(data.len().min(16));
    let mut word = [0u8; 8];
    for (slot, byte) in word.iter_mut().zip(head) {
        *slot = *byte;
    }
    let value = u64::from_le_bytes(word);
    let alice = Keypair::from_seed(&[1; 32]);
    let tx = Transaction {
        signer: alice.public(),
        nonce: value >> 3,
        genesis_hash: Digest::of(b"fuzz chain"),
        valid_until: BlockNumber(value),
        call: Call::Transfer {
            dest: Keypair::from_seed(&[2; 32]).public(),
            amount: Rao(value.rotate_left(17)),
        },
    }
    .sign(&alice);
    let bytes = tx.encode();
    let mut mutated = bytes.clone();
    for pair in flips.chunks_exact(2) {
        let at = usize::from(pair[0]) * 5 % mutated.len();
        mutated[at] ^= pair[1];
    }
    if let Ok(decoded) = SignedTransaction::decode(&mutated)
        && decoded.verify_signature().is_ok()
    {
        // Flips that verify must leave the signed content (and so the hash) unchanged.
        assert_eq!(decoded, tx, "tampered transaction verified");
    }
});
