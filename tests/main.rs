//! The integration tests, one binary: every file beside this one is a module of it, so the
//! dependencies are linked once rather than once per file (less disk, less link time in CI).
//! Each module drives the real gateway (in this process or as a child) through real sockets.

mod support;

mod browser;
mod cli;
mod confine;
mod demo;
mod deploy;
mod drain;
mod fabric;
mod fabric_shared;
mod faults;
mod h2_flood;
mod hsts;
mod lifecycle;
mod listeners;
mod probe;
mod proxy;
mod proxy_protocol;
mod proxy_rewrite;
mod proxy_upstream;
mod reload;
mod sighup;
mod signing;
mod slow_clients;
mod smuggling;
mod smuggling_h2;
mod store;
mod token;
mod upgrade;
mod verifier_vector;
