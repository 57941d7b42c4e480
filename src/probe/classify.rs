//! Turning connect and handshake errors into [`Failure`]s: refused, another connect error, a
//! certificate problem, or another TLS error.

use std::io;
use std::net::SocketAddr;

use rustls::CertificateError;

use super::{CertProblem, Failure, Leaf};

/// All refused → [`Failure::Refused`]; otherwise the first other error.
pub(super) fn classify_connect(errors: Vec<(SocketAddr, io::Error)>) -> Failure {
    if errors
        .iter()
        .all(|(_, e)| e.kind() == io::ErrorKind::ConnectionRefused)
    {
        return Failure::Refused {
            addrs: errors.into_iter().map(|(a, _)| a).collect(),
        };
    }
    let (addr, source) = errors
        .into_iter()
        .find(|(_, e)| e.kind() != io::ErrorKind::ConnectionRefused)
        .expect("not all errors are refusals, so one is something else");
    Failure::Connect { addr, source }
}

/// A failed handshake with `host`: a certificate problem when rustls rejected the certificate,
/// else a TLS error.
pub(super) fn classify_handshake(
    addr: SocketAddr,
    host: &str,
    e: io::Error,
    leaf: Option<Leaf>,
) -> Failure {
    let cert = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => c.clone(),
        _ => return Failure::Tls { addr, source: e },
    };
    let problem = match cert {
        CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertProblem::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertProblem::NotYetValid
        }
        CertificateError::NotValidForName => CertProblem::NameMismatch {
            expected: host.to_owned(),
            presented: Vec::new(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => CertProblem::NameMismatch {
            expected: host.to_owned(),
            presented: presented.iter().map(|n| tidy_name(n)).collect(),
        },
        other => CertProblem::Other(other),
    };
    Failure::Certificate {
        addr,
        problem,
        leaf,
    }
}

/// webpki's `DnsName("a.example")` / `IpAddress(192.0.2.1)` as `a.example` / `192.0.2.1`.
fn tidy_name(n: &str) -> String {
    n.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            n.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(n)
        .to_owned()
}
