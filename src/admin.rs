//! The admin listener, kept off the public listener: `/healthz`, `/readyz`, `/metrics`, and
//! Token mode's `POST /tokens`. It reads the worker's current state like a public request.
//!
//! `POST /tokens` needs `Authorization: Bearer <token.mint_key_*>`, checked in constant time
//! before the body is read; without a mint key configured it is off (404), like Token mode.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{ProxyBody, full, read_limited};
use crate::error::{json_body, json_response};
use crate::gateway::Gateway;
use crate::headers;
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
    let mint_key = gw.config().token.as_ref().and_then(|t| t.mint_key.as_ref());
    let (Some(service), Some(mint_key)) = (gw.token(), mint_key) else {
        return json_response(StatusCode::NOT_FOUND, json_body("token minting is off", ""));
    };
    if !headers::bearer_is(req.headers(), &mint_key.key) {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            json_body("POST /tokens needs Authorization: Bearer <mint key>", ""),
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretKey;
    use http::HeaderMap;

    #[test]
    fn only_the_bearer_mint_key_is_authorized() {
        let key = SecretKey::mint("mint-key-0123456789-abcdefghijklmnop").unwrap();
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            crate::headers::bearer_is(&h, &key)
        };
        let right = "Bearer mint-key-0123456789-abcdefghijklmnop";
        assert!(with(&[right]));
        assert!(with(&["bearer mint-key-0123456789-abcdefghijklmnop"]));
        for wrong in [
            &[][..],
            &[""],
            &["Bearer"],
            &["Bearer "],
            &["mint-key-0123456789-abcdefghijklmnop"],
            &["Basic mint-key-0123456789-abcdefghijklmnop"],
            &["Bearer mint-key-0123456789-abcdefghijklmno"],
            &["Bearer mint-key-0123456789-abcdefghijklmnopq"],
            &["Bearer  mint-key-0123456789-abcdefghijklmnop"],
            &[right, right],
        ] {
            assert!(!with(wrong), "{wrong:?}");
        }
    }
}
