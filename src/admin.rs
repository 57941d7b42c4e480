//! The admin listener, kept off the public listener: `/healthz`, `/readyz`, `/metrics`, and
//! Token mode's `POST /tokens`. It reads the worker's current state like a public request.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{ProxyBody, full, read_limited};
use crate::error::{json_body, json_response};
use crate::gateway::Gateway;
use crate::swap::StateHandle;

/// Answers one admin request.
pub(crate) async fn handle(state: &StateHandle, req: Request<Incoming>) -> Response<ProxyBody> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match (req.uri().path(), get) {
        ("/healthz", true) => text(StatusCode::OK, "ok\n"),
        ("/readyz", true) if state.ready().load(Ordering::Acquire) => {
            text(StatusCode::OK, "ready\n")
        }
        ("/readyz", true) => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        ("/metrics", true) => {
            let mut resp = Response::new(full(state.load().metrics().encode()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        ("/tokens", false) if req.method() == Method::POST => mint_tokens(&state.load(), req).await,
        ("/healthz" | "/readyz" | "/metrics", false) | ("/tokens", true) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(full(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `POST /tokens` on the admin listener: `{"userId","userName","tenantSpaceId"}` →
/// `{"token","expiresAt"}`.
async fn mint_tokens(gw: &Gateway, req: Request<Incoming>) -> Response<ProxyBody> {
    let Some(service) = gw.token() else {
        return json_response(StatusCode::NOT_FOUND, json_body("token mode is off", ""));
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(
        body,
        &parts.headers,
        service.max_body(),
        gw.config().server.header_read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return json_response(e.status(), json_body(&e.to_string(), "")),
    };
    match service.mint_request(&bytes, SystemTime::now()) {
        Ok(reply) => {
            gw.metrics().tokens_minted.inc();
            json_response(reply.status, reply.body)
        }
        Err(e) => {
            let reply = e.reply();
            json_response(reply.status, reply.body)
        }
    }
}
