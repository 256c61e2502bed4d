//! Errors of the ledger's storage and of opening it. Transaction rejections are
//! [`subnet_protocol::chain::TxError`].

use subnet_protocol::ainft::Digest;

/// The database failed, or holds something this ledger cannot read.
///
/// After a failed [`crate::Ledger::produce_block`] the in-memory state may be ahead of the
/// database; the ledger refuses further blocks ([`StorageError::Poisoned`]) and must be reopened,
/// which restarts from the last committed block.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled reported an I/O or corruption error.
    #[error("database error")]
    Sled(#[from] sled::Error),
    /// A value could not be encoded.
    #[error("encoding a stored value failed")]
    Encode(#[source] postcard::Error),
    /// A stored entry does not decode.
    #[error("stored {what} does not decode")]
    Corrupt {
        /// What was being read.
        what: &'static str,
    },
    /// An earlier block failed to commit; reopen the ledger.
    #[error("an earlier block failed to commit; reopen the ledger")]
    Poisoned,
    /// The chain reached the largest block number.
    #[error("block number overflow")]
    HeightOverflow,
}

/// The ledger could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database was created from another genesis.
    #[error("database belongs to chain {stored}, not {given}")]
    GenesisMismatch {
        /// Genesis hash in the database.
        stored: Digest,
        /// Genesis hash of the genesis given.
        given: Digest,
    },
    /// The genesis is not valid.
    #[error(transparent)]
    Genesis(#[from] crate::genesis::GenesisError),
    /// The state loaded does not hash to the last block's state root.
    #[error("state root mismatch at height {height}: stored {stored}, loaded {loaded}")]
    StateRootMismatch {
        /// Last committed height.
        height: u64,
        /// Root in the last header.
        stored: Digest,
        /// Root of the state loaded.
        loaded: Digest,
    },
    /// The database could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for OpenError {
    fn from(e: sled::Error) -> Self {
        Self::Storage(StorageError::Sled(e))
    }
}
