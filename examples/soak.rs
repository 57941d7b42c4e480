//! The soak run behind `bench/soak.sh` (issue 10): the release gateway as a child process in
//! front of an in-process upstream (8 KiB GETs, the demo's mock CEC verifying every signed
//! `newThirdPartyClient.js` POST, a WebSocket echo). It measures the maximum GET rate for
//! 10 s, then holds about half of it for SECONDS with a mix of GETs (70%), signing POSTs (30%)
//! and 32 WebSocket sessions (one message each every 100 ms, reopened every 20 s), sampling
//! the gateway's RSS and open file descriptors. Fails (exit 1) on any failed request, RSS
//! growth over 10% after the warm-up, or file-descriptor growth (the median count of the
//! second half over 5% above the first half's).
//!
//! `cargo run --release --example soak -- [SECONDS] [GATEWAY BINARY]` (default 600 and
//! `target/release/cec-gateway`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use cec_gateway::demo::mock_cec::{CLIENT_JS_PATH, MockCec};
use cec_gateway::demo::pki::{DemoCa, LOCAL_NAMES};
use cec_gateway::secret::SecretKey;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep};
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key, protocol::Role};

const SECRET_ENV: &str = "CEC_SOAK_SECRET";
const SECRET: &str = "SoakSecret0123456789abcdef";
const CONFIG_ID: &str = "817854979183314945";
const TENANT: &str = "202007159031";
const WS_SESSIONS: usize = 32;
/// How long a WebSocket session lasts before it is closed and another opened.
const SESSION: Duration = Duration::from_secs(20);
const SAMPLE: Duration = Duration::from_secs(10);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    ws_messages: AtomicU64,
}

impl Tally {
    fn count(&self, ok: bool, what: &str) {
        if ok {
            self.ok.fetch_add(1, Relaxed);
        } else if self.failed.fetch_add(1, Relaxed) < 5 {
            eprintln!("failed: {what}");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().map_or(600, |s| s.parse().expect("SECONDS"));
    let bin = PathBuf::from(args.next().unwrap_or("target/release/cec-gateway".into()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = DemoCa::generate().expect("CA");
    let upstream = start_upstream(&ca).await;
    let dir = std::env::temp_dir().join(format!("cec-soak-{}", std::process::id()));
    let (gateway, https, admin) = start_gateway(&bin, &ca, upstream, &dir).await;
    let pid = gateway.0.id();
    let client = https_client(&ca);
    let base = format!("https://localhost:{}", https.port());

    let max = measure_max(&client, &base).await;
    let rate = max / 2.0;
    println!("maximum: {max:.0} GET/s over 10 s; soaking at {rate:.0} requests/s for {secs} s");
    let tally = Arc::new(Tally::default());
    let end = Instant::now() + Duration::from_secs(secs);
    let load = spawn_load(&client, &base, rate, end, &tally);
    let tls = Arc::new(ca.client_config(&[b"http/1.1"]).expect("client config"));
    let ws_task = |i| {
        // Staggered, so that the sessions do not all reopen at once.
        let start = Instant::now() + SESSION * i as u32 / WS_SESSIONS as u32;
        tokio::spawn(ws_session(tls.clone(), https, start, end, tally.clone()))
    };
    let ws: Vec<_> = (0..WS_SESSIONS).map(ws_task).collect();
    let samples = sample(pid, admin, end, &tally).await;
    for task in load.into_iter().chain(ws) {
        task.await.expect("load task");
    }
    let code = verdict(&samples, &tally, secs);
    drop(gateway);
    std::process::exit(code);
}

/// The gateway process and its directory, killed and removed on drop (a panic included).
struct Gateway(std::process::Child, PathBuf);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn https_client(ca: &DemoCa) -> HttpsClient {
    let tls = ca.client_config(&[]).expect("client config");
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(https)
}

/// The upstream: GET → 8 KiB, the signing POST → the mock CEC (verified), WebSocket → echo.
async fn start_upstream(ca: &DemoCa) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(
        ca.server_config(LOCAL_NAMES, &[b"http/1.1"])
            .expect("server config"),
    );
    let secret = SecretKey::signing(SECRET).expect("secret");
    let mock = Arc::new(MockCec::new(HashMap::from([(
        CONFIG_ID.to_owned(),
        secret,
    )])));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, mock) = (acceptor.clone(), mock.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| {
                    let mock = mock.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&mock, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

async fn answer(mock: &MockCec, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    static PAGE: [u8; 8192] = [b'x'; 8192];
    if let Some(key) = req.headers().get("sec-websocket-key") {
        let accept = derive_accept_key(key.as_bytes());
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let io = TokioIo::new(upgraded);
            let mut ws =
                tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept)
            .body(Full::default())
            .expect("101");
    }
    if req.uri().path() == CLIENT_JS_PATH {
        return mock.handle(req).await;
    }
    Response::new(Full::new(Bytes::from_static(&PAGE)))
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// The gateway binary on free ports, its stderr in `dir/gateway.log`; returns once ready.
async fn start_gateway(
    bin: &Path,
    ca: &DemoCa,
    upstream: SocketAddr,
    dir: &Path,
) -> (Gateway, SocketAddr, SocketAddr) {
    std::fs::create_dir_all(dir).expect("temp dir");
    let cert = ca.issue(LOCAL_NAMES).expect("certificate");
    std::fs::write(dir.join("gw.crt"), cert.chain_pem()).expect("write");
    std::fs::write(dir.join("gw.key"), cert.key_pem()).expect("write");
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).expect("write");
    let (https, admin) = (free_port(), free_port());
    let d = dir.display();
    let config = format!(
        "[server]\nlisten = \"{https}\"\nadmin_listen = \"{admin}\"\n\
         hostnames = [\"localhost\", \"127.0.0.1\"]\n\
         [tls]\ncert = \"{d}/gw.crt\"\nkey = \"{d}/gw.key\"\n\
         [upstreams.cec]\nurl = \"https://localhost:{}\"\nca = \"{d}/ca.pem\"\n\
         [[routes]]\nprefix = \"/service-cloud/\"\nupstream = \"cec\"\n\
         [signing]\npath = \"{CLIENT_JS_PATH}\"\n\
         [[signing.channels]]\nconfig_id = \"{CONFIG_ID}\"\ntenant_space_id = \"{TENANT}\"\n\
         secret_key_env = \"{SECRET_ENV}\"\n",
        upstream.port()
    );
    std::fs::write(dir.join("gateway.toml"), config).expect("write");
    let log = std::fs::File::create(dir.join("gateway.log")).expect("log");
    let child = std::process::Command::new(bin)
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .env(SECRET_ENV, SECRET)
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo build --release first)", bin.display()));
    let gateway = Gateway(child, dir.to_owned());
    for _ in 0..100 {
        if admin_get(admin, "/readyz")
            .await
            .is_some_and(|r| r.contains(" 200 "))
        {
            return (gateway, https, admin);
        }
        sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
    panic!("the gateway is not ready; its log:\n{log}");
}

/// A plain GET on the admin listener: the whole answer, or None.
async fn admin_get(admin: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(admin).await.ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await.ok()?;
    let mut got = String::new();
    s.read_to_string(&mut got).await.ok()?;
    Some(got)
}

async fn get(client: &HttpsClient, url: &str) -> bool {
    let req = Request::get(url).body(Full::default()).expect("request");
    match client.request(req).await {
        Ok(resp) => {
            resp.status() == StatusCode::OK
                && resp
                    .into_body()
                    .collect()
                    .await
                    .is_ok_and(|b| b.to_bytes().len() == 8192)
        }
        Err(_) => false,
    }
}

async fn signing_post(client: &HttpsClient, base: &str, n: u64) -> bool {
    let body = serde_json::json!({
        "thirdUserName": format!("Soak Guest {n}"), "thirdUserId": format!("soak-{n}"),
        "tenantSpaceId": TENANT, "channelConfigId": CONFIG_ID, "locale": "en",
        "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64,
    });
    let req = Request::post(format!("{base}{CLIENT_JS_PATH}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    match client.request(req).await {
        Ok(resp) => resp.status() == StatusCode::OK && resp.into_body().collect().await.is_ok(),
        Err(_) => false,
    }
}

/// Closed-loop GETs from 32 tasks for 10 s: requests per second.
async fn measure_max(client: &HttpsClient, base: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(10);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (client, url, done) = (
                client.clone(),
                format!("{base}/service-cloud/max"),
                done.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < end {
                    if get(&client, &url).await {
                        done.fetch_add(1, Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("max task");
    }
    done.load(Relaxed) as f64 / 10.0
}

/// 64 open-loop tasks sharing `rate`: of every ten requests, 7 GETs and 3 signing POSTs.
fn spawn_load(
    client: &HttpsClient,
    base: &str,
    rate: f64,
    end: Instant,
    tally: &Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let tasks = 64;
    let every = Duration::from_secs_f64(tasks as f64 / rate.max(1.0));
    (0..tasks)
        .map(|t| {
            let (client, base, tally) = (client.clone(), base.to_owned(), tally.clone());
            tokio::spawn(async move {
                let mut tick = interval(every);
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut n = t as u64;
                while Instant::now() < end {
                    tick.tick().await;
                    n += tasks as u64;
                    if n % 10 < 7 {
                        let ok = get(&client, &format!("{base}/service-cloud/soak/{n}")).await;
                        tally.count(ok, "GET");
                    } else {
                        tally.count(signing_post(&client, &base, n).await, "signing POST");
                    }
                }
            })
        })
        .collect()
}

/// WebSocket sessions from `start` until `end`: a message every 100 ms, echoed; a new
/// session every [`SESSION`].
async fn ws_session(
    tls: Arc<rustls::ClientConfig>,
    gw: SocketAddr,
    start: Instant,
    end: Instant,
    tally: Arc<Tally>,
) {
    tokio::time::sleep_until(start).await;
    while Instant::now() < end {
        let until = (Instant::now() + SESSION).min(end);
        let ok = ws_once(&tls, gw, until, &tally).await;
        tally.count(ok, "WebSocket session");
    }
}

async fn ws_once(
    tls: &Arc<rustls::ClientConfig>,
    gw: SocketAddr,
    until: Instant,
    tally: &Tally,
) -> bool {
    let Ok(tcp) = tokio::net::TcpStream::connect(gw).await else {
        return false;
    };
    let connector = tokio_rustls::TlsConnector::from(tls.clone());
    let Ok(stream) = connector
        .connect("localhost".try_into().expect("name"), tcp)
        .await
    else {
        return false;
    };
    let url = format!("wss://localhost:{}/service-cloud/ws", gw.port());
    let Ok((mut ws, _)) = tokio_tungstenite::client_async(url, stream).await else {
        return false;
    };
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let text = format!("message {n}");
        if ws.send(Message::text(text.clone())).await.is_err() {
            return false;
        }
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == text => {
                tally.ws_messages.fetch_add(1, Relaxed)
            }
            _ => return false,
        };
        sleep(Duration::from_millis(100)).await;
    }
    ws.close(None).await.is_ok()
}

/// One sample: seconds since the start, RSS KiB, open fds.
type Sample = (u64, u64, usize);

async fn sample(pid: u32, admin: SocketAddr, end: Instant, tally: &Tally) -> Vec<Sample> {
    let start = Instant::now();
    let mut out = Vec::new();
    println!(
        "{:>6} {:>10} {:>6} {:>10} {:>7} {:>10}",
        "t (s)", "RSS (KiB)", "fds", "ok", "failed", "ws msgs"
    );
    while Instant::now() < end {
        sleep(SAMPLE.min(end - Instant::now())).await;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
        let s = (start.elapsed().as_secs(), rss, fds);
        println!(
            "{:>6} {:>10} {:>6} {:>10} {:>7} {:>10}",
            s.0,
            s.1,
            s.2,
            tally.ok.load(Relaxed),
            tally.failed.load(Relaxed),
            tally.ws_messages.load(Relaxed)
        );
        out.push(s);
    }
    if admin_get(admin, "/readyz")
        .await
        .is_none_or(|r| !r.contains(" 200 "))
    {
        tally.count(false, "/readyz at the end");
    }
    out
}

/// Prints first (after a warm-up of a tenth of the run, at least one sample), peak and last;
/// the exit code.
fn verdict(samples: &[Sample], tally: &Tally, secs: u64) -> i32 {
    let warm = samples.iter().position(|s| s.0 >= secs / 10).unwrap_or(0);
    let after = &samples[warm.min(samples.len() - 1)..];
    let (first, last) = (after[0], after[after.len() - 1]);
    let peak_rss = after.iter().map(|s| s.1).max().unwrap_or(0);
    let peak_fds = after.iter().map(|s| s.2).max().unwrap_or(0);
    let failed = tally.failed.load(Relaxed);
    println!(
        "RSS KiB after warm-up: first {} (t={}s), peak {peak_rss}, last {}",
        first.1, first.0, last.1
    );
    println!(
        "fds after warm-up: first {}, peak {peak_fds}, last {}",
        first.2, last.2
    );
    println!(
        "requests ok {}, failed {failed}, WebSocket messages echoed {}",
        tally.ok.load(Relaxed),
        tally.ws_messages.load(Relaxed)
    );
    let rss_growth = last.1 as f64 / first.1.max(1) as f64 - 1.0;
    // Open fds follow the connections of the moment (a WebSocket reopening, a new upstream
    // connection): growth is the second half's median against the first half's, which a
    // leak raises and a passing spike does not.
    let (early, late) = after.split_at(after.len() / 2);
    let median = |s: &[Sample]| {
        let mut fds: Vec<usize> = s.iter().map(|s| s.2).collect();
        fds.sort_unstable();
        fds.get(fds.len() / 2).copied().unwrap_or(0)
    };
    let fd_growth = median(late) as f64 / median(early).max(1) as f64 - 1.0;
    println!(
        "RSS growth (last/first) {:.1}%, fd growth (median, 2nd half/1st half) {:.1}%",
        rss_growth * 100.0,
        fd_growth * 100.0
    );
    let pass = failed == 0 && rss_growth < 0.10 && fd_growth <= 0.05;
    println!("{}", if pass { "PASS" } else { "FAIL" });
    i32::from(!pass)
}
