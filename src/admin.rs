//! The admin listener (`/healthz`, `/readyz`, `/metrics`, and Token mode's `POST /tokens`),
//! kept off the public listener, and the plain-HTTP listener's redirect to HTTPS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{ProxyBody, empty, full};
use crate::forward::Gateway;

/// What the admin endpoints read.
pub struct AdminState {
    pub gateway: Arc<Gateway>,
    /// True once the listeners are serving; false again when draining.
    pub ready: AtomicBool,
}

pub async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<ProxyBody> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match (req.uri().path(), get) {
        ("/healthz", true) => text(StatusCode::OK, "ok\n"),
        ("/readyz", true) if state.ready.load(Ordering::Acquire) => text(StatusCode::OK, "ready\n"),
        ("/readyz", true) => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        ("/metrics", true) => {
            let mut resp = Response::new(full(state.gateway.metrics.encode()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        ("/tokens", false) if req.method() == Method::POST => {
            crate::endpoints::mint_tokens(&state.gateway, req).await
        }
        ("/healthz" | "/readyz" | "/metrics", false) | ("/tokens", true) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(full(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The plain-HTTP listener with `http_redirect`: 308 to the same path on https, except
/// `/healthz`. The redirect names one of `server.hostnames` (the client's `Host` when it is
/// one of them), never an arbitrary host from the request.
pub fn redirect(gw: &Gateway, req: &Request<Incoming>, https_port: u16) -> Response<ProxyBody> {
    if req.uri().path() == "/healthz" {
        return text(StatusCode::OK, "ok\n");
    }
    let hostnames = &gw.config.server.hostnames;
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| host_without_port(h).to_ascii_lowercase());
    let host = requested
        .filter(|h| hostnames.contains(h))
        .unwrap_or_else(|| hostnames[0].clone());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{host}{port}{pq}");
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn host_without_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    h.rsplit_once(':').map_or(h, |(host, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            host
        } else {
            h
        }
    })
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn hosts() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:8080"), "::1");
        assert_eq!(host_without_port("127.0.0.1"), "127.0.0.1");
    }
}
