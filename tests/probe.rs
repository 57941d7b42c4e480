//! `cec-gateway check --probe` as a process against real listeners on 127.0.0.1: a good TLS
//! upstream, one whose CA is not configured, a closed port, plus the certificate and timeout
//! cases (name mismatch, expired, expiring soon, a handshake that never finishes).

use crate::support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::*;
use time::OffsetDateTime;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_cec-gateway");

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The probe line of upstream `name`.
    fn line(&self, name: &str) -> &str {
        let prefix = format!("  {name:<10} ");
        let mut lines = self
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("probe ("));
        lines
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no probe line for {name}:\n{}", self.stdout))
    }
}

/// Runs `check --probe` on `[server]`, `[tls]` and the given upstream tables.
async fn check_probe(dir: &Path, upstreams: &str) -> Run {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[tls]\ncert = \"gw.crt\"\nkey = \"gw.key\"\n{upstreams}"
    );
    let cfg = write(dir, "probe.toml", &text);
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["check", "--probe", "--config"])
            .arg(&cfg)
            .output(),
    )
    .await
    .expect("check --probe finishes")
    .expect("the binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn upstream(name: &str, url: &str, extra: &str) -> String {
    format!("[upstreams.{name}]\nurl = \"{url}\"\nconnect_timeout = \"2s\"\n{extra}\n")
}

/// `not after 2026-01-02T03:04:05Z` somewhere in the line.
fn has_not_after_date(line: &str) -> bool {
    line.split("not after ").nth(1).is_some_and(|rest| {
        let d = rest.split_whitespace().next().unwrap_or("");
        d.len() == 20 && d.as_bytes()[4] == b'-' && d.as_bytes()[10] == b'T' && d.ends_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_tls_upstream_passes_with_version_subject_and_not_after() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let dir = TempDir::new("probe-good");
    write(&dir.0, "ca.pem", ca.cert_pem());
    let run = check_probe(&dir.0, &upstream("cec", &up.url(), "ca = \"ca.pem\"")).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let line = run.line("cec");
    let want = format!(
        "  cec        ok       {}  addresses 127.0.0.1  connected {}  TLSv1.3  subject ",
        up.url(),
        up.addr
    );
    assert!(line.starts_with(&want), "{line}\nshould start with\n{want}");
    assert!(
        line.contains("  issuer CN=cec-gateway demo CA (per run, untrusted)  "),
        "{line}"
    );
    assert!(has_not_after_date(line), "{line}");
    assert!(
        line.contains("  handshake ") && line.ends_with("ms"),
        "{line}"
    );
    assert!(
        run.stdout.ends_with("probe: 1 ok, 0 warning, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_issuer_and_a_closed_port_fail_with_exit_1() {
    let ca = test_ca();
    let good = MockUpstream::ok(&ca).await;
    let untrusted = MockUpstream::ok(&ca).await;
    let closed = closed_port().await;
    let dir = TempDir::new("probe-fail");
    write(&dir.0, "ca.pem", ca.cert_pem());
    let closed_url = format!("https://127.0.0.1:{}", closed.port());
    let tables = upstream("good", &good.url(), "ca = \"ca.pem\"")
        + &upstream("untrusted", &untrusted.url(), "")
        + &upstream("closed", &closed_url, "")
        + &upstream("plain", &format!("http://127.0.0.1:{}", closed.port()), "");
    let run = check_probe(&dir.0, &tables).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.line("good").contains(" ok "), "{}", run.stdout);
    let line = run.line("untrusted");
    let want = format!(
        "  untrusted  FAILED   {}  addresses 127.0.0.1  certificate: unknown issuer ({})  subject ",
        untrusted.url(),
        untrusted.addr
    );
    assert!(line.starts_with(&want), "{line}\nshould start with\n{want}");
    assert!(
        line.contains("  issuer CN=cec-gateway demo CA (per run, untrusted)  "),
        "{line}"
    );
    assert_eq!(
        run.line("closed"),
        format!(
            "  closed     FAILED   {closed_url}  addresses 127.0.0.1  refused: connection refused by {closed}"
        )
    );
    assert!(
        run.line("plain")
            .ends_with(&format!("refused: connection refused by {closed}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("probe: 1 ok, 0 warning, 3 failed\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim_end(),
        "cec-gateway: probe: 3 of 4 upstreams failed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_http_upstream_is_only_connected_to() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = TempDir::new("probe-plain");
    let url = format!("http://127.0.0.1:{}", addr.port());
    let run = check_probe(&dir.0, &upstream("site", &url, "")).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let want = format!(
        "  site       ok       {url}  addresses 127.0.0.1  connected {addr}  plain HTTP  connect "
    );
    assert!(run.line("site").starts_with(&want), "{}", run.stdout);
}

/// A CA of this test's own, for leaf certificates with chosen names and validity.
struct Pki {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "probe test CA");
        let issuer =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// A TLS server on 127.0.0.1 presenting a leaf for `names`, valid until `not_after`; it
    /// completes handshakes and closes.
    async fn server(&self, names: &[&str], not_after: OffsetDateTime) -> SocketAddr {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        params.not_before = not_after - time::Duration::days(90);
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                // A rejected certificate ends the handshake with an alert: nothing to do.
                tokio::spawn(async move { drop(acceptor.accept(tcp).await) });
            }
        });
        addr
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_problems_are_named_and_near_expiry_only_warns() {
    let pki = Pki::new();
    let now = OffsetDateTime::now_utc();
    let mismatch = pki
        .server(&["other.example"], now + time::Duration::days(60))
        .await;
    let expired = pki
        .server(&["localhost"], now - time::Duration::days(2))
        .await;
    let soon = pki
        .server(&["localhost"], now + time::Duration::days(5))
        .await;
    let dir = TempDir::new("probe-certs");
    write(&dir.0, "ca.pem", pki.issuer.pem().as_str());
    let url = |a: SocketAddr| format!("https://localhost:{}", a.port());
    let ca = "ca = \"ca.pem\"";

    let run = check_probe(&dir.0, &upstream("soon", &url(soon), ca)).await;
    assert_eq!(run.code, Some(0), "a warning is no failure: {}", run.stdout);
    let line = run.line("soon");
    assert!(line.starts_with("  soon       warning  "), "{line}");
    assert!(line.ends_with("  expires in 4 days"), "{line}");
    assert!(
        run.stdout.ends_with("probe: 0 ok, 1 warning, 0 failed\n"),
        "{}",
        run.stdout
    );

    let tables = upstream("mismatch", &url(mismatch), ca) + &upstream("expired", &url(expired), ca);
    let run = check_probe(&dir.0, &tables).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let line = run.line("mismatch");
    assert!(
        line.contains(&format!("  certificate: name mismatch: localhost is not among its names other.example ({mismatch})  subject CN=other.example  issuer CN=probe test CA  not after ")),
        "{line}"
    );
    let line = run.line("expired");
    assert!(
        line.contains(&format!(
            "  certificate: expired ({expired})  subject CN=localhost  issuer CN=probe test CA  not after "
        )),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handshake_that_never_finishes_times_out_within_connect_timeout() {
    // Accepts TCP and never answers the ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            open.push(tcp);
        }
    });
    let dir = TempDir::new("probe-timeout");
    let url = format!("https://127.0.0.1:{}", addr.port());
    let tables = format!("[upstreams.slow]\nurl = \"{url}\"\nconnect_timeout = \"300ms\"\n");
    let started = std::time::Instant::now();
    let run = check_probe(&dir.0, &tables).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.line("slow"),
        format!(
            "  slow       FAILED   {url}  addresses 127.0.0.1  timeout: TLS handshake not finished within 300ms"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    held.abort();
}
