//! # cec-gateway
//!
//! An edge gateway that puts Huawei Cloud CEC web chat on an enterprise's own domain: a
//! TLS-terminating HTTP/1.1 + HTTP/2 reverse proxy that replaces the vendor's Nginx setup, signs
//! the `newThirdPartyClient.js` POST server-side (auth-v2), and serves Token mode's validation
//! endpoint.
//!
//! ## Processes and threads
//! `main` parses the command line, loads the [`config`], binds the [`Listeners`] and calls
//! [`Server::start`]; its own small runtime then only waits for signals (SIGTERM/ctrl-c: drain;
//! SIGHUP, or a change with `server.watch_config` ([`watch`]): [`Reloader`]). The proxy runs on
//! `server.workers` threads (`worker`), each with its own single-threaded event loop, its own
//! `SO_REUSEPORT` socket of the HTTPS address and its own upstream pools, like nginx's worker
//! processes: a request, its upstream connection and its response never change threads.
//! Worker 0 also serves the plain-HTTP and admin listeners.
//!
//! ## Where state is built and swapped
//! - `gateway::Generation`: what one configuration builds once (certificate, trust stores,
//!   Token mode's service, the API Fabric token caches); every step that can fail is here, so a
//!   reload is validated whole.
//! - `gateway::Gateway`: one per worker, built from a generation on the worker's thread (routes,
//!   upstream clients, metric series). Each worker reads it through one `swap` handle.
//! - `reload`: builds a new generation and hands it to every worker (`swap`); a connection
//!   takes its TLS settings at accept, a request loads the gateway once and keeps it to its end,
//!   so in-flight requests and WebSocket tunnels finish on what they started with.
//! - Process-wide, across reloads: `metrics`, the connection budget, API Fabric tokens (while
//!   the credentials stay the same), Token mode's memory
//!   (with `[store]`, in Redis: `store::Store` per generation, `store::StoreConn` per worker).
//!
//! ## The way of one request
//! ```text
//! worker accept::accept_loop               accept, take a slot of max_connections
//!  └ connection::serve_connection          PROXY header (proxy_protocol) → TLS handshake →
//!                                          per_ip → hyper under lifecycle's deadlines
//!     └ connection::dispatch               by listener role: public, redirect, admin
//!        ├ redirect::redirect              plain HTTP → 308 https (one of server.hostnames)
//!        ├ admin::handle                   /healthz /readyz /metrics, POST /tokens (mint key)
//!        └ Gateway::handle (pipeline)      request id, access record, CORS decision
//!           ├ confine::check               method, Host/:authority in server.hostnames, no dot
//!           │                              segment: else refused (421/400/405/501), reaching nothing
//!           ├ cors::preflight              answered at the edge
//!           ├ local::find → local::serve   token validation (store: shared rate limit, single
//!           │                              use), signature compatibility endpoint
//!           └ route::RouteTable::find → Gateway::proxy
//!              pipeline::upstream_request  URI, headers (hop-by-hop, X-Forwarded-*), Host
//!              Gateway::admit_caller       the route's allowed_callers / caller key (403/401)
//!              Gateway::sign_if_applies    body::read_limited → sign::sign_body (auth-v2)
//!              pipeline::credentials       upstream with auth: fabric::TokenCache's token,
//!                                          x-app-key + Authorization, after a 401 one retry
//!              pipeline::send              upstream::Upstream's pooled client (max_connections),
//!                                          response deadline, framing check, one safe retry
//!              upgrade::tunnel             WebSocket 101 with the right accept, tracked for the drain
//!              pipeline::rewrite_response  rewrite (Set-Cookie Domain, Location)
//!           → error::ProxyError::status    the one error → status map, JSON body
//!           → access::Metered              access log line and metrics when the body ends
//!             (and `server.hsts` on every answer of the HTTPS listener)
//! ```
//!
//! ## Modules
//! - Serving: `server` (start, drain), `listeners` (binding), `worker`, `accept`,
//!   `connection`, `per_ip` (`max_connections_per_ip`), `transport` (TLS handshake, hyper
//!   server), `lifecycle` (a connection's deadlines: first request, head, idle, stall),
//!   `proxy_protocol`,
//!   `tls` (served certificate, self-signed), `swap`,
//!   `reload`, [`watch`].
//! - One request: `pipeline`, `confine`, `route`, `headers`, `rewrite`, `cors`, `upstream`,
//!   `upgrade`, `body`, `error`, `access`, `local`, `admin`, `redirect`.
//! - Domain: [`sign`] (auth-v2, pure), [`token`] (Token mode, pure), [`secret`] (redacted keys),
//!   `fabric` (CEC API Fabric credentials: the AK/SK, the AccessToken cache, single flight),
//!   `store` (Token mode's single use and rate limits, and API Fabric tokens, shared through
//!   Redis, `[store]`).
//! - Around it: [`config`] (TOML → typed, errors with file/line/key), [`check`] (`check`
//!   summary), [`probe`] (`check --probe`), `metrics`, [`logging`] (batched writer, access
//!   log format), [`demo`] (mock CEC + sample page), `fuzzing` (the `cargo fuzz` targets'
//!   wrappers and the corpus replay; only with `cfg(test)` or the `fuzzing` feature), `bench`
//!   (the `benches/` microbenchmarks' entry points; only with the `bench` feature).
//!
//! ## Where to add
//! - **a config key**: `config::raw` (the TOML shape), `config::build` (typed, with its error),
//!   a `DEFAULT_*` in `config::defaults`, `config.toml` and the README's reference table.
//! - **a metric**: a field registered in `metrics::Metrics::new`; resolve labelled series once
//!   where state is built (`Gateway::for_worker`), never per request.
//! - **a route kind**: `config::RouteConfig` → `route::Route`, then a branch in
//!   `Gateway::proxy` or `pipeline::upstream_request`.
//! - **a locally answered path**: a variant of `local::Local`, found by `local::find`.
//! - **a store** (shared state across replicas): built in `Generation::build` next to Token
//!   mode's service, carried over on reload like `token::TokenService::carry_over`.
//! - **an admin endpoint**: `admin::handle`.

#![warn(unreachable_pub)]

mod accept;
mod access;
mod admin;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod body;
pub mod check;
pub mod config;
mod confine;
mod connection;
mod cors;
pub mod demo;
mod error;
mod fabric;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod headers;
mod lifecycle;
mod listeners;
mod local;
pub mod logging;
mod metrics;
mod per_ip;
mod pipeline;
pub mod probe;
mod proxy_protocol;
mod redirect;
mod reload;
mod rewrite;
mod route;
pub mod secret;
mod server;
pub mod sign;
mod store;
mod swap;
mod tls;
pub mod token;
mod transport;
mod upgrade;
mod upstream;
pub mod watch;
mod worker;

pub use gateway::StateError;
pub use listeners::{BindError, Listeners};
pub use reload::{ReloadError, Reloader};
pub use server::{RunError, Server, run};
pub use tls::TlsError;
pub use upstream::UpstreamError;
