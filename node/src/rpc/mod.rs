//! The JSON-RPC 2.0 endpoint: HTTP `POST` with a JSON request object, named parameters, the
//! methods of [`subnet_protocol::chain::rpc`].
//!
//! Limits: request bodies over `max_body_bytes` get HTTP 413 (checked from `Content-Length`
//! before reading, and again while reading); headers and body must arrive within
//! `read_timeout`; batches are refused. Every failure is a JSON-RPC error object.
//!
//! Notifications (requests without `id`) are answered with an empty HTTP 204 once done. A
//! `tx_submit` notification is done at admission: it does not wait for the block, so a client
//! can stream a signer's consecutive nonces over one connection; its rejections then show only
//! in the metrics.

pub(crate) mod jsonrpc;
mod methods;

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::http::{HttpResponse, json_response};
use crate::node::Shared;
use jsonrpc::RpcError;

/// Answers one HTTP request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> HttpResponse {
    if req.method() != Method::POST {
        let error = RpcError::invalid_request("use HTTP POST with a JSON-RPC request object");
        shared.metrics.rpc("none", error.as_label());
        let mut response = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            jsonrpc::failure(Value::Null, &error),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let limit = shared.rpc.max_body_bytes;
    let too_large = || {
        let error = RpcError::invalid_request(format!("request body exceeds {limit} bytes"));
        shared.metrics.rpc("none", "too_large");
        json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            jsonrpc::failure(Value::Null, &error),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let body = Limited::new(req.into_body(), limit).collect();
    let body = match tokio::time::timeout(shared.rpc.read_timeout, body).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading request body failed");
            let error = RpcError::invalid_request("request body could not be read");
            shared.metrics.rpc("none", error.as_label());
            return json_response(
                StatusCode::BAD_REQUEST,
                jsonrpc::failure(Value::Null, &error),
            );
        }
        Err(_) => {
            let error = RpcError::invalid_request("request body not received in time");
            shared.metrics.rpc("none", "timeout");
            return json_response(
                StatusCode::REQUEST_TIMEOUT,
                jsonrpc::failure(Value::Null, &error),
            );
        }
    };
    let request = match jsonrpc::parse_request(&body) {
        Ok(r) => r,
        Err(malformed) => {
            shared.metrics.rpc("none", malformed.error.as_label());
            return json_response(
                StatusCode::OK,
                jsonrpc::failure(malformed.id, &malformed.error),
            );
        }
    };
    let method_label = methods::label(&request.method);
    let id = request.id.clone();
    let result = methods::dispatch(&shared, request).await;
    match &result {
        Ok(_) => shared.metrics.rpc(method_label, "ok"),
        Err(e) => shared.metrics.rpc(method_label, e.as_label()),
    }
    // A notification (no `id`) gets no JSON-RPC response, only an empty HTTP answer.
    let Some(id) = id else {
        let mut response = json_response(StatusCode::NO_CONTENT, Vec::new());
        response.headers_mut().remove(header::CONTENT_TYPE);
        return response;
    };
    let body = match result {
        Ok(value) => jsonrpc::success(id, value),
        Err(error) => jsonrpc::failure(id, &error),
    };
    json_response(StatusCode::OK, body)
}
