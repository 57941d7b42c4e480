//! TLS for the public listener: loading the PEM pair, generating a self-signed one for
//! `server.hostnames` on first start (rcgen; key file mode 0600), and the rustls server
//! configuration (ALPN `h2` and `http/1.1`, session resumption by cache and tickets).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate {path}: {source}")]
    Cert {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("certificate file {0} holds no certificate")]
    NoCert(PathBuf),
    #[error("cannot read private key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error(
        "{missing} is missing but {present} exists: restore it, or remove both to let self_signed generate a new pair"
    )]
    HalfPair { missing: PathBuf, present: PathBuf },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate and key do not fit together, or are unsupported: {0}")]
    Rustls(#[source] rustls::Error),
}

/// What `ensure_pair` did, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PairOrigin {
    Existing,
    Generated,
}

/// With `self_signed`, generates a pair for `hostnames` when both files are missing.
pub(crate) fn ensure_pair(tls: &TlsConfig, hostnames: &[String]) -> Result<PairOrigin, TlsError> {
    let (cert, key) = (tls.cert.exists(), tls.key.exists());
    match (cert, key) {
        (true, true) => return Ok(PairOrigin::Existing),
        (true, false) if tls.self_signed => {
            return Err(TlsError::HalfPair {
                missing: tls.key.clone(),
                present: tls.cert.clone(),
            });
        }
        (false, true) if tls.self_signed => {
            return Err(TlsError::HalfPair {
                missing: tls.cert.clone(),
                present: tls.key.clone(),
            });
        }
        (false, false) if tls.self_signed => {}
        // Not self-signed: loading reports the missing file.
        _ => return Ok(PairOrigin::Existing),
    }
    let generated =
        rcgen::generate_simple_self_signed(hostnames.to_vec()).map_err(TlsError::Generate)?;
    write_file(&tls.cert, generated.cert.pem().as_bytes(), 0o644)?;
    write_file(
        &tls.key,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    Ok(PairOrigin::Generated)
}

/// Writes `bytes` to a new file with `mode`, creating parent directories.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut f = options.open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    Ok(())
}

/// Reads every certificate of a PEM file.
pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCert(path.to_path_buf()));
    }
    Ok(certs)
}

/// ALPN `h2` then `http/1.1`: what the gateway's public listener offers (and the demo's servers).
pub(crate) const ALPN_H2_HTTP11: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The rustls server configuration for a certificate chain and key already in memory.
pub(crate) fn server_config_from(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_alpn(certs, key, ALPN_H2_HTTP11)
}

/// ring's suites and key exchanges, the AES-128-GCM suites first (TLS 1.3's mandatory suite,
/// first in Mozilla's recommended configurations): on AES hardware, a third cheaper per record
/// than AES-256 (10 rounds, not 14), and its handshake hashes with SHA-256, which ring runs
/// with the CPU's SHA instructions, where SHA-384 falls back to portable code on AMD. Both
/// legs use it: the gateway's server and its upstream client.
pub(crate) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

/// The one rustls server configuration builder (the gateway's, the demo's servers', the test
/// upstreams'): [`crypto_provider`] in its own order (not the client's), safe default protocol
/// versions, no client auth, session resumption by cache and tickets, offering `alpn` (in
/// preference order; empty: no ALPN).
pub(crate) fn server_config_with_alpn(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Rustls)?;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Certificates expiring sooner than this are warned about at start and at each reload.
pub(crate) const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The served pair, loaded and checked: the rustls configuration, and when the leaf expires.
pub(crate) struct ServedCert {
    pub config: Arc<ServerConfig>,
    /// The leaf certificate's notAfter, in seconds since the Unix epoch (`None`: unparsable).
    pub not_after: Option<i64>,
}

impl ServedCert {
    /// Sets `tls_cert_not_after_timestamp_seconds`, and warns when the certificate at `path`
    /// expires within [`EXPIRY_WARNING`] (or has expired).
    pub(crate) fn report_expiry(&self, path: &Path, metrics: &crate::metrics::Metrics) {
        let Some(not_after) = self.not_after else {
            tracing::warn!(cert = %path.display(), "cannot read the certificate's expiry date");
            return;
        };
        metrics.tls_cert_not_after.set(not_after);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Some(days) = days_left_if_soon(not_after, now) {
            tracing::warn!(cert = %path.display(), days_left = days, not_after, "the served certificate expires soon: renew it and reload");
        }
    }
}

/// Whole days left (negative once expired) when `not_after` is within [`EXPIRY_WARNING`] of
/// `now` (both in seconds since the epoch); `None` when it is further away.
fn days_left_if_soon(not_after: i64, now: i64) -> Option<i64> {
    let left = not_after - now;
    (left < EXPIRY_WARNING.as_secs() as i64).then(|| left.div_euclid(24 * 3600))
}

/// Loads the served pair, builds its rustls configuration, and reads the leaf's expiry.
pub(crate) fn load_pair(tls: &TlsConfig) -> Result<ServedCert, TlsError> {
    let certs = load_certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|source| TlsError::Key {
        path: tls.key.clone(),
        source,
    })?;
    let not_after = not_after(&certs[0]);
    Ok(ServedCert {
        config: server_config_from(certs, key)?,
        not_after,
    })
}

/// A certificate's notAfter, in seconds since the Unix epoch.
pub(crate) fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_within_14_days_of_expiry_is_soon() {
        let day = 24 * 3600;
        assert_eq!(days_left_if_soon(100 * day, 0), None);
        assert_eq!(days_left_if_soon(14 * day, 0), None);
        assert_eq!(days_left_if_soon(14 * day - 1, 0), Some(13));
        assert_eq!(days_left_if_soon(day / 2, 0), Some(0));
        assert_eq!(days_left_if_soon(0, day), Some(-1), "expired a day ago");
    }

    #[test]
    fn generates_a_pair_with_a_private_key_file() {
        let dir = std::env::temp_dir().join(format!("cec-gw-tls-{}", std::process::id()));
        let tls = TlsConfig {
            cert: dir.join("gw.crt"),
            key: dir.join("gw.key"),
            self_signed: true,
        };
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        assert_eq!(ensure_pair(&tls, &hosts).unwrap(), PairOrigin::Generated);
        assert_eq!(ensure_pair(&tls, &hosts).unwrap(), PairOrigin::Existing);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&tls.key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let served = load_pair(&tls).unwrap();
        let config = &served.config;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let not_after = served
            .not_after
            .expect("rcgen's certificate has a notAfter");
        assert!(not_after > now, "not yet expired: {not_after} vs {now}");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        std::fs::remove_file(&tls.key).unwrap();
        assert!(matches!(
            ensure_pair(&tls, &hosts),
            Err(TlsError::HalfPair { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_provider_reorders_rings_suites_and_loses_none() {
        let ours: Vec<_> = crypto_provider()
            .cipher_suites
            .iter()
            .map(|c| c.suite())
            .collect();
        let mut theirs: Vec<_> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|c| c.suite())
            .collect();
        assert_eq!(ours[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let mut sorted = ours.clone();
        sorted.sort_by_key(|s| u16::from(*s));
        theirs.sort_by_key(|s| u16::from(*s));
        assert_eq!(sorted, theirs);
    }

    /// A handshake in memory between the gateway's server configuration and a client that
    /// prefers `client_order`; the suite they agree on.
    fn negotiated(client_order: Vec<rustls::SupportedCipherSuite>) -> rustls::CipherSuite {
        let ca = crate::demo::pki::DemoCa::generate().unwrap();
        let server = ca.server_config(&["localhost"], &[]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = client_order;
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        while c.is_handshaking() || s.is_handshaking() {
            let mut wire = Vec::new();
            c.write_tls(&mut wire).unwrap();
            s.read_tls(&mut wire.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            wire.clear();
            s.write_tls(&mut wire).unwrap();
            c.read_tls(&mut wire.as_slice()).unwrap();
            c.process_new_packets().unwrap();
        }
        s.negotiated_cipher_suite().unwrap().suite()
    }

    #[test]
    fn the_server_chooses_by_its_own_order_and_still_meets_a_client_with_one_suite() {
        use rustls::crypto::ring::cipher_suite as cs;
        let aes256_first = vec![cs::TLS13_AES_256_GCM_SHA384, cs::TLS13_AES_128_GCM_SHA256];
        assert_eq!(
            negotiated(aes256_first),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        for only in [
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ] {
            assert_eq!(negotiated(vec![only]), only.suite());
        }
    }
}
