//! [`SubtensorChain`]: the connection to a subtensor node, its configuration, and how writes
//! are signed, submitted and followed into a block.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::chain::{AccountInfo, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};
use subxt::backend::LegacyBackend;
use subxt::config::RpcConfigFor;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_value::Composite;
use subxt::rpcs::{LegacyRpcMethods, RpcClient};
use subxt::tx::TransactionStatus;
use subxt::utils::H256;
use subxt::{OnlineClient, SubstrateConfig};
use tokio::sync::{Mutex, OnceCell};

use super::runtime::{self, Runtime};
use super::signer::{Ed25519Signer, account_id};
use super::snapshot::Snapshot;
use super::url::SubtensorUrl;
use crate::error::{ChainError, TransportError, TransportKind};

/// Timeouts of a [`SubtensorChain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtensorConfig {
    /// Limit for one query (several RPCs), connecting included. Default 30 s.
    pub request_timeout: Duration,
    /// Limit for a write, from signing to its block being finalized. Default 120 s (ten
    /// Bittensor blocks).
    pub submit_timeout: Duration,
}

impl Default for SubtensorConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            submit_timeout: Duration::from_secs(120),
        }
    }
}

/// A subtensor node (Bittensor's chain) over WebSocket JSON-RPC, behind the [`crate::Chain`]
/// trait. Calls and storage are resolved by name in the metadata of the block they run at, so
/// the same code serves the 2023 test runtime and today's; what the runtime lacks is
/// [`ChainError::Unsupported`]. See `SUBTENSOR.md` for the mapping.
///
/// Connects lazily (first call) and reconnects after a failed connect; cheap to clone.
#[derive(Clone)]
pub struct SubtensorChain {
    inner: Arc<Inner>,
}

struct Inner {
    url: SubtensorUrl,
    config: SubtensorConfig,
    conn: OnceCell<Conn>,
    /// One lock per signing key, held from nonce read to inclusion, so that a key's writes go
    /// out one at a time with consecutive nonces.
    signers: std::sync::Mutex<HashMap<PublicKey, Arc<Mutex<()>>>>,
}

#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) client: OnlineClient<SubstrateConfig>,
    pub(crate) rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
    pub(crate) raw: RpcClient,
}

impl fmt::Debug for SubtensorChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubtensorChain")
            .field("url", &self.inner.url)
            .field("config", &self.inner.config)
            .field("connected", &self.inner.conn.initialized())
            .finish_non_exhaustive()
    }
}

/// A transport failure of kind `Io` caused by `e`.
pub(crate) fn rpc_error(e: impl std::error::Error + Send + Sync + 'static) -> ChainError {
    ChainError::Unavailable(TransportError::new(TransportKind::Io, e))
}

/// A [`ChainError::Protocol`] without code.
pub(crate) fn protocol_error(message: String) -> ChainError {
    ChainError::Protocol {
        code: None,
        message,
    }
}

/// Runs `fut` with a deadline; past it, [`TransportKind::Timeout`].
pub(crate) async fn deadline<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, ChainError>>,
) -> Result<T, ChainError> {
    // Boxed: subxt's futures are large, and nesting them inline overflows small stacks.
    tokio::time::timeout(limit, Box::pin(fut))
        .await
        .unwrap_or_else(|_| Err(TransportError::bare(TransportKind::Timeout).into()))
}

/// The protocol's digest type holding a 32-byte Substrate hash.
pub(crate) fn digest(hash: H256) -> Digest {
    Digest::from_bytes(hash.0)
}

impl SubtensorChain {
    /// A client of the node at `url` with default timeouts; connects on the first call.
    pub fn new(url: SubtensorUrl) -> Self {
        Self::with_config(url, SubtensorConfig::default())
    }

    /// A client of the node at `url` with `config`.
    pub fn with_config(url: SubtensorUrl, config: SubtensorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                url,
                config,
                conn: OnceCell::new(),
                signers: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Connects now (fetching the genesis hash and the current runtime's metadata).
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the node cannot be reached in time.
    pub async fn connect(url: SubtensorUrl) -> Result<Self, ChainError> {
        let chain = Self::new(url);
        chain.runtime().await?;
        Ok(chain)
    }

    /// The node's URL.
    pub fn url(&self) -> &SubtensorUrl {
        &self.inner.url
    }

    pub(crate) fn config(&self) -> &SubtensorConfig {
        &self.inner.config
    }

    pub(crate) async fn conn(&self) -> Result<&Conn, ChainError> {
        let url = self.inner.url.as_str();
        let connect = async {
            let raw = RpcClient::from_insecure_url(url).await.map_err(|e| {
                ChainError::Unavailable(TransportError::new(TransportKind::Connect, e))
            })?;
            let backend = LegacyBackend::<SubstrateConfig>::builder().build(raw.clone());
            let client = OnlineClient::from_backend(Arc::new(backend))
                .await
                .map_err(|e| {
                    ChainError::Unavailable(TransportError::new(TransportKind::Connect, e))
                })?;
            Ok::<_, ChainError>(Conn {
                client,
                rpc: LegacyRpcMethods::new(raw.clone()),
                raw,
            })
        };
        deadline(
            self.inner.config.request_timeout,
            self.inner.conn.get_or_try_init(|| connect),
        )
        .await
    }

    /// The state at the latest finalized block.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, ChainError> {
        let conn = self.conn().await?;
        let at = conn.client.at_current_block().await.map_err(rpc_error)?;
        Ok(Snapshot {
            at,
            rpc: conn.rpc.clone(),
        })
    }

    /// What the runtime at the latest finalized block supports.
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the node cannot be reached.
    pub async fn runtime(&self) -> Result<Runtime, ChainError> {
        deadline(self.inner.config.request_timeout, async {
            Ok(Runtime::of(&self.snapshot().await?))
        })
        .await
    }

    /// Sends a raw JSON-RPC request (`params` a JSON array) and returns its JSON result: an
    /// escape hatch for node-specific methods, such as chopsticks' `dev_newBlock` and
    /// `dev_setStorage` in tests and local demos.
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the node cannot be reached; [`ChainError::Protocol`] if
    /// it answers with an error.
    pub async fn raw_request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        let conn = self.conn().await?;
        let mut rpc_params = subxt::rpcs::client::RpcParams::new();
        for p in params.as_array().into_iter().flatten() {
            rpc_params
                .push(p)
                .map_err(|e| protocol_error(format!("params of {method}: {e}")))?;
        }
        deadline(self.inner.config.submit_timeout, async {
            conn.raw
                .request::<serde_json::Value>(method, rpc_params)
                .await
                .map_err(|e| match e {
                    subxt::rpcs::Error::User(u) => ChainError::Protocol {
                        code: Some(i64::from(u.code)),
                        message: format!("{method}: {}", u.message),
                    },
                    other => rpc_error(other),
                })
        })
        .await
    }

    /// Balance (free) and next nonce of `account`.
    pub(crate) async fn account_at(
        snap: &Snapshot,
        account: &PublicKey,
    ) -> Result<AccountInfo, ChainError> {
        #[derive(DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct Info {
            nonce: u64,
            data: Data,
        }
        #[derive(DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct Data {
            free: u128,
        }
        let info: Option<Info> = snap
            .fetch("System", "Account", (account_id(account).0,))
            .await?;
        Ok(info.map_or(
            AccountInfo {
                balance: Rao::ZERO,
                nonce: 0,
            },
            |i| AccountInfo {
                balance: Rao(u64::try_from(i.data.free).unwrap_or(u64::MAX)),
                nonce: i.nonce,
            },
        ))
    }

    fn signer_lock(&self, key: PublicKey) -> Arc<Mutex<()>> {
        let mut map = self
            .inner
            .signers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(key).or_default().clone()
    }

    /// Signs `pallet.call(args)` with `signer`, submits it and waits until its block is
    /// finalized and its events say it succeeded. `netuid` and `hotkey` give rejections their
    /// typed context.
    pub(crate) async fn submit_call(
        &self,
        signer: &Keypair,
        pallet: &str,
        call: &str,
        args: Composite<()>,
        context: Context,
    ) -> Result<TxReceipt, ChainError> {
        let lock = self.signer_lock(signer.public());
        let _turn = lock.lock().await;
        deadline(self.inner.config.submit_timeout, async {
            let conn = self.conn().await?;
            let at = conn.client.at_current_block().await.map_err(rpc_error)?;
            runtime::check_call(at.metadata_ref(), pallet, call, &args)?;
            let payload = subxt::dynamic::tx(pallet, call, args);
            let signer = Ed25519Signer::new(signer.clone());
            let mut tx = at.tx();
            let mut progress = tx
                .sign_and_submit_then_watch_default(&payload, &signer)
                .await
                .map_err(|e| {
                    submit_error(&e.to_string(), context).unwrap_or_else(|| rpc_error(e))
                })?;
            while let Some(status) = progress.next().await {
                let status = status.map_err(|e| {
                    submit_error(&e.to_string(), context).unwrap_or_else(|| rpc_error(e))
                })?;
                let in_block = match status {
                    TransactionStatus::InFinalizedBlock(b) => b,
                    TransactionStatus::Error { message }
                    | TransactionStatus::Invalid { message }
                    | TransactionStatus::Dropped { message } => {
                        return Err(submit_error(&message, context).unwrap_or_else(|| {
                            protocol_error(format!("transaction not included: {message}"))
                        }));
                    }
                    _ => continue,
                };
                if let Err(e) = in_block.wait_for_success().await {
                    return Err(dispatch_error(&e.to_string(), context));
                }
                let block = conn
                    .rpc
                    .chain_get_header(Some(in_block.block_hash()))
                    .await
                    .map_err(rpc_error)?
                    .map_or(0, |h| h.number);
                return Ok(TxReceipt {
                    hash: digest(in_block.extrinsic_hash()),
                    block: BlockNumber(block),
                    created: None,
                });
            }
            Err(protocol_error("transaction status stream ended".into()))
        })
        .await
    }
}

/// Who and where a write is about, to give its rejection typed context.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    pub(crate) netuid: Option<NetUid>,
    pub(crate) hotkey: Option<PublicKey>,
}

/// A transaction-pool refusal: a bad signature as [`TxError::BadSignature`], any other
/// invalidity (nonce, fees, the runtime's own checks) as [`ChainError::Protocol`] with the
/// node's words; `None` if `message` is not a refusal (a transport failure).
fn submit_error(message: &str, _context: Context) -> Option<ChainError> {
    if message.contains("BadProof") {
        Some(ChainError::Rejected(TxError::BadSignature))
    } else if [
        "Invalid Transaction",
        "1010",
        "1011",
        "1012",
        "not valid",
        "Invalid",
    ]
    .iter()
    .any(|m| message.contains(m))
    {
        Some(protocol_error(format!(
            "the node refused the transaction: {message}"
        )))
    } else {
        None
    }
}

/// A failed dispatch (the runtime's `Pallet::Error`) as a [`TxError`] where one fits, else a
/// [`ChainError::Protocol`] naming the runtime's error.
fn dispatch_error(message: &str, context: Context) -> ChainError {
    let has = |names: &[&str]| names.iter().any(|n| message.contains(n));
    let tx = match (context.netuid, context.hotkey) {
        (Some(netuid), Some(hotkey))
            if has(&["AlreadyRegistered", "HotKeyAlreadyRegisteredInSubNet"]) =>
        {
            Some(TxError::AlreadyRegistered { hotkey, netuid })
        }
        (Some(netuid), Some(hotkey))
            if has(&[
                "::NotRegistered",
                "HotKeyNotRegisteredInSubNet",
                "HotKeyAccountNotExists",
            ]) =>
        {
            Some(TxError::NotRegistered { hotkey, netuid })
        }
        (Some(netuid), _)
            if has(&[
                "NetworkDoesNotExist",
                "SubNetworkDoesNotExist",
                "SubnetNotExists",
            ]) =>
        {
            Some(TxError::UnknownSubnet { netuid })
        }
        (Some(netuid), _) if has(&["NoValidatorPermit", "NeuronNoValidatorPermit"]) => {
            Some(TxError::NoValidatorPermit { netuid })
        }
        (_, Some(hotkey))
            if has(&[
                "NonAssociatedColdKey",
                "HotKeyNotDelegateAndSignerNotOwnHotKey",
            ]) =>
        {
            Some(TxError::HotkeyOwnedByOther { hotkey })
        }
        _ => None,
    };
    tx.map_or_else(
        || protocol_error(format!("the runtime rejected the extrinsic: {message}")),
        ChainError::Rejected,
    )
}
