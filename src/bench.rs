//! Entry points for the microbenchmarks (`benches/`, its own crate): the per-request work of
//! the proxy path on the real functions, set up from the shipped `config.toml` the way the
//! gateway is. Compiled only with the `bench` feature.
//! - [`Bench::signer`]: the auth-v2 signature alone (`sign::sign`);
//! - [`Bench::inject`]: the body rewrite alone (parse, drop `secretKey`, add the field);
//! - [`Bench::sign_body`]: both, as the signing path runs them (`sign::sign_body`);
//! - [`Bench::request_head`] / [`Bench::response_head`]: the header rewrite of one request
//!   and its response (`pipeline::upstream_request`, `pipeline::rewrite_response`).

use std::path::Path;
use std::time::SystemTime;

use http::request::Parts;
use http::{HeaderMap, Request};

use crate::config::Config;
use crate::connection::ConnInfo;
use crate::metrics::Metrics;
use crate::pipeline::{rewrite_response, upstream_request};
use crate::rewrite::PublicOrigin;
use crate::route::RouteTable;
use crate::sign::{self, ClientBody};
use crate::upstream::{self, Upstream};

/// The body `bench/` POSTs (the harness's `wrk/body.json`).
pub const BODY: &[u8] = br#"{"thirdUserName":"Guest 42","thirdUserId":"bench-user-0001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945","locale":"en","timestamp":1724056200000,"mapService":"tencent"}"#;

/// The operator's example configuration, as shipped.
const CONFIG: &str = include_str!("../config.toml");

/// What one request's work needs, built once.
pub struct Bench {
    config: Config,
    routes: RouteTable,
    upstream: Upstream,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    pub fn new() -> Self {
        // Every secret the example names: letters and digits, long enough for any of them.
        let env = |_: &str| Some("BenchSecret0123456789abcdefghijklmnopqrs".to_owned());
        let config = Config::parse(CONFIG, Path::new("/etc/cec-gateway/config.toml"), &env)
            .expect("the bench configuration");
        let u = &config.upstreams[0];
        let tls = upstream::client_tls(u).expect("webpki roots");
        let upstream = Upstream::new(u, tls, &Metrics::new());
        let routes = RouteTable::new(&config.routes);
        Self {
            config,
            routes,
            upstream,
        }
    }

    fn signing(&self) -> &crate::config::SigningConfig {
        self.config.signing.as_ref().expect("signing")
    }

    /// The fields of [`BODY`] that are signed.
    pub fn fields(&self) -> sign::Fields<'static> {
        sign::Fields {
            third_user_name: "Guest 42",
            third_user_id: "bench-user-0001",
            tenant_space_id: "202007159031",
            channel_config_id: "817854979183314945",
        }
    }

    /// The `thirdPartAuthorization` of `fields`.
    pub fn signer(&self, fields: &sign::Fields<'_>) -> String {
        let channel = &self.signing().channels[0];
        let ts = sign::timestamp(SystemTime::UNIX_EPOCH);
        sign::sign("POST", &self.signing().path, fields, &channel.secret, &ts).authorization
    }

    /// The body rewrite with a given `authorization`: parse, then inject.
    pub fn inject(&self, body: &[u8], authorization: &str) -> Vec<u8> {
        ClientBody::parse(body)
            .expect("a signable body")
            .inject(authorization)
    }

    /// The signing path's whole rewrite of `body`.
    pub fn sign_body(&self, body: &[u8]) -> Vec<u8> {
        let path = &self.signing().path;
        sign::sign_body(self.signing(), path, body, SystemTime::now())
            .expect("signed")
            .body
    }

    /// A browser's GET head as hyper parses it, to hand to [`Bench::request_head`].
    pub fn browser_get(&self) -> Parts {
        let req = Request::get("/service-cloud/webclient/chat_client/js/thirdPartyClient.js")
            .header("host", "localhost:8443")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
            .header("accept", "*/*")
            .header("accept-encoding", "gzip, deflate, br")
            .header("accept-language", "en-US,en;q=0.9")
            .header("cookie", "ccmessaging-token=abc; other=1")
            .header("connection", "keep-alive")
            .body(())
            .expect("request");
        req.into_parts().0
    }

    /// The client's head made the upstream's, in place.
    pub fn request_head(&self, parts: &mut Parts) {
        let path = parts.uri.path().to_owned();
        let route = self.routes.find(&path).expect("a route");
        let conn = ConnInfo {
            peer: "203.0.113.7:50123".parse().expect("peer"),
            scheme: "https",
        };
        upstream_request(parts, &self.config, route, &self.upstream, conn, false).expect("head");
    }

    /// A CEC answer's head as hyper parses it, to hand to [`Bench::response_head`].
    pub fn cec_response(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let pairs = [
            ("content-type", "application/javascript;charset=UTF-8"),
            ("content-length", "8192"),
            (
                "set-cookie",
                "ccmessaging-token=t0k3n; Domain=servicestage.besclouds.com; Path=/; Secure; HttpOnly",
            ),
            (
                "location",
                "https://servicestage.besclouds.com/service-cloud/next?a=1",
            ),
            ("connection", "keep-alive"),
            ("server", "CEC"),
        ];
        for (k, v) in pairs {
            h.append(k, v.parse().expect("header value"));
        }
        h
    }

    /// The upstream's response head made the browser's, in place.
    pub fn response_head(&self, h: &mut HeaderMap) {
        let public = PublicOrigin {
            origin: "https://localhost:8443",
            restore_prefix: None,
        };
        rewrite_response(h, &self.upstream, &public, true, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each entry point does the work it is timed for (`cargo test --features bench --lib`).
    #[test]
    fn the_benched_work_is_the_real_work() {
        let b = Bench::new();
        let authorization = b.signer(&b.fields());
        assert!(
            authorization.starts_with("auth-v2/817854979183314945/"),
            "{authorization}"
        );
        let injected = String::from_utf8(b.inject(BODY, &authorization)).unwrap();
        assert!(injected.contains(&format!("\"thirdPartAuthorization\":\"{authorization}\"")));
        let signed = String::from_utf8(b.sign_body(BODY)).unwrap();
        assert!(signed.contains("\"thirdPartAuthorization\":\"auth-v2/"));
        let mut parts = b.browser_get();
        b.request_head(&mut parts);
        assert_eq!(parts.headers["x-forwarded-for"], "203.0.113.7");
        assert_eq!(parts.headers["host"], "servicestage.besclouds.com");
        assert!(parts.headers.get("connection").is_none());
        let mut h = b.cec_response();
        b.response_head(&mut h);
        let cookie = h["set-cookie"].to_str().unwrap();
        assert!(!cookie.contains("Domain="), "{cookie}");
        assert_eq!(
            h["location"],
            "https://localhost:8443/service-cloud/next?a=1"
        );
    }
}
