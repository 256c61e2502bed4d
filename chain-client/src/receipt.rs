//! [`ReceiptExt`]: typed access to what a transaction created.

use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::ids::{NetUid, Uid};

use crate::error::ChainError;

/// Reads [`TxReceipt::created`] as the value the transaction made.
pub trait ReceiptExt {
    /// The netuid a `create_subnet` created.
    ///
    /// # Errors
    /// [`ChainError::Protocol`] if the receipt holds no netuid.
    fn created_netuid(&self) -> Result<NetUid, ChainError>;

    /// The UID a `register` took.
    ///
    /// # Errors
    /// [`ChainError::Protocol`] if the receipt holds no UID.
    fn created_uid(&self) -> Result<Uid, ChainError>;

    /// The id a `register_ainft` recorded.
    ///
    /// # Errors
    /// [`ChainError::Protocol`] if the receipt holds no AINFT id.
    fn created_ainft(&self) -> Result<AinftId, ChainError>;
}

fn parse<T: std::str::FromStr>(receipt: &TxReceipt, what: &str) -> Result<T, ChainError> {
    receipt
        .created
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ChainError::Protocol {
            code: None,
            message: format!(
                "receipt of {} created no {what} ({:?})",
                receipt.hash, receipt.created
            ),
        })
}

impl ReceiptExt for TxReceipt {
    fn created_netuid(&self) -> Result<NetUid, ChainError> {
        parse(self, "netuid")
    }

    fn created_uid(&self) -> Result<Uid, ChainError> {
        parse(self, "uid")
    }

    fn created_ainft(&self) -> Result<AinftId, ChainError> {
        parse(self, "AINFT id")
    }
}
