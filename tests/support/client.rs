//! HTTPS clients that trust the test CA, and responses collected whole.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DemoCa, Gateway, TestBody, body};

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, TestBody>;

/// An HTTPS client trusting `ca`; HTTP/2 only when `h2`, else HTTP/1.1 only.
pub fn client(ca: &DemoCa, h2: bool) -> HttpsClient {
    client_with(ca.client_config(&[]).unwrap(), h2)
}

/// An HTTPS client with the TLS configuration `tls`; HTTP/2 only when `h2`, else HTTP/1.1.
pub fn client_with(tls: rustls::ClientConfig, h2: bool) -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let connector = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let mut b = Client::builder(TokioExecutor::new());
    if h2 {
        b.http2_only(true);
    }
    b.build(connector)
}

/// A TLS client configuration that trusts only the certificate in `pem`, a self-signed one
/// that the gateway writes when it starts running: waits for the file (up to 2 s).
pub async fn trusting_written_cert(pem: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for _ in 0..100 {
        if let Ok(cert) = CertificateDer::from_pem_file(pem) {
            roots.add(cert).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!roots.is_empty(), "certificate written: {}", pem.display());
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A raw TLS connector (ALPN http/1.1) trusting `ca`.
pub fn tls_connector(ca: &DemoCa) -> tokio_rustls::TlsConnector {
    let config = ca.client_config(&[b"http/1.1"]).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr` (as `localhost`, ALPN http/1.1) trusting `ca`.
pub async fn tls_to(
    ca: &DemoCa,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tls_connector(ca)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// [`tls_to`] from the source address `from` (a loopback address other than 127.0.0.1, which
/// the gateway does not count per IP, for the tests of `max_connections_per_ip`).
pub async fn tls_from(
    ca: &DemoCa,
    from: std::net::IpAddr,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tcp_from(from, addr).await;
    tls_connector(ca)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A TCP connection to `addr` from the source address `from`.
pub async fn tcp_from(from: std::net::IpAddr, addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A WebSocket client on `wss://localhost:<port of addr><path>`, and the handshake's answer.
pub async fn websocket(
    ca: &DemoCa,
    addr: std::net::SocketAddr,
    path: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let url = format!("wss://localhost:{}{path}", addr.port());
    tokio_tungstenite::client_async(url, tls_to(ca, addr).await)
        .await
        .unwrap()
}

/// A GET whose response body is left to read frame by frame; the status must be 200.
pub async fn open_stream(client: &HttpsClient, url: &str) -> hyper::body::Incoming {
    let resp = client
        .request(Request::get(url).body(body("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

/// A collected response.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

pub async fn send(client: &HttpsClient, req: Request<TestBody>) -> Got {
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("response in time")
        .expect("request sent");
    let (parts, b) = resp.into_parts();
    let body = b.collect().await.unwrap().to_bytes();
    Got {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

pub async fn get(client: &HttpsClient, url: &str) -> Got {
    get_with(client, url, &[]).await
}

/// GET `url` with the request headers `headers` (name, value).
pub async fn get_with(client: &HttpsClient, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(client, req.body(body("")).unwrap()).await
}

pub async fn post(client: &HttpsClient, url: &str, b: impl Into<Bytes>) -> Got {
    send(
        client,
        Request::post(url)
            .header("content-type", "application/json")
            .body(body(b))
            .unwrap(),
    )
    .await
}

/// A response read off the wire: status, lower-cased head, body.
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", self.head, self.body)
    }
}

/// Writes `head` (the request line and headers, without the final empty line) on a fresh
/// TLS connection and reads the answer to the end (the request asks to close).
pub async fn raw(ca: &DemoCa, gw: &Gateway, head: &str) -> Raw {
    let mut tls = tls_to(ca, gw.https).await;
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        // The server may close without close_notify once it answered: keep what came.
        while let Ok(n @ 1..) = tls.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    });
    read.await.expect("an answer in time");
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {text:?}"));
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
