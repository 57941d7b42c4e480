//! Tables for the probe's pure parts: line format, verdicts, failure classification.

use super::format::{line, millis};
use super::trust::parse_leaf;
use super::*;
use rustls_pki_types::UnixTime;

use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn leaf(not_after: OffsetDateTime) -> Leaf {
    Leaf {
        subject: "CN=chat.example.com".into(),
        issuer: "CN=Example CA, O=Example".into(),
        not_after,
    }
}

fn tls_probe(not_after: OffsetDateTime) -> Probe {
    Probe {
        upstream: "cec".into(),
        url: "https://cec.example".into(),
        addresses: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
        outcome: Ok(Reached {
            peer: addr("192.0.2.1:443"),
            connect: Duration::from_micros(800),
            tls: Some(TlsSession {
                version: "TLSv1.3",
                leaf: Some(leaf(not_after)),
                handshake: Duration::from_micros(12_345),
            }),
        }),
    }
}

fn failed(addresses: &[&str], f: Failure) -> Probe {
    Probe {
        upstream: "cec".into(),
        url: "https://cec.example".into(),
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        outcome: Err(f),
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[test]
fn lines_for_reached_upstreams() {
    let plain = Probe {
        upstream: "site".into(),
        url: "http://127.0.0.1:3000".into(),
        addresses: vec!["127.0.0.1".parse().unwrap()],
        outcome: Ok(Reached {
            peer: addr("127.0.0.1:3000"),
            connect: Duration::from_micros(250),
            tls: None,
        }),
    };
    let cases = [
        (
            tls_probe(datetime!(2031-06-30 12:00:00 UTC)),
            "  cec        ok       https://cec.example  addresses 192.0.2.1, 2001:db8::1  connected 192.0.2.1:443  TLSv1.3  subject CN=chat.example.com  issuer CN=Example CA, O=Example  not after 2031-06-30T12:00:00Z  handshake 12.3ms",
        ),
        (
            tls_probe(datetime!(2030-01-06 01:00:00 UTC)),
            "  cec        warning  https://cec.example  addresses 192.0.2.1, 2001:db8::1  connected 192.0.2.1:443  TLSv1.3  subject CN=chat.example.com  issuer CN=Example CA, O=Example  not after 2030-01-06T01:00:00Z  handshake 12.3ms  expires in 5 days",
        ),
        (
            plain,
            "  site       ok       http://127.0.0.1:3000  addresses 127.0.0.1  connected 127.0.0.1:3000  plain HTTP  connect 0.2ms",
        ),
    ];
    for (probe, want) in cases {
        assert_eq!(line(&probe, NOW), want);
    }
}

#[test]
fn lines_for_failures() {
    let a = "192.0.2.1:443";
    let cases = [
        (
            failed(
                &[],
                Failure::Dns {
                    host: "cec.example".into(),
                    source: io::Error::other("Name or service not known"),
                },
            ),
            "DNS: cannot resolve cec.example: Name or service not known",
        ),
        (
            failed(
                &[],
                Failure::NoAddress {
                    host: "cec.example".into(),
                },
            ),
            "DNS: cec.example has no address",
        ),
        (
            failed(
                &["192.0.2.1", "2001:db8::1"],
                Failure::Refused {
                    addrs: vec![addr(a), addr("[2001:db8::1]:443")],
                },
            ),
            "addresses 192.0.2.1, 2001:db8::1  refused: connection refused by 192.0.2.1:443, [2001:db8::1]:443",
        ),
        (
            failed(
                &[],
                Failure::Timeout {
                    stage: Stage::Dns,
                    after: Duration::from_secs(5),
                },
            ),
            "timeout: no DNS answer within 5s",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Timeout {
                    stage: Stage::Tcp,
                    after: Duration::from_millis(1500),
                },
            ),
            "addresses 192.0.2.1  timeout: no TCP connection within 1s 500ms",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Timeout {
                    stage: Stage::Tls,
                    after: Duration::from_secs(5),
                },
            ),
            "addresses 192.0.2.1  timeout: TLS handshake not finished within 5s",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Connect {
                    addr: addr(a),
                    source: io::Error::other("Network is unreachable"),
                },
            ),
            "addresses 192.0.2.1  connect: 192.0.2.1:443: Network is unreachable",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Certificate {
                    addr: addr(a),
                    problem: CertProblem::UnknownIssuer,
                    leaf: Some(leaf(datetime!(2031-01-01 00:00:00 UTC))),
                },
            ),
            "addresses 192.0.2.1  certificate: unknown issuer (192.0.2.1:443)  subject CN=chat.example.com  issuer CN=Example CA, O=Example  not after 2031-01-01T00:00:00Z",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Certificate {
                    addr: addr(a),
                    problem: CertProblem::NameMismatch {
                        expected: "cec.example".into(),
                        presented: vec!["other.example".into(), "192.0.2.9".into()],
                    },
                    leaf: None,
                },
            ),
            "addresses 192.0.2.1  certificate: name mismatch: cec.example is not among its names other.example, 192.0.2.9 (192.0.2.1:443)",
        ),
        (
            failed(
                &["192.0.2.1"],
                Failure::Tls {
                    addr: addr(a),
                    source: tls_error(rustls::Error::AlertReceived(
                        rustls::AlertDescription::HandshakeFailure,
                    )),
                },
            ),
            "addresses 192.0.2.1  TLS: received fatal alert: HandshakeFailure (192.0.2.1:443)",
        ),
    ];
    for (probe, want) in cases {
        assert_eq!(probe.verdict(NOW), Verdict::Failed);
        assert_eq!(
            line(&probe, NOW),
            format!("  cec        FAILED   https://cec.example  {want}")
        );
    }
}

#[test]
fn expiry_within_14_days_warns_and_expiry_later_does_not() {
    let cases = [
        (datetime!(2030-01-15 00:00:01 UTC), Verdict::Ok),
        (datetime!(2030-01-15 00:00:00 UTC), Verdict::Ok),
        (
            datetime!(2030-01-14 23:59:59 UTC),
            Verdict::ExpiresSoon { days: 13 },
        ),
        (
            datetime!(2030-01-01 12:00:00 UTC),
            Verdict::ExpiresSoon { days: 0 },
        ),
    ];
    for (not_after, want) in cases {
        assert_eq!(tls_probe(not_after).verdict(NOW), want, "{not_after}");
    }
}

#[test]
fn handshake_errors_are_classified() {
    let a = addr("192.0.2.1:443");
    let cert = |c: CertificateError| tls_error(rustls::Error::InvalidCertificate(c));
    let cases: Vec<(io::Error, &str)> = vec![
        (
            cert(CertificateError::UnknownIssuer),
            "certificate: unknown issuer",
        ),
        (cert(CertificateError::Expired), "certificate: expired"),
        (
            cert(CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(2_000_000_000)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_900_000_000)),
            }),
            "certificate: expired",
        ),
        (
            cert(CertificateError::NotValidYet),
            "certificate: not yet valid",
        ),
        (
            cert(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("cec.example").unwrap().to_owned(),
                presented: vec![
                    "DnsName(\"other.example\")".into(),
                    "IpAddress(192.0.2.9)".into(),
                ],
            }),
            "certificate: name mismatch: cec.example is not among its names other.example, 192.0.2.9 (",
        ),
        (
            cert(CertificateError::NotValidForName),
            "certificate: name mismatch: cec.example is not among the certificate's names (",
        ),
        (cert(CertificateError::BadSignature), "certificate: "),
        (
            tls_error(rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion,
            )),
            "TLS: received fatal alert: ProtocolVersion",
        ),
        (
            io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof"),
            "TLS: tls handshake eof",
        ),
    ];
    for (e, want) in cases {
        let got = classify_handshake(a, "cec.example", e, None).to_string();
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
    match classify_handshake(a, "cec.example", cert(CertificateError::BadSignature), None) {
        Failure::Certificate {
            problem: CertProblem::Other(CertificateError::BadSignature),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_errors_are_refused_only_when_every_address_refused() {
    let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
    let a = addr("127.0.0.1:1");
    let b = addr("[::1]:1");
    match classify_connect(vec![(a, refused()), (b, refused())]) {
        Failure::Refused { addrs } => assert_eq!(addrs, vec![a, b]),
        other => panic!("{other:?}"),
    }
    let unreachable = io::Error::from(io::ErrorKind::NetworkUnreachable);
    match classify_connect(vec![(a, refused()), (b, unreachable)]) {
        Failure::Connect { addr, source } => {
            assert_eq!(addr, b);
            assert_eq!(source.kind(), io::ErrorKind::NetworkUnreachable);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn report_counts_and_closes_with_a_summary() {
    let probes = [
        tls_probe(datetime!(2031-01-01 00:00:00 UTC)),
        tls_probe(datetime!(2030-01-03 00:00:00 UTC)),
        failed(
            &[],
            Failure::NoAddress {
                host: "cec.example".into(),
            },
        ),
    ];
    let (text, failures) = report(&probes, NOW.into());
    assert_eq!(failures, 1);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "probe (3 upstreams):");
    assert!(lines[1].contains(" ok "), "{text}");
    assert!(lines[2].contains(" warning "), "{text}");
    assert!(lines[3].contains(" FAILED "), "{text}");
    assert_eq!(lines[4], "probe: 1 ok, 1 warning, 1 failed");
}

#[test]
fn leaf_subject_issuer_and_not_after_come_from_the_certificate() {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Probe Test CA");
    let issuer = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap())
        .expect("a CA certificate");
    let mut params = rcgen::CertificateParams::new(vec!["chat.example.com".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "chat.example.com");
    params.not_after = datetime!(2031-02-03 04:05:06 UTC);
    let cert = params
        .signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer)
        .unwrap();
    assert_eq!(
        parse_leaf(cert.der()),
        Some(Leaf {
            subject: "CN=chat.example.com".into(),
            issuer: "CN=Probe Test CA".into(),
            not_after: datetime!(2031-02-03 04:05:06 UTC),
        })
    );
    assert_eq!(parse_leaf(b"not a certificate"), None);
}

#[test]
fn durations_print_as_milliseconds_with_one_decimal() {
    for (us, want) in [
        (0, "0.0ms"),
        (99, "0.0ms"),
        (1_250, "1.2ms"),
        (2_000_000, "2000.0ms"),
    ] {
        assert_eq!(millis(Duration::from_micros(us)), want);
    }
}
