//! The probe's TLS trust: the client configuration the gateway's upstream client uses, with a
//! verifier that also records the leaf certificate it was shown, and the leaf's parsing.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::Leaf;
use crate::config::UpstreamConfig;
use crate::upstream::UpstreamError;

/// The TLS client configuration of `crate::upstream::Upstream::new` (same roots, provider and
/// protocol versions), with a verifier that records the presented leaf for the report.
pub(super) fn client_config(
    u: &UpstreamConfig,
) -> Result<(Arc<rustls::ClientConfig>, Arc<Recorder>), UpstreamError> {
    let roots = crate::upstream::roots(u)?;
    let tls_err = |source| UpstreamError::Tls {
        name: u.name.clone(),
        source,
    };
    let provider = crate::tls::crypto_provider();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_err(rustls::Error::General(e.to_string())))?;
    let recorder = Arc::new(Recorder {
        inner,
        leaf: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), recorder))
}

/// The webpki verifier, unchanged, plus a copy of the leaf it was shown (also when it rejects
/// it, so that "unknown issuer" can name the issuer).
#[derive(Debug)]
pub(super) struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    leaf: Mutex<Option<Leaf>>,
}

impl Recorder {
    pub(super) fn leaf(&self) -> Option<Leaf> {
        self.leaf.lock().map(|l| l.clone()).unwrap_or(None)
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut slot) = self.leaf.lock() {
            *slot = parse_leaf(end_entity);
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Subject, issuer and `notAfter` of a DER certificate; `None` when it does not parse.
pub(super) fn parse_leaf(der: &[u8]) -> Option<Leaf> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Leaf {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_datetime(),
    })
}
