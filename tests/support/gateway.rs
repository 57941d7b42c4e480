//! The real gateway, started in this process on 127.0.0.1:0 from a TOML text, and requests
//! to its admin listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cec_gateway::config::Config;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

use super::{DemoCa, LOCAL_NAMES, TempDir, TestBody, body, write};

/// Where the test gateway looks up `*_env` secrets, at start and at every reload.
type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A gateway running in this process.
pub struct Gateway {
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub dir: TempDir,
    /// Reloads re-read this file (`gateway.toml` in `dir`) with the same environment.
    pub config_path: PathBuf,
    env: Env,
    pub reloader: cec_gateway::Reloader,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), cec_gateway::RunError>>>,
}

impl Gateway {
    /// Starts the gateway from `toml`. In the text, `@DIR@` is a fresh directory (holding a
    /// certificate issued by `ca` as `gw.crt`/`gw.key`, and the CA as `ca.pem`).
    pub async fn start(ca: &DemoCa, toml: &str) -> Self {
        Self::start_with_env(ca, toml, &[]).await
    }

    pub async fn start_with_env(ca: &DemoCa, toml: &str, env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new("gw");
        write_tls_files(ca, &dir);
        let config_path = write(
            &dir.0,
            "gateway.toml",
            &toml.replace("@DIR@", dir.0.to_str().unwrap()),
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env: Env =
            Arc::new(move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        let config = Config::load_with_env(&config_path, &*env)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        let listeners = cec_gateway::Listeners::bind(&config.server).await.unwrap();
        let (https, http, admin) = (
            listeners.https_addr(),
            listeners.http_addr(),
            listeners.admin_addr(),
        );
        let server = cec_gateway::Server::start(config, listeners).unwrap();
        let reloader = server.reloader();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            https,
            http,
            admin,
            dir,
            config_path,
            env,
            reloader,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Writes `toml` (with `@DIR@` as in [`Gateway::start`]) over the configuration file and
    /// reloads it, as SIGHUP does.
    #[allow(clippy::result_large_err)] // a config error, once per reload
    pub async fn reload(&self, toml: &str) -> Result<(), cec_gateway::ReloadError> {
        let text = toml.replace("@DIR@", self.dir.0.to_str().unwrap());
        std::fs::write(&self.config_path, text).unwrap();
        let (path, env) = (self.config_path.clone(), Arc::clone(&self.env));
        self.reloader
            .reload_with(move || Config::load_with_env(&path, &*env))
            .await
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

/// Writes into `dir` what [`base_config`] points at: a certificate issued by `ca` for
/// [`LOCAL_NAMES`] as `gw.crt`/`gw.key`, and the CA as `ca.pem`.
pub fn write_tls_files(ca: &DemoCa, dir: &TempDir) {
    let cert = ca.issue(LOCAL_NAMES).unwrap();
    write(&dir.0, "gw.crt", cert.chain_pem());
    write(&dir.0, "gw.key", cert.key_pem());
    write(&dir.0, "ca.pem", ca.cert_pem());
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

/// [`base_config`] behind a trusted balancer on 127.0.0.1 that forwards the public name
/// `chat.example.com`, which must then be one of the gateway's hostnames.
pub fn behind_trusted_proxy(upstream: &str) -> String {
    base_config(upstream).replace(
        r#"hostnames = ["localhost", "127.0.0.1"]"#,
        r#"hostnames = ["localhost", "127.0.0.1", "chat.example.com"]"#,
    ) + "\n[forwarding]\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
}

/// An `[upstreams.NAME]` table for `url`, trusting the test CA (append it to [`base_config`]).
pub fn upstream_table(name: &str, url: &str) -> String {
    format!("\n[upstreams.{name}]\nurl = \"{url}\"\nca = \"@DIR@/ca.pem\"\n")
}

/// A running gateway as requests see it: in this process ([`Gateway`]) or a child process
/// (`Process`).
pub trait Target {
    /// `https://localhost:PORT{path}` on the public listener.
    fn url(&self, path: &str) -> String;
    /// The admin listener.
    fn admin_addr(&self) -> SocketAddr;
}

impl Target for Gateway {
    fn url(&self, path: &str) -> String {
        Gateway::url(self, path)
    }

    fn admin_addr(&self) -> SocketAddr {
        self.admin.expect("admin listener")
    }
}

/// GET on the admin listener (plain HTTP/1.1): (status, body).
pub async fn admin_get(gw: &impl Target, path: &str) -> (StatusCode, String) {
    admin_request(gw, Method::GET, path, "").await
}

pub async fn admin_request(
    gw: &impl Target,
    method: Method,
    path: &str,
    b: &str,
) -> (StatusCode, String) {
    let (status, _, text) = admin_request_with(gw, method, path, &[], b).await;
    (status, text)
}

/// A request to the admin listener with extra `headers`: (status, response headers, body).
pub async fn admin_request_with(
    gw: &impl Target,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    b: &str,
) -> (StatusCode, HeaderMap, String) {
    let c: Client<HttpConnector, TestBody> = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("http://{}{}", gw.admin_addr(), path);
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(body(b.to_owned())).unwrap();
    let resp = c.request(req).await.unwrap();
    let (parts, b) = resp.into_parts();
    let text = String::from_utf8(b.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, text)
}

/// The mint key that test configurations name with `mint_key_env = "MINT_KEY"`.
pub const MINT_KEY: &str = "mint-test-key-0123456789-abcdefghijklmnop";

/// `POST /tokens` on the admin listener with `Authorization: Bearer` [`MINT_KEY`].
pub async fn admin_mint(gw: &impl Target, b: &str) -> (StatusCode, String) {
    let auth = format!("Bearer {MINT_KEY}");
    let headers = [("authorization", auth.as_str())];
    let (status, _, text) = admin_request_with(gw, Method::POST, "/tokens", &headers, b).await;
    (status, text)
}
