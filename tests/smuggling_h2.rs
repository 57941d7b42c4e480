//! The smuggling table's HTTP/2 part: requests the gateway receives over HTTP/2 and sends on
//! as HTTP/1.1 (the downgrade where H2.CL and H2.TE desyncs happen), frames written by hand
//! (`support::h2raw`) in front of the lenient upstream (`support::lenient`). Each vector on a
//! fresh connection, stream 1; what may reach the upstream is checked in its own log.
//!
//! `cargo test --test smuggling_h2 -- --nocapture` prints the table with its outcomes.

use crate::support;

use std::cell::RefCell;
use std::time::Duration;

use support::h2raw::*;
use support::lenient::LenientUpstream;
use support::*;

/// What the gateway answers on the vector's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A 200 response (from the upstream).
    Served,
    /// Anything else: an error status, RST_STREAM, GOAWAY or a close.
    Refused,
}

use Outcome::{Refused, Served};

struct H2Vector {
    name: &'static str,
    /// Header fields after the usual `:method POST`, `:scheme`, `:path`, `:authority`
    /// (`None`: those four are given in full here).
    fields: &'static [(&'static str, &'static str)],
    own_pseudo: bool,
    data: Option<&'static str>,
    outcome: Outcome,
    /// Requests that may reach the upstream, at most.
    upstream: usize,
}

const fn h(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    data: Option<&'static str>,
    outcome: Outcome,
    upstream: usize,
) -> H2Vector {
    H2Vector {
        name,
        fields,
        own_pseudo: false,
        data,
        outcome,
        upstream,
    }
}

/// A vector that writes its own pseudo-header fields.
const fn own(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    outcome: Outcome,
) -> H2Vector {
    H2Vector {
        own_pseudo: true,
        upstream: matches!(outcome, Served) as usize,
        ..h(name, fields, None, outcome, 0)
    }
}

/// A request outside every route, as a body: 0-chunk first, for an upstream that reads chunked.
const SMUGGLED_BODY: &str = "0\r\n\r\nGET /internal/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[rustfmt::skip]
const TABLE: &[H2Vector] = &[
    h("baseline POST", &[("content-length", "2")], Some("ok"), Served, 1),
    h("H2.CL: content-length matches, smuggled in the body", &[("content-length", "57")], Some(SMUGGLED_BODY), Served, 1),
    h("H2.CL: content-length 0, 57 bytes of DATA", &[("content-length", "0")], Some(SMUGGLED_BODY), Refused, 1),
    h("H2.CL: content-length larger than DATA", &[("content-length", "100")], Some(SMUGGLED_BODY), Refused, 0),
    h("H2.CL: content-length list", &[("content-length", "57, 57")], Some(SMUGGLED_BODY), Refused, 0),
    h("H2.TE: transfer-encoding chunked", &[("transfer-encoding", "chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("H2.TE: te other than trailers", &[("te", "chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("te: trailers (allowed)", &[("te", "trailers"), ("content-length", "2")], Some("ok"), Served, 1),
    h("CRLF in a header value", &[("x-a", "a\r\nTransfer-Encoding: chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("LF in a header value", &[("x-a", "a\nContent-Length: 0")], Some(SMUGGLED_BODY), Refused, 0),
    h("NUL in a header value", &[("x-a", "a\0b")], Some("ok"), Refused, 0),
    h("upper case in a header name", &[("Transfer-Encoding", "chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("colon in a header name", &[("transfer-encoding:", "chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("space in a header name", &[("transfer-encoding ", "chunked")], Some(SMUGGLED_BODY), Refused, 0),
    h("connection: keep-alive", &[("connection", "keep-alive")], Some("ok"), Refused, 0),
    h("upgrade: h2c", &[("upgrade", "h2c")], Some("ok"), Refused, 0),
    h("host disagrees with :authority", &[("host", "evil.example")], Some("ok"), Refused, 0),
    own("baseline GET", &[(":method", "GET"), (":scheme", "https"), (":path", "/service-cloud/a"), (":authority", "localhost")], Served),
    own(":authority not served", &[(":method", "GET"), (":scheme", "https"), (":path", "/service-cloud/a"), (":authority", "evil.example")], Refused),
    own(":path with a request inside", &[(":method", "GET"), (":scheme", "https"), (":path", "/service-cloud/a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /internal/smuggled"), (":authority", "localhost")], Refused),
    own(":path with a space", &[(":method", "GET"), (":scheme", "https"), (":path", "/service-cloud/a b"), (":authority", "localhost")], Refused),
    own(":method with a request inside", &[(":method", "GET /internal/smuggled HTTP/1.1\r\n\r\nGET"), (":scheme", "https"), (":path", "/service-cloud/a"), (":authority", "localhost")], Refused),
    own(":path outside the route", &[(":method", "GET"), (":scheme", "https"), (":path", "/internal/smuggled"), (":authority", "localhost")], Refused),
    own("no :path", &[(":method", "GET"), (":scheme", "https"), (":authority", "localhost")], Refused),
    own("two :path fields", &[(":method", "GET"), (":scheme", "https"), (":path", "/service-cloud/a"), (":path", "/internal/smuggled"), (":authority", "localhost")], Refused),
    own("pseudo-header after a regular one", &[(":method", "GET"), (":scheme", "https"), ("x-a", "b"), (":path", "/service-cloud/a"), (":authority", "localhost")], Refused),
];

/// The vector's frames on stream 1.
fn frames(v: &H2Vector) -> Vec<u8> {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if !v.own_pseudo {
        let path = if v.data.is_some() {
            "/service-cloud/post"
        } else {
            "/service-cloud/get"
        };
        let method = if v.data.is_some() { "POST" } else { "GET" };
        fields.extend([
            (":method", method),
            (":scheme", "https"),
            (":path", path),
            (":authority", "localhost"),
        ]);
    }
    fields.extend_from_slice(v.fields);
    let end = if v.data.is_some() { 0 } else { END_STREAM };
    let mut out = frame(HEADERS, END_HEADERS | end, 1, &block(&fields));
    if let Some(data) = v.data {
        out.extend(frame(DATA, END_STREAM, 1, data.as_bytes()));
    }
    out
}

/// How the gateway answered a stream: `:status` when it is HPACK-indexed (the static table's
/// 200, 204, 206, 304, 400, 404, 500), else the frame.
fn describe(f: &Frame) -> String {
    const STATIC: [&str; 7] = ["200", "204", "206", "304", "400", "404", "500"];
    match (f.kind, f.payload.first()) {
        (HEADERS, Some(&b)) if (0x88..=0x8e).contains(&b) => {
            STATIC[usize::from(b - 0x88)].to_owned()
        }
        (HEADERS, _) => "HEADERS, status not indexed".to_owned(),
        _ => {
            let code = f
                .payload
                .get(..4)
                .map_or(0, |c| u32::from_be_bytes(c.try_into().unwrap()));
            format!("RST_STREAM {code:#x}")
        }
    }
}

/// Sends the vector and reads until stream 1 is answered (HEADERS), reset, or the connection
/// ends: served when the answer is `:status 200`. With how it was answered.
async fn outcome(ca: &DemoCa, gw: &Gateway, v: &H2Vector) -> (Outcome, String) {
    let mut h2 = H2::connect(ca, gw.https, true).await;
    if !h2.send(&frames(v)).await {
        return (Refused, "closed".to_owned());
    }
    let how = RefCell::new(None);
    let answered = |f: &Frame| {
        let on_stream = f.stream == 1 && (f.kind == HEADERS || f.kind == RST_STREAM);
        if on_stream {
            *how.borrow_mut() = Some(describe(f));
        }
        on_stream
    };
    let read = h2.r.read_until(Duration::from_secs(10), answered).await;
    assert!(read, "{}: an answer in time", v.name);
    let how = how.into_inner().unwrap_or_else(|| match h2.seen().goaway {
        Some((_, code)) => format!("GOAWAY {code:#x}"),
        None => "closed".to_owned(),
    });
    let outcome = if how == "200" { Served } else { Refused };
    (outcome, how)
}

#[tokio::test]
async fn no_http2_vector_smuggles_a_request_into_http1() {
    let ca = test_ca();
    let up = LenientUpstream::tls(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let mut failures = Vec::new();
    println!("| HTTP/2 vector | expected | got | upstream requests |");
    println!("|---|---|---|---|");
    for v in TABLE {
        let before = up.log().len();
        let (got, how) = outcome(&ca, &gw, v).await;
        let reached = up.log().len() - before;
        let ok = got == v.outcome && reached <= v.upstream;
        let row = format!(
            "| {} | {:?} | {how} | {reached} |{}",
            v.name,
            v.outcome,
            if ok { "" } else { " FAILED" }
        );
        println!("{row}");
        if !ok {
            failures.push(row);
        }
    }
    for req in up.log() {
        let target = req.target();
        let (cl, te) = (req.all("content-length"), req.all("transfer-encoding"));
        let framing_ok =
            cl.len() <= 1 && (cl.is_empty() || te.is_empty()) && te.iter().all(|t| *t == "chunked");
        if !target.starts_with("/service-cloud/")
            || target.contains("smuggled")
            || !framing_ok
            || !req.all("upgrade").is_empty()
        {
            failures.push(format!(
                "the upstream parsed a request it must not see: {req:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
