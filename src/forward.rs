//! The per-request pipeline. [`Gateway`] holds everything built from one configuration (route
//! table, pooled upstream clients, pre-resolved metric series) and is shared by every
//! connection behind an `Arc`; a reload builds a new one and swaps it.
//!
//! One request: request id → CORS preflight or a local endpoint (signature compatibility,
//! Token mode) → route → upstream request (hop-by-hop removal, X-Forwarded-*, Host, optional
//! signing) → pooled client with a response deadline → response rewrites (hop-by-hop,
//! Set-Cookie, Location, CORS) → metered body (access log and metrics at its end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prometheus_client::metrics::counter::Counter;

use crate::body::read_limited;
use crate::body::{AccessRecord, Metered, ProxyBody, full};
use crate::config::{Config, HostMode};
use crate::cors::{self, Cors};
use crate::error::{ErrorChain, ProxyError, json_body, json_response};
use crate::headers::{self, X_REQUEST_ID};
use crate::metrics::{Metrics, RouteMetrics};
use crate::rewrite::{self, PublicOrigin};
use crate::route::{Route, RouteTable};
use crate::sign;
use crate::upstream::{Upstream, UpstreamError};

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
}

/// Everything built from one configuration.
pub struct Gateway {
    pub config: Config,
    routes: RouteTable,
    /// By route index (configuration order).
    route_metrics: Vec<RouteMetrics>,
    unmatched_metrics: RouteMetrics,
    upstreams: Vec<Upstream>,
    /// By channel index (configuration order).
    signatures: Vec<Counter>,
    pub(crate) metrics: Arc<Metrics>,
    /// Shared by every worker: one rate limiter and one single-use store per process.
    pub(crate) token: Option<Arc<crate::token::TokenService>>,
}

impl Gateway {
    /// Builds the state of one worker: its own pooled upstream clients (their connections live
    /// on the worker's thread), the process-wide `metrics` and Token-mode `token` service.
    pub fn new(
        config: Config,
        metrics: Arc<Metrics>,
        token: Option<Arc<crate::token::TokenService>>,
    ) -> Result<Self, UpstreamError> {
        let routes = RouteTable::new(&config.routes);
        let route_metrics = config
            .routes
            .iter()
            .map(|r| metrics.route(&r.prefix))
            .collect();
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| Upstream::new(u, &metrics))
            .collect::<Result<_, _>>()?;
        let signatures = config
            .signing
            .iter()
            .flat_map(|s| &s.channels)
            .map(|c| metrics.signatures(&c.config_id))
            .collect();
        Ok(Self {
            unmatched_metrics: metrics.route("none"),
            routes,
            route_metrics,
            upstreams,
            signatures,
            metrics,
            token,
            config,
        })
    }

    /// Answers one request. Never fails: every error becomes a response.
    pub async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<Metered> {
        let started = Instant::now();
        let request_id = match req.headers().get(&X_REQUEST_ID) {
            Some(v) if headers::valid_request_id(v) => v.clone(),
            _ => HeaderValue::from_str(&format!("{:032x}", rand::random::<u128>()))
                .expect("hex is a valid header value"),
        };
        req.headers_mut().insert(&X_REQUEST_ID, request_id.clone());
        let rid = request_id.to_str().unwrap_or_default().to_owned();
        let route = self.routes.find(req.uri().path());
        let mut record = AccessRecord {
            request_id: rid.clone(),
            peer: conn.peer.ip(),
            method: req.method().clone(),
            route: route.map_or("none", |r| r.prefix.as_str()).to_owned(),
            path: req.uri().path().to_owned(),
            status: 0,
            upstream_status: None,
            started,
            metrics: route
                .map_or(&self.unmatched_metrics, |r| &self.route_metrics[r.index])
                .clone(),
        };
        let cors = cors::decide(&self.config.cors, req.headers());

        let result = if cors != Cors::Off && cors::is_preflight(req.method(), req.headers()) {
            let (status, h) = cors::preflight(&cors, req.headers(), self.config.cors.max_age);
            let mut resp = Response::new(crate::body::empty());
            *resp.status_mut() = status;
            *resp.headers_mut() = h;
            return finish(resp, &request_id, record);
        } else if let Some(local) = crate::endpoints::local_for(&self, req.uri().path()) {
            crate::endpoints::serve(&self, local, req, conn).await
        } else {
            match route {
                Some(route) => self.proxy(req, route, conn, &mut record).await,
                None => Err(ProxyError::NoRoute),
            }
        };
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => self.error_response(e, &rid, route),
        };
        cors::apply(&cors, resp.headers_mut());
        finish(resp, &request_id, record)
    }

    /// Counts a signature issued for channel `config_id`.
    pub(crate) fn count_signature(&self, config_id: &str) {
        let channels = self.config.signing.iter().flat_map(|s| &s.channels);
        if let Some(i) = channels.into_iter().position(|c| c.config_id == config_id) {
            self.signatures[i].inc();
        }
    }

    fn error_response(
        &self,
        e: ProxyError,
        rid: &str,
        route: Option<&Route>,
    ) -> Response<ProxyBody> {
        let status = e.status();
        if let (Some(kind), Some(route)) = (e.upstream_kind(), route) {
            let upstream = &self.upstreams[route.upstream];
            upstream.errors[kind].inc();
            tracing::warn!(request_id = rid, upstream = %upstream.name, error = %ErrorChain(&e), "upstream request failed");
        } else if let ProxyError::Signing(refusal) = &e {
            self.metrics.signing_refused(refusal.reason());
            tracing::info!(
                request_id = rid,
                reason = refusal.reason(),
                "signing refused"
            );
        } else {
            tracing::debug!(request_id = rid, error = %ErrorChain(&e), "request failed");
        }
        json_response(status, json_body(&e.to_string(), rid))
    }

    async fn proxy(
        &self,
        mut req: Request<Incoming>,
        route: &Route,
        conn: ConnInfo,
        record: &mut AccessRecord,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let upstream = &self.upstreams[route.upstream];
        let client_upgrade = (req.version() == Version::HTTP_11
            && req.headers().contains_key(header::UPGRADE))
        .then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let upstream_pq = route.upstream_path_and_query(pq);
        let upstream_path = upstream_pq.split('?').next().unwrap_or("/").to_owned();
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
        let client = headers::client_address(
            conn.peer.ip(),
            &self.config.forwarding.trusted_proxies,
            &parts.headers,
        );
        headers::set_forwarded(
            &mut parts.headers,
            &client,
            conn.scheme,
            client_host.as_ref(),
        );
        // Where the browser thinks the gateway is: the forwarded proto and host (a trusted
        // proxy's, or the gateway's own), for rewriting Location.
        let forwarded = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let public_origin = format!(
            "{}://{}",
            forwarded(&headers::X_FORWARDED_PROTO).unwrap_or(conn.scheme),
            forwarded(&headers::X_FORWARDED_HOST).unwrap_or(&self.config.server.hostnames[0])
        );
        let host = match (route.host, &client_host) {
            (HostMode::Client, Some(h)) => h.clone(),
            _ => upstream.authority.clone(),
        };
        parts.headers.insert(header::HOST, host);
        join_cookie_crumbs(&mut parts.headers);
        if let (Some(up), Some(_)) = (&upgrade, &client_upgrade) {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, up.clone());
        }
        parts.uri = uri;
        parts.version = Version::HTTP_11;

        let body = match &self.config.signing {
            Some(signing) if parts.method == Method::POST && upstream_path == signing.path => {
                let bytes = read_limited(
                    body,
                    &parts.headers,
                    signing.max_body,
                    self.config.server.header_read_timeout,
                )
                .await?;
                let signed = sign::sign_body(signing, &upstream_path, &bytes, SystemTime::now())
                    .map_err(ProxyError::Signing)?;
                self.count_signature(&signed.channel);
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(signed.body.len()));
                full(signed.body)
            }
            _ => body.boxed(),
        };

        let sent = upstream.client.request(Request::from_parts(parts, body));
        let mut resp = match tokio::time::timeout(upstream.response_timeout, sent).await {
            Err(_) => return Err(ProxyError::UpstreamTimeout),
            Ok(Err(e)) => return Err(ProxyError::from_client(e)),
            Ok(Ok(resp)) => resp,
        };
        record.upstream_status = Some(resp.status().as_u16());

        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ProxyError::UpgradeRefused);
            };
            crate::upgrade::tunnel(
                client_upgrade,
                hyper::upgrade::on(&mut resp),
                record.request_id.clone(),
            );
        }
        let (mut rparts, rbody) = resp.into_parts();
        let resp_upgrade = headers::remove_hop_by_hop(&mut rparts.headers);
        if switching {
            rparts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(up) = resp_upgrade {
                rparts.headers.insert(header::UPGRADE, up);
            }
        }
        if self.config.cookies.rewrite_domain {
            rewrite::set_cookies(&mut rparts.headers, &upstream.origin.host);
        }
        let public = PublicOrigin {
            origin: &public_origin,
            restore_prefix: route.strip_prefix.then_some(route.prefix.as_str()),
        };
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let rewritten = rparts
                .headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| rewrite::location(v, &upstream.origin, &public));
            if let Some(v) = rewritten.and_then(|v| HeaderValue::from_str(&v).ok()) {
                rparts.headers.insert(name, v);
            }
        }
        Ok(Response::from_parts(rparts, rbody.boxed()))
    }
}

/// Adds the request id and wraps the body for the access log.
fn finish(
    mut resp: Response<ProxyBody>,
    request_id: &HeaderValue,
    mut record: AccessRecord,
) -> Response<Metered> {
    resp.headers_mut().insert(&X_REQUEST_ID, request_id.clone());
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
