//! The JSON-RPC methods: parameters in, protocol views out.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use subnet_chain::VerifiedTransaction;
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::rpc::{
    ACCOUNT_INFO, AINFT_GET, CHAIN_BLOCK, CHAIN_INFO, CHAIN_WAIT_BLOCK, EMISSIONS, STAKE_OF,
    SUBNET_BONDS, SUBNET_INFO, SUBNET_LIST, SUBNET_METAGRAPH, SUBNET_WEIGHTS, TX_SUBMIT,
};
use subnet_protocol::chain::{SignedTransaction, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid};
use subnet_protocol::keys::PublicKey;

use super::jsonrpc::{Params, Request, RpcError};
use crate::http::stopped;
use crate::node::Shared;
use crate::pool::AdmitError;

const METHODS: [&str; 13] = [
    CHAIN_INFO,
    CHAIN_BLOCK,
    CHAIN_WAIT_BLOCK,
    ACCOUNT_INFO,
    STAKE_OF,
    SUBNET_LIST,
    SUBNET_INFO,
    SUBNET_METAGRAPH,
    SUBNET_WEIGHTS,
    SUBNET_BONDS,
    AINFT_GET,
    EMISSIONS,
    TX_SUBMIT,
];

/// The metrics label of a method name: itself if known, else `unknown` (client-chosen names
/// must not create metric series).
pub(super) fn label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("unknown")
}

fn to_value(value: impl Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::internal(format!("encoding result: {e}")))
}

/// Runs one request.
pub(super) async fn dispatch(shared: &Shared, request: Request) -> Result<Value, RpcError> {
    let Request {
        id,
        method,
        mut params,
    } = request;
    match method.as_str() {
        CHAIN_WAIT_BLOCK => return wait_block(shared, params).await,
        TX_SUBMIT => return submit(shared, params, id.is_some()).await,
        _ => {}
    }
    if label(&method) == "unknown" {
        return Err(RpcError::method_not_found(&method));
    }
    let ledger = shared.ledger.read().await;
    match method.as_str() {
        CHAIN_INFO => {
            params.finish()?;
            to_value(ledger.info())
        }
        CHAIN_BLOCK => {
            let number: BlockNumber = params.required("number")?;
            params.finish()?;
            let block = ledger
                .block(number)
                .map_err(|e| RpcError::internal(format!("reading block {number}: {e}")))?;
            to_value(block)
        }
        ACCOUNT_INFO => {
            let account: PublicKey = params.required("account")?;
            params.finish()?;
            to_value(ledger.account(&account))
        }
        STAKE_OF => {
            let coldkey: PublicKey = params.required("coldkey")?;
            let hotkey: PublicKey = params.required("hotkey")?;
            params.finish()?;
            to_value(ledger.stake_of(&coldkey, &hotkey))
        }
        SUBNET_LIST => {
            params.finish()?;
            to_value(ledger.subnets())
        }
        SUBNET_INFO => {
            let netuid = netuid(&mut params)?;
            to_value(ledger.subnet(netuid).ok_or_else(|| no_subnet(netuid))?)
        }
        SUBNET_METAGRAPH => {
            let netuid = netuid(&mut params)?;
            to_value(ledger.metagraph(netuid).ok_or_else(|| no_subnet(netuid))?)
        }
        SUBNET_WEIGHTS => {
            let netuid = netuid(&mut params)?;
            to_value(ledger.weights(netuid).ok_or_else(|| no_subnet(netuid))?)
        }
        SUBNET_BONDS => {
            let netuid = netuid(&mut params)?;
            to_value(ledger.bonds(netuid).ok_or_else(|| no_subnet(netuid))?)
        }
        AINFT_GET => {
            let id: AinftId = params.required("id")?;
            params.finish()?;
            to_value(ledger.ainft(&id))
        }
        EMISSIONS => {
            params.finish()?;
            to_value(ledger.emissions())
        }
        _ => Err(RpcError::method_not_found(&method)),
    }
}

fn netuid(params: &mut Params) -> Result<NetUid, RpcError> {
    let netuid = params.required("netuid")?;
    std::mem::take(params).finish()?;
    Ok(netuid)
}

fn no_subnet(netuid: NetUid) -> RpcError {
    RpcError::not_found(format!("subnet {netuid} does not exist"))
}

/// `chain_waitBlock`: waits until the height exceeds `after` or the (capped) timeout passes,
/// then answers the height.
async fn wait_block(shared: &Shared, mut params: Params) -> Result<Value, RpcError> {
    let after: BlockNumber = params.required("after")?;
    let timeout_ms: Option<u64> = params.optional("timeout_ms")?;
    params.finish()?;
    let wait = timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(shared.rpc.max_wait_block)
        .min(shared.rpc.max_wait_block);
    let mut height = shared.height.clone();
    let mut stop = shared.stop.clone();
    tokio::select! {
        _ = tokio::time::timeout(wait, height.wait_for(|h| *h > after)) => {}
        () = stopped(&mut stop) => {}
    }
    let now = *height.borrow();
    to_value(now)
}

/// `tx_submit`: admission against the committed state and the pool, then (unless
/// `wait_for_block` is false: a notification) the block's verdict.
async fn submit(
    shared: &Shared,
    mut params: Params,
    wait_for_block: bool,
) -> Result<Value, RpcError> {
    let hex_tx: String = params.required("tx")?;
    params.finish()?;
    let reject = |error: TxError| {
        shared.metrics.rejected("admission", error.as_label());
        RpcError::rejected(error)
    };
    let bytes = hex::decode(hex_tx.as_bytes()).map_err(|e| {
        reject(TxError::Malformed {
            reason: format!("not hex: {e}"),
        })
    })?;
    let tx = SignedTransaction::decode(&bytes).map_err(reject)?;
    if *shared.stop.borrow() {
        return Err(RpcError::unavailable("node is shutting down"));
    }
    // The signature is checked once, here, before the ledger is locked; the pool keeps the
    // proof and the block does not check it again.
    let verified = VerifiedTransaction::verify(tx);
    let admitted = {
        let ledger = shared.ledger.read().await;
        let at = ledger.height().saturating_add(1);
        let verified = match verified {
            Ok(verified) => verified,
            // `check` names the first failing check (genesis or expiry before the signature).
            Err(tx) => {
                return Err(reject(
                    ledger.check(&tx, at).err().unwrap_or(TxError::BadSignature),
                ));
            }
        };
        let check = ledger.check_verified(&verified, at);
        let mut pool = shared.pool();
        let admitted = pool.admit(verified, check);
        shared
            .metrics
            .pool_pending
            .set(i64::try_from(pool.len()).unwrap_or(i64::MAX));
        admitted
    };
    let verdict = match admitted {
        Ok(_) if !wait_for_block => return Ok(Value::Null),
        Ok(verdict) => verdict,
        Err(AdmitError::Rejected(e)) => return Err(reject(e)),
        Err(AdmitError::Full) => {
            shared.metrics.rejected("admission", "pool_full");
            return Err(RpcError::unavailable("transaction pool is full"));
        }
    };
    match tokio::time::timeout(shared.rpc.max_wait_inclusion, verdict).await {
        Ok(Ok(Ok(receipt))) => to_value(receipt),
        Ok(Ok(Err(error))) => Err(RpcError::rejected(error)),
        Ok(Err(_)) => Err(RpcError::unavailable(
            "node stopped before the transaction was included",
        )),
        Err(_) => Err(RpcError::unavailable(format!(
            "transaction not included within {:?}; it may still be",
            shared.rpc.max_wait_inclusion
        ))),
    }
}
