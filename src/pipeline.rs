//! The per-request pipeline over one worker's [`Gateway`]:
//!
//! ```text
//! handle ─ request id, confine (method, host, path: refused before anything else), access
//!          record, CORS decision
//!   ├─ CORS preflight ─────────────────────────────── answered at the edge
//!   ├─ local::find → local::serve ─────────────────── token validation, signature endpoint
//!   └─ route → proxy:
//!        admit_caller (the route's allowed_callers and caller key: 403/401, nothing sent)
//!        → upstream_request (pure: URI, hop-by-hop, X-Forwarded-*, Host, cookies, upgrade)
//!        → sign_if_applies (buffer + inject thirdPartAuthorization)
//!        → credentials::send for an upstream with `auth` (API Fabric token and headers; one
//!          new token and one retry after a 401), around
//!          send::send (pooled client, response deadline, framing check; one retry of a
//!          bodyless idempotent request whose pooled connection closed before the answer)
//!        → upgrade::tunnel (101 with the WebSocket accept only, tracked by the worker) → rewrite_response (pure: hop-by-hop, Set-Cookie, Location)
//!   → error_response (the one ProxyError → status map, via error.rs) → CORS headers
//!   → finish: X-Request-Id, Strict-Transport-Security (HTTPS listener, `server.hsts`),
//!     access::Metered (access log + metrics when the body ends)
//! ```

mod credentials;
mod send;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::access::{AccessRecord, Metered};
use crate::body::{ProxyBody, full, read_limited};
use crate::config::{Config, HostMode};
use crate::connection::{ConnHold, ConnInfo};
use crate::cors::{self, Cors};
use crate::error::{ErrorChain, ProxyError};
use crate::gateway::Gateway;
use crate::headers::{self, X_REQUEST_ID};
use crate::rewrite::{self, PublicOrigin};
use crate::route::Route;
use crate::sign;
use crate::upgrade;
use crate::upstream::Upstream;

/// The h2c upgrade's settings (RFC 7540 §3.2.1), never forwarded.
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

impl Gateway {
    /// Answers one request. Never fails: every error becomes a response.
    pub(crate) async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<Metered> {
        let request_id = request_id(req.headers());
        req.headers_mut().insert(&X_REQUEST_ID, request_id.clone());
        let rid = request_id.to_str().unwrap_or_default().to_owned();
        let hostnames = &self.config().server.hostnames;
        let confined = crate::confine::check(req.method(), req.uri(), req.headers(), hostnames);
        // A refused request reaches nothing, not even a route's metrics.
        let route = confined
            .ok()
            .and_then(|()| self.routes.find(req.uri().path()));
        let mut record = self.access_record(&req, &rid, route, conn);
        let cors = cors::decide(&self.config().cors, req.headers());
        let hsts = match conn.scheme {
            "https" => self.config().server.hsts.as_ref(),
            _ => None,
        };

        if let Err(refused) = confined {
            let mut resp = self.error_response(ProxyError::Confined(refused), &rid, None);
            cors::apply(&cors, resp.headers_mut());
            return finish(resp, &request_id, hsts, record);
        }
        if cors != Cors::Off && cors::is_preflight(req.method(), req.headers()) {
            let (status, h) = cors::preflight(&cors, req.headers(), self.config().cors.max_age);
            let mut resp = Response::new(crate::body::empty());
            *resp.status_mut() = status;
            *resp.headers_mut() = h;
            return finish(resp, &request_id, hsts, record);
        }
        let result = if let Some(local) = crate::local::find(&self, req.uri().path()) {
            crate::local::serve(&self, local, req, conn).await
        } else {
            match route {
                Some(route) => self.proxy(req, route, conn, &mut record).await,
                None => Err(ProxyError::NoRoute),
            }
        };
        let mut resp = result.unwrap_or_else(|e| self.error_response(e, &rid, route));
        cors::apply(&cors, resp.headers_mut());
        finish(resp, &request_id, hsts, record)
    }

    fn access_record(
        &self,
        req: &Request<Incoming>,
        rid: &str,
        route: Option<&Route>,
        conn: ConnInfo,
    ) -> AccessRecord {
        AccessRecord {
            request_id: rid.to_owned(),
            peer: conn.peer.ip(),
            method: req.method().clone(),
            route: route.map_or("none", |r| r.prefix.as_str()).to_owned(),
            path: req.uri().path().to_owned(),
            status: 0,
            upstream_status: None,
            started: Instant::now(),
            metrics: route
                .map_or(&self.unmatched_metrics, |r| &self.route_metrics[r.index])
                .clone(),
            body_idle: None,
        }
    }

    /// The JSON error answer; counts and logs the failure by who caused it.
    fn error_response(
        &self,
        e: ProxyError,
        rid: &str,
        route: Option<&Route>,
    ) -> Response<ProxyBody> {
        if let (Some(kind), Some(route)) = (e.upstream_kind(), route) {
            let upstream = &self.upstreams[route.upstream];
            upstream.errors.count(kind);
            tracing::warn!(request_id = rid, upstream = %upstream.name, error = %ErrorChain(&e), "upstream request failed");
        } else if let ProxyError::Signing(refusal) = &e {
            self.metrics().signing_refused(refusal.reason());
            tracing::info!(
                request_id = rid,
                reason = refusal.reason(),
                "signing refused"
            );
        } else {
            tracing::debug!(request_id = rid, error = %ErrorChain(&e), "request failed");
        }
        e.response(rid)
    }

    async fn proxy(
        &self,
        mut req: Request<Incoming>,
        route: &Route,
        conn: ConnInfo,
        record: &mut AccessRecord,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        self.admit_caller(route, conn, req.headers_mut())?;
        let upstream = &self.upstreams[route.upstream];
        // Only a WebSocket handshake is forwarded as one; any other `Upgrade` is dropped below.
        let websocket_key = upgrade::websocket_key(req.method(), req.version(), req.headers());
        let client_upgrade = websocket_key
            .is_some()
            .then(|| hyper::upgrade::on(&mut req));
        let hold = req.extensions_mut().remove::<ConnHold>();
        let (mut parts, body) = req.into_parts();
        let target = upstream_request(
            &mut parts,
            self.config(),
            route,
            upstream,
            conn,
            client_upgrade.is_some(),
        )?;
        let body = self.sign_if_applies(&mut parts, body, &target.path).await?;
        let mut resp = match &self.generation.credentials[route.upstream] {
            Some(cache) => {
                let deadline = self.config().server.header_read_timeout;
                credentials::send(upstream, cache, self.store(), parts, body, deadline).await?
            }
            None => send::send(upstream, parts, body).await?,
        };
        record.upstream_status = Some(resp.status().as_u16());
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            // A tunnel only for the handshake the client began, answered as RFC 6455 says.
            let client = match (client_upgrade, &websocket_key) {
                (Some(client), Some(key))
                    if upgrade::upstream_switched_to_websocket(resp.headers(), key) =>
                {
                    client
                }
                _ => return Err(ProxyError::UpgradeRefused),
            };
            let upstream = hyper::upgrade::on(&mut resp);
            let idle = self.config().server.keepalive_timeout;
            let tunnel = upgrade::tunnel(client, upstream, record.request_id.clone(), idle, hold);
            self.tunnels.spawn(tunnel);
        }
        let (mut rparts, rbody) = resp.into_parts();
        let public = PublicOrigin {
            origin: &target.public_origin,
            restore_prefix: route.strip_prefix.then_some(route.prefix.as_str()),
        };
        rewrite_response(
            &mut rparts.headers,
            upstream,
            &public,
            self.config().cookies.rewrite_domain,
            switching,
        );
        record.body_idle = Some(upstream.response_timeout);
        Ok(Response::from_parts(
            rparts,
            rbody.map_err(Into::into).boxed(),
        ))
    }

    /// The signing POST: buffers the body, signs it and injects `thirdPartAuthorization`;
    /// any other request streams as it came.
    async fn sign_if_applies(
        &self,
        parts: &mut Parts,
        body: Incoming,
        upstream_path: &str,
    ) -> Result<ProxyBody, ProxyError> {
        let signing = match &self.config().signing {
            Some(s) if parts.method == Method::POST && upstream_path == s.path => s,
            _ => return Ok(body.map_err(Into::into).boxed()),
        };
        let deadline = self.config().server.header_read_timeout;
        let bytes = read_limited(body, &parts.headers, signing.max_body, deadline)
            .await
            .map_err(ProxyError::signing_body)?;
        let signed = sign::sign_body(signing, upstream_path, &bytes, SystemTime::now())
            .map_err(ProxyError::Signing)?;
        self.count_signature(&signed.channel);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(signed.body.len()));
        Ok(full(signed.body))
    }
}

/// The client's request id when it is sane, else a new random one.
fn request_id(h: &HeaderMap) -> HeaderValue {
    match h.get(&X_REQUEST_ID) {
        Some(v) if headers::valid_request_id(v) => v.clone(),
        _ => {
            // 32 lower-case hex digits, without `core::fmt` (every request without an id).
            let id = rand::random::<u128>();
            let hex: [u8; 32] =
                std::array::from_fn(|i| b"0123456789abcdef"[(id >> (124 - 4 * i)) as usize & 0xf]);
            HeaderValue::from_bytes(&hex).expect("hex is a valid header value")
        }
    }
}

/// What [`upstream_request`] worked out besides the request itself.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The upstream path (after `strip_prefix`), without the query: what signing matches on.
    pub(crate) path: String,
    /// Where the browser thinks the gateway is, for rewriting `Location`.
    pub(crate) public_origin: String,
}

/// Turns the client's request head into the upstream's, in place: absolute URI on the upstream,
/// hop-by-hop headers removed, X-Forwarded-* set, `Host` by the route's mode, HTTP/2 cookie
/// crumbs joined, and `Connection: upgrade` + `Upgrade: websocket` put back when `upgrading`
/// (the client's request is a WebSocket handshake, [`upgrade::websocket_key`]); any other
/// `Upgrade` is dropped with `HTTP2-Settings`, and the request goes on as a normal one.
pub(crate) fn upstream_request(
    parts: &mut Parts,
    config: &Config,
    route: &Route,
    upstream: &Upstream,
    conn: ConnInfo,
    upgrading: bool,
) -> Result<Target, ProxyError> {
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream_pq = route.upstream_path_and_query(pq);
    let path = upstream_pq.split('?').next().unwrap_or("/").to_owned();
    let client_host = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let uri = Uri::builder()
        .scheme(upstream.uri_scheme.clone())
        .authority(upstream.authority.as_bytes())
        .path_and_query(upstream_pq.as_ref())
        .build()
        .map_err(|_| ProxyError::NoRoute)?;

    let upgrade = headers::remove_hop_by_hop(&mut parts.headers);
    // Only for an h2c upgrade, which is never forwarded (RFC 9113 §3.1 dropped it).
    parts.headers.remove(HTTP2_SETTINGS);
    let trusted = &config.forwarding.trusted_proxies;
    let client = headers::client_address(conn.peer.ip(), trusted, &parts.headers);
    headers::set_forwarded(
        &mut parts.headers,
        &client,
        conn.scheme,
        client_host.as_ref(),
        &config.server.hostnames,
    );
    // The forwarded proto and host (a trusted proxy's, or the gateway's own).
    let forwarded = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let public_origin = format!(
        "{}://{}",
        forwarded(&headers::X_FORWARDED_PROTO).unwrap_or(conn.scheme),
        forwarded(&headers::X_FORWARDED_HOST).unwrap_or(&config.server.hostnames[0])
    );
    let host = match (route.host, &client_host) {
        (HostMode::Client, Some(h)) => h.clone(),
        _ => upstream.authority.clone(),
    };
    parts.headers.insert(header::HOST, host);
    join_cookie_crumbs(&mut parts.headers);
    if upgrade.is_some() && upgrading {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    Ok(Target {
        path,
        public_origin,
    })
}

/// The upstream's response head made fit for the browser, in place: hop-by-hop headers removed
/// (the upgrade headers kept on a 101), Set-Cookie `Domain` of the upstream dropped when
/// `rewrite_cookies`, and `Location`/`Content-Location` pointed at the public origin.
pub(crate) fn rewrite_response(
    h: &mut HeaderMap,
    upstream: &Upstream,
    public: &PublicOrigin<'_>,
    rewrite_cookies: bool,
    switching: bool,
) {
    let upgrade = headers::remove_hop_by_hop(h);
    if switching {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(up) = upgrade {
            h.insert(header::UPGRADE, up);
        }
    }
    if rewrite_cookies {
        rewrite::set_cookies(h, &upstream.origin.host);
    }
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let rewritten = h
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| rewrite::location(v, &upstream.origin, public));
        if let Some(v) = rewritten.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
}

/// Adds the request id (and on the HTTPS listener `server.hsts`) and wraps the body for the
/// access log.
fn finish(
    mut resp: Response<ProxyBody>,
    request_id: &HeaderValue,
    hsts: Option<&HeaderValue>,
    mut record: AccessRecord,
) -> Response<Metered> {
    resp.headers_mut().insert(&X_REQUEST_ID, request_id.clone());
    if let Some(v) = hsts {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, v.clone());
    }
    record.status = resp.status().as_u16();
    resp.map(|b| Metered::new(b, record))
}

/// HTTP/2 may split `Cookie` into several fields; HTTP/1.1 needs one (RFC 9113 §8.2.3).
fn join_cookie_crumbs(h: &mut HeaderMap) {
    if h.get_all(header::COOKIE).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<u8> = h
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        h.insert(header::COOKIE, v);
    }
}
