//! PROXY header reading: every form the spec allows, every way a header goes wrong, and the
//! one property the listener depends on: the bytes after the header stay in the stream.

use std::error::Error as _;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const DEADLINE: Duration = Duration::from_secs(5);

/// The start of a TLS ClientHello: what follows the header on the HTTPS listener.
const HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tcp(source: &str, destination: &str) -> ProxiedAddrs {
    ProxiedAddrs::Tcp {
        source: addr(source),
        destination: addr(destination),
    }
}

/// A v2 header: signature, version 2 with `command`, `family_protocol`, length, `payload`.
fn v2(command: u8, family_protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = v2::PROTOCOL_PREFIX.to_vec();
    h.push(0x20 | command);
    h.push(family_protocol);
    h.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// 192.0.2.10:56324 -> 203.0.113.5:443 as v2 address bytes.
const V4_ADDRS: &[u8] = &[192, 0, 2, 10, 203, 0, 113, 5, 0xdc, 0x04, 0x01, 0xbb];

/// [2001:db8::1]:4000 -> [2001:db8::2]:443 as v2 address bytes.
fn v6_addrs() -> Vec<u8> {
    let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap().octets();
    let ports = [4000u16.to_be_bytes(), 443u16.to_be_bytes()].concat();
    [&ip("2001:db8::1")[..], &ip("2001:db8::2"), &ports].concat()
}

/// Reads a header from `header` + HELLO held in a slice; returns the result and what is left.
async fn read_slice(header: &[u8]) -> (Result<ProxiedAddrs, ProxyHeaderError>, Vec<u8>) {
    let input = [header, HELLO].concat();
    let mut rest: &[u8] = &input;
    let result = read_header(&mut rest, DEADLINE).await;
    (result, rest.to_vec())
}

#[tokio::test]
async fn valid_headers_give_the_client_and_leave_the_hello_unread() {
    let mut tlvs = [V4_ADDRS, &[0x04, 0x00, 0x03, 0, 0, 0]].concat(); // PP2_TYPE_NOOP
    tlvs.extend_from_slice(&[0xea, 0x00, 0x0d, 0x01]); // PP2_TYPE_AWS, VPC endpoint id
    tlvs.extend_from_slice(b"vpce-0a1b2c3");
    let worst_v1 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                    ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    let cases: Vec<(&str, Vec<u8>, ProxiedAddrs)> = vec![
        (
            "v1 TCP4",
            b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 443\r\n".to_vec(),
            tcp("192.0.2.10:56324", "203.0.113.5:443"),
        ),
        (
            "v1 TCP6",
            b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n".to_vec(),
            tcp("[2001:db8::1]:4000", "[2001:db8::2]:443"),
        ),
        (
            "v1 UNKNOWN, shortest",
            b"PROXY UNKNOWN\r\n".to_vec(),
            ProxiedAddrs::Local,
        ),
        (
            "v1 UNKNOWN with addresses",
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".to_vec(),
            ProxiedAddrs::Local,
        ),
        (
            "v1 longest",
            worst_v1.as_bytes().to_vec(),
            tcp(
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
            ),
        ),
        (
            "v2 TCP4",
            v2(1, 0x11, V4_ADDRS),
            tcp("192.0.2.10:56324", "203.0.113.5:443"),
        ),
        (
            "v2 TCP6",
            v2(1, 0x21, &v6_addrs()),
            tcp("[2001:db8::1]:4000", "[2001:db8::2]:443"),
        ),
        (
            "v2 TCP4 with TLVs",
            v2(1, 0x11, &tlvs),
            tcp("192.0.2.10:56324", "203.0.113.5:443"),
        ),
        ("v2 LOCAL", v2(0, 0x00, &[]), ProxiedAddrs::Local),
        (
            "v2 LOCAL with addresses",
            v2(0, 0x11, V4_ADDRS),
            ProxiedAddrs::Local,
        ),
        ("v2 PROXY, AF_UNSPEC", v2(1, 0x00, &[]), ProxiedAddrs::Local),
        (
            "v2 PROXY, protocol unspecified",
            v2(1, 0x10, V4_ADDRS),
            ProxiedAddrs::Local,
        ),
    ];
    for (name, header, want) in cases {
        let (got, rest) = read_slice(&header).await;
        assert_eq!(
            got.unwrap_or_else(|e| panic!("{name}: {e}")),
            want,
            "{name}"
        );
        assert_eq!(
            rest, HELLO,
            "{name}: the bytes after the header must stay unread"
        );
    }
}

#[tokio::test]
async fn over_a_stream_the_next_read_starts_at_the_hello() {
    let (mut client, mut server) = tokio::io::duplex(1024);
    let sent = [
        b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 443\r\n".as_slice(),
        HELLO,
    ]
    .concat();
    client.write_all(&sent).await.unwrap();
    drop(client);
    let got = read_header(&mut server, DEADLINE).await.unwrap();
    assert_eq!(got.client_or(addr("10.0.0.1:1")), addr("192.0.2.10:56324"));
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, HELLO);
}

#[test]
fn local_leaves_the_peer_standing() {
    let peer = addr("10.0.0.1:4711");
    assert_eq!(ProxiedAddrs::Local.source(), None);
    assert_eq!(ProxiedAddrs::Local.client_or(peer), peer);
    let t = tcp("192.0.2.10:1", "203.0.113.5:443");
    assert_eq!(t.source(), Some(addr("192.0.2.10:1")));
    assert_eq!(t.client_or(peer), addr("192.0.2.10:1"));
}

fn is_v1(e: &ProxyHeaderError) -> bool {
    matches!(e, ProxyHeaderError::Malformed(Malformed::V1(_)))
}

#[tokio::test]
async fn malformed_v1_headers_are_refused() {
    let cases: &[&[u8]] = &[
        b"PROXY TCP4 192.0.2.10 203.0.113.5 56324\r\n",
        b"PROXY TCP4 192.0.2.300 203.0.113.5 56324 443\r\n",
        b"PROXY TCP4 2001:db8::1 203.0.113.5 56324 443\r\n",
        b"PROXY TCP5 192.0.2.10 203.0.113.5 56324 443\r\n",
        b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 65536\r\n",
        b"PROXY TCP4 192.0.2.10 203.0.113.5 056324 443\r\n",
        b"PROXY TCP4  192.0.2.10 203.0.113.5 56324 443\r\n",
        b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 443\n",
        b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 443\rX\n",
        b"PROXY X\r\n",
        b"PROXY \xff\xfe 1 2 3 4\r\n",
    ];
    for header in cases {
        let (got, _) = read_slice(header).await;
        let e = got.expect_err(&String::from_utf8_lossy(header));
        assert!(is_v1(&e), "{:?}: {e:?}", String::from_utf8_lossy(header));
        let parser = e.source().and_then(|m| m.source());
        assert!(
            parser.is_some(),
            "the parser's reason is kept as the source"
        );
    }
}

#[tokio::test]
async fn malformed_v2_headers_are_refused() {
    let v2e = |e: ProxyHeaderError| match e {
        ProxyHeaderError::Malformed(Malformed::V2(p)) => p,
        other => panic!("not a v2 parse error: {other:?}"),
    };
    let mut version_1 = v2(1, 0x11, V4_ADDRS);
    version_1[12] = 0x11;
    let cases: Vec<(&str, Vec<u8>, v2::ParseError)> = vec![
        ("version 1", version_1, v2::ParseError::Version(0x10)),
        (
            "command 0xF",
            v2(0xf, 0x11, V4_ADDRS),
            v2::ParseError::Command(0xf),
        ),
        (
            "family 4",
            v2(1, 0x41, V4_ADDRS),
            v2::ParseError::AddressFamily(0x40),
        ),
        (
            "protocol 3",
            v2(1, 0x13, V4_ADDRS),
            v2::ParseError::Protocol(3),
        ),
        (
            "IPv4 in 4 bytes",
            v2(1, 0x11, &V4_ADDRS[..4]),
            v2::ParseError::InvalidAddresses(4, 12),
        ),
        (
            "TLV longer than the header",
            v2(1, 0x11, &[V4_ADDRS, &[0x04, 0x00, 0x0a, 0, 0]].concat()),
            v2::ParseError::InvalidTLV(0x04, 10),
        ),
        (
            "two stray bytes after the addresses",
            v2(1, 0x11, &[V4_ADDRS, &[0, 0]].concat()),
            v2::ParseError::Leftovers(2),
        ),
    ];
    for (name, header, want) in cases {
        let (got, _) = read_slice(&header).await;
        assert_eq!(v2e(got.expect_err(name)), want, "{name}");
    }
}

#[tokio::test]
async fn a_bad_fixed_part_fails_before_its_declared_length_is_read() {
    // Version 1 with a declared length of 65535 and nothing after the fixed part: the error
    // is the version, not a wait for 65535 bytes that never come.
    let mut fixed = v2(1, 0x11, &[]);
    fixed[12] = 0x11;
    fixed[14..16].copy_from_slice(&[0xff, 0xff]);
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(&fixed).await.unwrap();
    let e = read_header(&mut server, DEADLINE).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProxyHeaderError::Malformed(Malformed::V2(v2::ParseError::Version(0x10)))
        ),
        "{e:?}"
    );
    drop(client);
}

#[tokio::test]
async fn headers_past_the_caps_are_too_long() {
    let mut long_v1 = b"PROXY TCP4 ".to_vec();
    long_v1.resize(300, b'1');
    let mut rest: &[u8] = &long_v1;
    let e = read_header(&mut rest, DEADLINE).await.unwrap_err();
    assert!(
        matches!(e, ProxyHeaderError::TooLong { limit: 107 }),
        "{e:?}"
    );
    assert_eq!(rest.len(), 300 - V1_MAX_LEN, "reads stop at the cap");

    let mut big_v2 = v2(1, 0x11, &[]);
    big_v2[14..16].copy_from_slice(&u16::try_from(V2_MAX_LEN).unwrap().to_be_bytes());
    let (got, rest) = read_slice(&big_v2).await;
    assert!(
        matches!(got, Err(ProxyHeaderError::TooLong { limit: V2_MAX_LEN })),
        "{got:?}"
    );
    assert_eq!(rest, HELLO, "nothing of the declared length is read");
}

#[tokio::test]
async fn unsupported_v2_transports_are_named() {
    let mut unix = vec![0u8; 216];
    unix[..5].copy_from_slice(b"/a.sk");
    let cases = [
        (v2(1, 0x12, V4_ADDRS), "UDP (datagram)"),
        (v2(1, 0x31, &unix), "AF_UNIX"),
    ];
    for (header, want) in cases {
        let (got, rest) = read_slice(&header).await;
        assert!(
            matches!(got, Err(ProxyHeaderError::Unsupported(w)) if w == want),
            "{want}: {got:?}"
        );
        assert_eq!(rest, HELLO);
    }
}

#[tokio::test]
async fn not_a_proxy_header_is_malformed_at_once() {
    let cases: &[&[u8]] = &[
        HELLO,
        b"GET / HTTP/1.1\r\nHost: chat.example.com\r\n\r\n",
        b"POST /service-cloud/ HTTP/1.1\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"proxy TCP4 192.0.2.10 203.0.113.5 56324 443\r\n",
        b"\r\n\r\n\0\r\nQUID\n\x21\x11\x00\x00",
    ];
    for input in cases {
        let mut rest: &[u8] = input;
        let e = read_header(&mut rest, DEADLINE).await.unwrap_err();
        assert!(
            matches!(e, ProxyHeaderError::Malformed(Malformed::NoSignature)),
            "{input:?}: {e:?}"
        );
    }
    // A client that sends "GET /" and waits gets its answer without the deadline passing.
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(b"GET /").await.unwrap();
    let start = Instant::now();
    let e = read_header(&mut server, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProxyHeaderError::Malformed(Malformed::NoSignature)),
        "{e:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(client);
}

#[tokio::test]
async fn a_stream_that_ends_inside_the_header_is_closed() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"P".to_vec(),
        b"PROXY TCP4 192.0.2.10".to_vec(),
        v2(1, 0x11, V4_ADDRS)[..10].to_vec(),
        v2(1, 0x11, V4_ADDRS)[..20].to_vec(),
    ];
    for input in cases {
        let mut rest: &[u8] = &input;
        let e = read_header(&mut rest, DEADLINE).await.unwrap_err();
        assert!(matches!(e, ProxyHeaderError::Closed), "{input:?}: {e:?}");
    }
}

#[tokio::test]
async fn the_deadline_covers_the_whole_header() {
    // A sender that stops mid-header.
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(b"PROXY TCP4 192.0.2.10").await.unwrap();
    let deadline = Duration::from_millis(100);
    let e = read_header(&mut server, deadline).await.unwrap_err();
    assert!(
        matches!(e, ProxyHeaderError::Timeout(d) if d == deadline),
        "{e:?}"
    );
    drop(client);

    // A sender that trickles one byte every 20ms: every read is quick, the header is not.
    let (mut client, mut server) = tokio::io::duplex(64);
    let trickle = tokio::spawn(async move {
        for b in b"PROXY TCP4 192.0.2.10 203.0.113.5 56324 443\r\n" {
            if client.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let e = read_header(&mut server, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, ProxyHeaderError::Timeout(_)), "{e:?}");
    drop(server);
    trickle.await.unwrap();
}

#[test]
fn errors_read_well_and_keep_their_source() {
    let e = ProxyHeaderError::Malformed(Malformed::V2(v2::ParseError::Version(0x10)));
    assert_eq!(
        e.to_string(),
        "malformed PROXY header: v2: Expected version 10 to be equal to 2."
    );
    assert!(e.source().and_then(|m| m.source()).is_some());
    assert_eq!(
        ProxyHeaderError::TooLong { limit: 107 }.to_string(),
        "PROXY header longer than 107 bytes"
    );
    assert_eq!(
        ProxyHeaderError::Timeout(Duration::from_secs(10)).to_string(),
        "no complete PROXY header within 10s"
    );
}
