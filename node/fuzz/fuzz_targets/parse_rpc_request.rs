//! JSON-RPC request parsing, as the node's RPC server does it: arbitrary bytes never panic the
//! parser, and every refusal is a well-formed JSON-RPC 2.0 error response with a standard code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS: the only codes parsing alone may answer.
const PARSING_CODES: [i64; 3] = [-32700, -32600, -32602];

fuzz_target!(|data: &[u8]| {
    match subnet_node::parse_rpc_request(data) {
        Ok(method) => {
            // Only a JSON object with a string method parses.
            let value: Value = serde_json::from_slice(data).expect("parsed requests are JSON");
            assert_eq!(value["method"].as_str(), Some(method.as_str()));
            assert_eq!(value["jsonrpc"].as_str(), Some("2.0"));
        }
        Err(body) => {
            let response: Value = serde_json::from_slice(&body).expect("error bodies are JSON");
            assert_eq!(response["jsonrpc"], "2.0");
            let code = response["error"]["code"]
                .as_i64()
                .expect("numeric error code");
            assert!(PARSING_CODES.contains(&code), "unexpected code {code}");
            assert!(response["error"]["message"].is_string());
            assert!(matches!(
                response["id"],
                Value::Null | Value::Number(_) | Value::String(_)
            ));
        }
    }
});
