//! [`MetagraphCache`]: a subnet's metagraph, refetched only when the chain has moved.

use subnet_protocol::chain::Metagraph;
use subnet_protocol::ids::NetUid;

use crate::chain::Chain;
use crate::error::ChainError;

/// The latest metagraph of one subnet, refreshed cheaply: a refresh asks for the chain's
/// height (one small call) and refetches the metagraph only when a block has been committed
/// since the cached one was read.
#[derive(Debug, Clone)]
pub struct MetagraphCache {
    netuid: NetUid,
    current: Option<Metagraph>,
}

impl MetagraphCache {
    /// An empty cache for `netuid`; the first refresh fetches.
    pub fn new(netuid: NetUid) -> Self {
        Self {
            netuid,
            current: None,
        }
    }

    /// The subnet.
    pub fn netuid(&self) -> NetUid {
        self.netuid
    }

    /// The cached metagraph, if fetched.
    pub fn get(&self) -> Option<&Metagraph> {
        self.current.as_ref()
    }

    /// Refetches if the chain's height differs from the cached metagraph's block. Returns
    /// whether the metagraph was refetched.
    ///
    /// # Errors
    /// Whatever the chain calls fail with ([`ChainError::NotFound`] if the subnet is gone).
    pub async fn refresh<C: Chain>(&mut self, chain: &C) -> Result<bool, ChainError> {
        let height = chain.current_block().await?;
        if self.current.as_ref().is_some_and(|m| m.block == height) {
            return Ok(false);
        }
        self.current = Some(chain.metagraph(self.netuid).await?);
        Ok(true)
    }

    /// Refreshes (see [`Self::refresh`]) and returns the metagraph.
    ///
    /// # Errors
    /// As [`Self::refresh`].
    pub async fn latest<C: Chain>(&mut self, chain: &C) -> Result<&Metagraph, ChainError> {
        self.refresh(chain).await?;
        match &self.current {
            Some(m) => Ok(m),
            // `refresh` either fetched or found a cached one.
            None => Err(ChainError::Protocol {
                code: None,
                message: "metagraph cache empty after refresh".into(),
            }),
        }
    }
}
