//! Test support: a test CA, in-process mock upstreams that record what they received, the
//! real gateway started on 127.0.0.1:0 from a TOML text, and HTTPS clients that trust the CA.
//!
//! - the test CA is the demo's [`DemoCa`] ([`test_ca`]);
//! - [`upstream`]: [`MockUpstream`], an HTTPS upstream that records what it received;
//! - [`cec`]: the demo's mock CEC behind such a recording upstream;
//! - [`fabric`]: the demo's mock API Fabric behind such a recording upstream, and its config;
//! - [`gateway`]: [`Gateway`], the real gateway in this process, and its test configuration;
//! - [`client`]: HTTPS clients trusting the CA and collected responses;
//! - [`recording`]: a client stream that keeps what it read, and the HTTP/2 frames in it;
//! - [`lenient`]: a careless raw HTTP/1.1 upstream that logs every request it parses;
//! - [`h2raw`]: HTTP/2 frames written and read by hand, for the flood tests;
//! - [`process`]: the gateway binary as a child process, with its JSON log lines;
//! - [`redis`]: a real `redis-server` for the shared-store tests;
//! - [`token`]: Token mode's minting and validation calls.
#![allow(dead_code)]

pub mod cec;
pub mod client;
pub mod fabric;
pub mod gateway;
pub mod h2raw;
pub mod lenient;
pub mod process;
pub mod recording;
pub mod redis;
pub mod token;
pub mod upstream;

// Each test file uses the part it needs (only the signing tests run the mock CEC, the demo
// test runs no gateway of its own).
#[allow(unused_imports)]
pub use cec::*;
pub use cec_gateway::demo::pki::{DemoCa, LOCAL_NAMES};
#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use fabric::*;
#[allow(unused_imports)]
pub use gateway::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use redis::*;
#[allow(unused_imports)]
pub use token::*;
pub use upstream::*;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn body(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).boxed()
}

/// The sending end of a [`streamed_body`]: each chunk is one data frame.
pub struct ChunkSender(mpsc::Sender<Result<Frame<Bytes>, Infallible>>);

impl ChunkSender {
    /// Sends one chunk; `false` once the body is gone.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> bool {
        self.0.send(Ok(Frame::data(chunk.into()))).await.is_ok()
    }
}

/// A body of unknown length (chunked on HTTP/1.1) that yields what its sender sends, with
/// `capacity` chunks buffered; it ends when the sender is dropped.
pub fn streamed_body(capacity: usize) -> (ChunkSender, TestBody) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (ChunkSender(tx), StreamBody::new(frames).boxed())
}

/// A fresh test CA: the demo's per-run CA, issuing certificates for [`LOCAL_NAMES`].
pub fn test_ca() -> DemoCa {
    DemoCa::generate().unwrap()
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
