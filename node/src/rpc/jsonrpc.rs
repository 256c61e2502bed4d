//! JSON-RPC 2.0 envelopes: parsing a request body into a typed call, named-parameter access that
//! names the offending field, and error objects with the codes of [`subnet_protocol::chain::rpc`].
//!
//! Everything here is total over its input: any byte string becomes a [`Request`] or an
//! [`RpcError`], never a panic (serde_json bounds recursion depth, rejects invalid UTF-8, and
//! numbers that do not fit the wanted type become type errors).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use subnet_protocol::chain::TxError;
use subnet_protocol::chain::rpc::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, NOT_FOUND, PARSE_ERROR,
    TX_REJECTED, TxRejection, UNAVAILABLE,
};

/// One parsed JSON-RPC request.
#[derive(Debug)]
pub(crate) struct Request {
    /// Echoed in the response; `None` for a notification (no `id` member).
    pub(crate) id: Option<Value>,
    /// The method name.
    pub(crate) method: String,
    /// Named parameters (an absent `params` is an empty object).
    pub(crate) params: Params,
}

/// A request that could not be parsed, with the id to answer it under (null if unknown).
#[derive(Debug)]
pub(crate) struct Malformed {
    pub(crate) id: Value,
    pub(crate) error: RpcError,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(crate) fn parse(e: &serde_json::Error) -> Self {
        Self::new(PARSE_ERROR, format!("parse error: {e}"))
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    pub(crate) fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("method `{method}` not found"))
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(UNAVAILABLE, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(INTERNAL_ERROR, message)
    }

    /// A refused transaction: the message is the error's text, `data` the [`TxRejection`].
    pub(crate) fn rejected(error: TxError) -> Self {
        let message = error.to_string();
        let rejection = TxRejection {
            label: error.as_label().to_owned(),
            error,
        };
        Self {
            code: TX_REJECTED,
            message,
            data: serde_json::to_value(rejection).ok(),
        }
    }

    /// A short stable name for the metrics' `result` label.
    pub(crate) fn as_label(&self) -> &'static str {
        match self.code {
            PARSE_ERROR => "parse_error",
            INVALID_REQUEST => "invalid_request",
            METHOD_NOT_FOUND => "method_not_found",
            INVALID_PARAMS => "invalid_params",
            TX_REJECTED => "tx_rejected",
            NOT_FOUND => "not_found",
            UNAVAILABLE => "unavailable",
            _ => "internal_error",
        }
    }

    fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), self.code.into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            obj.insert("data".into(), data.clone());
        }
        Value::Object(obj)
    }
}

/// The body of a success response.
pub(crate) fn success(id: Value, result: Value) -> Vec<u8> {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result });
    body.to_string().into_bytes()
}

/// The body of an error response.
pub(crate) fn failure(id: Value, error: &RpcError) -> Vec<u8> {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error.to_value() });
    body.to_string().into_bytes()
}

/// Parses one HTTP body as a single JSON-RPC request. Batches are refused with
/// `INVALID_REQUEST`: every method is cheap to call on its own over a kept-alive connection,
/// and `tx_submit` blocks until inclusion, which a batch would hold hostage.
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Malformed {
        id: Value::Null,
        error: RpcError::parse(&e),
    })?;
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(Malformed {
                id: Value::Null,
                error: RpcError::invalid_request("batch requests are not supported"),
            });
        }
        _ => {
            return Err(Malformed {
                id: Value::Null,
                error: RpcError::invalid_request("request must be a JSON object"),
            });
        }
    };
    let id = obj.remove("id");
    let answer_id = match &id {
        Some(v @ (Value::Null | Value::String(_))) => v.clone(),
        // Only 64-bit integers come back exactly as sent: serde_json reads other numbers as
        // floats, and the answer must echo the caller's id.
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        Some(_) => {
            return Err(Malformed {
                id: Value::Null,
                error: RpcError::invalid_request("`id` must be a string, a 64-bit integer or null"),
            });
        }
        None => Value::Null,
    };
    let bad = |message: &str| Malformed {
        id: answer_id.clone(),
        error: RpcError::invalid_request(message),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(bad("`jsonrpc` must be \"2.0\""));
    }
    let Some(Value::String(method)) = obj.remove("method") else {
        return Err(bad("`method` must be a string"));
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(Malformed {
                id: answer_id,
                error: RpcError::invalid_params("`params` must be an object of named parameters"),
            });
        }
    };
    if let Some(key) = obj.keys().find(|k| *k != "jsonrpc") {
        return Err(bad(&format!("unknown request member `{key}`")));
    }
    Ok(Request {
        id,
        method,
        params: Params(params),
    })
}

/// Named parameters, taken one by one so that every error names its field.
#[derive(Debug, Default)]
pub(crate) struct Params(Map<String, Value>);

impl Params {
    /// The parameter `name`, which must be present.
    pub(crate) fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, RpcError> {
        match self.0.remove(name) {
            Some(v) => decode(name, v),
            None => Err(RpcError::invalid_params(format!(
                "missing parameter `{name}`"
            ))),
        }
    }

    /// The parameter `name`, if present and not null.
    pub(crate) fn optional<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => decode(name, v).map(Some),
        }
    }

    /// Refuses parameters the method does not take (typos should not pass silently).
    pub(crate) fn finish(self) -> Result<(), RpcError> {
        match self.0.keys().next() {
            Some(key) => Err(RpcError::invalid_params(format!(
                "unknown parameter `{key}`"
            ))),
            None => Ok(()),
        }
    }
}

fn decode<T: DeserializeOwned>(name: &str, value: Value) -> Result<T, RpcError> {
    serde_json::from_value(value)
        .map_err(|e| RpcError::invalid_params(format!("parameter `{name}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &[u8]) -> RpcError {
        parse_request(body).unwrap_err().error
    }

    #[test]
    fn parses_named_params_and_notifications() {
        let mut r = parse_request(
            br#"{"jsonrpc":"2.0","id":7,"method":"subnet_info","params":{"netuid":3}}"#,
        )
        .unwrap();
        assert_eq!(r.id, Some(Value::from(7)));
        assert_eq!(r.method, "subnet_info");
        assert_eq!(r.params.required::<u16>("netuid").unwrap(), 3);
        r.params.finish().unwrap();
        let r = parse_request(br#"{"jsonrpc":"2.0","method":"chain_info"}"#).unwrap();
        assert_eq!(r.id, None);
    }

    #[test]
    fn every_malformed_body_is_an_error() {
        assert_eq!(err(b"{").code, PARSE_ERROR);
        assert_eq!(err(b"\xff\xfe").code, PARSE_ERROR);
        assert_eq!(err(b"").code, PARSE_ERROR);
        let deep = "[".repeat(100_000);
        assert_eq!(err(deep.as_bytes()).code, PARSE_ERROR);
        assert_eq!(err(b"[]").code, INVALID_REQUEST);
        assert_eq!(err(b"42").code, INVALID_REQUEST);
        assert_eq!(
            err(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).code,
            INVALID_REQUEST
        );
        assert_eq!(
            err(br#"{"jsonrpc":"2.0","id":1,"method":5}"#).code,
            INVALID_REQUEST
        );
        assert_eq!(
            err(br#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#).code,
            INVALID_REQUEST
        );
        assert_eq!(
            err(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#).code,
            INVALID_PARAMS
        );
    }

    #[test]
    fn param_errors_name_the_field() {
        let mut r = parse_request(
            br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"netuid":"x","n":1e400,"big":123456789012345678901234567890}}"#,
        );
        // 1e400 does not fit an f64: serde_json refuses the whole body.
        assert_eq!(r.as_ref().unwrap_err().error.code, PARSE_ERROR);
        r = parse_request(
            br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"netuid":"x","big":123456789012345678901234567890}}"#,
        );
        let mut p = r.unwrap().params;
        let e = p.required::<u16>("netuid").unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS);
        assert!(e.message.contains("`netuid`"), "{}", e.message);
        let e = p.required::<u64>("big").unwrap_err();
        assert!(e.message.contains("`big`"), "{}", e.message);
        let e = p.required::<u64>("absent").unwrap_err();
        assert!(e.message.contains("missing parameter `absent`"));
    }

    #[test]
    fn rejection_carries_label_and_typed_error() {
        let e = RpcError::rejected(TxError::BadSignature);
        assert_eq!(e.code, TX_REJECTED);
        let data: TxRejection = serde_json::from_value(e.data.unwrap()).unwrap();
        assert_eq!(data.label, "bad_signature");
        assert_eq!(data.error, TxError::BadSignature);
    }
}
