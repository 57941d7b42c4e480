//! Mock upstreams: HTTPS (HTTP/1.1) servers that record each request they receive (and echo
//! WebSocket messages) and answer with a handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{DemoCa, LOCAL_NAMES, TestBody, body};

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

impl Recorded {
    /// The request again, as a handler that takes a `Request` would have received it.
    pub fn to_request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.parse().unwrap();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

type Handler =
    Arc<dyn Fn(Recorded) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>> + Send + Sync>;

/// An HTTPS (HTTP/1.1) upstream that records each request and answers with `handler`.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Recorded>>>,
    /// TCP connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    killed: CancellationToken,
}

impl MockUpstream {
    pub async fn start<F, Fut>(ca: &DemoCa, handler: F) -> Self
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        Self::serve(ca, handler, true, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Like [`MockUpstream::start`], but `handler` answers WebSocket handshakes too (to answer
    /// one wrongly): nothing is echoed.
    pub async fn answering_upgrades<F, Fut>(ca: &DemoCa, handler: F) -> Self
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        Self::serve(ca, handler, false, "127.0.0.1:0".parse().unwrap()).await
    }

    /// [`MockUpstream::ok`] listening on `addr`: the port of one that was killed, say.
    pub async fn ok_at(ca: &DemoCa, addr: SocketAddr) -> Self {
        let handler: Handler = Arc::new(|_| Box::pin(async { Response::new(body("ok")) }));
        Self::serve(ca, handler, true, addr).await
    }

    /// Closes the listener and every connection at once, as when the process is killed.
    pub fn kill(&self) {
        self.killed.cancel();
    }

    async fn serve(ca: &DemoCa, handler: Handler, echo_websocket: bool, at: SocketAddr) -> Self {
        // A killed mock's listener closes when its task next runs: a restart on its port
        // may have to wait for that.
        let mut listener = TcpListener::bind(at).await;
        for _ in 0..100 {
            if listener.is_ok() || at.port() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            listener = TcpListener::bind(at).await;
        }
        let listener = listener.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = ca.server_config(LOCAL_NAMES, &[b"http/1.1"]).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let killed = CancellationToken::new();
        let kill = killed.clone();
        tokio::spawn(async move {
            loop {
                let Some(Ok((tcp, _))) = kill.run_until_cancelled(listener.accept()).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (acceptor, handler, rec) = (acceptor.clone(), handler.clone(), rec.clone());
                let kill = kill.clone();
                tokio::spawn(kill.run_until_cancelled_owned(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (handler, rec) = (handler.clone(), rec.clone());
                        async move {
                            Ok::<_, Infallible>(
                                serve_recorded(req, handler, rec, echo_websocket).await,
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .with_upgrades()
                        .await;
                }));
            }
        });
        Self {
            addr,
            received,
            accepted,
            killed,
        }
    }

    /// A mock that answers every request 200 with body `ok`.
    pub async fn ok(ca: &DemoCa) -> Self {
        Self::ok_at(ca, "127.0.0.1:0".parse().unwrap()).await
    }

    /// A mock that answers 302 to `https://<the Host it received>/service-cloud/next`.
    pub async fn redirecting(ca: &DemoCa) -> Self {
        Self::start(ca, |r| async move {
            let host = r.headers["host"].to_str().unwrap().to_owned();
            Response::builder()
                .status(StatusCode::FOUND)
                .header("location", format!("https://{host}/service-cloud/next"))
                .body(body(""))
                .unwrap()
        })
        .await
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
    echo_websocket: bool,
) -> Response<TestBody> {
    // WebSocket: answer the handshake and echo messages.
    if echo_websocket
        && req
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
