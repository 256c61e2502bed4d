//! [`NetConfig`]: the limits and timeouts of servers and clients.

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::codec::{FRAME_PREFIX_BYTES, MAX_ANSWER_FRAME_BYTES, MAX_FRAME_BYTES};
use crate::key_cache::DEFAULT_KEY_CACHE_CAPACITY;
use crate::replay::{REPLAY_WINDOW, ReplayConfig};

/// Default limit on concurrent request streams per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 64;
/// Default limit on a server's open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default limit on a server's open connections from one IP address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 16;
/// Default time a connection may be silent before it is closed: 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a TLS handshake may take: 5 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time one request may take end to end (read, handle, answer): 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest timeout accepted: one day. Keeps deadline arithmetic far from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// How many maximum-size requests a server buffers per connection before flow control pushes
/// back; bounds a server's memory at about `max_connections × this × max_request_bytes`.
const REQUEST_FRAMES_BUFFERED_PER_CONNECTION: u64 = 4;

/// Limits and timeouts for a [`Server`](super::Server) or a [`Client`](super::Client).
///
/// Every setter documents its default and unit and returns `&mut Self`, as quinn's
/// `TransportConfig` does:
///
/// ```
/// use std::time::Duration;
/// use subnet_protocol::net::NetConfig;
///
/// let mut config = NetConfig::default();
/// config.request_timeout(Duration::from_secs(2)).max_concurrent_streams(32);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub(crate) max_request_bytes: usize,
    pub(crate) max_answer_bytes: usize,
    pub(crate) max_concurrent_streams: u32,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) replay: ReplayConfig,
    pub(crate) key_cache_capacity: usize,
}

/// A [`NetConfig`] value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit is zero.
    #[error("{field} must be above zero")]
    Zero {
        /// The setter's name.
        field: &'static str,
    },
    /// More concurrent streams than the replay window tolerates out of order.
    #[error("max_concurrent_streams {got} is above the replay window ({REPLAY_WINDOW})")]
    TooManyStreams {
        /// The value set.
        got: u32,
    },
    /// A frame limit the 32-bit length prefix cannot express.
    #[error("{field} of {got} bytes does not fit the u32 length prefix")]
    FrameLimit {
        /// The setter's name.
        field: &'static str,
        /// The value set.
        got: usize,
    },
    /// A timeout above [`MAX_TIMEOUT`].
    #[error("{field} is above the one-day maximum")]
    TooLong {
        /// The setter's name.
        field: &'static str,
    },
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: MAX_FRAME_BYTES,
            max_answer_bytes: MAX_ANSWER_FRAME_BYTES,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            keep_alive: None,
            replay: ReplayConfig::default(),
            key_cache_capacity: DEFAULT_KEY_CACHE_CAPACITY,
        }
    }
}

impl NetConfig {
    /// Largest request frame payload, in bytes. Servers reject larger ones unread; clients refuse
    /// to send them. Default [`MAX_FRAME_BYTES`] (1 MiB).
    pub fn max_request_bytes(&mut self, bytes: usize) -> &mut Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Largest answer frame payload a client accepts, in bytes (weights chunks are the largest
    /// answers). Default [`MAX_ANSWER_FRAME_BYTES`] (16 MiB).
    pub fn max_answer_bytes(&mut self, bytes: usize) -> &mut Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// Requests a peer may have in flight on one connection (QUIC's bidirectional stream limit,
    /// enforced by flow control, not by refusing). At most [`REPLAY_WINDOW`]. Default
    /// [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub fn max_concurrent_streams(&mut self, streams: u32) -> &mut Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Connections a server holds at once; further ones are refused. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(&mut self, connections: usize) -> &mut Self {
        self.max_connections = connections;
        self
    }

    /// Connections a server holds at once from one IP address, so that one host cannot take
    /// every slot of `max_connections`. Default [`DEFAULT_MAX_CONNECTIONS_PER_IP`].
    pub fn max_connections_per_ip(&mut self, connections: usize) -> &mut Self {
        self.max_connections_per_ip = connections;
        self
    }

    /// Silence after which a connection is closed. Default [`DEFAULT_IDLE_TIMEOUT`] (30 s).
    pub fn idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.idle_timeout = timeout;
        self
    }

    /// Longest TLS handshake, either side. Default [`DEFAULT_HANDSHAKE_TIMEOUT`] (5 s).
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Longest request: for a client the whole call (connect included), for a server reading
    /// the request and running the handler. Default [`DEFAULT_REQUEST_TIMEOUT`] (10 s).
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.request_timeout = timeout;
        self
    }

    /// Client keep-alive ping interval, keeping idle connections open; `None` lets them close
    /// after the idle timeout. Default `None`.
    pub fn keep_alive(&mut self, interval: Option<Duration>) -> &mut Self {
        self.keep_alive = interval;
        self
    }

    /// The server's replay guard: allowed clock skew and senders remembered. Default
    /// [`ReplayConfig::default`] (30 s, 65,536 senders).
    pub fn replay(&mut self, replay: ReplayConfig) -> &mut Self {
        self.replay = replay;
        self
    }

    /// Decompressed sender keys kept. Default
    /// [`DEFAULT_KEY_CACHE_CAPACITY`](crate::key_cache::DEFAULT_KEY_CACHE_CAPACITY).
    pub fn key_cache_capacity(&mut self, keys: usize) -> &mut Self {
        self.key_cache_capacity = keys;
        self
    }

    /// Checks that every value can work.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = |field| Err(ConfigError::Zero { field });
        if self.max_request_bytes == 0 {
            return zero("max_request_bytes");
        }
        if self.max_answer_bytes == 0 {
            return zero("max_answer_bytes");
        }
        if self.max_concurrent_streams == 0 {
            return zero("max_concurrent_streams");
        }
        if self.max_connections == 0 {
            return zero("max_connections");
        }
        if self.max_connections_per_ip == 0 {
            return zero("max_connections_per_ip");
        }
        if self.handshake_timeout.is_zero() {
            return zero("handshake_timeout");
        }
        if self.request_timeout.is_zero() {
            return zero("request_timeout");
        }
        if self.idle_timeout.is_zero() {
            return zero("idle_timeout");
        }
        if u64::from(self.max_concurrent_streams) > REPLAY_WINDOW {
            return Err(ConfigError::TooManyStreams {
                got: self.max_concurrent_streams,
            });
        }
        for (field, got) in [
            ("max_request_bytes", self.max_request_bytes),
            ("max_answer_bytes", self.max_answer_bytes),
        ] {
            if u32::try_from(got).is_err() {
                return Err(ConfigError::FrameLimit { field, got });
            }
        }
        for (field, value) in [
            ("idle_timeout", self.idle_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if value > MAX_TIMEOUT {
                return Err(ConfigError::TooLong { field });
            }
        }
        Ok(())
    }

    /// Transport settings of a server: the stream limit, and receive windows sized to whole
    /// request frames so that a peer cannot make the server buffer more than a few of them.
    pub(crate) fn server_transport(&self) -> Result<Arc<TransportConfig>, ConfigError> {
        let frame = frame_window(self.max_request_bytes);
        let mut t = self.base_transport()?;
        t.max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_streams))
            .stream_receive_window(varint(frame))
            .receive_window(varint(
                frame.saturating_mul(REQUEST_FRAMES_BUFFERED_PER_CONNECTION),
            ));
        Ok(Arc::new(t))
    }

    /// Transport settings of a client: it accepts no streams from the server, and buffers one
    /// whole answer frame per stream.
    pub(crate) fn client_transport(&self) -> Result<Arc<TransportConfig>, ConfigError> {
        let mut t = self.base_transport()?;
        t.max_concurrent_bidi_streams(VarInt::from_u32(0))
            .stream_receive_window(varint(frame_window(self.max_answer_bytes)))
            .keep_alive_interval(self.keep_alive);
        Ok(Arc::new(t))
    }

    fn base_transport(&self) -> Result<TransportConfig, ConfigError> {
        self.validate()?;
        let idle = IdleTimeout::try_from(self.idle_timeout).map_err(|_| ConfigError::TooLong {
            field: "idle_timeout",
        })?;
        let mut t = TransportConfig::default();
        t.max_concurrent_uni_streams(VarInt::from_u32(0))
            .max_idle_timeout(Some(idle));
        Ok(t)
    }
}

fn frame_window(max_frame_bytes: usize) -> u64 {
    u64::try_from(max_frame_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(FRAME_PREFIX_BYTES as u64)
}

fn varint(value: u64) -> VarInt {
    VarInt::from_u64(value).unwrap_or(VarInt::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(NetConfig::default().validate(), Ok(()));
        let mut c = NetConfig::default();
        c.max_concurrent_streams(0);
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero {
                field: "max_concurrent_streams"
            })
        );
        c.max_concurrent_streams(u32::try_from(REPLAY_WINDOW).unwrap() + 1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooManyStreams { .. })
        ));
        let mut c = NetConfig::default();
        c.request_timeout(Duration::ZERO);
        assert!(c.validate().is_err());
        let mut c = NetConfig::default();
        c.idle_timeout(Duration::from_secs(u64::MAX));
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooLong {
                field: "idle_timeout"
            })
        );
        assert!(c.server_transport().is_err());
    }
}
