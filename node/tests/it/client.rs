//! A deliberately small HTTP/1.1 and JSON-RPC client over raw TCP, so tests can send exactly
//! the bytes they mean (malformed bodies, wrong lengths) and see exactly what comes back.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use subnet_protocol::chain::SignedTransaction;
use subnet_protocol::chain::rpc::TxRejection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whole-exchange limit: generous, only there so a hung node fails the test instead of hanging.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response: status and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The JSON-RPC error code of the body.
    pub(crate) fn error_code(&self) -> i64 {
        let v = self.json();
        v["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error code in {v}"))
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body` on a fresh
/// connection with `Connection: close`, and reads the whole answer.
pub(crate) async fn exchange(
    addr: SocketAddr,
    head: &str,
    body: &[u8],
) -> std::io::Result<Response> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut request =
            format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
        request.extend_from_slice(body);
        // A server refusing an oversized body answers and closes before reading all of it, so
        // the write can fail while the answer is already on its way: read it either way.
        let written = stream.write_all(&request).await;
        let mut raw = Vec::new();
        match (stream.read_to_end(&mut raw).await, written) {
            (Ok(_), _) => parse(&raw),
            (Err(_), Err(e)) | (Err(e), Ok(())) if raw.is_empty() => Err(e),
            (Err(_), _) => parse(&raw),
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "exchange timed out"))?
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    Ok(Response {
        status,
        body: raw[split + 4..].to_vec(),
    })
}

/// POSTs `body` as JSON.
pub(crate) async fn post(addr: SocketAddr, body: &[u8]) -> std::io::Result<Response> {
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        body.len()
    );
    exchange(addr, &head, body).await
}

/// A JSON-RPC failure as the tests see it.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection failed (the node is down or was killed mid-call).
    Io(#[allow(dead_code)] std::io::Error),
    /// A JSON-RPC error object.
    Rpc { code: i64, data: Value },
}

impl CallError {
    /// The typed rejection of a `TX_REJECTED` error.
    pub(crate) fn rejection(&self) -> Option<TxRejection> {
        match self {
            Self::Rpc { data, .. } => serde_json::from_value(data.clone()).ok(),
            Self::Io(_) => None,
        }
    }
}

/// Calls `method` with named `params`.
pub(crate) async fn call(
    addr: SocketAddr,
    method: &str,
    params: Value,
) -> Result<Value, CallError> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let response = post(addr, body.to_string().as_bytes())
        .await
        .map_err(CallError::Io)?;
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|e| CallError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    if let Some(error) = value.get("error") {
        return Err(CallError::Rpc {
            code: error["code"].as_i64().unwrap_or_default(),
            data: error.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    Ok(value["result"].clone())
}

/// Submits a signed transaction and waits for its receipt.
pub(crate) async fn submit(addr: SocketAddr, tx: &SignedTransaction) -> Result<Value, CallError> {
    call(addr, "tx_submit", json!({ "tx": hex::encode(tx.encode()) })).await
}

/// The chain's height, from `chain_info`.
pub(crate) async fn height(addr: SocketAddr) -> u64 {
    call(addr, "chain_info", json!({})).await.unwrap()["height"]
        .as_u64()
        .unwrap()
}

/// The node answers a plain query and is still producing blocks.
pub(crate) async fn still_serving(addr: SocketAddr) {
    let before = height(addr).await;
    let after = call(
        addr,
        "chain_waitBlock",
        json!({ "after": before, "timeout_ms": 5_000 }),
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap();
    assert!(after > before, "no block after {before}");
}
