//! Paths the gateway answers itself on the public listener, instead of proxying them: the
//! vendor-compatible signature endpoint (`signing.authorization_endpoint`) and Token mode's
//! validation endpoint (`token.validate_path`), with Token mode's shared store when there is
//! one (`crate::store`).

use std::net::IpAddr;
use std::time::SystemTime;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{BodyError, ProxyBody, full, read_limited};
use crate::connection::ConnInfo;
use crate::error::{ProxyError, json_body, json_response};
use crate::gateway::Gateway;
use crate::headers;
use crate::sign;
use crate::store::StoreConn;
use crate::token::{Invalid, Outcome, TokenService, Verdict};

/// A request the gateway answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    TokenValidate,
    Authorization,
}

/// Which local endpoint, if any, serves `path`.
pub(crate) fn find(gw: &Gateway, path: &str) -> Option<Local> {
    if gw.token().is_some_and(|t| t.validate_path() == path) {
        return Some(Local::TokenValidate);
    }
    if gw
        .config()
        .signing
        .as_ref()
        .and_then(|s| s.authorization_endpoint.as_deref())
        == Some(path)
    {
        return Some(Local::Authorization);
    }
    None
}

pub(crate) async fn serve(
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
        .token()
        .expect("find only routes here when token mode is on");
    let caller = headers::client_address(
        conn.peer.ip(),
        &gw.config().forwarding.trusted_proxies,
        req.headers(),
    )
    .real_ip;
    let verdict = validate(gw, service, caller, req, SystemTime::now()).await;
    let label = verdict.outcome.label();
    gw.metrics().token_validation(label);
    if matches!(verdict.outcome, Outcome::RateLimited) {
        gw.metrics().token_rate_limited.inc();
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

/// The validation's checks in order (see `crate::token`): allowed callers, rate limit, body,
/// token, single use. With a shared store, the rate limit and the single use go through it: a
/// store that does not answer makes the rate limit fall back to this process's limiter and a
/// single-use validation fail (closed). One validation waits at most one `store.timeout` on a
/// store that does not answer: after a failed rate-limit call, single use does not ask again.
async fn validate(
    gw: &Gateway,
    service: &TokenService,
    caller: IpAddr,
    req: Request<Incoming>,
    now: SystemTime,
) -> Verdict {
    let store = gw.store();
    let store_failed = match admit(service, store, caller, now).await {
        Ok(store_failed) => store_failed,
        Err(refused) => return refused,
    };
    let (parts, body) = req.into_parts();
    let max = service.max_body();
    let bytes = match read_limited(
        body,
        &parts.headers,
        max,
        gw.config().server.header_read_timeout,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Verdict::too_large(),
        Err(BodyError::Timeout | BodyError::Read(_)) => return Verdict::of(Outcome::BadRequest),
    };
    let Some(store) = store else {
        return service.validate_body(&bytes, now);
    };
    let first = match service.verify_body(&bytes, now) {
        Err(refused) => return refused,
        Ok(None) => return Verdict::of(Outcome::Valid),
        Ok(Some(first)) => first,
    };
    let outcome = match store_failed {
        true => Outcome::Invalid(Invalid::StoreUnavailable),
        false => match store.first_use(&first.jti, first.dead_after).await {
            Ok(true) => Outcome::Valid,
            Ok(false) => Outcome::Invalid(Invalid::Replayed),
            Err(_) => Outcome::Invalid(Invalid::StoreUnavailable),
        },
    };
    Verdict::of(outcome)
}

/// The allow-list, then the rate limit: the shared bucket while the store answers, this
/// process's otherwise. `Ok(true)` when a store call failed on the way.
async fn admit(
    service: &TokenService,
    store: Option<&StoreConn>,
    caller: IpAddr,
    now: SystemTime,
) -> Result<bool, Verdict> {
    service.allow_caller(caller)?;
    let Some(store) = store.filter(|s| s.is_up()) else {
        if let Some(down) = store {
            down.count_fallback();
        }
        return service.local_limit(caller, now).map(|()| false);
    };
    let (rate, burst) = service.rate_limit();
    match store.rate_limit(caller, rate, burst).await {
        Ok(true) => Ok(false),
        Ok(false) => Err(Verdict::of(Outcome::RateLimited)),
        Err(_) => {
            store.count_fallback();
            service.local_limit(caller, now).map(|()| true)
        }
    }
}

/// The vendor sample's `getAuthorization` → `/webchat/authorizationService`: the same JSON body
/// in, the signature out as text, with the same checks as on-the-fly signing.
async fn authorization(
    gw: &Gateway,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let signing = gw
        .config()
        .signing
        .as_ref()
        .expect("find only routes here when signing is on");
    let (parts, body) = req.into_parts();
    let bytes = read_limited(
        body,
        &parts.headers,
        signing.max_body,
        gw.config().server.header_read_timeout,
    )
    .await
    .map_err(ProxyError::signing_body)?;
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
