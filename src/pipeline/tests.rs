//! Table tests of the pure steps: the upstream request head and the rewritten response head.

use std::path::Path;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Version};

use super::{Target, rewrite_response, upstream_request};
use crate::config::Config;
use crate::connection::ConnInfo;
use crate::metrics::Metrics;
use crate::rewrite::PublicOrigin;
use crate::route::RouteTable;
use crate::upstream::{self, Upstream};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:8443"
hostnames = ["chat.example.com", "localhost"]

[tls]
cert = "gw.crt"
key = "gw.key"

[forwarding]
trusted_proxies = ["10.0.0.0/8"]

[upstreams.cec]
url = "https://cec.example.net:8443"

[[routes]]
prefix = "/service-cloud/"
upstream = "cec"

[[routes]]
prefix = "/demo/"
upstream = "cec"
strip_prefix = true
host = "client"
"#;

fn config() -> Config {
    Config::parse(CONFIG, Path::new("/etc/cec/config.toml"), &|_| None).expect("test config")
}

fn cec(config: &Config) -> Upstream {
    let u = &config.upstreams[0];
    Upstream::new(
        u,
        upstream::client_tls(u).expect("webpki roots"),
        &Metrics::new(),
    )
}

fn head(method: &str, uri: &str, headers: &[(&str, &str)], version: Version) -> Parts {
    let mut b = Request::builder().method(method).uri(uri).version(version);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).expect("test request").into_parts().0
}

fn conn(peer: &str) -> ConnInfo {
    ConnInfo {
        peer: peer.parse().expect("peer"),
        scheme: "https",
    }
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().expect("ascii"))
}

struct Case {
    name: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    peer: &'static str,
    upgrading: bool,
    /// Expected upstream URI, Host, X-Forwarded-For, X-Forwarded-Host.
    want_uri: &'static str,
    want_host: &'static str,
    want_xff: &'static str,
    want_xfh: Option<&'static str>,
    want: Target,
}

fn target(path: &str, origin: &str) -> Target {
    Target {
        path: path.to_owned(),
        public_origin: origin.to_owned(),
    }
}

#[test]
fn upstream_request_heads() {
    let config = config();
    let routes = RouteTable::new(&config.routes);
    let up = cec(&config);
    let cases = [
        Case {
            name: "plain GET: byte-exact path and query, upstream Host, peer as XFF",
            uri: "/service-cloud/a%2Fb/c?x=1&y",
            headers: &[("host", "chat.example.com"), ("x-forwarded-for", "6.6.6.6")],
            peer: "198.51.100.7:5000",
            upgrading: false,
            want_uri: "https://cec.example.net:8443/service-cloud/a%2Fb/c?x=1&y",
            want_host: "cec.example.net:8443",
            want_xff: "198.51.100.7",
            want_xfh: Some("chat.example.com"),
            want: target("/service-cloud/a%2Fb/c", "https://chat.example.com"),
        },
        Case {
            name: "strip_prefix and host=client",
            uri: "/demo/x?q",
            headers: &[("host", "www.example.com")],
            peer: "198.51.100.7:5000",
            upgrading: false,
            want_uri: "https://cec.example.net:8443/x?q",
            want_host: "www.example.com",
            want_xff: "198.51.100.7",
            want_xfh: Some("www.example.com"),
            want: target("/x", "https://www.example.com"),
        },
        Case {
            name: "trusted proxy: chain appended, its forwarded proto and host kept",
            uri: "/service-cloud/",
            headers: &[
                ("host", "gw.internal"),
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "chat.example.com"),
            ],
            peer: "10.1.2.3:5000",
            upgrading: false,
            want_uri: "https://cec.example.net:8443/service-cloud/",
            want_host: "cec.example.net:8443",
            want_xff: "203.0.113.9, 10.1.2.3",
            want_xfh: Some("chat.example.com"),
            want: target("/service-cloud/", "http://chat.example.com"),
        },
    ];
    for c in cases {
        let mut parts = head("GET", c.uri, c.headers, Version::HTTP_2);
        let route = routes.find(parts.uri.path()).expect("a route");
        let got = upstream_request(&mut parts, &config, route, &up, conn(c.peer), c.upgrading)
            .expect("request head");
        assert_eq!(got, c.want, "{}", c.name);
        assert_eq!(parts.uri.to_string(), c.want_uri, "{}", c.name);
        assert_eq!(get(&parts.headers, "host"), Some(c.want_host), "{}", c.name);
        assert_eq!(
            get(&parts.headers, "x-forwarded-for"),
            Some(c.want_xff),
            "{}",
            c.name
        );
        assert_eq!(
            get(&parts.headers, "x-forwarded-host"),
            c.want_xfh,
            "{}",
            c.name
        );
        assert_eq!(parts.version, Version::HTTP_11, "{}", c.name);
    }
}

#[test]
fn hop_by_hop_goes_and_cookie_crumbs_are_joined() {
    let config = config();
    let routes = RouteTable::new(&config.routes);
    let up = cec(&config);
    let mut parts = head(
        "GET",
        "/service-cloud/",
        &[
            ("connection", "x-private, keep-alive"),
            ("x-private", "1"),
            ("te", "trailers"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ],
        Version::HTTP_2,
    );
    let route = routes.find("/service-cloud/").expect("route");
    upstream_request(&mut parts, &config, route, &up, conn("192.0.2.1:1"), false).expect("head");
    for gone in ["connection", "x-private", "te"] {
        assert!(
            !parts.headers.contains_key(gone),
            "{gone} must not go upstream"
        );
    }
    assert_eq!(get(&parts.headers, "cookie"), Some("a=1; b=2"));
}

#[test]
fn upgrade_headers_go_upstream_only_when_the_client_upgrades() {
    let config = config();
    let routes = RouteTable::new(&config.routes);
    let up = cec(&config);
    let route = routes.find("/service-cloud/").expect("route");
    for upgrading in [true, false] {
        let hs = [("connection", "Upgrade"), ("upgrade", "websocket")];
        let mut parts = head("GET", "/service-cloud/ws", &hs, Version::HTTP_11);
        upstream_request(
            &mut parts,
            &config,
            route,
            &up,
            conn("192.0.2.1:1"),
            upgrading,
        )
        .expect("head");
        let want = upgrading.then_some("websocket");
        assert_eq!(
            get(&parts.headers, "upgrade"),
            want,
            "upgrading={upgrading}"
        );
        let want = upgrading.then_some("upgrade");
        assert_eq!(
            get(&parts.headers, "connection"),
            want,
            "upgrading={upgrading}"
        );
    }
}

#[test]
fn response_heads_point_at_the_gateway() {
    let config = config();
    let up = cec(&config);
    let public = PublicOrigin {
        origin: "https://chat.example.com",
        restore_prefix: Some("/demo/"),
    };
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.append(k, HeaderValue::from_static(v));
    };
    set(
        &mut h,
        header::SET_COOKIE,
        "ccmessaging-token=t; Domain=cec.example.net; Path=/; Secure",
    );
    set(
        &mut h,
        header::SET_COOKIE,
        "other=1; Domain=elsewhere.example; Path=/",
    );
    set(
        &mut h,
        header::LOCATION,
        "https://cec.example.net:8443/next?a=1",
    );
    set(&mut h, header::CONTENT_LOCATION, "/x");
    set(&mut h, header::CONNECTION, "close");
    rewrite_response(&mut h, &up, &public, true, false);
    let cookies: Vec<&str> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(
        cookies,
        [
            "ccmessaging-token=t; Path=/; Secure",
            "other=1; Domain=elsewhere.example; Path=/"
        ]
    );
    assert_eq!(
        get(&h, "location"),
        Some("https://chat.example.com/demo/next?a=1")
    );
    assert_eq!(get(&h, "content-location"), Some("/demo/x"));
    assert_eq!(get(&h, "connection"), None);

    let mut h = HeaderMap::new();
    set(&mut h, header::SET_COOKIE, "a=1; Domain=cec.example.net");
    set(&mut h, header::CONNECTION, "upgrade");
    set(&mut h, header::UPGRADE, "websocket");
    rewrite_response(&mut h, &up, &public, false, true);
    assert_eq!(
        get(&h, "set-cookie"),
        Some("a=1; Domain=cec.example.net"),
        "rewrite off"
    );
    assert_eq!(
        get(&h, "connection"),
        Some("upgrade"),
        "a 101 keeps its upgrade"
    );
    assert_eq!(get(&h, "upgrade"), Some("websocket"));
}

#[test]
fn a_new_request_id_is_32_random_lower_case_hex_digits() {
    let ids: Vec<String> = (0..64)
        .map(|_| {
            super::request_id(&HeaderMap::new())
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            u128::from_str_radix(id, 16).is_ok() && *id == id.to_lowercase(),
            "{id}"
        );
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    // Every digit position takes more than one value: no nibble is stuck.
    for i in 0..32 {
        let at: std::collections::HashSet<_> = ids.iter().map(|id| &id[i..=i]).collect();
        assert!(at.len() > 1, "digit {i} never changes");
    }
}
