//! `cec-gateway demo`: the whole web-chat flow on one machine, without a CEC account.
//!
//! [`start`] runs three things on loopback and returns once they listen:
//! - a mock CEC over HTTPS ([`mock_cec`]) with a per-run CA ([`pki`]) that verifies auth-v2
//!   signatures with its own verifier ([`verify`]) and answers a small chat widget, and on
//!   the same address a mock API Fabric ([`mock_fabric`]) with a random per-run app key and
//!   secret that only the gateway holds (`/apiaccess/`, from loopback callers);
//! - the enterprise's sample page ([`site`]), the vendor's `index.html` without any secret;
//! - the real gateway ([`crate::run`]), configured from rendered TOML ([`gateway_config`]) with a
//!   random per-run channel secret that the mock knows and nothing ever prints.
//!
//! ```text
//!   browser ──https://localhost:P──▶ gateway ── /service-cloud/ ──▶ mock CEC https://127.0.0.1:C
//!      │                                    └── /  ───────────────▶ sample page http://127.0.0.1:S
//!      └── (cross-origin, same site) https://localhost:Q/?gateway=https://localhost:P ── sample page
//! ```

pub mod assets;
mod banner;
pub mod gateway_config;
pub mod mock_cec;
pub mod mock_fabric;
pub mod pki;
pub(crate) mod serve;
pub mod site;
pub mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rand::distr::Alphanumeric;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

pub use banner::banner;

use crate::config::{Config, ConfigError};
use crate::secret::{MAX_SIGNING_SECRET_LEN, SecretKey};
use crate::tls::ALPN_H2_HTTP11;
use crate::{Listeners, RunError};
use mock_cec::MockCec;
use mock_fabric::MockFabric;
use pki::{DemoCa, LOCAL_NAMES, PkiError};
use site::Site;

/// In [`DemoOptions::cors_origins`], stands for the cross-origin page's own origin
/// (`https://localhost:<bound port>` on loopback), so that `page_listen` may use port 0.
pub const PAGE_ORIGIN: &str = "page";

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The gateway's HTTPS listener; browse it as `https://localhost:<port>`.
    pub listen: SocketAddr,
    /// Where the certificates (and the rendered, secret-free config) go.
    pub state_dir: PathBuf,
    /// Also serve the page on its own HTTPS origin, for the cross-origin flow (on loopback it
    /// is browsed as `https://localhost:<port>`: same site as the gateway, another origin).
    pub page_listen: Option<SocketAddr>,
    /// Origins the gateway allows by CORS ([`PAGE_ORIGIN`] for the page's own).
    pub cors_origins: Vec<String>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            state_dir: PathBuf::from(".demo"),
            page_listen: None,
            cors_origins: Vec::new(),
        }
    }
}

/// Why the demo could not start, or how it ended.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot use the demo state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("demo certificates: {0}")]
    Pki(#[source] PkiError),
    #[error("cannot listen for the {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the demo's gateway configuration was refused: {0}")]
    Config(#[source] Box<ConfigError>),
    #[error("gateway: {0}")]
    Gateway(#[source] RunError),
    #[error("a demo task failed: {0}")]
    Task(#[source] JoinError),
}

/// A running demo. Dropping it leaves everything running until the shutdown future completes;
/// [`DemoHandle::wait`] waits for that.
pub struct DemoHandle {
    /// The gateway, as a browser should open it: `https://localhost:<port>`.
    pub gateway_url: String,
    /// The cross-origin page, `https://localhost:<port>/?gateway=<gateway_url>`, if asked for.
    pub page_url: Option<String>,
    /// The gateway's admin listener (`/healthz`, `/metrics`), if it has one.
    admin_url: Option<String>,
    /// The mock CEC (it only answers signed requests, and only from the gateway).
    mock_cec_url: String,
    /// Origins the gateway allows by CORS, as configured.
    pub cors_origins: Vec<String>,
    /// Absolute state directory.
    pub state_dir: PathBuf,
    stop: Arc<watch::Sender<bool>>,
    forwarder: JoinHandle<()>,
    gateway: JoinHandle<Result<(), RunError>>,
    servers: Vec<JoinHandle<()>>,
}

impl DemoHandle {
    /// Waits until the gateway and the demo servers have stopped. If the gateway stops by
    /// itself (an error), the demo servers are stopped too.
    pub async fn wait(self) -> Result<(), DemoError> {
        let gateway = self.gateway.await;
        self.stop.send_replace(true);
        let mut servers = Ok(());
        for server in self.servers {
            if let Err(error) = server.await {
                servers = servers.and(Err(DemoError::Task(error)));
            }
        }
        self.forwarder.abort();
        gateway
            .map_err(DemoError::Task)?
            .map_err(DemoError::Gateway)?;
        servers
    }
}

/// Starts the mock CEC, the sample page and the gateway; returns once all of them listen.
/// Prints nothing (see [`banner`]). Everything stops when `shutdown` completes.
pub async fn start(
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<DemoHandle, DemoError> {
    let state_dir = state_dir(&opts.state_dir)?;
    // The channel secret: random per run, shared by the gateway and the mock, never shown.
    let secret_text = random_secret();
    let secret =
        SecretKey::signing(&secret_text).expect("43 ASCII alphanumerics are a valid secretKey");

    let ca = DemoCa::generate().map_err(DemoError::Pki)?;
    write(&state_dir.join(gateway_config::CA_FILE), ca.cert_pem())?;
    let bound = Bound::bind(opts.page_listen).await?;
    let cors_origins = resolve_origins(&opts.cors_origins, bound.page_origin.as_deref());
    let tls = bound.tls(&ca)?;
    let plan = gateway_config::Plan {
        listen: opts.listen,
        state_dir: &state_dir,
        mock_cec: bound.mock_addr,
        site: bound.site_addr,
        cors_origins: &cors_origins,
    };
    let (app_key, app_secret) = (random_secret(), random_secret());
    let fabric = MockFabric::new(&app_key, &app_secret);
    let env = [
        (gateway_config::SECRET_ENV, secret_text),
        (gateway_config::APP_KEY_ENV, app_key),
        (gateway_config::APP_SECRET_ENV, app_secret),
    ];
    let config = parse_config(&plan, env)?;
    let listeners = Listeners::bind(&config.server)
        .await
        .map_err(|e| DemoError::Gateway(e.into()))?;
    let gateway_url = format!("https://localhost:{}", listeners.https_addr().port());
    let admin_url = listeners.admin_addr().map(|a| format!("http://{a}"));

    // Everything from here on only spawns: nothing can fail half-started.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop_tx);
    let forwarder = tokio::spawn(forward(shutdown, Arc::clone(&stop)));
    let channels = HashMap::from([(site::CHANNEL_CONFIG_ID.to_owned(), secret)]);
    let mock = Arc::new(MockCec::new(channels).with_fabric(fabric));
    let mock_cec_url = format!("https://{}", bound.mock_addr);
    let page_origin = bound.page_origin.clone();
    let servers = bound.spawn(mock, tls, &stop_rx);
    let mut gateway_stop = stop_rx;
    let gateway = tokio::spawn(crate::run(config, listeners, async move {
        serve::stopped(&mut gateway_stop).await;
    }));

    Ok(DemoHandle {
        page_url: page_origin.map(|origin| format!("{origin}/?gateway={gateway_url}")),
        gateway_url,
        admin_url,
        mock_cec_url,
        cors_origins,
        state_dir,
        stop,
        forwarder,
        gateway,
        servers,
    })
}

/// The demo's own servers, bound on loopback (the cross-origin page where asked), not yet
/// serving.
struct Bound {
    mock: TcpListener,
    mock_addr: SocketAddr,
    site: TcpListener,
    site_addr: SocketAddr,
    page: Option<TcpListener>,
    /// The cross-origin page's origin, when it is served.
    page_origin: Option<String>,
}

/// The TLS configurations of the demo's HTTPS servers.
struct ServerTls {
    mock: Arc<ServerConfig>,
    page: Option<Arc<ServerConfig>>,
}

impl Bound {
    async fn bind(page_listen: Option<SocketAddr>) -> Result<Self, DemoError> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mock = bind("mock CEC", loopback).await?;
        let site = bind("sample page", loopback).await?;
        let page = match page_listen {
            Some(addr) => Some(bind("cross-origin page", addr).await?),
            None => None,
        };
        let page_origin = match &page {
            Some(listener) => Some(origin_of(local_addr("cross-origin page", listener)?)),
            None => None,
        };
        Ok(Self {
            mock_addr: local_addr("mock CEC", &mock)?,
            site_addr: local_addr("sample page", &site)?,
            mock,
            site,
            page,
            page_origin,
        })
    }

    /// Certificates from `ca` for the mock CEC and, if it is served, the cross-origin page.
    fn tls(&self, ca: &DemoCa) -> Result<ServerTls, DemoError> {
        let config = || {
            ca.server_config(LOCAL_NAMES, ALPN_H2_HTTP11)
                .map_err(DemoError::Pki)
        };
        Ok(ServerTls {
            mock: config()?,
            page: self.page.as_ref().map(|_| config()).transpose()?,
        })
    }

    /// Serves the mock CEC, the sample page and the cross-origin page until `stop` flips.
    fn spawn(
        self,
        mock: Arc<MockCec>,
        tls: ServerTls,
        stop: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let mut servers = vec![
            tokio::spawn(mock.serve(self.mock, tls.mock, stop.clone())),
            tokio::spawn(Site::new().serve(self.site, None, stop.clone())),
        ];
        if let (Some(listener), Some(tls)) = (self.page, tls.page) {
            servers.push(tokio::spawn(Site::new().serve(
                listener,
                Some(tls),
                stop.clone(),
            )));
        }
        servers
    }
}

/// The absolute state directory, created if missing.
fn state_dir(dir: &Path) -> Result<PathBuf, DemoError> {
    std::path::absolute(dir)
        .and_then(|abs| std::fs::create_dir_all(&abs).map(|()| abs))
        .map_err(|source| DemoError::StateDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// A channel secret of the longest allowed length, random ASCII letters and digits.
fn random_secret() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(MAX_SIGNING_SECRET_LEN)
        .map(char::from)
        .collect()
}

/// The CORS origins as configured, [`PAGE_ORIGIN`] replaced by the page's own (if it has one).
fn resolve_origins(origins: &[String], page_origin: Option<&str>) -> Vec<String> {
    origins
        .iter()
        .map(|o| match (o.as_str(), page_origin) {
            (PAGE_ORIGIN, Some(page)) => page.to_owned(),
            _ => o.clone(),
        })
        .collect()
}

/// Renders the gateway configuration for `plan`, saves it (it holds no secret) and parses it,
/// handing the `secrets` over by env name; their text is dropped after.
fn parse_config(
    plan: &gateway_config::Plan<'_>,
    secrets: [(&str, String); 3],
) -> Result<Config, DemoError> {
    let text = gateway_config::render(plan);
    let path = plan.state_dir.join(gateway_config::CONFIG_FILE);
    write(&path, &text)?;
    let env = |name: &str| {
        secrets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    Config::parse(&text, &path, &env).map_err(|e| DemoError::Config(Box::new(e)))
}

/// Flips `stop` once `shutdown` completes.
async fn forward(shutdown: impl Future<Output = ()>, stop: Arc<watch::Sender<bool>>) {
    shutdown.await;
    stop.send_replace(true);
}

/// `https://<host>:<port>` for a page bound to `addr`. A loopback or unspecified address is
/// browsed as `localhost`, the gateway's own host name: the page and the gateway are then
/// cross-origin (other port) but same-site, like `www.example.com` and `chat.example.com`.
/// A cross-site page would lose `ccmessaging-token`: Chromium blocks third-party cookies.
fn origin_of(addr: SocketAddr) -> String {
    let ip = addr.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("https://{addr}")
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, DemoError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Bind { what, addr, source })
}

fn local_addr(what: &'static str, listener: &TcpListener) -> Result<SocketAddr, DemoError> {
    listener.local_addr().map_err(|source| DemoError::Bind {
        what,
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|source| DemoError::StateDir {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_origins() {
        for local in ["127.0.0.1:9443", "0.0.0.0:9443", "[::]:9443", "[::1]:9443"] {
            let addr = local.parse().expect("addr");
            assert_eq!(origin_of(addr), "https://localhost:9443", "{local}");
        }
        assert_eq!(
            origin_of("192.0.2.7:9443".parse().expect("addr")),
            "https://192.0.2.7:9443"
        );
    }

    #[test]
    fn options_default_to_localhost_8443() {
        let opts = DemoOptions::default();
        assert_eq!(opts.listen, "127.0.0.1:8443".parse().expect("addr"));
        assert!(opts.page_listen.is_none() && opts.cors_origins.is_empty());
    }
}
