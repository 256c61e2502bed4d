//! [`BlockWatcher`]: follows the chain block by block with long polls.

use std::time::Duration;

use subnet_protocol::ids::BlockNumber;

use crate::chain::Chain;
use crate::error::ChainError;

/// How long each long poll asks the chain to wait before polling again.
pub const BLOCK_POLL: Duration = Duration::from_secs(10);

/// Yields each new chain height, like a stream of blocks: `next` returns once the chain is past
/// the last height it returned. When several blocks land between two calls it returns the
/// latest (fetch the ones in between with [`Chain::block`] if you need each).
#[derive(Debug, Clone)]
pub struct BlockWatcher {
    last: BlockNumber,
    poll: Duration,
}

impl BlockWatcher {
    /// A watcher whose first `next` returns the first height above `last`.
    pub fn new(last: BlockNumber) -> Self {
        Self {
            last,
            poll: BLOCK_POLL,
        }
    }

    /// A watcher starting at the chain's current height.
    ///
    /// # Errors
    /// As [`Chain::current_block`].
    pub async fn from_now<C: Chain>(chain: &C) -> Result<Self, ChainError> {
        Ok(Self::new(chain.current_block().await?))
    }

    /// The last height returned (or the start).
    pub fn last(&self) -> BlockNumber {
        self.last
    }

    /// Waits for a height above [`Self::last`] and returns it.
    ///
    /// # Errors
    /// As [`Chain::wait_for_block`]; the watcher is unchanged and can be polled again.
    pub async fn next<C: Chain>(&mut self, chain: &C) -> Result<BlockNumber, ChainError> {
        loop {
            let height = chain.wait_for_block(self.last, self.poll).await?;
            if height > self.last {
                self.last = height;
                return Ok(height);
            }
        }
    }
}
