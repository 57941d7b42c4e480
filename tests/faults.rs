//! Upstream faults under load (issue 10, the proofs): the mock upstream is killed (listener
//! and every connection closed at once) and restarted on the same port twice during a load
//! of keep-alive GETs and POSTs through the gateway binary. A request fails (502) only while
//! the upstream is down, service is back within a second of its return, no request fails on
//! a stale pooled connection afterwards, and the gateway's memory is back to its baseline.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use support::*;
use tokio::time::{Instant, sleep};

const UP: Duration = Duration::from_secs(2);
const DOWN: Duration = Duration::from_secs(1);
/// A request may fail from this long before the kill (it was in flight) until the restart.
const IN_FLIGHT: Duration = Duration::from_millis(100);
/// The first request begun after the restart is answered within this.
const RECOVERY: Duration = Duration::from_secs(1);

/// One request of the load: when it started and ended, and its answer.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    start: Instant,
    end: Instant,
    status: StatusCode,
    post: bool,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Requests on one keep-alive client until `stop`, each recorded.
async fn load(
    ca: Arc<DemoCa>,
    url: String,
    post: bool,
    stop: Instant,
    log: Arc<Mutex<Vec<Outcome>>>,
) {
    let client = client(&ca, false);
    while Instant::now() < stop {
        let start = Instant::now();
        let got = if post {
            support::post(&client, &url, "{\"n\":1}").await
        } else {
            get(&client, &url).await
        };
        let end = Instant::now();
        log.lock().unwrap().push(Outcome {
            start,
            end,
            status: got.status,
            post,
        });
        sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_upstream_fails_requests_only_while_it_is_down() {
    let ca = Arc::new(test_ca());
    let mut up = MockUpstream::ok(&ca).await;
    let at = up.addr;
    let dir = TempDir::new("faults");
    write_tls_files(&ca, &dir);
    let text = base_config(&up.url()).replace("@DIR@", dir.0.to_str().unwrap());
    let gw = Process::start(&write(&dir.0, "gateway.toml", &text));

    let cycles = 2;
    let stop = Instant::now() + (UP + DOWN) * cycles + UP;
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut load_tasks = Vec::new();
    for i in 0..6 {
        let url = gw.url(&format!("/service-cloud/load/{i}"));
        let task = load(Arc::clone(&ca), url, i % 3 == 2, stop, Arc::clone(&log));
        load_tasks.push(tokio::spawn(task));
    }
    let mut downs = Vec::new();
    let mut baseline = 0;
    for _ in 0..cycles {
        sleep(UP).await;
        baseline = baseline.max(rss_kib(gw.pid()));
        let killed = Instant::now();
        up.kill();
        sleep(DOWN).await;
        up = MockUpstream::ok_at(&ca, at).await;
        downs.push((killed, Instant::now()));
    }
    for task in load_tasks {
        task.await.unwrap();
    }
    sleep(Duration::from_millis(500)).await;
    let after = rss_kib(gw.pid());
    let log = log.lock().unwrap().clone();
    check(&log, &downs);
    eprintln!("gateway RSS: {baseline} KiB under load before the kills, {after} KiB after them");
    assert!(
        after <= baseline + baseline / 5,
        "memory not back to its baseline: {baseline} -> {after} KiB"
    );
}

/// Every failure is a 502 of a request begun while the upstream was down (or in flight at its
/// kill): none begun after a restart fails, not one on a stale pooled connection. Every down
/// window has some, and each restart serves again within [`RECOVERY`].
fn check(log: &[Outcome], downs: &[(Instant, Instant)]) {
    let explained = |o: &Outcome| {
        downs
            .iter()
            .any(|&(killed, back)| o.end >= killed - IN_FLIGHT && o.start < back)
    };
    let ok = log.iter().filter(|o| o.status == StatusCode::OK).count();
    let posts = log.iter().filter(|o| o.post).count();
    eprintln!("{} requests ({posts} POSTs), {ok} answered 200", log.len());
    for o in log.iter().filter(|o| o.status != StatusCode::OK) {
        assert_eq!(o.status, StatusCode::BAD_GATEWAY, "{o:?}");
        assert!(explained(o), "a failure while the upstream was up: {o:?}");
    }
    for (i, &(killed, back)) in downs.iter().enumerate() {
        let failed = log
            .iter()
            .filter(|o| o.status != StatusCode::OK && o.end >= killed && o.start <= back)
            .count();
        assert!(
            failed > 0,
            "cycle {i}: no request failed while the upstream was down"
        );
        let first = log
            .iter()
            .filter(|o| o.status == StatusCode::OK && o.start >= back)
            .map(|o| o.end)
            .min()
            .expect("served after the restart");
        let recovered = first - back;
        eprintln!(
            "cycle {i}: {failed} requests answered 502 while down; served again {recovered:?} after the restart"
        );
        assert!(
            recovered < RECOVERY,
            "cycle {i}: recovery took {recovered:?}"
        );
    }
}
