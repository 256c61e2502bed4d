//! The chain's public language: hyperparameters, signed transactions and their errors, the views
//! the node reports, and the JSON-RPC method names. The node (`subnet-chain`) and every client
//! (`subnet-chain-client`) use these definitions; neither keeps a copy.

mod hyperparams;
mod info;
pub mod rpc;
mod tx;

pub use hyperparams::{HyperparameterError, Hyperparameters, MAX_UIDS, MIN_ALPHA_LOW, TOKEN};
pub use info::{
    AccountEmission, AccountInfo, AinftRecord, Block, BlockHeader, ChainInfo, EmissionReport,
    EpochEmission, Metagraph, NeuronInfo, SubnetInfo,
};
pub use tx::{
    AxonInfo, Call, MAX_TX_BYTES, SignedTransaction, TX_SIGNING_TAG, Transaction, TxError,
};
