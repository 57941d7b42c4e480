//! The forwarded headers of a request going upstream: the fuzzer's bytes are the request's
//! header lines, with `peer: <ip>` (the TCP peer; default a trusted proxy) and `proto: http`.
//!
//! Checked, as in `pipeline::upstream_request`: no hop-by-hop header is left, nor any header
//! that `Connection` named; one X-Forwarded-For, the peer alone from an untrusted peer, else the
//! elements received then the peer; one X-Real-IP, an IP of that list found by walking it from
//! the right past trusted proxies; one X-Forwarded-Proto, `http` or `https`, the listener's from
//! an untrusted peer; X-Forwarded-Host at most once and, for a request whose Host the gateway
//! serves, a served host.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Uri};
use ipnet::IpNet;

use super::Lines;
use crate::headers::{
    X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REAL_IP, client_address, is_trusted,
    parse_xff_element, remove_hop_by_hop, set_forwarded,
};

/// `forwarding.trusted_proxies` of the fuzzed gateway.
const TRUSTED: [&str; 4] = ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"];
/// `server.hostnames` of the fuzzed gateway (as `config` normalises them).
pub(super) const HOSTNAMES: [&str; 3] = ["chat.example.com", "127.0.0.1", "::1"];
/// The peer when the input names none: a trusted balancer.
const DEFAULT_PEER: &str = "10.0.0.2";

/// Computes the upstream request's forwarding headers and checks them (see the module's doc).
pub fn forwarded_headers(data: &[u8]) {
    let lines = Lines::parse(data, &["peer", "proto"]);
    let peer: IpAddr = lines
        .setting("peer")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| DEFAULT_PEER.parse().expect("a valid default peer"));
    let proto = match lines.setting("proto") {
        Some("http") => "http",
        _ => "https",
    };
    let trusted: Vec<IpNet> = TRUSTED.iter().map(|n| n.parse().expect("valid")).collect();
    let hostnames: Vec<String> = HOSTNAMES.iter().map(|h| h.to_string()).collect();
    let mut h = lines.headers;
    let received = h.clone();
    let host = h.get(header::HOST).cloned();
    let host_served = crate::confine::check_host(&Uri::from_static("/"), &h, &hostnames).is_ok();

    remove_hop_by_hop(&mut h);
    let client = client_address(peer, &trusted, &h);
    let after_hop = h.clone();
    set_forwarded(&mut h, &client, proto, host.as_ref(), &hostnames);

    check_hop_by_hop(&received, &h);
    let peer_trusted = is_trusted(peer, &trusted);
    let xff = one(&h, &X_FORWARDED_FOR);
    let chain: Vec<&str> = xff.split(", ").collect();
    let peer_text = peer.to_canonical().to_string();
    if peer_trusted {
        let mut sent = elements(&after_hop);
        sent.push(&peer_text);
        assert_eq!(chain, sent, "the received chain, then the peer");
    } else {
        assert_eq!(
            xff, peer_text,
            "an untrusted peer's chain is replaced by the peer"
        );
    }
    check_real_ip(&chain, one(&h, &X_REAL_IP), &trusted);

    let proto_sent = one(&h, &X_FORWARDED_PROTO);
    assert!(
        proto_sent == "http" || proto_sent == "https",
        "{proto_sent:?}"
    );
    if !peer_trusted {
        assert_eq!(proto_sent, proto, "an untrusted peer's proto is replaced");
    }
    let hosts: Vec<&HeaderValue> = h.get_all(&X_FORWARDED_HOST).iter().collect();
    assert!(hosts.len() <= 1, "one X-Forwarded-Host at most: {hosts:?}");
    if !peer_trusted {
        assert_eq!(
            hosts.first().copied(),
            host.as_ref(),
            "the request's own host"
        );
    }
    if let (true, Some(sent)) = (host_served, hosts.first()) {
        assert!(
            crate::confine::host_name(sent.as_bytes())
                .is_some_and(|n| hostnames.iter().any(|h| *h == n)),
            "X-Forwarded-Host {sent:?} is one of server.hostnames"
        );
    }
}

/// Neither a hop-by-hop header nor one that `Connection` named is left in `after`.
fn check_hop_by_hop(received: &HeaderMap, after: &HeaderMap) {
    let named = received
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok());
    let fixed = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
    .map(HeaderName::from_static);
    for name in named.chain(fixed) {
        let forwarded = matches!(name.as_str(), "x-forwarded-for" | "x-real-ip")
            || name == X_FORWARDED_PROTO
            || name == X_FORWARDED_HOST;
        assert!(
            forwarded || !after.contains_key(&name),
            "hop-by-hop {name} forwarded"
        );
    }
}

/// The single value of `name`, as text.
fn one<'h>(h: &'h HeaderMap, name: &HeaderName) -> &'h str {
    let mut all = h.get_all(name).iter();
    let v = all.next().unwrap_or_else(|| panic!("{name} is set"));
    assert!(all.next().is_none(), "{name} is set once");
    v.to_str().unwrap_or_else(|_| panic!("{name} is text"))
}

/// The X-Forwarded-For elements as received: every line that is text, split at commas,
/// trimmed, empty elements dropped.
fn elements(h: &HeaderMap) -> Vec<&str> {
    h.get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// X-Real-IP is an address of `chain` at some position `k`: every element right of `k` is a
/// trusted proxy's address, and `k` is the chain's start, or untrusted, or stopped at an
/// element that is no address.
fn check_real_ip(chain: &[&str], real: &str, trusted: &[IpNet]) {
    let real: IpAddr = real.parse().expect("X-Real-IP is an IP address");
    let parsed: Vec<Option<IpAddr>> = chain.iter().map(|e| parse_xff_element(e)).collect();
    let right_trusted = parsed
        .iter()
        .rev()
        .take_while(|ip| ip.is_some_and(|ip| is_trusted(ip, trusted)))
        .count();
    let n = parsed.len();
    let found = (0..n).rev().any(|k| {
        parsed[k] == Some(real)
            && k + right_trusted + 1 >= n
            && (!is_trusted(real, trusted) || k == 0 || parsed[k - 1].is_none())
    });
    assert!(
        found,
        "X-Real-IP {real} is where the walk of {chain:?} stops"
    );
}
