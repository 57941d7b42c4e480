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

pub mod admin;
pub mod body;
pub mod check;
pub mod config;
pub mod cors;
pub mod demo;
pub mod endpoints;
pub mod error;
pub mod forward;
pub mod headers;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod probe;
pub mod rewrite;
pub mod route;
pub mod secret;
pub mod server;
pub mod sign;
pub mod tls;
pub mod token;
pub mod upgrade;
pub mod upstream;

pub use server::{Listeners, RunError, run};
