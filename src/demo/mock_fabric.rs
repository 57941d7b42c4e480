//! The embedded mock CEC API Fabric: `POST /apigovernance/api/oauth/tokenByAkSk` issues
//! AccessTokens for one app key and secret, and `GET /apiaccess/CC-Mangemant/v1/queryAgentInfo`
//! (seed 001) answers agents to a call that carries that app key and a live token; any other
//! `/apiaccess/` path answers a call with valid credentials with what it received (method and
//! body length). It counts token requests, may revoke every token it issued, and answers a
//! token lifetime of its own choosing whatever `X-Token-Expire` asks, as the real one may.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;

use super::serve::Body;

/// The machine-to-machine authentication interface.
pub const TOKEN_PATH: &str = "/apigovernance/api/oauth/tokenByAkSk";
/// The agent-information API (seed 001; the vendor's spelling).
pub const AGENTS_PATH: &str = "/apiaccess/CC-Mangemant/v1/queryAgentInfo";
/// Largest body the mock reads.
const MAX_BODY: usize = 1 << 20;
/// A token lifetime the real interface allows at most.
const MAX_TTL: u64 = 3600;

/// The mock's state: the credentials it accepts and the tokens it issued.
pub struct MockFabric {
    app_key: String,
    app_secret: String,
    /// `Some`: every token lives this long, whatever was asked.
    lifetime: Option<Duration>,
    tokens: Mutex<HashMap<String, Instant>>,
    token_requests: AtomicUsize,
}

impl MockFabric {
    pub fn new(app_key: &str, app_secret: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
            lifetime: None,
            tokens: Mutex::default(),
            token_requests: AtomicUsize::new(0),
        }
    }

    /// Every token lives `lifetime`, whatever `X-Token-Expire` asks.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// `tokenByAkSk` requests received so far (good or bad).
    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Forgets every token issued: the next API call with one gets 401.
    pub fn revoke_all(&self) {
        self.tokens.lock().expect("mock state").clear();
    }

    /// Whether `token` was issued by this mock and is still live.
    pub fn is_live(&self, token: &str) -> bool {
        let tokens = self.tokens.lock().expect("mock state");
        tokens
            .get(token)
            .is_some_and(|&until| Instant::now() < until)
    }

    /// Answers one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body"}));
        };
        let body = body.to_bytes();
        match (parts.method.clone(), parts.uri.path()) {
            (Method::POST, TOKEN_PATH) => self.token(&parts.headers, &body),
            (_, path) if path.starts_with("/apiaccess/") => {
                if !self.authorized(&parts.headers) {
                    return answer(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
                }
                match (&parts.method, path) {
                    (&Method::GET, AGENTS_PATH) => answer(StatusCode::OK, agents()),
                    (method, _) => answer(
                        StatusCode::OK,
                        json!({"method": method.as_str(), "received": body.len()}),
                    ),
                }
            }
            _ => answer(StatusCode::NOT_FOUND, json!({"error": "not found"})),
        }
    }

    fn token(&self, h: &HeaderMap, body: &Bytes) -> Response<Body> {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let asked: Option<u64> = h
            .get("x-token-expire")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let creds: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let json_type = h
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !json_type || creds["app_key"] != self.app_key.as_str() {
            return answer(StatusCode::BAD_REQUEST, json!({"error": "bad app_key"}));
        }
        if creds["app_secret"] != self.app_secret.as_str() {
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"error": "wrong app_secret"}),
            );
        }
        let lifetime = match (self.lifetime, asked) {
            (Some(l), _) => l,
            (None, Some(s)) if (1..=MAX_TTL).contains(&s) => Duration::from_secs(s),
            (None, _) => Duration::from_secs(600),
        };
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let until = Instant::now() + lifetime;
        self.tokens
            .lock()
            .expect("mock state")
            .insert(token.clone(), until);
        answer(
            StatusCode::OK,
            json!({
                "AccessToken": token,
                "ApplyType": "Bearer",
                "CreateTime": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
                "Expires": lifetime.as_secs().max(1).to_string(),
                "Scope": "default",
                "AppKey": self.app_key,
                "UserID": "Anonymous",
            }),
        )
    }

    fn authorized(&self, h: &HeaderMap) -> bool {
        let app_key = h.get("x-app-key").map(|v| v.as_bytes());
        let token = h
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        app_key == Some(self.app_key.as_bytes()) && token.is_some_and(|t| self.is_live(t))
    }
}

/// The seed's example answer.
fn agents() -> serde_json::Value {
    json!({
        "sipServiceIp": "10.100.10.10",
        "sipServicePort": 1000,
        "agents": [
            {"workNo": 1001, "accountCode": "11", "sipAccount": "1001", "sipPwd": "cti-1234"},
            {"workNo": 1002, "accountCode": "12", "sipAccount": "1002", "sipPwd": "cti-5678"}
        ]
    })
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}
