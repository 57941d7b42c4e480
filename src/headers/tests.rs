use std::net::IpAddr;

use http::header::{HeaderMap, HeaderValue};
use ipnet::IpNet;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn forwarded_for_table() {
    let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"]);
    // (peer, client X-Forwarded-For headers, expected XFF, expected X-Real-IP)
    let cases: &[(&str, &[&str], &str, &str)] = &[
        // An untrusted browser cannot spoof: its XFF is replaced.
        ("203.0.113.7", &["1.2.3.4"], "203.0.113.7", "203.0.113.7"),
        ("203.0.113.7", &[], "203.0.113.7", "203.0.113.7"),
        // A trusted proxy's chain is appended to.
        (
            "10.0.0.2",
            &["198.51.100.9"],
            "198.51.100.9, 10.0.0.2",
            "198.51.100.9",
        ),
        // Spoofed left part: the rightmost untrusted address is the client.
        (
            "10.0.0.2",
            &["6.6.6.6, 198.51.100.9"],
            "6.6.6.6, 198.51.100.9, 10.0.0.2",
            "198.51.100.9",
        ),
        // Several trusted hops are skipped.
        (
            "127.0.0.1",
            &["198.51.100.9, 10.1.1.1"],
            "198.51.100.9, 10.1.1.1, 127.0.0.1",
            "198.51.100.9",
        ),
        // Two XFF header lines are one list.
        (
            "10.0.0.2",
            &["6.6.6.6", "198.51.100.9"],
            "6.6.6.6, 198.51.100.9, 10.0.0.2",
            "198.51.100.9",
        ),
        // All trusted: the leftmost trusted address.
        ("10.0.0.2", &["10.9.9.9"], "10.9.9.9, 10.0.0.2", "10.9.9.9"),
        // Trusted peer without XFF: the peer is the client.
        ("10.0.0.2", &[], "10.0.0.2", "10.0.0.2"),
        // Garbage stops the walk at the last trusted hop.
        (
            "10.0.0.2",
            &["198.51.100.9, garbage"],
            "198.51.100.9, garbage, 10.0.0.2",
            "10.0.0.2",
        ),
        ("10.0.0.2", &["unknown"], "unknown, 10.0.0.2", "10.0.0.2"),
        // Ports and IPv6 forms.
        (
            "10.0.0.2",
            &["198.51.100.9:5555"],
            "198.51.100.9:5555, 10.0.0.2",
            "198.51.100.9",
        ),
        (
            "::1",
            &["[2001:db8::1]:443"],
            "[2001:db8::1]:443, ::1",
            "2001:db8::1",
        ),
        ("::1", &["2001:db8::7"], "2001:db8::7, ::1", "2001:db8::7"),
        ("2001:db8::5", &["1.1.1.1"], "2001:db8::5", "2001:db8::5"),
        // An IPv4-mapped peer (dual-stack socket) is the IPv4 address.
        (
            "::ffff:10.0.0.2",
            &["198.51.100.9"],
            "198.51.100.9, 10.0.0.2",
            "198.51.100.9",
        ),
        (
            "::ffff:203.0.113.7",
            &["1.2.3.4"],
            "203.0.113.7",
            "203.0.113.7",
        ),
        // Empty elements are dropped.
        (
            "10.0.0.2",
            &[" , 198.51.100.9 ,"],
            "198.51.100.9, 10.0.0.2",
            "198.51.100.9",
        ),
    ];
    for (peer, xff, want_xff, want_real) in cases {
        let pairs: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        let got = client_address(ip(peer), &trusted, &headers(&pairs));
        assert_eq!(got.forwarded_for, *want_xff, "peer {peer} xff {xff:?}");
        assert_eq!(got.real_ip, ip(want_real), "peer {peer} xff {xff:?}");
    }
}

#[test]
fn proto_and_host_kept_only_from_trusted_peers() {
    let trusted = nets(&["10.0.0.0/8"]);
    let incoming = [
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "evil.example"),
    ];
    let host = HeaderValue::from_static("chat.example.com");
    let names = ["chat.example.com".to_owned(), "www.example.com".to_owned()];

    let mut h = headers(&incoming);
    let c = client_address(ip("203.0.113.7"), &trusted, &h);
    set_forwarded(&mut h, &c, "https", Some(&host), &names);
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "chat.example.com");
    assert_eq!(h["x-real-ip"], "203.0.113.7");

    // A trusted peer's proto is kept, its host only when it is one of the hostnames.
    let mut h = headers(&incoming);
    let c = client_address(ip("10.0.0.2"), &trusted, &h);
    set_forwarded(&mut h, &c, "https", Some(&host), &names);
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "chat.example.com");

    // (X-Forwarded-Host values from a trusted peer, what goes upstream)
    let cases: &[(&[&str], &str)] = &[
        (&["www.example.com"], "www.example.com"),
        (&["WWW.example.com:8443"], "WWW.example.com:8443"),
        (&["evil.example"], "chat.example.com"),
        (&["www.example.com, evil.example"], "chat.example.com"),
        (&["www.example.com", "evil.example"], "chat.example.com"),
        (&["www.example.com", "www.example.com"], "chat.example.com"),
        (&[""], "chat.example.com"),
    ];
    for (sent, want) in cases {
        let pairs: Vec<(&str, &str)> = sent.iter().map(|v| ("x-forwarded-host", *v)).collect();
        let mut h = headers(&pairs);
        let c = client_address(ip("10.0.0.2"), &trusted, &h);
        set_forwarded(&mut h, &c, "https", Some(&host), &names);
        let got: Vec<_> = h.get_all("x-forwarded-host").iter().collect();
        assert_eq!(got, [*want], "{sent:?}");
    }

    // A trusted peer's invalid proto is replaced.
    let mut h = headers(&[("x-forwarded-proto", "gopher")]);
    let c = client_address(ip("10.0.0.2"), &trusted, &h);
    set_forwarded(&mut h, &c, "https", Some(&host), &names);
    assert_eq!(h["x-forwarded-proto"], "https");
}

/// Found by the `forwarded_headers` fuzz target: with two X-Forwarded-Proto lines from a
/// trusted peer, the first was checked and both went upstream, the second unchecked.
#[test]
fn two_forwarded_protos_are_replaced_by_one() {
    let trusted = nets(&["10.0.0.0/8"]);
    let host = HeaderValue::from_static("chat.example.com");
    let names = ["chat.example.com".to_owned()];
    let mut h = headers(&[
        ("x-forwarded-proto", "http"),
        ("x-forwarded-proto", "gopher"),
    ]);
    let c = client_address(ip("10.0.0.2"), &trusted, &h);
    set_forwarded(&mut h, &c, "https", Some(&host), &names);
    let got: Vec<_> = h.get_all("x-forwarded-proto").iter().collect();
    assert_eq!(got, ["https"]);
}

#[test]
fn hop_by_hop_removal() {
    let mut h = headers(&[
        ("connection", "keep-alive, X-Secret-Hop, close"),
        ("connection", "x-second"),
        ("keep-alive", "timeout=5"),
        ("x-secret-hop", "1"),
        ("x-second", "2"),
        ("te", "trailers"),
        ("trailer", "x-t"),
        ("transfer-encoding", "chunked"),
        ("proxy-authorization", "Basic abc"),
        ("proxy-connection", "keep-alive"),
        ("upgrade", "websocket"),
        ("accept", "*/*"),
        ("cookie", "a=b"),
    ]);
    let upgrade = remove_hop_by_hop(&mut h);
    assert_eq!(upgrade, None, "no `Connection: upgrade`, so no upgrade");
    let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    left.sort();
    assert_eq!(left, vec!["accept", "cookie"]);
}

#[test]
fn upgrade_is_reported() {
    let mut h = headers(&[
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "k"),
    ]);
    let upgrade = remove_hop_by_hop(&mut h);
    assert_eq!(upgrade, Some(HeaderValue::from_static("websocket")));
    assert!(!h.contains_key("upgrade"));
    assert!(h.contains_key("sec-websocket-key"));
}

#[test]
fn xff_elements() {
    let cases = [
        ("1.2.3.4", Some("1.2.3.4")),
        (" 1.2.3.4 ", Some("1.2.3.4")),
        ("1.2.3.4:80", Some("1.2.3.4")),
        ("\"[::1]:80\"", Some("::1")),
        ("[2001:db8::1]", Some("2001:db8::1")),
        ("2001:db8::1", Some("2001:db8::1")),
        ("unknown", None),
        ("_hidden", None),
        ("1.2.3.4:port", None),
        ("300.1.1.1", None),
        ("", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_xff_element(s), want.map(ip), "{s:?}");
    }
}

#[test]
fn request_ids() {
    assert!(valid_request_id(&HeaderValue::from_static("abc-123")));
    assert!(!valid_request_id(&HeaderValue::from_static("")));
    assert!(!valid_request_id(&HeaderValue::from_static("has space")));
    assert!(!valid_request_id(
        &HeaderValue::from_str(&"x".repeat(129)).unwrap()
    ));
}
