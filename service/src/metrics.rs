//! The Prometheus endpoint every long-running binary serves: `GET /metrics` with the text
//! exposition of a registry, anything else 404 or 405.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use prometheus::{Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::http::{HttpResponse, ServerLimits, serve, text_response};

/// Scrapes served at once: Prometheus sends one at a time, so a few leave room for a human.
const MAX_CONNECTIONS: usize = 8;
/// A scraper that has not sent its request by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The text exposition (format 0.0.4) of every metric in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&registry.gather(), &mut out) {
        // Only a metric with invalid label names fails here: a bug, not worth stopping for.
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    out
}

/// The answer to `req`: the exposition of `registry` for `GET /metrics`, else 404 or 405.
pub fn respond(registry: &Registry, req: &Request<Incoming>) -> HttpResponse {
    if req.uri().path() != "/metrics" {
        return text_response(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec());
    }
    if req.method() != Method::GET {
        return text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"use GET\n".to_vec(),
        );
    }
    text_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        render(registry).into_bytes(),
    )
}

/// Serves `registry` on `listener` until `stop` turns true, then waits (boundedly) for the
/// scrapes in flight.
pub async fn serve_metrics(listener: TcpListener, registry: Registry, stop: watch::Receiver<bool>) {
    let registry = Arc::new(registry);
    let limits = ServerLimits {
        max_connections: MAX_CONNECTIONS,
        read_timeout: READ_TIMEOUT,
    };
    let handler = move |req: Request<Incoming>| {
        let response = respond(&registry, &req);
        async move { response }
    };
    serve(listener, limits, handler, stop).await;
}

#[cfg(test)]
mod tests {
    use prometheus::IntCounter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_registry_and_refuses_other_paths_and_methods() {
        let registry = Registry::new();
        let counter = IntCounter::new("test_things_total", "Things").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc_by(3);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve_metrics(listener, registry, stop_rx));

        let ok = get(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("test_things_total 3"), "{ok}");
        let missing = get(
            addr,
            "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(
            addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");

        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops when asked")
            .unwrap();
    }
}
