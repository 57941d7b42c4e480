//! # cec-gateway
//!
//! An edge gateway that puts Huawei Cloud CEC web chat on an enterprise's own domain: a
//! TLS-terminating HTTP/1.1 + HTTP/2 reverse proxy that replaces the vendor's Nginx setup, signs
//! the `newThirdPartyClient.js` POST server-side (auth-v2), and serves Token mode's validation
//! endpoint.
//!
//! ## Architecture
//! ```text
//!   main ── config::Config::load ── Listeners::bind ── run(config, listeners, shutdown)
//!                                                          │
//!   listen (TLS accept, h1/h2, limits, graceful drain) ────┤
//!     └─ forward::Gateway::handle   one request:            │
//!          cors (preflight) → route (longest prefix) → headers (hop-by-hop, X-Forwarded-*)
//!          → sign (buffer + inject thirdPartAuthorization) → upstream (pooled client, timeouts)
//!          → rewrite (Set-Cookie Domain, Location) → error (the only ProxyError → status map)
//!   admin  /healthz /readyz /metrics (metrics: Prometheus text)   token: Token mode
//!   demo   mock CEC + sample page, for trying it without a CEC account
//! ```
//! State is built once per configuration ([`forward::Gateway`] behind an `Arc`) and shared
//! immutably by every connection; there are no globals, so a reload can build a new one and
//! swap it. Shutdown is a future passed in; only `main` touches signals.

mod accept;
mod access;
mod admin;
pub mod body;
pub mod check;
pub mod config;
mod connection;
pub mod cors;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod headers;
mod listeners;
mod local;
pub mod logging;
pub mod metrics;
pub mod pipeline;
mod proxy_protocol;
mod redirect;
mod reload;
pub mod rewrite;
pub mod route;
pub mod secret;
mod server;
pub mod sign;
mod swap;
pub mod tls;
pub mod token;
mod upgrade;
pub mod upstream;
pub mod watch;
mod worker;

pub use listeners::Listeners;
pub use reload::{ReloadError, Reloader};
pub use server::{RunError, Server, run};
