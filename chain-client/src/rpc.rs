//! [`RpcChain`]: the local node over JSON-RPC 2.0 on HTTP.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::rpc::{
    self, NOT_FOUND, TX_REJECTED, TxReceipt, TxRejection, UNAVAILABLE,
};
use subnet_protocol::chain::{
    AccountInfo, AinftRecord, Block, Call, ChainInfo, EmissionReport, Metagraph, SignedTransaction,
    SubnetInfo, Transaction, TxError,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::chain::{Chain, SparseRows};
use crate::error::{ChainError, ConfigError, Missing, TransportError, TransportKind};

/// Times a write re-signs with the nonce the node asked for before giving up (another process
/// writing with the same key).
const NONCE_RETRIES: usize = 3;
/// Extra time a long poll's HTTP request gets beyond the wait it asks the node for.
const LONG_POLL_SLACK: Duration = Duration::from_secs(5);

/// The address of a node's JSON-RPC endpoint: `http://HOST:PORT[/PATH]`.
///
/// Serialized as that string. Default `http://127.0.0.1:9944`.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeUrl {
    text: String,
    uri: Uri,
}

impl NodeUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Default for NodeUrl {
    fn default() -> Self {
        Self {
            text: "http://127.0.0.1:9944".to_owned(),
            uri: Uri::from_static("http://127.0.0.1:9944"),
        }
    }
}

impl FromStr for NodeUrl {
    type Err = ConfigError;

    /// Parses `http://HOST:PORT[/PATH]` (https is not served by the local node).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::InvalidUrl { url: s.to_owned() };
        let uri: Uri = s.parse().map_err(|_| invalid())?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(invalid());
        }
        Ok(Self {
            text: s.to_owned(),
            uri,
        })
    }
}

impl From<std::net::SocketAddr> for NodeUrl {
    fn from(addr: std::net::SocketAddr) -> Self {
        let text = format!("http://{addr}");
        // `http://` followed by a socket address is always a valid URI.
        let uri = text
            .parse()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1:9944"));
        Self { text, uri }
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeUrl({})", self.text)
    }
}

impl Serialize for NodeUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NodeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Timeouts, retries and transaction expiry of an [`RpcChain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcConfig {
    /// Whole-call limit for queries, retries included. Default 30 s.
    pub request_timeout: Duration,
    /// Limit for `tx_submit`, which waits for the block. Default 90 s (above the node's 60 s
    /// inclusion wait).
    pub submit_timeout: Duration,
    /// Limit for opening a TCP connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Retries after a failed connection (only then: a request that reached the node is never
    /// resent). Default 5.
    pub connect_retries: u32,
    /// First pause between connection retries, doubled each time up to 2 s. Default 100 ms.
    pub retry_backoff: Duration,
    /// Blocks after the current one during which a write stays valid. Default 64.
    pub tx_validity_blocks: u64,
    /// Largest response body accepted, in bytes. Default 256 MiB.
    pub max_response_bytes: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            submit_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(2),
            connect_retries: 5,
            retry_backoff: Duration::from_millis(100),
            tx_validity_blocks: 64,
            max_response_bytes: 256 * 1024 * 1024,
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The local node (`subnet-node`) over JSON-RPC: pooled keep-alive HTTP/1.1 connections,
/// timeouts on every call, retry with backoff on connection failures only.
///
/// Cheap to clone; clones share connections and the per-signer write order.
#[derive(Clone)]
pub struct RpcChain {
    inner: Arc<Inner>,
}

struct Inner {
    url: NodeUrl,
    config: RpcConfig,
    client: Client<HttpConnector, Full<Bytes>>,
    next_id: AtomicU64,
    /// One lock per signing key, held for a whole write (nonce read to inclusion), so that a
    /// key's writes go out one at a time with consecutive nonces.
    signers: std::sync::Mutex<HashMap<PublicKey, Arc<Mutex<()>>>>,
}

impl fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcChain")
            .field("url", &self.inner.url)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RpcChain {
    /// A client of the node at `url` with default timeouts. No connection is made until the
    /// first call; calls must run inside a tokio runtime (with its time driver).
    pub fn new(url: NodeUrl) -> Self {
        Self::with_config(url, RpcConfig::default())
    }

    /// A client of the node at `url` with `config`.
    pub fn with_config(url: NodeUrl, config: RpcConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Below the node's 10 s idle cut-off, so a pooled connection is not reused just as
            // the node closes it.
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Self {
            inner: Arc::new(Inner {
                url,
                config,
                client,
                next_id: AtomicU64::new(1),
                signers: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The node's URL.
    pub fn url(&self) -> &NodeUrl {
        &self.inner.url
    }

    async fn signer_turn(&self, key: PublicKey) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .inner
                .signers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget keys nobody is writing with (the map holds the only reference).
            map.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(map.entry(key).or_default())
        };
        lock.lock_owned().await
    }

    /// One JSON-RPC call. `missing` names what a `NOT_FOUND` answer means.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        missing: Option<Missing>,
    ) -> Result<T, ChainError> {
        let config = &self.inner.config;
        let deadline = Instant::now() + timeout;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = Bytes::from(
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string(),
        );
        let mut backoff = config.retry_backoff;
        let mut retries = 0;
        let response = loop {
            let request = Request::post(self.inner.url.uri.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| protocol(None, format!("building request: {e}")))?;
            match tokio::time::timeout_at(deadline, self.inner.client.request(request)).await {
                Err(_) => return Err(TransportError::bare(TransportKind::Timeout).into()),
                Ok(Ok(response)) => break response,
                Ok(Err(e)) if e.is_connect() && retries < config.connect_retries => {
                    tracing::debug!(error = %e, retries, "node unreachable; retrying");
                    retries = retries.saturating_add(1);
                    if Instant::now() + backoff >= deadline {
                        return Err(TransportError::new(TransportKind::Connect, e).into());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
                Ok(Err(e)) if e.is_connect() => {
                    return Err(TransportError::new(TransportKind::Connect, e).into());
                }
                Ok(Err(e)) => return Err(TransportError::new(TransportKind::Io, e).into()),
            }
        };
        let status = response.status();
        let collected = tokio::time::timeout_at(
            deadline,
            Limited::new(response.into_body(), config.max_response_bytes).collect(),
        )
        .await
        .map_err(|_| TransportError::bare(TransportKind::Timeout))?
        .map_err(|e| TransportError::new(TransportKind::Io, e))?;
        let value: Value = match serde_json::from_slice(&collected.to_bytes()) {
            Ok(v) => v,
            Err(_) if !status.is_success() => {
                return Err(TransportError::bare(TransportKind::Http {
                    status: status.as_u16(),
                })
                .into());
            }
            Err(e) => return Err(protocol(None, format!("response is not JSON: {e}"))),
        };
        decode_response(value, missing)
    }

    /// Next nonce and a valid-until block for `signer`, read from the node.
    async fn prepare(&self, signer: &PublicKey) -> Result<(ChainInfo, u64), ChainError> {
        let info = self.info().await?;
        let account = self.account(signer).await?;
        Ok((info, account.nonce))
    }
}

fn protocol(code: Option<i64>, message: String) -> ChainError {
    ChainError::Protocol { code, message }
}

/// Turns a JSON-RPC response object into the result or the typed error.
fn decode_response<T: DeserializeOwned>(
    mut value: Value,
    missing: Option<Missing>,
) -> Result<T, ChainError> {
    if let Some(error) = value.get_mut("error").map(Value::take) {
        let code = error.get("code").and_then(Value::as_i64);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return Err(match (code, missing) {
            (Some(TX_REJECTED), _) => {
                match error
                    .get("data")
                    .cloned()
                    .map(serde_json::from_value::<TxRejection>)
                {
                    Some(Ok(rejection)) => ChainError::Rejected(rejection.error),
                    _ => protocol(code, format!("rejection without its error: {message}")),
                }
            }
            (Some(NOT_FOUND), Some(missing)) => ChainError::NotFound(missing),
            (Some(UNAVAILABLE), _) => {
                TransportError::bare(TransportKind::NodeUnavailable { message }).into()
            }
            _ => protocol(code, message),
        });
    }
    match value.get_mut("result").map(Value::take) {
        Some(result) => serde_json::from_value(result)
            .map_err(|e| protocol(None, format!("unexpected result: {e}"))),
        None => Err(protocol(
            None,
            "response has neither result nor error".into(),
        )),
    }
}

impl Chain for RpcChain {
    async fn info(&self) -> Result<ChainInfo, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(rpc::CHAIN_INFO, json!({}), timeout, None).await
    }

    async fn block(&self, number: BlockNumber) -> Result<Option<Block>, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(rpc::CHAIN_BLOCK, json!({ "number": number }), timeout, None)
            .await
    }

    async fn wait_for_block(
        &self,
        after: BlockNumber,
        timeout: Duration,
    ) -> Result<BlockNumber, ChainError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let params = json!({ "after": after, "timeout_ms": timeout_ms });
        let limit = timeout
            .saturating_add(LONG_POLL_SLACK)
            .max(self.inner.config.request_timeout);
        self.call(rpc::CHAIN_WAIT_BLOCK, params, limit, None).await
    }

    async fn account(&self, account: &PublicKey) -> Result<AccountInfo, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(
            rpc::ACCOUNT_INFO,
            json!({ "account": account }),
            timeout,
            None,
        )
        .await
    }

    async fn stake_of(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Result<Rao, ChainError> {
        let timeout = self.inner.config.request_timeout;
        let params = json!({ "coldkey": coldkey, "hotkey": hotkey });
        self.call(rpc::STAKE_OF, params, timeout, None).await
    }

    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(rpc::SUBNET_LIST, json!({}), timeout, None).await
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        let timeout = self.inner.config.request_timeout;
        let missing = Some(Missing::Subnet(netuid));
        self.call(
            rpc::SUBNET_INFO,
            json!({ "netuid": netuid }),
            timeout,
            missing,
        )
        .await
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        let timeout = self.inner.config.request_timeout;
        let missing = Some(Missing::Subnet(netuid));
        let params = json!({ "netuid": netuid });
        self.call(rpc::SUBNET_METAGRAPH, params, timeout, missing)
            .await
    }

    async fn weights(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        let timeout = self.inner.config.request_timeout;
        let missing = Some(Missing::Subnet(netuid));
        let params = json!({ "netuid": netuid });
        self.call(rpc::SUBNET_WEIGHTS, params, timeout, missing)
            .await
    }

    async fn bonds(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        let timeout = self.inner.config.request_timeout;
        let missing = Some(Missing::Subnet(netuid));
        let params = json!({ "netuid": netuid });
        self.call(rpc::SUBNET_BONDS, params, timeout, missing).await
    }

    async fn ainft(&self, id: &AinftId) -> Result<Option<AinftRecord>, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(rpc::AINFT_GET, json!({ "id": id }), timeout, None)
            .await
    }

    async fn emissions(&self) -> Result<EmissionReport, ChainError> {
        let timeout = self.inner.config.request_timeout;
        self.call(rpc::EMISSIONS, json!({}), timeout, None).await
    }

    async fn submit_signed(&self, tx: SignedTransaction) -> Result<TxReceipt, ChainError> {
        let timeout = self.inner.config.submit_timeout;
        let params = json!({ "tx": hex::encode(tx.encode()) });
        self.call(rpc::TX_SUBMIT, params, timeout, None).await
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<TxReceipt, ChainError> {
        let key = signer.public();
        let _turn = self.signer_turn(key).await;
        let (info, mut nonce) = self.prepare(&key).await?;
        let valid_until = info
            .height
            .saturating_add(self.inner.config.tx_validity_blocks);
        let mut attempt = 0;
        loop {
            let tx = Transaction {
                signer: key,
                nonce,
                genesis_hash: info.genesis_hash,
                valid_until,
                call: call.clone(),
            }
            .sign(signer);
            match self.submit_signed(tx).await {
                // Another process wrote with this key meanwhile: take the nonce the node wants.
                Err(ChainError::Rejected(
                    TxError::StaleNonce { expected, .. } | TxError::FutureNonce { expected, .. },
                )) if attempt < NONCE_RETRIES && expected != nonce => {
                    attempt += 1;
                    nonce = expected;
                }
                result => return result,
            }
        }
    }
}
