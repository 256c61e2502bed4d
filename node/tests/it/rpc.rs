//! The JSON-RPC server against malformed, hostile and wrong requests: each gets its specific
//! error, and the node keeps serving and producing blocks.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use subnet_node::{Node, NodeConfig, RpcConfig};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::rpc::{
    INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, NOT_FOUND, PARSE_ERROR, TX_REJECTED,
    TxReceipt,
};
use subnet_protocol::chain::{Call, SignedTransaction, Transaction, TxError};
use subnet_protocol::ids::{BlockNumber, Rao};
use subnet_protocol::keys::Keypair;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{self, CallError, height, still_serving};

const MAX_BODY: usize = 64 * 1024;

async fn start() -> Node {
    let config = NodeConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        block_time: Some(Duration::from_millis(50)),
        rpc: RpcConfig {
            max_body_bytes: MAX_BODY,
            read_timeout: Duration::from_millis(300),
            max_wait_block: Duration::from_secs(2),
            ..RpcConfig::default()
        },
        ..NodeConfig::default()
    };
    Node::start(config).await.unwrap()
}

async fn code_of(addr: SocketAddr, body: &[u8]) -> i64 {
    let response = client::post(addr, body).await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    response.error_code()
}

fn message_of(response: &client::Response) -> String {
    response.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_rpc_errors() {
    let node = start().await;
    let addr = node.rpc_addr();
    assert_eq!(
        code_of(addr, b"{\"jsonrpc\": \"2.0\", \"id\":").await,
        PARSE_ERROR
    );
    assert_eq!(code_of(addr, b"\xff\xfe\x00garbage").await, PARSE_ERROR);
    assert_eq!(code_of(addr, b"").await, PARSE_ERROR);
    let deep = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_info\",\"params\":{{\"x\":{}}}}}",
        "[".repeat(50_000)
    );
    assert_eq!(code_of(addr, deep.as_bytes()).await, PARSE_ERROR);
    let nested_ok_depth = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_info\",\"params\":{{\"x\":{}{}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(
        code_of(addr, nested_ok_depth.as_bytes()).await,
        INVALID_PARAMS
    );
    assert_eq!(code_of(addr, b"[]").await, INVALID_REQUEST);
    assert_eq!(
        code_of(addr, br#"[{"jsonrpc":"2.0","id":1,"method":"chain_info"}]"#).await,
        INVALID_REQUEST
    );
    assert_eq!(code_of(addr, b"\"chain_info\"").await, INVALID_REQUEST);
    assert_eq!(
        code_of(addr, br#"{"id":1,"method":"chain_info"}"#).await,
        INVALID_REQUEST
    );
    assert_eq!(
        code_of(
            addr,
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"chain_info"}"#
        )
        .await,
        INVALID_REQUEST
    );
    assert_eq!(
        code_of(
            addr,
            br#"{"jsonrpc":"2.0","id":1,"method":"no_such_thing"}"#
        )
        .await,
        METHOD_NOT_FOUND
    );
    assert_eq!(
        code_of(
            addr,
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_info","params":[1]}"#
        )
        .await,
        INVALID_PARAMS
    );

    // Wrong types, missing and unknown parameters are named.
    let cases: [(&[u8], &str); 6] = [
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"subnet_info","params":{"netuid":"one"}}"#,
            "`netuid`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"subnet_info","params":{"netuid":70000}}"#,
            "`netuid`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"subnet_info","params":{}}"#,
            "missing parameter `netuid`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_block","params":{"number":123456789012345678901234567890}}"#,
            "`number`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"account_info","params":{"account":"5notanaddress"}}"#,
            "`account`",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_info","params":{"verbose":true}}"#,
            "unknown parameter `verbose`",
        ),
    ];
    for (body, needle) in cases {
        let response = client::post(addr, body).await.unwrap();
        assert_eq!(response.error_code(), INVALID_PARAMS);
        let message = message_of(&response);
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    // A number too large even for a float is a parse error, not a crash.
    assert_eq!(
        code_of(
            addr,
            br#"{"jsonrpc":"2.0","id":1,"method":"chain_block","params":{"number":1e999}}"#
        )
        .await,
        PARSE_ERROR
    );
    // The id is echoed, whatever its type.
    let response = client::post(addr, br#"{"jsonrpc":"2.0","id":"abc","method":"nope"}"#)
        .await
        .unwrap();
    assert_eq!(response.json()["id"], "abc");

    // Notifications get an empty answer.
    let response = client::post(addr, br#"{"jsonrpc":"2.0","method":"chain_info"}"#)
        .await
        .unwrap();
    assert_eq!((response.status, response.body.len()), (204, 0));

    let response = client::exchange(addr, "GET / HTTP/1.1", b"").await.unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.error_code(), INVALID_REQUEST);

    assert!(matches!(
        client::call(addr, "subnet_info", json!({ "netuid": 99 })).await,
        Err(CallError::Rpc {
            code: NOT_FOUND,
            ..
        })
    ));
    assert_eq!(
        client::call(addr, "chain_block", json!({ "number": 1_000_000 }))
            .await
            .unwrap(),
        Value::Null
    );
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_slow_requests_are_cut_off() {
    let node = start().await;
    let addr = node.rpc_addr();
    let big = vec![b' '; MAX_BODY + 1];
    let response = client::post(addr, &big).await.unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), INVALID_REQUEST);

    // Without a Content-Length the limit is enforced while reading the chunks.
    let mut chunked = Vec::new();
    for _ in 0..(MAX_BODY / 1024 + 2) {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = client::exchange(
        addr,
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
        &chunked,
    )
    .await
    .unwrap();
    assert_eq!(response.status, 413);

    // A body shorter than announced times out rather than holding the connection forever.
    let response = client::exchange(
        addr,
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100",
        b"{\"jsonrpc\"",
    )
    .await;
    match response {
        Ok(r) => assert_eq!(r.status, 408),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}"),
    }

    // Headers that never finish: the node closes the connection.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the node kept a stalled connection open");
    still_serving(addr).await;
    node.shutdown().await.unwrap();
}

fn transfer(key: &Keypair, nonce: u64, genesis: Digest, valid_until: u64) -> Transaction {
    Transaction {
        signer: key.public(),
        nonce,
        genesis_hash: genesis,
        valid_until: BlockNumber(valid_until),
        call: Call::Transfer {
            dest: Keypair::dev("bob").public(),
            amount: Rao(1),
        },
    }
}

async fn rejected(addr: SocketAddr, tx: &SignedTransaction) -> TxError {
    match client::submit(addr, tx).await {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transactions_are_refused_with_their_error() {
    let node = start().await;
    let addr = node.rpc_addr();
    let genesis = node.genesis_hash();
    let alice = Keypair::dev("alice");
    let valid_until = height(addr).await + 100;

    for (tx, label) in [(json!("zz"), "malformed"), (json!("00ff00"), "malformed")] {
        let err = client::call(addr, "tx_submit", json!({ "tx": tx }))
            .await
            .unwrap_err();
        assert_eq!(err.rejection().unwrap().label, label);
    }
    assert!(matches!(
        client::call(addr, "tx_submit", json!({ "tx": 5 })).await,
        Err(CallError::Rpc {
            code: INVALID_PARAMS,
            ..
        })
    ));
    let good = transfer(&alice, 0, genesis, valid_until).sign(&alice);
    let mut trailing = good.encode();
    trailing.push(0);
    let err = client::call(addr, "tx_submit", json!({ "tx": hex::encode(trailing) }))
        .await
        .unwrap_err();
    assert!(matches!(
        err.rejection().unwrap().error,
        TxError::Malformed { .. }
    ));

    let forged = transfer(&alice, 0, genesis, valid_until).sign(&Keypair::dev("mallory"));
    assert_eq!(rejected(addr, &forged).await, TxError::BadSignature);
    let other_chain = Digest::of(b"another chain");
    let wrong = transfer(&alice, 0, other_chain, valid_until).sign(&alice);
    assert_eq!(
        rejected(addr, &wrong).await,
        TxError::WrongGenesis { got: other_chain }
    );
    let expired = transfer(&alice, 0, genesis, 0).sign(&alice);
    assert!(matches!(
        rejected(addr, &expired).await,
        TxError::Expired {
            valid_until: BlockNumber(0),
            ..
        }
    ));
    let future = transfer(&alice, 3, genesis, valid_until).sign(&alice);
    assert_eq!(
        rejected(addr, &future).await,
        TxError::FutureNonce {
            got: 3,
            expected: 0
        }
    );

    let receipt: TxReceipt =
        serde_json::from_value(client::submit(addr, &good).await.unwrap()).unwrap();
    assert_eq!(receipt.hash, good.hash());
    let block = client::call(addr, "chain_block", json!({ "number": receipt.block }))
        .await
        .unwrap();
    let block: subnet_protocol::chain::Block = serde_json::from_value(block).unwrap();
    assert_eq!(block.transactions, vec![good.clone()]);
    // Replaying it, or anything else with nonce 0, is stale now.
    assert_eq!(
        rejected(addr, &good).await,
        TxError::StaleNonce {
            got: 0,
            expected: 1
        }
    );
    // A block-time failure is reported to the submitter too.
    let poor = Keypair::from_seed(&[3; 32]);
    let broke = Transaction {
        signer: poor.public(),
        ..transfer(&poor, 0, genesis, valid_until)
    }
    .sign(&poor);
    assert!(matches!(
        rejected(addr, &broke).await,
        TxError::InsufficientBalance { .. }
    ));
    still_serving(addr).await;

    let metrics_addr = node.metrics_addr().unwrap();
    let metrics = client::exchange(metrics_addr, "GET /metrics HTTP/1.1", b"")
        .await
        .unwrap();
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    for needle in [
        "subnet_node_block_height ",
        "subnet_node_txs_applied_total 1",
        "subnet_node_txs_rejected_total{reason=\"bad_signature\",stage=\"admission\"} 1",
        "subnet_node_txs_rejected_total{reason=\"insufficient_balance\",stage=\"block\"} 1",
        "subnet_node_rpc_requests_total{method=\"tx_submit\",result=\"tx_rejected\"}",
        "subnet_node_block_production_seconds_count",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_block_long_polls_with_a_capped_timeout() {
    let node = start().await;
    let addr = node.rpc_addr();
    let now = height(addr).await;
    let next = client::call(
        addr,
        "chain_waitBlock",
        json!({ "after": now, "timeout_ms": 10_000 }),
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap();
    assert!(next > now);
    // Far in the future: the node's cap (2 s here) ends the wait with the current height.
    let capped = client::call(
        addr,
        "chain_waitBlock",
        json!({ "after": 1_000_000, "timeout_ms": u64::MAX }),
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap();
    assert!(capped < 1_000_000);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_submit_returns_at_admission() {
    let node = start().await;
    let addr = node.rpc_addr();
    let alice = Keypair::dev("alice");
    let valid_until = height(addr).await + 100;
    let body = |nonce: u64| {
        let tx = transfer(&alice, nonce, node.genesis_hash(), valid_until).sign(&alice);
        json!({ "jsonrpc": "2.0", "method": "tx_submit", "params": { "tx": hex::encode(tx.encode()) } })
            .to_string()
    };
    // Two consecutive nonces streamed without waiting for a block.
    for nonce in 0..2 {
        let response = client::post(addr, body(nonce).as_bytes()).await.unwrap();
        assert_eq!((response.status, response.body.len()), (204, 0));
    }
    let mut last = height(addr).await;
    for _ in 0..100 {
        let account = client::call(addr, "account_info", json!({ "account": alice.public() }))
            .await
            .unwrap();
        if account["nonce"] == 2 {
            node.shutdown().await.unwrap();
            return;
        }
        last = client::call(
            addr,
            "chain_waitBlock",
            json!({ "after": last, "timeout_ms": 5_000 }),
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    }
    panic!("the notified transactions were never applied");
}
