//! Every default and built-in limit of the gateway, named, each with the reason for its value.
//! `config` fills absent keys from here; the core uses the ones that have no key (the admin
//! listener's budget, HTTP/2 streams, the listen backlog, TCP keep-alive to upstreams).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use super::typed::HostMode;

// ---- [server] ----

/// `server.listen`: every interface, on the unprivileged HTTPS port nginx setups commonly use.
pub(crate) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8443));
/// `server.http_redirect`: plain HTTP should only send browsers to https.
pub(crate) const DEFAULT_HTTP_REDIRECT: bool = true;
/// `server.hostnames`: enough for trying the gateway on one's own machine.
pub(crate) const DEFAULT_HOSTNAMES: &[&str] = &["localhost"];
/// `server.shutdown_grace`: lets a slow upstream answer finish; below the systemd unit's
/// `TimeoutStopSec=40` (deploy/systemd), which must cover `drain_delay` + this.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `server.header_read_timeout`: a real client sends its request head in well under a second.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.keepalive_timeout`: nginx's `keepalive_timeout` is 75s; a chat page polls far
/// more often than this, so only abandoned connections reach it.
pub(crate) const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// `server.max_connections_per_ip`: a corporate NAT's browsers (6 connections each) fit, one
/// host cannot take every one of `max_connections`.
pub(crate) const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// `server.tls_handshake_timeout`: a few round trips even on a bad mobile link.
pub(crate) const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.max_connections`: two fds each (client + upstream) fit the systemd unit's
/// `LimitNOFILE=65536` with room for pools, logs and the admin listener.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `server.workers` at most: far beyond any core count; guards against a typo.
pub(crate) const MAX_WORKERS: usize = 1024;
/// `server.proxy_protocol`: off, since a PROXY header from an untrusted peer would be a lie.
pub(crate) const DEFAULT_PROXY_PROTOCOL: bool = false;
/// `server.drain_delay`: none; a load balancer that polls `/readyz` needs a few seconds.
pub(crate) const DEFAULT_DRAIN_DELAY: Duration = Duration::ZERO;
/// `server.watch_config`: off, so that a half-written file never changes a running gateway.
pub(crate) const DEFAULT_WATCH_CONFIG: bool = false;
/// `server.hsts`: none, since a browser that saw `Strict-Transport-Security` keeps refusing
/// plain HTTP to the name for `max-age`; an operator opts in knowingly.
pub(crate) const DEFAULT_HSTS: Option<&str> = None;

/// `server.workers`: one event loop per core, like nginx's `worker_processes auto`.
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---- built in, no key ----

/// Connections the admin listener serves at once: its own budget, so that a flood on the
/// public side cannot lock operators out of `/metrics`, and small because only probes use it.
pub(crate) const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;
/// Concurrent HTTP/2 streams per connection: far above a chat page's needs, bounds one client.
pub(crate) const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 256;
/// HTTP/2 keep-alive: a PING this often on a connection, which closes when the answer takes
/// longer than [`DEFAULT_H2_PING_TIMEOUT`]; finds dead peers behind NAT long before TCP does.
pub(crate) const DEFAULT_H2_PING_INTERVAL: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// HTTP/2 streams a client may open and reset before the gateway answered them (Rapid Reset,
/// CVE-2023-44487): hyper's own default, stated so that it cannot drift.
pub(crate) const DEFAULT_H2_MAX_PENDING_RESETS: usize = 20;
/// HTTP/2 streams the gateway may reset for a client's protocol errors before it sends GOAWAY.
pub(crate) const DEFAULT_H2_MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// HTTP/2 request head size (decoded, RFC 9113 §6.5.2): hyper's server default, stated so that
/// it cannot drift; a CONTINUATION flood ends there.
pub(crate) const DEFAULT_H2_MAX_HEADER_LIST_SIZE: u32 = 16 << 10;
/// hyper's HTTP/1 read buffer at most (its default is ~400 KiB): a request head must fit, so
/// this is also the head size cap (431 beyond); bodies stream through it in pieces.
pub(crate) const DEFAULT_H1_MAX_BUF_SIZE: usize = 64 << 10;
/// HTTP/2 bytes buffered per stream for a client that reads slowly (hyper's default is
/// 400 KiB, times 256 streams): the memory one slow reader can pin.
pub(crate) const DEFAULT_H2_MAX_SEND_BUF_SIZE: usize = 64 << 10;
/// Above the largest `response_timeout`: a connection with requests in flight that moves
/// nothing for that long is cut. The upstream's 504 (at `response_timeout`) comes first.
pub(crate) const DEFAULT_STALL_MARGIN: Duration = Duration::from_secs(1);
/// `listen(2)` backlog of each listening socket: absorbs a reconnect burst; Linux's
/// `somaxconn` default since 5.4, which caps it anyway.
pub(crate) const DEFAULT_LISTEN_BACKLOG: u32 = 4096;
/// TCP keep-alive on upstream connections: finds dead idle pool connections before a request
/// does, below the common 350s NAT/load-balancer idle cut.
pub(crate) const DEFAULT_UPSTREAM_TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Pause after a failed `accept` (EMFILE and friends): lets fds free up instead of spinning.
pub(crate) const DEFAULT_ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// The `--config` path when none is given: the working directory, like the README says.
pub const DEFAULT_CONFIG_PATH: &str = "./config.toml";

// ---- [upstreams.NAME] ----

/// `upstreams.NAME.connect_timeout`: TCP + TLS to a healthy CEC takes well under a second.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `upstreams.NAME.response_timeout`: nginx's `proxy_read_timeout` default.
pub(crate) const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// `upstreams.NAME.pool_idle_per_host`: nginx-style `keepalive 64`, per worker.
pub(crate) const DEFAULT_POOL_IDLE_PER_HOST: usize = 64;
/// `upstreams.NAME.max_connections`: per worker; a CEC tenant's connection limit is far above,
/// and a stuck upstream cannot make the gateway open sockets without end.
pub(crate) const DEFAULT_UPSTREAM_MAX_CONNECTIONS: usize = 512;
/// `upstreams.NAME.pool_idle_timeout`: hyper-util's default for its pooled client.
pub(crate) const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

// ---- [upstreams.NAME.auth] (API Fabric) ----

/// `auth.token_ttl`: the vendor's example asks for 600 s.
pub(crate) const DEFAULT_FABRIC_TOKEN_TTL: Duration = Duration::from_secs(600);
/// `auth.token_ttl` at most: the CEC's own limit on `X-Token-Expire` (seconds).
pub(crate) const MAX_FABRIC_TOKEN_TTL_SECS: u64 = 3600;
/// `auth.token_path`: the machine-to-machine authentication interface (seed 001).
pub(crate) const DEFAULT_FABRIC_TOKEN_PATH: &str = "/apigovernance/api/oauth/tokenByAkSk";
/// `auth.refresh_before`: a minute ahead of expiry (capped at a quarter of the token's life).
pub(crate) const DEFAULT_FABRIC_REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// `auth.max_retry_body`: API calls carry small JSON bodies; larger ones stream, unretried.
pub(crate) const DEFAULT_FABRIC_MAX_RETRY_BODY: usize = 64 << 10;
/// After a failed token request, no new one for this long, doubling per failure up to
/// [`FABRIC_TOKEN_BACKOFF_MAX`]: a wrong secret must not hammer the CEC.
pub(crate) const FABRIC_TOKEN_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub(crate) const FABRIC_TOKEN_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// After a 401 from the API, the token is replaced at most this often (a 401 that a new
/// token does not cure must not become a token request per call).
pub(crate) const FABRIC_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Largest token answer read (a token, its scope and a few fields).
pub(crate) const FABRIC_MAX_TOKEN_ANSWER: usize = 16 << 10;

// ---- [[routes]], [cookies], [cors] ----

/// `routes[].host`: the upstream's own name, which virtual-hosted upstreams need.
pub(crate) const DEFAULT_HOST_MODE: HostMode = HostMode::Upstream;
/// `cookies.rewrite_domain`: the CEC's cookies must land on the gateway's domain.
pub(crate) const DEFAULT_REWRITE_DOMAIN: bool = true;
/// `cors.max_age`: browsers cap preflight caching at 2h (Chromium) or 24h; 10 minutes keeps
/// a changed policy taking effect soon.
pub(crate) const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(600);

// ---- [signing] ----

/// `signing.path`: where the vendor's chat widget POSTs `thirdUserData`.
pub(crate) const DEFAULT_SIGNING_PATH: &str =
    "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
/// `signing.max_body`: `thirdUserData` is a few hundred bytes; 64 KiB bounds the buffer.
pub(crate) const DEFAULT_SIGNING_MAX_BODY: usize = 64 << 10;

// ---- [token] ----

/// `token.validate_path`: the path the CEC calls back on (vendor guide, seed 004, 1.5.1).
pub(crate) const DEFAULT_VALIDATE_PATH: &str =
    "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate";
/// `token.ttl`: long enough to open the chat after signing in, short if a token leaks.
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(600);
/// `token.leeway`: ordinary NTP-synced clock skew between the minting backend and us.
pub(crate) const DEFAULT_TOKEN_LEEWAY: Duration = Duration::from_secs(30);
/// `token.rate_limit`, per second per source: far above a CEC's real callback rate.
pub(crate) const DEFAULT_TOKEN_RATE_PER_SEC: f64 = 20.0;
/// `token.rate_burst`: two seconds' worth of the default rate.
pub(crate) const DEFAULT_TOKEN_RATE_BURST: usize = 40;
/// `token.rate_burst` at most: a bucket bigger than this is no limit at all.
pub(crate) const MAX_TOKEN_RATE_BURST: usize = 1_000_000;
/// `token.max_body`: a validation request is a JWT plus three short fields.
pub(crate) const DEFAULT_TOKEN_MAX_BODY: usize = 8 << 10;

// ---- [store] ----

/// `store.key_prefix`: names the gateway's keys, so that a Redis shared with others stays tidy.
pub(crate) const DEFAULT_STORE_KEY_PREFIX: &str = "cec-gateway:";
/// `store.timeout`: a Redis on the same network answers in well under a millisecond; a quarter
/// second bounds what a dead store adds to one validation.
pub(crate) const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(250);
