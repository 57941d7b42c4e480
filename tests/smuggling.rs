//! The smuggling table: request vectors written as raw bytes to the gateway (HTTPS listener and
//! plain listener) in front of a deliberately lenient upstream (`support::lenient`) that logs
//! every request it parses. For each vector: the gateway's first answer (or close), whether the
//! connection still serves a follow-up request, and how many requests reached the upstream, all
//! checked against the table; and over the whole run, by the upstream's own log, that no
//! request outside the route, no smuggled request and no ambiguous framing ever reached it.
//!
//! `cargo test --test smuggling -- --nocapture` prints the table with its outcomes.

use crate::support;

use support::lenient::{Io, LenientUpstream, Parsed, exchange};
use support::*;

/// What the gateway answers first.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Exactly this status.
    Status(u16),
    /// A 2xx (from the upstream).
    Ok,
    /// This status, or a close without any answer (a long vector may be cut by a reset).
    StatusOrClose(u16),
}

/// What the connection does after that answer, seen by a follow-up request and the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Closed: the follow-up never reaches the upstream.
    Closed,
    /// Still in sync: the follow-up is served by the upstream.
    Serves,
}

struct Vector {
    name: &'static str,
    bytes: &'static [u8],
    answer: Answer,
    then: Then,
    /// Answers to the vector itself (more than one: legitimate pipelining).
    answers: usize,
    /// Requests the vector makes reach the upstream, exactly (the follow-up aside).
    upstream: usize,
}

const fn v(name: &'static str, s: &'static str, answer: Answer, then: Then, up: usize) -> Vector {
    Vector {
        name,
        bytes: s.as_bytes(),
        answer,
        then,
        answers: 1,
        upstream: up,
    }
}

/// A pipelined vector with `answers` answers.
const fn p(name: &'static str, s: &'static str, answers: usize, then: Then, up: usize) -> Vector {
    Vector {
        answers,
        ..v(name, s, Answer::Ok, then, up)
    }
}

/// An upgrade the gateway does not complete (`status`), then a request outside the route: the
/// gateway answers that one itself (404), it is never tunnelled to the upstream.
const fn w(name: &'static str, s: &'static str, status: u16) -> Vector {
    Vector {
        answers: 2,
        ..v(name, s, Status(status), Serves, 1)
    }
}

/// A request to a path outside every route: must never reach the upstream.
macro_rules! smuggled {
    () => {
        "GET /internal/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
    };
}

/// A POST head up to its framing headers.
macro_rules! post {
    () => {
        "POST /service-cloud/a HTTP/1.1\r\nHost: localhost\r\n"
    };
}

/// A WebSocket handshake (RFC 6455's sample key) on `/service-cloud/$path`.
macro_rules! ws {
    ($path:literal, $version:literal) => {
        concat!(
            "GET /service-cloud/",
            $path,
            " HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
            "Sec-WebSocket-Version: ",
            $version,
            "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
}

/// Replaced by 70,000 `a`s: longer than any line the gateway reads.
const LONG: &str = "@LONG@";
/// Replaced by 2,000,000 `a`s: more than the gateway ever buffers for a request head (about
/// 400 KiB in one read, twice that across reads: a head of 500 kB is sometimes accepted).
const HUGE: &str = "@HUGE@";
/// Replaced by 150 header lines: more than the gateway reads.
const MANY: &str = "@MANY@";

use Answer::{Ok as Ok2xx, Status, StatusOrClose};
use Then::{Closed, Serves};

#[rustfmt::skip]
const TABLE: &[Vector] = &[
    v("baseline GET", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\n", Ok2xx, Serves, 1),
    v("baseline POST with Content-Length", concat!(post!(), "Content-Length: 5\r\n\r\nhello"), Ok2xx, Serves, 1),
    // CL + TE: chunked wins (RFC 9112 §6.3), and the connection is closed after the answer.
    v("CL then TE, smuggled after 0-chunk", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("TE then CL, smuggled after 0-chunk", concat!(post!(), "Transfer-Encoding: chunked\r\nContent-Length: 57\r\n\r\n0\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("TE.CL: CL short, smuggled in the chunk", concat!(post!(), "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n34\r\n", smuggled!(), "\r\n0\r\n\r\n"), Ok2xx, Closed, 1),
    v("duplicate Content-Length, equal", concat!(post!(), "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), Ok2xx, Serves, 1),
    v("duplicate Content-Length, different", concat!(post!(), "Content-Length: 0\r\nContent-Length: 52\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("Content-Length list, equal", concat!(post!(), "Content-Length: 5, 5\r\n\r\nhello"), Status(400), Closed, 0),
    v("Content-Length list, different", concat!(post!(), "Content-Length: 0, 52\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("Content-Length with a sign", concat!(post!(), "Content-Length: +52\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("Content-Length in hex", concat!(post!(), "Content-Length: 0x34\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("TE: chunked, identity + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("TE: identity + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("TE: xchunked + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("TE: ' chunked' (extra space) + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding:  chunked\r\n\r\n0\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("TE: tab before chunked + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("TE: CHUNKED (case) + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("'Transfer-Encoding : chunked' + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("'Content-Length : 52' (space before colon)", concat!(post!(), "Content-Length : 52\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("TE twice: chunked, then identity", concat!(post!(), "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("obs-fold of Transfer-Encoding + CL", concat!(post!(), "Content-Length: 57\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("obs-fold of an ordinary header", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n", Status(400), Closed, 0),
    v("bare LF line ends", "GET /service-cloud/a HTTP/1.1\nHost: localhost\n\n", Ok2xx, Serves, 1),
    v("bare CR line end", "GET /service-cloud/a HTTP/1.1\rHost: localhost\r\n\r\n", Status(400), Closed, 0),
    v("bare CR inside a header value", concat!(post!(), "X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: 57\r\n\r\n0\r\n\r\n", smuggled!()), Status(400), Closed, 0),
    v("NUL in a header value", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n", Status(400), Closed, 0),
    v("NUL in the target", "GET /service-cloud/a\0b HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(400), Closed, 0),
    // A broken chunked body is the client's fault (400), though it fails while the gateway
    // streams it upstream; the upstream never sees it complete.
    v("chunk size not hex", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunk size overflowing 64 bits", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunk size with 0x prefix", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunk size with a sign", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunk extension (valid, dropped)", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n"), Ok2xx, Serves, 1),
    v("chunk extension with a bare CR", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunk data longer than its size", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n5\r\nhello", smuggled!(), "\r\n0\r\n\r\n"), Status(400), Closed, 0),
    v("chunked with bare LF", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"), Status(400), Closed, 0),
    v("trailer after the last chunk", concat!(post!(), "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 52\r\n\r\n"), Ok2xx, Serves, 1),
    // 70 kB is past the 64 KiB head cap (DEFAULT_H1_MAX_BUF_SIZE) before any URI length check.
    v("over-long request line (70 kB)", "GET /service-cloud/@LONG@ HTTP/1.1\r\nHost: localhost\r\n\r\n", StatusOrClose(431), Closed, 0),
    v("over-long header line (2 MB)", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\nX-A: @HUGE@\r\n\r\n", StatusOrClose(431), Closed, 0),
    v("too many header lines", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\n@MANY@\r\n", StatusOrClose(431), Closed, 0),
    v("absolute-form target", "GET https://localhost/service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\n", Ok2xx, Serves, 1),
    v("absolute-form, another host", "GET https://evil.example/service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(421), Serves, 0),
    v("absolute-form, Host disagrees", "GET https://localhost/service-cloud/a HTTP/1.1\r\nHost: evil.example\r\n\r\n", Status(421), Serves, 0),
    v("authority-form CONNECT", "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", Status(501), Serves, 0),
    v("authority-form GET", "GET localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(404), Serves, 0),
    v("asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(404), Serves, 0),
    v("no Host on HTTP/1.1", "GET /service-cloud/a HTTP/1.1\r\n\r\n", Status(400), Serves, 0),
    v("TRACE", "TRACE /service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(405), Serves, 0),
    p("HTTP/1.0 keep-alive, two pipelined", "GET /service-cloud/a HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\nGET /service-cloud/b HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", 2, Serves, 2),
    v("HTTP/1.0 without keep-alive, then pipelined", concat!("GET /service-cloud/a HTTP/1.0\r\nHost: localhost\r\n\r\n", smuggled!()), Ok2xx, Closed, 1),
    v("HTTP/1.0 with TE chunked", "POST /service-cloud/a HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Status(400), Closed, 0),
    v("GET with a body, smuggled inside it", concat!("GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 52\r\n\r\n", smuggled!()), Ok2xx, Serves, 1),
    p("two pipelined requests", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /service-cloud/b HTTP/1.1\r\nHost: localhost\r\n\r\n", 2, Serves, 2),
    v("h2c upgrade, then the h2 preface", "GET /service-cloud/a HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Ok2xx, Closed, 1),
    v("h2c upgrade on POST", concat!(post!(), "Content-Length: 0\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"), Ok2xx, Serves, 1),
    w("WebSocket refused (426), then smuggled", concat!(ws!("ws", "13"), smuggled!()), 426),
    w("WebSocket bad version, then smuggled", concat!(ws!("ws", "1337"), smuggled!()), 426),
    w("WebSocket, upstream 101 with a wrong accept", concat!(ws!("ws-bad-accept", "13"), smuggled!()), 502),
    // Response side (issue 10, item 7): the upstream answers with both Content-Length: 30 and
    // a chunked body of 2 bytes; the gateway answers 502 and keeps the client connection.
    v("upstream response with CL and TE", "GET /service-cloud/resp-cl-te HTTP/1.1\r\nHost: localhost\r\n\r\n", Status(502), Serves, 1),
    w("upstream 101 to a plain GET", concat!("GET /service-cloud/switch HTTP/1.1\r\nHost: localhost\r\n\r\n", smuggled!()), 502),
];

/// Sent after the vector's first answer, when the connection is still open.
const FOLLOW_UP: &[u8] =
    b"GET /service-cloud/follow-up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

fn expand(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    text.replace(LONG, &"a".repeat(70_000))
        .replace(HUGE, &"a".repeat(2_000_000))
        .replace(MANY, &many)
        .into_bytes()
}

/// Which listener the table is sent to.
#[derive(Clone, Copy)]
enum Listener {
    Https,
    Plain,
}

async fn connect(ca: &DemoCa, gw: &Gateway, on: Listener) -> Box<dyn Io> {
    match on {
        Listener::Https => Box::new(tls_to(ca, gw.https).await),
        Listener::Plain => {
            let addr = gw.http.expect("the plain listener");
            Box::new(tokio::net::TcpStream::connect(addr).await.unwrap())
        }
    }
}

fn describe(answer: Answer, then: Then) -> String {
    let first = match answer {
        Status(s) => s.to_string(),
        Ok2xx => "2xx".to_owned(),
        StatusOrClose(s) => format!("{s} or close"),
    };
    let then = match then {
        Closed => "closed",
        Serves => "in sync",
    };
    format!("{first}, {then}")
}

fn first_matches(answer: Answer, first: Option<u16>) -> bool {
    match (answer, first) {
        (Status(s), Some(got)) => s == got,
        (Ok2xx, Some(got)) => (200..300).contains(&got),
        (StatusOrClose(s), got) => got.is_none_or(|g| g == s),
        (_, None) => false,
    }
}

/// Sends every vector on a fresh connection; returns the table's rows and what failed.
async fn run_table(
    ca: &DemoCa,
    gw: &Gateway,
    up: &LenientUpstream,
    on: Listener,
) -> (Vec<String>, Vec<String>) {
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    for vector in TABLE {
        let before = up.log().len();
        let mut io = connect(ca, gw, on).await;
        let statuses = exchange(&mut *io, &expand(vector.bytes), vector.answers, FOLLOW_UP).await;
        let new: Vec<Parsed> = up.log().split_off(before);
        let follow_up = new.iter().any(|r| r.target() == "/service-cloud/follow-up");
        let reached = new.len() - usize::from(follow_up);
        let then = if follow_up { Serves } else { Closed };
        let own = statuses.len() - usize::from(follow_up);
        let ok = first_matches(vector.answer, statuses.first().copied())
            && then == vector.then
            && reached == vector.upstream
            && (own == vector.answers || statuses.is_empty());
        let answers: Vec<String> = statuses.iter().map(u16::to_string).collect();
        let row = format!(
            "| {} | {} | {} | {} | {} |{}",
            vector.name,
            describe(vector.answer, vector.then),
            if answers.is_empty() {
                "close".to_owned()
            } else {
                answers.join(" ")
            },
            if follow_up { "in sync" } else { "closed" },
            reached,
            if ok { "" } else { " FAILED" },
        );
        if !ok {
            failures.push(row.clone());
        }
        rows.push(row);
    }
    (rows, failures)
}

/// What must hold for every request the lenient upstream ever parsed.
fn hidden_request_problems(req: &Parsed) -> Vec<&'static str> {
    let mut problems = Vec::new();
    let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let target = req.target();
    if !target.starts_with("/service-cloud/") {
        problems.push("a target outside the route");
    }
    if target.contains("smuggled") || target.contains("internal") {
        problems.push("a smuggled request");
    }
    if !methods.contains(&req.method()) || req.version() != "HTTP/1.1" {
        problems.push("a request line the gateway does not send");
    }
    if req.all("host").len() != 1 {
        problems.push("not exactly one Host");
    }
    let (cl, te) = (req.all("content-length"), req.all("transfer-encoding"));
    if cl.len() > 1 || (!cl.is_empty() && !te.is_empty()) || te.iter().any(|t| *t != "chunked") {
        problems.push("ambiguous framing");
    }
    let upgrades = req.all("upgrade");
    if !req.all("http2-settings").is_empty() || upgrades.iter().any(|u| *u != "websocket") {
        problems.push("an upgrade other than WebSocket");
    }
    let bad_name = |n: &str| n.is_empty() || n.bytes().any(|b| !b.is_ascii_graphic());
    if req.headers.iter().any(|(n, _)| bad_name(n)) {
        problems.push("a header line the gateway does not send");
    }
    problems
}

async fn check_table(on: Listener, up: LenientUpstream, ca: DemoCa) {
    let cfg = base_config(&up.url()).replace(
        "header_read_timeout = \"2s\"",
        "header_read_timeout = \"2s\"\nhttp_listen = \"127.0.0.1:0\"\nhttp_redirect = false",
    );
    let gw = Gateway::start(&ca, &cfg).await;
    let (rows, mut failures) = run_table(&ca, &gw, &up, on).await;
    println!("| vector | expected | answers | then | upstream requests |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    for req in up.log() {
        for problem in hidden_request_problems(&req) {
            failures.push(format!("the upstream parsed {problem}: {req:?}"));
        }
    }
    for rest in up.leftovers() {
        let text = String::from_utf8_lossy(&rest);
        if text.contains("smuggled") {
            failures.push(format!(
                "a smuggled request reached the upstream unparsed: {text:?}"
            ));
        }
    }
    assert!(TABLE.len() >= 30);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn no_vector_smuggles_a_request_over_https() {
    let ca = test_ca();
    let up = LenientUpstream::tls(&ca).await;
    check_table(Listener::Https, up, ca).await;
}

#[tokio::test]
async fn no_vector_smuggles_a_request_over_plain_http() {
    let ca = test_ca();
    check_table(Listener::Plain, LenientUpstream::plain().await, ca).await;
}
