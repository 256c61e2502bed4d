//! Frame decoding: arbitrary bytes never panic, and whatever decodes re-encodes to a frame that
//! decodes to the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subnet_protocol::MAX_FRAME_BYTES;
use subnet_protocol::codec::{decode_frame, decode_payload, encode_frame_to_vec, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.first_chunk::<4>() {
        let _ = frame_len(*prefix, MAX_FRAME_BYTES);
    }
    if let Ok(envelope) = decode_frame(data, MAX_FRAME_BYTES) {
        let again = encode_frame_to_vec(&envelope, MAX_FRAME_BYTES).expect("decoded fits");
        assert_eq!(
            decode_frame(&again, MAX_FRAME_BYTES).expect("re-decodes"),
            envelope
        );
    }
    let _ = decode_payload(data.to_vec());
});
