//! The demo's throw-away certificate authority: generated per run, it issues the mock CEC's
//! server certificate (and the cross-origin page's), and its PEM is what the gateway is told to
//! trust through `upstreams.cec.ca`. The integration tests use it as their test CA too: a
//! certificate and key PEM pair for the gateway, server configurations for mock upstreams, and
//! client configurations that trust it. Nothing here is meant for production use.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::tls::{TlsError, server_config_with_alpn};

/// The names every loopback server of the demo (and of the tests) answers as.
pub const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// Why the demo's certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate a certificate: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("cannot build a TLS server configuration: {0}")]
    Tls(#[source] TlsError),
    #[error("cannot build a TLS client configuration: {0}")]
    Client(#[source] rustls::Error),
}

/// A CA that lives for one demo run (or one test).
pub struct DemoCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

/// A server certificate issued by a [`DemoCa`], with its new key.
pub struct ServerCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
    chain_pem: String,
    key_pem: String,
}

impl DemoCa {
    /// A fresh CA with a new key.
    pub fn generate() -> Result<Self, PkiError> {
        let key = KeyPair::generate().map_err(PkiError::Generate)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            "cec-gateway demo CA (per run, untrusted)",
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(PkiError::Generate)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM, for a trust store.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER, for a `RootCertStore`.
    #[cfg(test)]
    pub(crate) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A new server certificate for `names` (DNS names or IP literals), with a new key.
    pub fn issue(&self, names: &[&str]) -> Result<ServerCert, PkiError> {
        let key = KeyPair::generate().map_err(PkiError::Generate)?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .map_err(PkiError::Generate)?;
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        params.distinguished_name = name;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PkiError::Generate)?;
        Ok(ServerCert {
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        })
    }

    /// A TLS server configuration (`crate::tls::server_config_with_alpn`) offering `alpn`,
    /// with a new certificate for `names` issued by this CA.
    pub fn server_config(
        &self,
        names: &[&str],
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, PkiError> {
        self.issue(names)?.server_config(alpn)
    }

    /// A TLS client configuration that trusts this CA only, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<ClientConfig, PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone()).map_err(PkiError::Client)?;
        let mut config = ClientConfig::builder_with_provider(crate::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(PkiError::Client)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

impl ServerCert {
    /// The certificate chain (the certificate, then the CA's), PEM, for a `tls.cert` file.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The private key, PKCS#8 PEM, for a `tls.key` file.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A TLS server configuration (`crate::tls::server_config_with_alpn`) for this
    /// certificate, offering `alpn`.
    pub(crate) fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, PkiError> {
        let key = PrivateKeyDer::Pkcs8(self.key.clone_key());
        server_config_with_alpn(self.chain.clone(), key, alpn).map_err(PkiError::Tls)
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn issues_a_pem_pair_and_configs_with_the_chosen_alpn() {
        let ca = DemoCa::generate().expect("CA");
        let cert = ca.issue(LOCAL_NAMES).expect("issued");
        let chain: Vec<CertificateDer<'_>> =
            CertificateDer::pem_slice_iter(cert.chain_pem().as_bytes())
                .collect::<Result<_, _>>()
                .expect("chain PEM");
        assert_eq!(chain, cert.chain);
        assert_eq!(&chain[1], ca.cert_der());
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes()).expect("key PEM");
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));

        let server = cert.server_config(&[b"http/1.1"]).expect("server TLS");
        assert_eq!(server.alpn_protocols, [b"http/1.1".to_vec()]);
        let server = ca.server_config(LOCAL_NAMES, &[]).expect("server TLS");
        assert!(server.alpn_protocols.is_empty());
        let client = ca.client_config(&[b"h2"]).expect("client TLS");
        assert_eq!(client.alpn_protocols, [b"h2".to_vec()]);
    }
}
