//! Test support: a test CA, in-process mock upstreams that record what they received, the
//! real gateway started on 127.0.0.1:0 from a TOML text, and HTTPS clients that trust the CA.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cec_gateway::config::Config;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn body(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).boxed()
}

/// A throw-away directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "cec-gw-test-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA that issues server certificates for `localhost` and `127.0.0.1`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cec-gateway test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Self { issuer, pem }
    }

    /// (cert PEM, key PEM) for localhost and 127.0.0.1.
    pub fn issue(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let (cert, key) = self.issue();
        let certs = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }
}

/// One request as a mock upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, exactly as received.
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Handler =
    Arc<dyn Fn(Recorded) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>> + Send + Sync>;

/// An HTTPS (HTTP/1.1) upstream that records each request and answers with `handler`.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Recorded>>>,
}

impl MockUpstream {
    pub async fn start<F, Fut>(ca: &TestCa, handler: F) -> Self
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"http/1.1"]));
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, handler, rec) = (acceptor.clone(), handler.clone(), rec.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (handler, rec) = (handler.clone(), rec.clone());
                        async move { Ok::<_, Infallible>(serve_recorded(req, handler, rec).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self { addr, received }
    }

    /// A mock that answers every request 200 with body `ok`.
    pub async fn ok(ca: &TestCa) -> Self {
        Self::start(ca, |_| async { Response::new(body("ok")) }).await
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the mock upstream received a request")
    }
}

async fn serve_recorded(
    mut req: Request<Incoming>,
    handler: Handler,
    rec: Arc<Mutex<Vec<Recorded>>>,
) -> Response<TestBody> {
    // WebSocket: answer the handshake and echo messages.
    if req
        .headers()
        .get(http::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        let key = req.headers().get("sec-websocket-key").cloned().unwrap();
        rec.lock().unwrap().push(Recorded {
            method: req.method().clone(),
            uri: req.uri().to_string(),
            version: req.version(),
            headers: req.headers().clone(),
            body: Bytes::new(),
        });
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            use futures_util::{SinkExt, StreamExt};
            let upgraded = on_upgrade.await.unwrap();
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                tokio_tungstenite::tungstenite::protocol::Role::Server,
                None,
            )
            .await;
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_text() || msg.is_binary() {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                } else if msg.is_close() {
                    break;
                }
            }
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept)
            .body(body(""))
            .unwrap();
    }
    let (parts, b) = req.into_parts();
    let bytes = b.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let r = Recorded {
        method: parts.method,
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        version: parts.version,
        headers: parts.headers,
        body: bytes,
    };
    rec.lock().unwrap().push(r.clone());
    handler(r).await
}

/// A gateway running in this process.
pub struct Gateway {
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), cec_gateway::RunError>>>,
}

impl Gateway {
    /// Starts the gateway from `toml`. In the text, `@DIR@` is a fresh directory (holding a
    /// certificate issued by `ca` as `gw.crt`/`gw.key`, and the CA as `ca.pem`).
    pub async fn start(ca: &TestCa, toml: &str) -> Self {
        Self::start_with_env(ca, toml, &[]).await
    }

    pub async fn start_with_env(ca: &TestCa, toml: &str, env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new("gw");
        let (cert, key) = ca.issue();
        std::fs::write(dir.0.join("gw.crt"), cert).unwrap();
        std::fs::write(dir.0.join("gw.key"), key).unwrap();
        std::fs::write(dir.0.join("ca.pem"), &ca.pem).unwrap();
        let text = toml.replace("@DIR@", dir.0.to_str().unwrap());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let config = Config::parse(&text, &dir.0.join("gateway.toml"), &lookup)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        let listeners = cec_gateway::Listeners::bind(&config.server).await.unwrap();
        let (https, http, admin) = (
            listeners.https_addr(),
            listeners.http_addr(),
            listeners.admin_addr(),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(cec_gateway::run(config, listeners, async move {
            let _ = rx.await;
        }));
        Self {
            https,
            http,
            admin,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.https.port(), path)
    }

    /// Sends the shutdown signal; returns the run() task to await.
    pub fn shutdown(&mut self) -> tokio::task::JoinHandle<Result<(), cec_gateway::RunError>> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap()
    }
}

/// The common part of a test configuration: listeners, TLS from the test CA, `[upstreams.cec]`
/// pointing at `upstream`, and a `/service-cloud/` route. Append more tables as needed.
pub fn base_config(upstream: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
hostnames = ["localhost", "127.0.0.1"]
shutdown_grace = "5s"
header_read_timeout = "2s"

[tls]
cert = "@DIR@/gw.crt"
key = "@DIR@/gw.key"

[upstreams.cec]
url = "{upstream}"
ca = "@DIR@/ca.pem"
connect_timeout = "1s"
response_timeout = "2s"

[[routes]]
prefix = "/service-cloud/"
upstream = "cec"
"#
    )
}

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, TestBody>;

/// An HTTPS client trusting `ca`; HTTP/2 only when `h2`, else HTTP/1.1 only.
pub fn client(ca: &TestCa, h2: bool) -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(ca.client_config(&[]))
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
    send(client, Request::get(url).body(body("")).unwrap()).await
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

/// An address with nothing listening.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// GET on the admin listener (plain HTTP/1.1): (status, body).
pub async fn admin_get(gw: &Gateway, path: &str) -> (StatusCode, String) {
    admin_request(gw, Method::GET, path, "").await
}

pub async fn admin_request(
    gw: &Gateway,
    method: Method,
    path: &str,
    b: &str,
) -> (StatusCode, String) {
    let c: Client<HttpConnector, TestBody> = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("http://{}{}", gw.admin.expect("admin listener"), path);
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(body(b.to_owned()))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    let status = resp.status();
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (status, text)
}
