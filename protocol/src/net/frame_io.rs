//! Reading and writing one frame on a QUIC stream.

use quinn::{ClosedStream, ReadError, RecvStream, SendStream, WriteError};

use crate::codec::{DecodeError, FRAME_PREFIX_BYTES, decode_payload, frame_len};
use crate::envelope::Envelope;

/// First allocation for a payload; it grows only as bytes actually arrive, so a peer that
/// announces a large frame and sends nothing costs no memory.
const INITIAL_PAYLOAD_CAPACITY: usize = 16 * 1024;

/// A stream failed under a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Reading failed (connection lost, stream reset).
    #[error("read failed")]
    Read(#[source] ReadError),
    /// The peer finished the stream before a whole frame arrived.
    #[error("stream ended after {got} of {expected} frame bytes")]
    Truncated {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// Writing failed (connection lost, stream stopped by the peer).
    #[error("write failed")]
    Write(#[source] WriteError),
    /// The stream was already finished or reset.
    #[error("stream already closed")]
    Closed(#[source] ClosedStream),
}

/// Reading a frame failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadFrameError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Reads one frame of at most `max_frame_bytes` payload bytes and decodes it. The length is
/// checked before the payload is read.
pub(crate) async fn read_frame(
    recv: &mut RecvStream,
    max_frame_bytes: usize,
) -> Result<Envelope, ReadFrameError> {
    let mut prefix = [0u8; FRAME_PREFIX_BYTES];
    read_exact(recv, &mut prefix).await?;
    let len = frame_len(prefix, max_frame_bytes)?;
    let mut payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
    while payload.len() < len {
        let wanted = len.saturating_sub(payload.len());
        match recv.read_chunk(wanted, true).await {
            Ok(Some(chunk)) => payload.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                return Err(StreamError::Truncated {
                    expected: len,
                    got: payload.len(),
                }
                .into());
            }
            Err(e) => return Err(StreamError::Read(e).into()),
        }
    }
    Ok(decode_payload(payload)?)
}

/// Writes `frame` (already prefixed) and finishes the stream.
pub(crate) async fn write_frame(send: &mut SendStream, frame: &[u8]) -> Result<(), StreamError> {
    send.write_all(frame).await.map_err(StreamError::Write)?;
    send.finish().map_err(StreamError::Closed)
}

async fn read_exact(recv: &mut RecvStream, buf: &mut [u8]) -> Result<(), StreamError> {
    let expected = buf.len();
    recv.read_exact(buf).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(got) => StreamError::Truncated { expected, got },
        quinn::ReadExactError::ReadError(e) => StreamError::Read(e),
    })
}
