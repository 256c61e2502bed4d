//! The bad input catalogue against the node's JSON-RPC server (`docs/bad-input.md`), beyond what
//! `rpc.rs` covers: hostile encodings, numbers and nesting, batch and method-name abuse, header
//! and connection abuse, and transactions that are forged, oversized or replayed. Each gets its
//! specific error; afterwards the node still answers and produces blocks.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use subnet_node::{Node, NodeConfig, PoolConfig, RpcConfig};
use subnet_protocol::chain::rpc::{
    INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, TX_REJECTED, UNAVAILABLE,
};
use subnet_protocol::chain::{Call, MAX_TX_BYTES, SignedTransaction, Transaction, TxError};
use subnet_protocol::ids::{BlockNumber, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};
use tokio::io::AsyncReadExt;

use crate::client::{self, CallError, height, still_serving};

async fn start(block_time: Duration, pool: PoolConfig) -> Node {
    let config = NodeConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        block_time: Some(block_time),
        pool,
        rpc: RpcConfig {
            read_timeout: Duration::from_millis(300),
            max_wait_block: Duration::from_secs(2),
            ..RpcConfig::default()
        },
        ..NodeConfig::default()
    };
    Node::start(config).await.unwrap()
}

async fn fast_node() -> Node {
    start(Duration::from_millis(50), PoolConfig::default()).await
}

/// The JSON-RPC error (code, message) of a 200 answer to `body`.
async fn error_of(addr: SocketAddr, body: &[u8]) -> (i64, String) {
    let response = client::post(addr, body).await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    let v = response.json();
    assert_eq!(v["jsonrpc"], "2.0");
    (
        v["error"]["code"].as_i64().unwrap(),
        v["error"]["message"].as_str().unwrap().to_owned(),
    )
}

async fn metrics(node: &Node) -> String {
    let response = client::exchange(node.metrics_addr().unwrap(), "GET /metrics HTTP/1.1", b"")
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_encodings_numbers_and_nesting_are_refused() {
    let node = fast_node().await;
    let addr = node.rpc_addr();
    let cases: [(&[u8], i64, &str); 10] = [
        // Invalid UTF-8 inside a string (not at the start of the body).
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_\xc0\xafinfo\"}",
            PARSE_ERROR,
            "parse error",
        ),
        // An escaped lone surrogate is not a Unicode scalar value.
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_info\ud800"}"#,
            PARSE_ERROR,
            "escape",
        ),
        // A NUL control character raw inside a string.
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain\x00info\"}",
            PARSE_ERROR,
            "control character",
        ),
        // A UTF-8 byte order mark before the object.
        (
            b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_info\"}",
            PARSE_ERROR,
            "parse error",
        ),
        // Two objects in one body.
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_info"}{"jsonrpc":"2.0","id":2,"method":"chain_info"}"#,
            PARSE_ERROR,
            "trailing characters",
        ),
        // An id beyond any float.
        (
            br#"{"jsonrpc":"2.0","id":1e999,"method":"chain_info"}"#,
            PARSE_ERROR,
            "out of range",
        ),
        // An id that would not come back as sent (beyond 64 bits, or fractional).
        (
            br#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"chain_info"}"#,
            INVALID_REQUEST,
            "`id`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":0.1000000000000000000001,"method":"chain_info"}"#,
            INVALID_REQUEST,
            "`id`",
        ),
        // The version as a number, or with a space.
        (
            br#"{"jsonrpc":2.0,"id":1,"method":"chain_info"}"#,
            INVALID_REQUEST,
            "`jsonrpc`",
        ),
        (
            br#"{"jsonrpc":"2.0 ","id":1,"method":"chain_info"}"#,
            INVALID_REQUEST,
            "`jsonrpc`",
        ),
    ];
    for (body, code, needle) in cases {
        let (got, message) = error_of(addr, body).await;
        assert_eq!(got, code, "{}: {message}", String::from_utf8_lossy(body));
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    // Objects nested 50,000 deep (serde_json stops at 128) in the params and in the id.
    let deep_params = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_info\",\"params\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let (code, message) = error_of(addr, deep_params.as_bytes()).await;
    assert_eq!(code, PARSE_ERROR);
    assert!(message.contains("recursion limit"), "{message}");
    let deep_id = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{}1{},\"method\":\"chain_info\"}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    assert_eq!(error_of(addr, deep_id.as_bytes()).await.0, PARSE_ERROR);

    // Integer ids at the 64-bit edges, and negative ones, come back exactly.
    for id in [json!(u64::MAX), json!(i64::MIN), json!(-1), json!("")] {
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": "chain_info" }).to_string();
        let response = client::post(addr, body.as_bytes()).await.unwrap();
        assert_eq!(response.json()["id"], id);
        assert!(response.json()["result"]["height"].is_u64());
    }

    // Numbers of the wrong sign, size or kind for typed parameters are named.
    let params: [(&str, Value, &str); 6] = [
        ("subnet_info", json!({ "netuid": -1 }), "`netuid`"),
        ("subnet_info", json!({ "netuid": 1.5 }), "`netuid`"),
        ("chain_block", json!({ "number": -1 }), "`number`"),
        ("chain_block", json!({ "number": 1e300 }), "`number`"),
        (
            "chain_waitBlock",
            json!({ "after": 0, "timeout_ms": -5 }),
            "`timeout_ms`",
        ),
        ("account_info", json!({ "account": 42 }), "`account`"),
    ];
    for (method, params, needle) in params {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let (code, message) = error_of(addr, body.to_string().as_bytes()).await;
        assert_eq!(code, INVALID_PARAMS, "{method} {params}: {message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_method_name_abuse_runs_nothing() {
    let node = fast_node().await;
    let addr = node.rpc_addr();
    let alice = Keypair::dev("alice");
    let valid_until = height(addr).await + 1_000;

    // A batch of 1,000 transfers: refused whole, none of them runs.
    let batch: Vec<Value> = (0..1_000u64)
        .map(|nonce| {
            let tx = transfer(&alice, nonce, &node, valid_until).sign(&alice);
            json!({ "jsonrpc": "2.0", "id": nonce, "method": "tx_submit",
                    "params": { "tx": hex::encode(tx.encode()) } })
        })
        .collect();
    let body = serde_json::to_vec(&batch).unwrap();
    assert!(body.len() < subnet_node::DEFAULT_MAX_BODY_BYTES);
    let (code, message) = error_of(addr, &body).await;
    assert_eq!(code, INVALID_REQUEST);
    assert!(message.contains("batch"), "{message}");
    // Batches nested in batches are refused the same way.
    assert_eq!(error_of(addr, b"[[[]]]").await.0, INVALID_REQUEST);
    still_serving(addr).await;
    let account = client::call(addr, "account_info", json!({ "account": alice.public() }))
        .await
        .unwrap();
    assert_eq!(account["nonce"], 0, "a batched transaction ran");

    // A 64 KiB method name and an empty one: not found, and no metric series of their own.
    let long = "m".repeat(64 * 1024);
    for method in [long.as_str(), ""] {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method });
        let (code, _) = error_of(addr, body.to_string().as_bytes()).await;
        assert_eq!(code, METHOD_NOT_FOUND);
    }
    let text = metrics(&node).await;
    assert!(
        !text.contains("mmmm"),
        "a client-chosen name became a label"
    );
    assert!(
        text.contains(
            "subnet_node_rpc_requests_total{method=\"unknown\",result=\"method_not_found\"} 2"
        ),
        "{text}"
    );
    // The same member twice: the last one counts (serde_json), so this is a `tx_submit` without
    // its parameter, not a `chain_info`.
    let (code, message) = error_of(
        addr,
        br#"{"jsonrpc":"2.0","id":1,"method":"chain_info","method":"tx_submit"}"#,
    )
    .await;
    assert_eq!(code, INVALID_PARAMS);
    assert!(message.contains("missing parameter `tx`"), "{message}");
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_connection_abuse_is_bounded() {
    let node = fast_node().await;
    let addr = node.rpc_addr();
    let limit = subnet_node::DEFAULT_MAX_BODY_BYTES;

    // A Content-Length announcing 2^62 bytes: refused before any body byte is read.
    let response = client::exchange(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
            1u64 << 62
        ),
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), INVALID_REQUEST);
    // One beyond the default limit, really sent.
    let response = client::post(addr, &vec![b' '; limit + 1]).await.unwrap();
    assert_eq!(response.status, 413);
    // A Content-Length that is no number, or two that disagree: HTTP 400 from the parser.
    for head in [
        "POST / HTTP/1.1\r\nContent-Length: ten",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999",
    ] {
        let response = client::exchange(addr, head, b"{}").await.unwrap();
        assert_eq!(response.status, 400, "{head}");
    }

    // 300 idle connections (the node holds 256): each is closed by the read timeout, and an
    // honest call made meanwhile is answered.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let honest = tokio::spawn(async move { height(addr).await });
    for mut stream in idle {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
            .await
            .expect("the node closes idle connections");
        // Closed cleanly, or reset; never answered with data for a request never sent.
        if let Ok(n) = closed {
            assert!(n == 0 || rest.starts_with(b"HTTP/1.1 408"), "{rest:?}");
        }
    }
    honest.await.unwrap();
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

fn transfer(key: &Keypair, nonce: u64, node: &Node, valid_until: u64) -> Transaction {
    Transaction {
        signer: key.public(),
        nonce,
        genesis_hash: node.genesis_hash(),
        valid_until: BlockNumber(valid_until),
        call: Call::Transfer {
            dest: Keypair::dev("bob").public(),
            amount: Rao(1),
        },
    }
}

async fn rejected(addr: SocketAddr, tx: Value) -> TxError {
    match client::call(addr, "tx_submit", json!({ "tx": tx })).await {
        Err(
            e @ CallError::Rpc {
                code: TX_REJECTED, ..
            },
        ) => {
            let rejection = e.rejection().unwrap();
            assert_eq!(rejection.label, rejection.error.as_label());
            rejection.error
        }
        other => panic!("expected TX_REJECTED, got {other:?}"),
    }
}

fn hex_of(tx: &SignedTransaction) -> Value {
    json!(hex::encode(tx.encode()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_oversized_and_replayed_transactions_are_refused() {
    let node = fast_node().await;
    let addr = node.rpc_addr();
    let alice = Keypair::dev("alice");
    let valid_until = height(addr).await + 1_000;
    let good = transfer(&alice, 0, &node, valid_until).sign(&alice);

    // Hex that is odd, prefixed, empty or upper-case-mixed garbage.
    let odd = hex::encode(good.encode());
    for bad in [
        json!(odd[1..].to_owned()),
        json!(format!("0x{odd}")),
        json!(""),
    ] {
        assert!(matches!(
            rejected(addr, bad).await,
            TxError::Malformed { .. }
        ));
    }
    // Just over the transaction size limit.
    let huge = json!(hex::encode(vec![0u8; MAX_TX_BYTES + 1]));
    assert_eq!(
        rejected(addr, huge).await,
        TxError::TooLarge {
            bytes: MAX_TX_BYTES + 1,
            max: MAX_TX_BYTES
        }
    );
    // Cut short and ending in a varint longer than any integer.
    let mut lying = good.encode();
    lying.truncate(40);
    lying.extend_from_slice(&[0xFF; 9]);
    lying.push(0x7F);
    assert!(matches!(
        rejected(addr, json!(hex::encode(lying))).await,
        TxError::Malformed { .. }
    ));
    // Alice's valid signature, but over another transaction (a different amount).
    let other = Transaction {
        call: Call::Transfer {
            dest: Keypair::dev("bob").public(),
            amount: Rao(1_000_000),
        },
        ..good.tx.clone()
    };
    let swapped = SignedTransaction {
        tx: other,
        signature: good.signature,
    };
    assert_eq!(
        rejected(addr, hex_of(&swapped)).await,
        TxError::BadSignature
    );
    // A signer key that is not Alice's and not a usable key (all 0xFF).
    let nobody = SignedTransaction {
        tx: Transaction {
            signer: PublicKey::from_bytes([0xFF; 32]),
            ..good.tx.clone()
        },
        signature: good.signature,
    };
    assert_eq!(rejected(addr, hex_of(&nobody)).await, TxError::BadSignature);
    // Every bad transaction above was refused at admission and changed nothing.
    let account = client::call(addr, "account_info", json!({ "account": alice.public() }))
        .await
        .unwrap();
    assert_eq!(account["nonce"], 0);

    // The good one, sent as a notification, then replayed while it waits in the pool.
    let notify = json!({ "jsonrpc": "2.0", "method": "tx_submit",
                         "params": { "tx": hex::encode(good.encode()) } });
    let response = client::post(addr, notify.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(response.status, 204);
    assert_eq!(
        rejected(addr, hex_of(&good)).await,
        TxError::StaleNonce {
            got: 0,
            expected: 1
        }
    );
    let text = metrics(&node).await;
    for needle in [
        "subnet_node_txs_rejected_total{reason=\"too_large\",stage=\"admission\"} 1",
        "subnet_node_txs_rejected_total{reason=\"bad_signature\",stage=\"admission\"} 2",
        "subnet_node_txs_rejected_total{reason=\"stale_nonce\",stage=\"admission\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signer_cannot_fill_the_pool() {
    // Blocks an hour apart: nothing leaves the pool during the test.
    let pool = PoolConfig {
        max_per_signer: 4,
        ..PoolConfig::default()
    };
    let node = start(Duration::from_secs(3600), pool).await;
    let addr = node.rpc_addr();
    let alice = Keypair::dev("alice");
    let start_height = height(addr).await;
    let valid_until = start_height + 1_000;
    for nonce in 0..4 {
        let tx = transfer(&alice, nonce, &node, valid_until).sign(&alice);
        let notify = json!({ "jsonrpc": "2.0", "method": "tx_submit",
                             "params": { "tx": hex::encode(tx.encode()) } });
        let response = client::post(addr, notify.to_string().as_bytes())
            .await
            .unwrap();
        assert_eq!(response.status, 204, "nonce {nonce}");
    }
    let fifth = transfer(&alice, 4, &node, valid_until).sign(&alice);
    match client::submit(addr, &fifth).await {
        Err(CallError::Rpc {
            code: UNAVAILABLE, ..
        }) => {}
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
    // Another signer still gets in, and queries are answered.
    let bob = Keypair::dev("bob");
    let tx = transfer(&bob, 0, &node, valid_until).sign(&bob);
    let notify = json!({ "jsonrpc": "2.0", "method": "tx_submit",
                         "params": { "tx": hex::encode(tx.encode()) } });
    let response = client::post(addr, notify.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(response.status, 204);
    assert_eq!(height(addr).await, start_height);
    node.shutdown().await.unwrap();
}
