//! Endpoints the gateway answers itself: on the public listener the vendor-compatible
//! signature endpoint (`signing.authorization_endpoint`) and Token mode's validation endpoint
//! (`token.validate_path`); on the admin listener `POST /tokens`.

use std::time::SystemTime;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::read_limited;
use crate::body::{ProxyBody, full};
use crate::error::json_response;
use crate::error::{ProxyError, json_body};
use crate::forward::{ConnInfo, Gateway};
use crate::headers;
use crate::sign::{self, Refusal};
use crate::token::{Outcome, Verdict};

/// A request the gateway answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    TokenValidate,
    Authorization,
}

/// Which local endpoint, if any, serves `path`.
pub fn local_for(gw: &Gateway, path: &str) -> Option<Local> {
    if gw.token.as_ref().is_some_and(|t| t.validate_path() == path) {
        return Some(Local::TokenValidate);
    }
    if gw
        .config
        .signing
        .as_ref()
        .and_then(|s| s.authorization_endpoint.as_deref())
        == Some(path)
    {
        return Some(Local::Authorization);
    }
    None
}

pub async fn serve(
    gw: &Gateway,
    local: Local,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Result<Response<ProxyBody>, ProxyError> {
    if req.method() != Method::POST {
        let mut resp = json_response(StatusCode::METHOD_NOT_ALLOWED, json_body("use POST", ""));
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(resp);
    }
    match local {
        Local::TokenValidate => Ok(token_validate(gw, req, conn).await),
        Local::Authorization => authorization(gw, req).await,
    }
}

/// Token mode: the CEC asks whether a user's token is valid.
async fn token_validate(
    gw: &Gateway,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<ProxyBody> {
    let service = gw
        .token
        .as_ref()
        .expect("local_for only routes here when token mode is on");
    let caller = headers::client_address(
        conn.peer.ip(),
        &gw.config.forwarding.trusted_proxies,
        req.headers(),
    )
    .real_ip;
    let now = SystemTime::now();
    let verdict = match service.admit(caller, now) {
        Err(verdict) => verdict,
        Ok(()) => {
            let (parts, body) = req.into_parts();
            match read_limited(
                body,
                &parts.headers,
                service.max_body(),
                gw.config.server.header_read_timeout,
            )
            .await
            {
                Ok(bytes) => service.validate_body(&bytes, now),
                Err(ProxyError::Signing(Refusal::TooLarge)) => Verdict::too_large(),
                Err(_) => Verdict::of(Outcome::BadRequest),
            }
        }
    };
    let label = verdict.outcome.label();
    gw.metrics.token_validation(label);
    if matches!(verdict.outcome, Outcome::RateLimited) {
        gw.metrics.token_rate_limited.inc();
    }
    tracing::info!(caller = %caller, result = label, cause = verdict.outcome.reason().unwrap_or(""), "token validation");
    let mut resp = Response::new(full(verdict.body));
    *resp.status_mut() = verdict.status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::token::CONTENT_TYPE),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The vendor sample's `getAuthorization` → `/webchat/authorizationService`: the same JSON body
/// in, the signature out as text, with the same checks as on-the-fly signing.
async fn authorization(
    gw: &Gateway,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let signing = gw
        .config
        .signing
        .as_ref()
        .expect("local_for only routes here when signing is on");
    let (parts, body) = req.into_parts();
    let bytes = read_limited(
        body,
        &parts.headers,
        signing.max_body,
        gw.config.server.header_read_timeout,
    )
    .await?;
    let signed =
        sign::authorize(signing, &bytes, SystemTime::now()).map_err(ProxyError::Signing)?;
    gw.count_signature(&signed.channel);
    let mut resp = Response::new(full(signed.authorization));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /tokens` on the admin listener: `{"userId","userName","tenantSpaceId"}` →
/// `{"token","expiresAt"}`.
pub async fn mint_tokens(gw: &Gateway, req: Request<Incoming>) -> Response<ProxyBody> {
    let Some(service) = gw.token.as_ref() else {
        return json_response(StatusCode::NOT_FOUND, json_body("token mode is off", ""));
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(
        body,
        &parts.headers,
        service.max_body(),
        gw.config.server.header_read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return json_response(e.status(), json_body(&e.to_string(), "")),
    };
    match service.mint_request(&bytes, SystemTime::now()) {
        Ok(reply) => {
            gw.metrics.tokens_minted.inc();
            json_response(reply.status, reply.body)
        }
        Err(e) => {
            let reply = e.reply();
            json_response(reply.status, reply.body)
        }
    }
}
