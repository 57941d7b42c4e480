//! HTTP/2 floods through the real server, frames written by hand (`support::h2raw`): Rapid
//! Reset (CVE-2023-44487), a CONTINUATION flood, SETTINGS and PING floods that never read the
//! ACKs, and more streams than `SETTINGS_MAX_CONCURRENT_STREAMS`. For each: how the gateway ends
//! the abusive connection (GOAWAY, or a close), that a normal client is served meanwhile and
//! after, and how many requests the upstream saw (by its own count).
//!
//! `cargo test --test h2_flood -- --nocapture --test-threads=1` prints each flood's figures:
//! | flood | frames written | how the connection ended | upstream requests | RSS KiB before ->
//! after the flood -> at the end | CPU ms | (RSS and CPU are the process's: the gateway's and
//! the test's together).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::h2raw::*;
use support::*;
use tokio::io::AsyncWriteExt;

/// The process's resident set size in KiB (the gateway runs in this process).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1));
    kib.and_then(|k| k.parse().ok()).unwrap_or(0)
}

/// The process's CPU time (user + system) in milliseconds, assuming 100 ticks a second.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks * 10
}

/// A normal HTTP/2 client's requests, sequential, while something else goes on: all must be 200.
fn normal_client(ca: &DemoCa, gw: &Gateway, n: usize) -> tokio::task::JoinHandle<usize> {
    let (c, url) = (client(ca, true), gw.url("/service-cloud/normal"));
    tokio::spawn(async move {
        for _ in 0..n {
            let got = get(&c, &url).await;
            assert_eq!(got.status, StatusCode::OK, "{got:?}");
        }
        n
    })
}

/// Requests the upstream saw for `path`, by its own record.
fn seen_upstream(up: &MockUpstream, path: &str) -> usize {
    up.requests().iter().filter(|r| r.uri == path).count()
}

/// How a flood ended on the writer's side.
struct Flooded {
    /// Frames handed to the connection (the last batch may be partly unwritten: `rest`).
    frames: usize,
    /// A write made no progress for a second: the server stopped reading. What is left of
    /// the batch, to write once the server reads again.
    rest: Option<Vec<u8>>,
}

/// Writes `frames` in batches of `batch` until done, the server closes, or a write makes no
/// progress for a second (the server stopped reading).
async fn flood(h2: &mut H2, frames: impl Iterator<Item = Vec<u8>>, batch: usize) -> Flooded {
    let mut out = Flooded {
        frames: 0,
        rest: None,
    };
    let mut frames = frames.peekable();
    while frames.peek().is_some() {
        let chunk: Vec<Vec<u8>> = frames.by_ref().take(batch).collect();
        let buf = chunk.concat();
        out.frames += chunk.len();
        let mut at = 0;
        while at < buf.len() {
            // One `write` is cancel-safe: on timeout nothing of it was taken.
            match tokio::time::timeout(Duration::from_secs(1), h2.w.write(&buf[at..])).await {
                Ok(Ok(n @ 1..)) => at += n,
                Ok(_) => return out,
                Err(_) => {
                    out.rest = Some(buf[at..].to_vec());
                    return out;
                }
            }
        }
    }
    out
}

/// One flood's figures, printed as a table row.
fn report(name: &str, sent: usize, h2: &H2, upstream: usize, rss: [u64; 3], cpu0: u64) {
    let end = match (h2.seen().goaway, h2.seen().closed) {
        (Some((last, code)), _) => format!("GOAWAY {code:#x}, last stream {last}"),
        (None, true) => "closed without GOAWAY".to_owned(),
        (None, false) => "open".to_owned(),
    };
    println!(
        "| {name} | {sent} | {end} | {upstream} | {} -> {} -> {} | {} |",
        rss[0],
        rss[1],
        rss[2],
        cpu_ms() - cpu0
    );
}

/// A normal HTTP/2 client still served once the flood is over.
async fn served_after(ca: &DemoCa, gw: &Gateway) {
    let got = get(&client(ca, true), &gw.url("/service-cloud/normal")).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
}

async fn setup() -> (DemoCa, MockUpstream, Gateway) {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    (ca, up, gw)
}

const NORMAL: usize = 20;

/// The abusive connection ends with GOAWAY ENHANCE_YOUR_CALM (within 10 s): its last stream.
async fn calmed(h2: &mut H2) -> u32 {
    assert!(h2.read_until_goaway(Duration::from_secs(10)).await);
    let (last, code) = h2.seen().goaway.expect("a GOAWAY");
    assert_eq!(code, ENHANCE_YOUR_CALM);
    last
}

#[tokio::test]
async fn rapid_reset_gets_goaway_and_reaches_at_most_the_admitted_streams() {
    let (ca, up, gw) = setup().await;
    let (rss0, cpu0) = (rss_kib(), cpu_ms());
    let normal = normal_client(&ca, &gw, NORMAL);
    let mut h2 = H2::connect(&ca, gw.https, true).await;
    let pairs = (0..5_000u32).map(|i| 2 * i + 1);
    let frames = pairs.flat_map(|id| [get_frame(id, "/service-cloud/rr"), cancel(id)]);
    let sent = flood(&mut h2, frames, 200).await.frames;
    let rss1 = rss_kib();
    let last = calmed(&mut h2).await;
    assert_eq!(normal.await.unwrap(), NORMAL);
    served_after(&ca, &gw).await;
    let upstream = seen_upstream(&up, "/service-cloud/rr");
    // At most the streams the GOAWAY admits (client streams are odd: 1, 3, …, last).
    assert!(
        upstream <= (last as usize).div_ceil(2),
        "{upstream} > streams up to {last}"
    );
    report(
        "Rapid Reset: HEADERS+RST_STREAM x5000",
        sent,
        &h2,
        upstream,
        [rss0, rss1, rss_kib()],
        cpu0,
    );
}

#[tokio::test]
async fn a_continuation_flood_gets_goaway_and_reaches_nothing() {
    let (ca, up, gw) = setup().await;
    let (rss0, cpu0) = (rss_kib(), cpu_ms());
    let normal = normal_client(&ca, &gw, NORMAL);
    let mut h2 = H2::connect(&ca, gw.https, true).await;
    // HEADERS without END_HEADERS, then CONTINUATION frames of valid literal fields, no end.
    let first = frame(
        HEADERS,
        END_STREAM,
        1,
        &request_block("GET", "/service-cloud/c"),
    );
    let field = b"\x00\x03x-f\x0aaaaaaaaaaa";
    let filler: Vec<u8> = field
        .iter()
        .copied()
        .cycle()
        .take(field.len() * 1_000)
        .collect();
    let more = (0..2_000).map(|_| frame(CONTINUATION, 0, 1, &filler));
    let sent = flood(&mut h2, std::iter::once(first).chain(more), 10)
        .await
        .frames;
    let rss1 = rss_kib();
    calmed(&mut h2).await;
    assert_eq!(normal.await.unwrap(), NORMAL);
    served_after(&ca, &gw).await;
    let upstream = seen_upstream(&up, "/service-cloud/c");
    assert_eq!(upstream, 0);
    report(
        "CONTINUATION x2000 (16 kB each)",
        sent,
        &h2,
        upstream,
        [rss0, rss1, rss_kib()],
        cpu0,
    );
}

/// A flood of `control` frames from a peer that never reads the ACKs: the gateway must stop
/// reading it (an ACK is owed, not queued without bound) and serve everyone else; and since
/// the peer never sent a request, the first-request deadline (`header_read_timeout`, 2 s here)
/// closes it, stalled or not: it reads what was sent (no more ACKs than it sent frames) and
/// then the close, and its last request never reaches the upstream.
async fn unread_control_flood(name: &str, kind: u8, control: impl Fn(u64) -> Vec<u8>) {
    let (ca, up, gw) = setup().await;
    let (rss0, cpu0) = (rss_kib(), cpu_ms());
    let normal = normal_client(&ca, &gw, NORMAL);
    let mut h2 = H2::connect(&ca, gw.https, false).await;
    let started = tokio::time::Instant::now();
    let flooded = flood(&mut h2, (0..2_000_000u64).map(control), 1_000).await;
    let sent = flooded.frames;
    // Either the gateway stopped reading (the rest is unwritten) or its deadline closed the
    // connection first (a write failed); all of it read is the failure.
    assert!(
        flooded.rest.is_some() || sent < 2_000_000,
        "{name}: the gateway kept reading a peer that reads nothing"
    );
    let rest = flooded.rest.unwrap_or_default();
    let rss1 = rss_kib();
    assert_eq!(normal.await.unwrap(), NORMAL);
    // The peer stays stalled past the first-request deadline (the kernel's socket buffers can
    // take megabytes of ACKs, so the flood may stall well before it), then reads again and
    // tries the rest of its flood and a request: the connection is gone by then (a write may
    // fail, the read sees the close).
    tokio::time::sleep_until(started + Duration::from_millis(2_500)).await;
    let write = async {
        let _ = h2.w.write_all(&rest).await;
        let _ = h2.w.write_all(&get_frame(1, "/service-cloud/probe")).await;
    };
    let (_, ended) = tokio::join!(write, h2.r.read_until(Duration::from_secs(20), |_| false));
    assert!(ended, "{name}: the stalled connection is never closed");
    assert!(h2.seen().closed, "{name}: closed, not only a GOAWAY");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{name}: closed after {:?}",
        started.elapsed()
    );
    // Every ACK answers a frame (SETTINGS: also the server's own SETTINGS, and our first).
    let acks = h2.seen().counts[usize::from(kind)];
    assert!(acks <= sent + 2, "{name}: {acks} ACKs for {sent} frames");
    served_after(&ca, &gw).await;
    let upstream = seen_upstream(&up, "/service-cloud/probe");
    assert_eq!(
        upstream, 0,
        "{name}: the request after the stall reached the upstream"
    );
    report(name, sent, &h2, upstream, [rss0, rss1, rss_kib()], cpu0);
}

#[tokio::test]
async fn a_ping_flood_that_reads_no_ack_is_backpressured_then_closed() {
    let ping = |i: u64| frame(PING, 0, 0, &i.to_be_bytes());
    unread_control_flood("PING, ACKs unread", PING, ping).await;
}

#[tokio::test]
async fn a_settings_flood_that_reads_no_ack_is_backpressured_then_closed() {
    let settings = |_| frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
    unread_control_flood("SETTINGS, ACKs unread", SETTINGS, settings).await;
}

#[tokio::test]
async fn more_streams_than_allowed_get_goaway_and_never_reach_the_upstream() {
    let ca = test_ca();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    // The upstream holds the flood's requests (not the normal client's) until the end.
    let up = MockUpstream::start(&ca, move |r| {
        let g = g.clone();
        async move {
            if r.uri == "/service-cloud/s" {
                let _ = g.acquire().await;
            }
            http::Response::new(body("ok"))
        }
    })
    .await;
    // 256 upstream connections open at once: on a loaded debug build a handshake may take
    // longer than the 1 s connect_timeout of the base configuration.
    let cfg = base_config(&up.url())
        .replace("response_timeout = \"2s\"", "response_timeout = \"60s\"")
        .replace("connect_timeout = \"1s\"", "connect_timeout = \"20s\"");
    let gw = Gateway::start(&ca, &cfg).await;
    let (rss0, cpu0) = (rss_kib(), cpu_ms());
    let mut h2 = H2::connect(&ca, gw.https, true).await;
    // As many streams as the gateway allows, all held open by the upstream.
    let allowed = (0..STREAMS).map(|i| get_frame(2 * i + 1, "/service-cloud/s"));
    assert_eq!(flood(&mut h2, allowed, 64).await.frames, STREAMS as usize);
    let all_there = async {
        while seen_upstream(&up, "/service-cloud/s") < STREAMS as usize {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all_there)
        .await
        .expect("every allowed stream upstream");
    let normal = normal_client(&ca, &gw, NORMAL);
    // Then thousands more, each refused.
    let extra = (STREAMS..STREAMS + 3_000).map(|i| get_frame(2 * i + 1, "/service-cloud/s"));
    let sent = flood(&mut h2, extra, 100).await.frames;
    let rss1 = rss_kib();
    let last = calmed(&mut h2).await;
    assert!(
        last < 2 * STREAMS,
        "a stream past the limit was admitted: {last}"
    );
    assert!(
        h2.seen().counts[usize::from(RST_STREAM)] > 0,
        "refused streams are reset"
    );
    assert_eq!(normal.await.unwrap(), NORMAL);
    served_after(&ca, &gw).await;
    let upstream = seen_upstream(&up, "/service-cloud/s");
    assert_eq!(upstream, STREAMS as usize);
    gate.close();
    report(
        "streams: 256 held + 3000 more",
        STREAMS as usize + sent,
        &h2,
        upstream,
        [rss0, rss1, rss_kib()],
        cpu0,
    );
}

/// The gateway's SETTINGS_MAX_CONCURRENT_STREAMS.
const STREAMS: u32 = 256;
