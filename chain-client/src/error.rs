//! [`ChainError`]: the one error of every [`crate::Chain`] method, whatever the backend.

use std::fmt;
use std::path::PathBuf;

use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::TxError;
use subnet_protocol::ids::{BlockNumber, NetUid};

/// Why a chain call failed. Backend types (HTTP, sled) never appear here; their errors are
/// reachable only through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain refused the transaction, at admission or in its block; it changed nothing.
    #[error("transaction rejected: {0}")]
    Rejected(TxError),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(Missing),
    /// The chain could not be reached or did not answer in time, or is shutting down or
    /// overloaded. Retrying later may succeed; for a write, the transaction may or may not have
    /// been included (check the account's nonce).
    #[error("chain unavailable")]
    Unavailable(#[source] TransportError),
    /// The chain answered something this client does not understand (a version mismatch or a
    /// bug on either side).
    #[error("chain protocol error (code {code:?}): {message}")]
    Protocol {
        /// The JSON-RPC error code, if the answer was an error object.
        code: Option<i64>,
        /// What was wrong.
        message: String,
    },
    /// The backend configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The connected chain's runtime has no such call or storage (an older or newer runtime,
    /// or an operation that exists only on the local chain). Nothing was sent.
    #[error("the chain's runtime does not support {call}")]
    Unsupported {
        /// What is missing, as `Pallet.call_or_storage` (with a note where useful).
        call: String,
    },
}

/// What a [`ChainError::NotFound`] was looking for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A subnet.
    Subnet(NetUid),
    /// A block.
    Block(BlockNumber),
    /// An AINFT.
    Ainft(AinftId),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subnet(netuid) => write!(f, "subnet {netuid}"),
            Self::Block(number) => write!(f, "block {number}"),
            Self::Ainft(id) => write!(f, "AINFT {id}"),
        }
    }
}

/// A failure to reach the chain. The underlying error (I/O, HTTP, storage) is its
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct TransportError {
    kind: TransportKind,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The kind of a [`TransportError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No connection could be made (after the configured retries).
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed while the request was in flight.
    Io,
    /// The node answered with an unexpected HTTP status.
    Http {
        /// The status code.
        status: u16,
    },
    /// The node is shutting down or overloaded (JSON-RPC `UNAVAILABLE`).
    NodeUnavailable {
        /// The node's message.
        message: String,
    },
    /// The embedded ledger's storage failed.
    Storage,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect => f.write_str("cannot connect to the node"),
            Self::Timeout => f.write_str("the node did not answer in time"),
            Self::Io => f.write_str("connection to the node failed"),
            Self::Http { status } => write!(f, "the node answered HTTP {status}"),
            Self::NodeUnavailable { message } => write!(f, "the node is unavailable: {message}"),
            Self::Storage => f.write_str("the embedded ledger's storage failed"),
        }
    }
}

impl TransportError {
    /// A transport error of `kind` caused by `source`.
    pub(crate) fn new(
        kind: TransportKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// A transport error of `kind` with no underlying error.
    pub(crate) fn bare(kind: TransportKind) -> Self {
        Self { kind, source: None }
    }

    /// What went wrong.
    pub fn kind(&self) -> &TransportKind {
        &self.kind
    }
}

impl From<TransportError> for ChainError {
    fn from(e: TransportError) -> Self {
        Self::Unavailable(e)
    }
}

/// A backend configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The node URL is not `http://HOST:PORT[/PATH]`.
    #[error("`{url}` is not an http:// node URL")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The subtensor node URL is not `ws://` or `wss://HOST:PORT[/PATH]`.
    #[error("`{url}` is not a ws:// or wss:// node URL")]
    InvalidWsUrl {
        /// The URL as given.
        url: String,
    },
    /// The backend was compiled out (a cargo feature of this crate is off).
    #[error("the {backend} chain backend is not compiled in (rebuild with `--features {feature}`)")]
    BackendDisabled {
        /// The backend.
        backend: &'static str,
        /// The feature that enables it.
        feature: &'static str,
    },
    /// The embedded chain's genesis cannot be loaded.
    #[error("genesis {}: {reason}", path.display())]
    Genesis {
        /// The file (empty for the built-in dev genesis).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ChainError {
    /// Whether retrying the same call later may succeed (the chain was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The transaction error, if this is a rejection.
    pub fn as_rejection(&self) -> Option<&TxError> {
        match self {
            Self::Rejected(e) => Some(e),
            _ => None,
        }
    }
}
