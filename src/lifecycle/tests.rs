use std::time::Duration;

use bytes::Bytes;
use http::Version;
use tokio::time::{Instant, advance};

use super::*;

const D: Deadlines = Deadlines {
    header_read: Duration::from_secs(10),
    keepalive: Duration::from_secs(60),
    stall: Duration::from_secs(61),
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn first_request_then_idle_then_a_head_then_busy() {
    let a = Activity::new();
    let t0 = Instant::now();
    assert_eq!(a.next(&D), (t0 + D.header_read, Expiry::FirstRequest));
    // Bytes before the first request (a TLS record, the h2 preface) change nothing.
    a.read();
    assert_eq!(a.next(&D), (t0 + D.header_read, Expiry::FirstRequest));

    advance(ms(2_000)).await;
    let req = a.begin(Version::HTTP_11);
    assert_eq!(a.next(&D), (t0 + ms(2_000) + D.stall, Expiry::Stalled));
    advance(ms(1_000)).await;
    a.wrote();
    assert_eq!(
        a.next(&D).0,
        t0 + ms(3_000) + D.stall,
        "a write is progress"
    );
    advance(ms(1_000)).await;
    drop(req);
    assert_eq!(a.next(&D), (t0 + ms(4_000) + D.keepalive, Expiry::Idle));

    // The next head's first byte starts its own, shorter clock.
    advance(ms(5_000)).await;
    a.read();
    assert_eq!(a.next(&D), (t0 + ms(9_000) + D.header_read, Expiry::Header));
    a.read();
    assert_eq!(
        a.next(&D).0,
        t0 + ms(9_000) + D.header_read,
        "later bytes of the same head do not extend it"
    );
    let _req = a.begin(Version::HTTP_11);
    assert_eq!(a.next(&D).1, Expiry::Stalled);
}

#[tokio::test(start_paused = true)]
async fn a_head_begun_late_in_the_idle_time_still_ends_at_keepalive() {
    let a = Activity::new();
    drop(a.begin(Version::HTTP_11));
    let idle = Instant::now();
    advance(ms(55_000)).await;
    a.read();
    assert_eq!(a.next(&D), (idle + D.keepalive, Expiry::Idle));
}

#[tokio::test(start_paused = true)]
async fn h2_counts_streams_not_bytes() {
    let a = Activity::new();
    let s1 = a.begin(Version::HTTP_2);
    let s2 = a.begin(Version::HTTP_2);
    let t1 = Instant::now();
    advance(ms(3_000)).await;
    // PINGs and WINDOW_UPDATEs are no progress of a response.
    a.read();
    a.wrote();
    assert_eq!(a.next(&D), (t1 + D.stall, Expiry::Stalled));
    drop(s1);
    assert_eq!(a.next(&D).1, Expiry::Stalled, "one stream still open");
    advance(ms(1_000)).await;
    drop(s2);
    assert_eq!(a.next(&D), (Instant::now() + D.keepalive, Expiry::Idle));
    a.read();
    assert_eq!(
        a.next(&D).1,
        Expiry::Idle,
        "h2 has no request head to wait for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_head_begun_wakes_the_supervisor() {
    let a = Activity::new();
    drop(a.begin(Version::HTTP_11));
    let woken = tokio::time::timeout(ms(10), a.changed());
    a.read();
    woken
        .await
        .expect("a begun head wakes whoever waits on changed()");
}

#[tokio::test(start_paused = true)]
async fn a_guarded_body_ends_its_request_when_dropped() {
    use http_body_util::{BodyExt, Full};
    let a = Activity::new();
    let body = guarded(
        Full::new(Bytes::from_static(b"hi")),
        a.begin(Version::HTTP_11),
    );
    assert_eq!(a.next(&D).1, Expiry::Stalled);
    let collected = body.collect().await.unwrap().to_bytes();
    assert_eq!(&collected[..], b"hi");
    // `collect` consumed (dropped) the body.
    assert_eq!(a.next(&D).1, Expiry::Idle);
}

#[tokio::test(start_paused = true)]
async fn last_active_waits_for_a_quiet_period() {
    let l = LastActive::new();
    let start = Instant::now();
    let idle = l.idle_for(ms(1_000));
    tokio::pin!(idle);
    advance(ms(600)).await;
    l.touch();
    assert!(
        tokio::time::timeout(ms(900), &mut idle).await.is_err(),
        "a byte 600 ms in moves the end to 1600 ms"
    );
    idle.await;
    assert!(Instant::now() >= start + ms(1_600));
}
