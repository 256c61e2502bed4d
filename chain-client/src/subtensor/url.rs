//! [`SubtensorUrl`]: where a subtensor node serves its WebSocket JSON-RPC.

use std::fmt;
use std::str::FromStr;

use hyper::Uri;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The WebSocket JSON-RPC endpoint of a subtensor node: `ws://HOST:PORT[/PATH]` or `wss://…`.
///
/// Serialized as that string. Default `ws://127.0.0.1:9944` (a local subtensor or chopsticks).
/// Parsed even when the `subtensor` feature is off, so that a configuration naming this backend
/// fails with "rebuild with `--features subtensor`" rather than a parse error.
#[derive(Clone, PartialEq, Eq)]
pub struct SubtensorUrl {
    text: String,
}

impl SubtensorUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Default for SubtensorUrl {
    fn default() -> Self {
        Self {
            text: "ws://127.0.0.1:9944".to_owned(),
        }
    }
}

impl FromStr for SubtensorUrl {
    type Err = ConfigError;

    /// Parses `ws://HOST:PORT[/PATH]` or `wss://HOST:PORT[/PATH]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::InvalidWsUrl { url: s.to_owned() };
        let uri: Uri = s.parse().map_err(|_| invalid())?;
        if !matches!(uri.scheme_str(), Some("ws" | "wss")) || uri.authority().is_none() {
            return Err(invalid());
        }
        Ok(Self { text: s.to_owned() })
    }
}

impl From<std::net::SocketAddr> for SubtensorUrl {
    fn from(addr: std::net::SocketAddr) -> Self {
        Self {
            text: format!("ws://{addr}"),
        }
    }
}

impl fmt::Display for SubtensorUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for SubtensorUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubtensorUrl({})", self.text)
    }
}

impl Serialize for SubtensorUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SubtensorUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ws_and_wss_only() {
        assert_eq!(
            "ws://127.0.0.1:9944".parse::<SubtensorUrl>().unwrap(),
            SubtensorUrl::default()
        );
        assert!(
            "wss://entrypoint-finney.opentensor.ai:443"
                .parse::<SubtensorUrl>()
                .is_ok()
        );
        for bad in ["http://127.0.0.1:9944", "ws://", "127.0.0.1:9944", ""] {
            assert!(bad.parse::<SubtensorUrl>().is_err(), "{bad}");
        }
        let addr: std::net::SocketAddr = "127.0.0.1:1234".parse().unwrap();
        assert_eq!(SubtensorUrl::from(addr).as_str(), "ws://127.0.0.1:1234");
    }
}
