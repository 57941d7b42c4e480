//! `ProxyError`: everything that can go wrong with one proxied request, and the one exhaustive
//! map from an error to a status and a short JSON body. Status by who failed: the client → 4xx,
//! the upstream → 502 (connect, TLS, protocol), 503 (every allowed connection to it busy) or
//! 504 (timeout), the gateway itself → 500.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::{BodyError, ProxyBody, full};
use crate::confine::{self, Refused};
use crate::fabric::NoToken;
use crate::route::CallerRefused;
use crate::sign::Refusal;

/// Why a proxied request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    #[error("no route for this path")]
    NoRoute,
    #[error("could not connect to the upstream")]
    UpstreamConnect(#[source] hyper_util::client::legacy::Error),
    #[error("TLS with the upstream failed")]
    UpstreamTls(#[source] hyper_util::client::legacy::Error),
    #[error("the upstream broke the HTTP protocol or closed the connection")]
    UpstreamProtocol(#[source] hyper_util::client::legacy::Error),
    #[error("the upstream did not accept the connection in time")]
    UpstreamConnectTimeout(#[source] hyper_util::client::legacy::Error),
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3): the answer is dropped
    /// with its connection, which is not reused.
    #[error("the upstream's response has both Content-Length and Transfer-Encoding")]
    UpstreamFraming,
    /// Every one of the worker's `max_connections` to the upstream stayed busy.
    #[error("the upstream is busy: no free connection in time")]
    UpstreamSaturated(#[source] hyper_util::client::legacy::Error),
    #[error("{0}")]
    ClientBody(#[source] BodyError),
    /// The client's body failed while it was streamed to the upstream (a broken chunked
    /// encoding, a client gone mid-body): the client's fault, not the upstream's.
    #[error("the request body could not be read")]
    ClientBodyStream(#[source] hyper_util::client::legacy::Error),
    #[error("{0}")]
    Signing(#[source] Refusal),
    #[error("the upstream refused the protocol upgrade")]
    UpgradeRefused,
    /// Refused before routing: not this gateway's host, a dot segment, a method it never
    /// forwards (`crate::confine`).
    #[error("{0}")]
    Confined(#[source] Refused),
    /// The route's `allowed_callers` or caller key refused the caller: nothing was forwarded.
    #[error("{0}")]
    Caller(#[source] CallerRefused),
    /// No API Fabric token for the upstream (its token request failed, or is backing off).
    #[error("upstream {upstream:?}: {source}")]
    Credential {
        upstream: String,
        #[source]
        source: NoToken,
    },
}

impl ProxyError {
    /// The status for this error. Exhaustive on purpose: a new variant must choose.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::UpstreamConnect(_)
            | ProxyError::UpstreamTls(_)
            | ProxyError::UpstreamProtocol(_)
            | ProxyError::UpstreamFraming => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamConnectTimeout(_) | ProxyError::UpstreamTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ProxyError::UpstreamSaturated(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ClientBody(e) => e.status(),
            ProxyError::ClientBodyStream(_) => StatusCode::BAD_REQUEST,
            // Too large for the signing cap: the signing refusal's status and metric.
            ProxyError::Signing(r) => r.status(),
            ProxyError::UpgradeRefused => StatusCode::BAD_GATEWAY,
            ProxyError::Confined(r) => match r {
                Refused::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
                Refused::MissingHost
                | Refused::DuplicateHost
                | Refused::MalformedHost
                | Refused::DotSegment => StatusCode::BAD_REQUEST,
                Refused::Trace => StatusCode::METHOD_NOT_ALLOWED,
                Refused::UnknownMethod => StatusCode::NOT_IMPLEMENTED,
            },
            ProxyError::Caller(CallerRefused::Address) => StatusCode::FORBIDDEN,
            ProxyError::Caller(CallerRefused::Key) => StatusCode::UNAUTHORIZED,
            ProxyError::Credential { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// The JSON answer for this error, with the `Allow` header a 405 needs.
    pub(crate) fn response(&self, request_id: &str) -> Response<ProxyBody> {
        let mut resp = json_response(self.status(), json_body(&self.to_string(), request_id));
        if let ProxyError::Confined(Refused::Trace) = self {
            resp.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static(confine::ALLOWED_METHODS),
            );
        }
        if let ProxyError::Caller(CallerRefused::Key) = self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }

    /// The kind of upstream failure, for the upstream error counter; `None` when the
    /// upstream is not at fault.
    pub(crate) fn upstream_kind(&self) -> Option<UpstreamErrorKind> {
        match self {
            ProxyError::UpstreamConnect(_) => Some(UpstreamErrorKind::Connect),
            ProxyError::UpstreamTls(_) => Some(UpstreamErrorKind::Tls),
            ProxyError::UpstreamConnectTimeout(_) | ProxyError::UpstreamTimeout => {
                Some(UpstreamErrorKind::Timeout)
            }
            ProxyError::UpstreamProtocol(_)
            | ProxyError::UpstreamFraming
            | ProxyError::UpgradeRefused => Some(UpstreamErrorKind::Protocol),
            ProxyError::UpstreamSaturated(_) => Some(UpstreamErrorKind::Saturated),
            ProxyError::NoRoute
            | ProxyError::ClientBody(_)
            | ProxyError::ClientBodyStream(_)
            | ProxyError::Signing(_)
            | ProxyError::Confined(_)
            | ProxyError::Caller(_)
            // Counted by `upstream_token_requests_total` when the token request was made.
            | ProxyError::Credential { .. } => None,
        }
    }

    /// A body the signer could not read: too large is the signing refusal (413, counted as
    /// such), the rest the client's body error.
    pub(crate) fn signing_body(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => ProxyError::Signing(Refusal::TooLarge),
            e => ProxyError::ClientBody(e),
        }
    }

    /// Classifies a failure of the pooled client by walking its sources.
    pub(crate) fn from_client(e: hyper_util::client::legacy::Error) -> Self {
        if client_body_failed(&e) {
            return ProxyError::ClientBodyStream(e);
        }
        let (mut timed_out, mut tls, mut saturated) = (false, false, false);
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        while let Some(s) = source {
            tls |= s.is::<rustls::Error>();
            saturated |= s.is::<Saturated>();
            // `io::Error::source` skips the error it wraps; descend into it instead.
            source = match s.downcast_ref::<std::io::Error>() {
                Some(io) => {
                    timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
                    io.get_ref()
                        .map(|inner| inner as &(dyn std::error::Error + 'static))
                }
                None => s.source(),
            };
        }
        if saturated {
            ProxyError::UpstreamSaturated(e)
        } else if timed_out && e.is_connect() {
            ProxyError::UpstreamConnectTimeout(e)
        } else if tls {
            ProxyError::UpstreamTls(e)
        } else if e.is_connect() {
            ProxyError::UpstreamConnect(e)
        } else {
            ProxyError::UpstreamProtocol(e)
        }
    }
}

/// Whether the pooled client failed because the request body it was sending failed: hyper's
/// "user body" error, caused by a `hyper::Error`, which on the proxy path only the client's
/// `Incoming` body yields.
fn client_body_failed(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_user()
            && std::error::Error::source(h).is_some_and(|c| c.is::<hyper::Error>())
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Every connection slot stayed taken for the whole wait.
#[derive(Debug, thiserror::Error)]
#[error("all {max} connections to the upstream stayed busy for {waited:?}")]
pub(crate) struct Saturated {
    pub(crate) max: usize,
    pub(crate) waited: Duration,
}

/// Kinds of upstream failure: the `kind` label of `cec_gateway_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum UpstreamErrorKind {
    Connect,
    Tls,
    Timeout,
    Protocol,
    /// No free connection of `max_connections` in time.
    Saturated,
}

impl UpstreamErrorKind {
    /// Every kind, in declaration order (`kind as usize` is its position).
    pub(crate) const ALL: [UpstreamErrorKind; 5] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Tls,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Protocol,
        UpstreamErrorKind::Saturated,
    ];

    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Tls => "tls",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Protocol => "protocol",
            UpstreamErrorKind::Saturated => "saturated",
        }
    }
}

/// `{"error": "...", "request_id": "..."}`.
pub(crate) fn json_body(message: &str, request_id: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "error": message, "request_id": request_id }).to_string())
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Displays an error with its sources, `a: b: c`.
pub(crate) struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamErrorKind;

    #[test]
    fn every_kind_is_listed_at_its_position() {
        for (i, kind) in UpstreamErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "{}", kind.as_str());
        }
    }
}
