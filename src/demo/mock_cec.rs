//! The embedded mock CEC: an HTTPS server that answers the paths a web-chat page uses, as far as
//! the gateway can tell the way the real CEC does. It verifies `thirdPartAuthorization` with its
//! own verifier ([`super::verify`]), refuses a browser-sent `secretKey`, answers a small but
//! visible chat widget, and sets `ccmessaging-token` with `Domain=` the host it was addressed
//! as, which the gateway must rewrite for the browser to keep it. The echo endpoint checks that
//! cookie, so a browser test proves the cookie landed where the browser sends it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use rand::Rng;
use rustls::ServerConfig;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::assets;
use super::mock_fabric::MockFabric;
use super::serve::{Body, serve};
use super::verify::{self, Channels, SignedFields, Verifier};

/// Authorization mode: POST `thirdUserData`, answered with the widget script.
pub const CLIENT_JS_PATH: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
/// Token mode's loader.
pub const TOKEN_LOADER_PATH: &str = "/service-cloud/webclient/chat_client/js/thirdPartyClient.js";
/// The mock's stand-in for the chat itself: echoes the text it is sent.
pub const ECHO_PATH: &str = "/service-cloud/webclient/chat/echo";
const COBROWSE_PATH: &str = "/service-cloud/resource.root/cobrowse/sdk/cobrowse.js";
const COBROWSE_COMMON_PATH: &str = "/service-cloud/webclient/chat_client/js/cobrowseCommon.js";
/// The session cookie the CEC sets with the widget.
const TOKEN_COOKIE: &str = "ccmessaging-token";
/// The CEC's answer to a bad signature (the vendor sample shows it in an alert).
const UNAUTHORIZED_BODY: &str = "unauthorized,validate failed";

/// Largest `newThirdPartyClient.js` body the mock reads.
const MAX_CLIENT_BODY: usize = 64 << 10;
/// Largest chat message the mock echoes.
const MAX_ECHO_BODY: usize = 4 << 10;
/// How many issued tokens the mock remembers (oldest forgotten first).
const MAX_TOKENS: usize = 1024;

const JAVASCRIPT: &str = "application/javascript;charset=UTF-8";
const TEXT: &str = "text/plain;charset=UTF-8";
const JSON: &str = "application/json;charset=UTF-8";

/// The mock CEC's state: the verifier (with the channel secrets) and the tokens it issued.
pub struct MockCec {
    verifier: Verifier,
    tokens: Mutex<VecDeque<String>>,
    /// Answers the API Fabric paths (`/apigovernance/`, `/apiaccess/`) when set.
    fabric: Option<MockFabric>,
}

impl MockCec {
    /// A mock that knows `channels` (config_id → secret).
    pub fn new(channels: Channels) -> Self {
        Self {
            verifier: Verifier::new(channels),
            tokens: Mutex::new(VecDeque::new()),
            fabric: None,
        }
    }

    /// The same mock, also answering the API Fabric paths with `fabric`.
    pub fn with_fabric(mut self, fabric: MockFabric) -> Self {
        self.fabric = Some(fabric);
        self
    }

    /// The verifier this mock checks `thirdPartAuthorization` with.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Serves this mock over TLS on `listener` until `stop` flips.
    pub(crate) async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Arc<ServerConfig>,
        stop: watch::Receiver<bool>,
    ) {
        let handler = move |req| {
            let mock = Arc::clone(&self);
            async move { mock.handle(req).await }
        };
        serve(listener, Some(tls), handler, stop).await;
    }

    /// Answers one request. Reads at most `MAX_CLIENT_BODY` (64 KiB) of any body.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        let get_or_post = parts.method == Method::GET || parts.method == Method::POST;
        match path {
            TOKEN_LOADER_PATH if get_or_post => {
                respond(StatusCode::OK, JAVASCRIPT, assets::TOKEN_LOADER_JS)
            }
            COBROWSE_PATH if parts.method == Method::GET => {
                respond(StatusCode::OK, JAVASCRIPT, assets::COBROWSE_JS)
            }
            COBROWSE_COMMON_PATH if parts.method == Method::GET => {
                respond(StatusCode::OK, JAVASCRIPT, assets::COBROWSE_COMMON_JS)
            }
            CLIENT_JS_PATH if parts.method == Method::POST => {
                match read(body, MAX_CLIENT_BODY).await {
                    Ok(bytes) => self.client_js(path, &parts.uri, &parts.headers, &bytes),
                    Err(status) => respond(status, TEXT, "cannot read the body"),
                }
            }
            ECHO_PATH if parts.method == Method::POST => match read(body, MAX_ECHO_BODY).await {
                Ok(bytes) => self.echo(&parts.headers, &bytes),
                Err(status) => respond(status, TEXT, "cannot read the body"),
            },
            _ => match &self.fabric {
                Some(f)
                    if path.starts_with("/apigovernance/") || path.starts_with("/apiaccess/") =>
                {
                    f.handle(Request::from_parts(parts, body)).await
                }
                _ => respond(StatusCode::NOT_FOUND, TEXT, "not found"),
            },
        }
    }

    /// `newThirdPartyClient.js`: verify, then answer the widget and a fresh session cookie.
    fn client_js(&self, path: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        let data = match serde_json::from_slice::<Value>(body) {
            Ok(data) if data.is_object() => data,
            _ => {
                return respond(
                    StatusCode::BAD_REQUEST,
                    TEXT,
                    "bad request: the body is not a JSON object",
                );
            }
        };
        if data.get("secretKey").is_some() {
            tracing::info!("mock CEC: refused a body that carries secretKey");
            return respond(
                StatusCode::BAD_REQUEST,
                TEXT,
                "bad request: secretKey must not be sent from the browser",
            );
        }
        let Ok(fields) = SignedFields::from_json(&data) else {
            return respond(
                StatusCode::BAD_REQUEST,
                TEXT,
                "bad request: thirdUserName, thirdUserId, tenantSpaceId and channelConfigId must be strings",
            );
        };
        let verdict = verify::authorization_field(&data).and_then(|auth| {
            self.verifier
                .verify("POST", path, &fields, auth, OffsetDateTime::now_utc())
        });
        if let Err(error) = verdict {
            tracing::info!(%error, "mock CEC: thirdPartAuthorization refused");
            return respond(StatusCode::UNAUTHORIZED, TEXT, UNAUTHORIZED_BODY);
        }

        let token = self.issue_token();
        let mut cookie = format!("{TOKEN_COOKIE}={token}");
        if let Some(host) = addressed_host(uri, headers) {
            cookie.push_str("; Domain=");
            cookie.push_str(&host);
        }
        cookie.push_str("; Path=/; Secure; HttpOnly; SameSite=None");
        let Ok(cookie) = HeaderValue::from_str(&cookie) else {
            // Host and token are checked to be plain ASCII above; this is a mock bug.
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "mock CEC: bad cookie",
            );
        };
        let script = widget_js(fields.third_user_name);
        let mut response = respond(StatusCode::OK, JAVASCRIPT, script);
        response.headers_mut().insert(SET_COOKIE, cookie);
        response
    }

    /// The chat stand-in: `{"reply":"echo: <text>"}` for a holder of an issued token.
    fn echo(&self, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        let presented = cookie_values(headers, TOKEN_COOKIE);
        if !presented.iter().any(|t| self.knows_token(t)) {
            return respond(
                StatusCode::UNAUTHORIZED,
                TEXT,
                "unauthorized: no valid ccmessaging-token",
            );
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return respond(
                StatusCode::BAD_REQUEST,
                TEXT,
                "bad request: the message is not UTF-8",
            );
        };
        let reply = serde_json::json!({ "reply": format!("echo: {text}") });
        respond(StatusCode::OK, JSON, reply.to_string())
    }

    fn issue_token(&self) -> String {
        let token = hex::encode(rand::rng().random::<[u8; 16]>());
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.pop_front();
        }
        tokens.push_back(token.clone());
        token
    }

    /// Whether `token` is one this mock issued (and still remembers).
    pub fn knows_token(&self, token: &str) -> bool {
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tokens.iter().any(|t| t == token)
    }
}

/// The widget script the mock answers a verified request of `third_user_name` with.
pub fn widget_js(third_user_name: &str) -> String {
    assets::fill(assets::WIDGET_JS, &[("THIRD_USER_NAME", third_user_name)])
}

/// Reads a body up to `limit` bytes: 413 past it, 400 when it breaks off.
async fn read<B>(body: B, limit: usize) -> Result<Bytes, StatusCode>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        }
        Err(_) => Err(StatusCode::BAD_REQUEST),
    }
}

/// The host this request was addressed to (HTTP/2 `:authority`, else `Host:`), without port,
/// if it is a plain DNS name or IP literal that can go into a cookie's `Domain`.
pub fn addressed_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let from_header = || {
        let value = headers.get(HOST)?.to_str().ok()?;
        value.parse::<http::uri::Authority>().ok()
    };
    let authority = uri.authority().cloned().or_else(from_header)?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    plain.then(|| host.to_ascii_lowercase())
}

/// Every value of cookie `name` in the request's `Cookie` headers.
fn cookie_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .collect()
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
#[path = "mock_cec_tests.rs"]
mod tests;
