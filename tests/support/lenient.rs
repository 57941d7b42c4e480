//! A deliberately lenient raw HTTP/1.1 upstream (plain TCP or TLS) for the smuggling table: it
//! reads bytes and parses requests as a careless server would (Content-Length first, its first
//! list element; else any `Transfer-Encoding` containing `chunked`; bare LF or CR ends a line;
//! obs-fold joined; `Name : value` accepted; chunk sizes read as their leading hex digits), and
//! logs every request it parsed, in order, before it answers any of them. Whatever the gateway
//! lets through as a hidden request shows up in [`LenientUpstream::log`].
//!
//! [`exchange`] is the client side of the same parser: raw bytes to the gateway, statuses back.
//!
//! Answers, by target: `/resp-cl-te` gets a response with both Content-Length and
//! Transfer-Encoding; `/switch` and a bad `Sec-WebSocket-Accept` for `/ws-bad-accept` get a 101;
//! any other `Upgrade` is refused with 426; everything else gets `200 ok` (keep-alive).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{DemoCa, LOCAL_NAMES};

/// One HTTP message as the lenient parser read it.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The start line's three words (method, target, version; or version, status, reason).
    pub start: [String; 3],
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    pub fn method(&self) -> &str {
        &self.start[0]
    }
    pub fn target(&self) -> &str {
        &self.start[1]
    }
    pub fn version(&self) -> &str {
        &self.start[2]
    }
    /// The status of a response.
    pub fn status(&self) -> u16 {
        self.start[1].parse().unwrap_or(0)
    }
    /// Every value of `name` (any case), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let named = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        named.map(|(_, v)| v.as_str()).collect()
    }
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        let values = self.all(name);
        let mut tokens = values.iter().flat_map(|v| v.split(','));
        tokens.any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// How the parser frames a message body it cannot see the end of by its headers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NoLength {
    /// A request: no body.
    Empty,
    /// A response: the body runs to the end of the stream (`eof` says whether it came).
    ToClose { eof: bool },
}

/// Parses one message at the start of `buf`: the message and the bytes it took, or `None`
/// while it is incomplete.
pub fn parse_message(buf: &[u8], no_length: NoLength) -> Option<(Parsed, usize)> {
    let mut at = 0;
    let mut lines: Vec<Vec<u8>> = Vec::new();
    loop {
        let (line, next) = read_line(buf, at)?;
        at = next;
        if line.is_empty() {
            if lines.is_empty() {
                continue; // blank lines before a request line
            }
            break;
        }
        let folded = matches!(line[0], b' ' | b'\t') && lines.len() > 1;
        match lines.last_mut() {
            Some(prev) if folded => {
                prev.push(b' ');
                prev.extend_from_slice(line.trim_ascii());
            }
            _ => lines.push(line.to_vec()),
        }
    }
    let mut msg = Parsed::default();
    let start = String::from_utf8_lossy(&lines[0]).into_owned();
    let mut words = start.splitn(3, [' ', '\t']);
    for slot in &mut msg.start {
        *slot = words.next().unwrap_or_default().trim().to_owned();
    }
    for line in &lines[1..] {
        let line = String::from_utf8_lossy(line);
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        msg.headers
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = msg.all("content-length").first().and_then(|v| {
        let first = v.split(',').next().unwrap_or_default().trim();
        first.parse::<usize>().ok()
    });
    let chunked = msg
        .all("transfer-encoding")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    let bodiless =
        msg.start[0].starts_with("HTTP/") && matches!(msg.status(), 100..=199 | 204 | 304);
    if bodiless {
        return Some((msg, at));
    }
    let used = match (length, chunked, no_length) {
        (Some(n), _, _) => {
            msg.body = buf.get(at..at + n)?.to_vec();
            n
        }
        (None, true, _) => read_chunked(buf, at, &mut msg.body)?,
        (None, false, NoLength::Empty) => 0,
        (None, false, NoLength::ToClose { eof }) => {
            msg.body = buf[at..].to_vec();
            if !eof {
                return None;
            }
            buf.len() - at
        }
    };
    Some((msg, at + used))
}

/// The line starting at `at` (without its end: CRLF, LF or a lone CR) and where the next starts.
fn read_line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let end = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
    let next = match (rest[end], rest.get(end + 1)) {
        (b'\r', Some(b'\n')) => end + 2,
        (b'\r', None) => return None,
        _ => end + 1,
    };
    Some((&rest[..end], at + next))
}

/// A chunked body from `at`, leniently: a size is its leading hex digits (none: 0), anything
/// after them ignored; a trailer section ends at the first empty line. The bytes it took.
fn read_chunked(buf: &[u8], at: usize, body: &mut Vec<u8>) -> Option<usize> {
    let mut pos = at;
    loop {
        let (line, next) = read_line(buf, pos)?;
        let line = String::from_utf8_lossy(line);
        let digits: String = line
            .trim_start()
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        let size = usize::from_str_radix(&digits, 16).unwrap_or(0);
        pos = next;
        if size == 0 {
            loop {
                let (trailer, next) = read_line(buf, pos)?;
                pos = next;
                if trailer.is_empty() {
                    return Some(pos - at);
                }
            }
        }
        body.extend_from_slice(buf.get(pos..pos.checked_add(size)?)?);
        pos += size;
        // The data's line end, if there is one.
        if let Some((b"", next)) = read_line(buf, pos) {
            pos = next;
        }
    }
}

/// The lenient upstream: requests it parsed, in order, across all its connections.
pub struct LenientUpstream {
    pub addr: SocketAddr,
    tls: bool,
    log: Arc<Mutex<Vec<Parsed>>>,
    /// What was left unparsed in a connection's buffer when it closed (if anything).
    leftovers: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl LenientUpstream {
    /// A plain-TCP upstream (`http://`).
    pub async fn plain() -> Self {
        Self::serve(None).await
    }

    /// A TLS upstream (`https://localhost:port`, ALPN http/1.1, certificate from `ca`).
    pub async fn tls(ca: &DemoCa) -> Self {
        let tls = ca.server_config(LOCAL_NAMES, &[b"http/1.1"]).unwrap();
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let leftovers = Arc::new(Mutex::new(Vec::new()));
        let (l, left, acceptor) = (log.clone(), leftovers.clone(), tls.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (l, left, acceptor) = (l.clone(), left.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let rest = match acceptor {
                        None => serve_stream(tcp, &l).await,
                        Some(a) => match a.accept(tcp).await {
                            Ok(s) => serve_stream(s, &l).await,
                            Err(_) => return,
                        },
                    };
                    if !rest.is_empty() {
                        left.lock().unwrap().push(rest);
                    }
                });
            }
        });
        Self {
            addr,
            tls: tls.is_some(),
            log,
            leftovers,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.addr.port())
    }

    /// Every request parsed so far, in order.
    pub fn log(&self) -> Vec<Parsed> {
        self.log.lock().unwrap().clone()
    }

    /// Unparsed bytes left in connections that have closed.
    pub fn leftovers(&self) -> Vec<Vec<u8>> {
        self.leftovers.lock().unwrap().clone()
    }
}

/// Reads, parses and answers requests until the peer closes; returns what was left unparsed.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    log: &Mutex<Vec<Parsed>>,
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut answers = Vec::new();
        while let Some((req, used)) = parse_message(&buf, NoLength::Empty) {
            buf.drain(..used);
            answers.push(answer(&req));
            log.lock().unwrap().push(req);
        }
        for a in answers {
            if s.write_all(&a).await.is_err() {
                return buf;
            }
        }
        match s.read(&mut chunk).await {
            Ok(n @ 1..) => buf.extend_from_slice(&chunk[..n]),
            _ => return buf,
        }
    }
}

fn answer(req: &Parsed) -> Vec<u8> {
    let t = req.target();
    let text = if t.ends_with("/resp-cl-te") {
        "HTTP/1.1 200 OK\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    } else if t.ends_with("/switch") || t.ends_with("/ws-bad-accept") {
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: not-the-accept-for-that-key\r\n\r\n"
    } else if !req.all("upgrade").is_empty() {
        "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"
    } else if req.method() == "HEAD" {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    } else {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    };
    text.as_bytes().to_vec()
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Reads responses from `io` into `buf` until `want` are complete, or the peer closes (or 10 s pass).
pub async fn read_responses(io: &mut dyn Io, buf: &mut Vec<u8>, want: usize) -> Vec<Parsed> {
    let mut chunk = [0u8; 16 * 1024];
    let mut eof = false;
    let read = async {
        loop {
            let got = parsed(buf, false);
            if got.len() >= want {
                return;
            }
            match io.read(&mut chunk).await {
                Ok(n @ 1..) => buf.extend_from_slice(&chunk[..n]),
                // A close, with or without close_notify, or a reset: keep what came.
                _ => {
                    eof = true;
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the gateway answers or closes in time");
    parsed(buf, eof)
}

/// The responses complete in `buf` (`eof`: the stream has ended).
pub fn parsed(buf: &[u8], eof: bool) -> Vec<Parsed> {
    let mut at = 0;
    let mut out = Vec::new();
    while let Some((msg, used)) = parse_message(&buf[at..], NoLength::ToClose { eof }) {
        out.push(msg);
        at += used;
    }
    out
}

/// The client side: writes `bytes`, reads `answers` responses (or to the close); if the
/// connection stays open, writes `follow_up` and reads to the end. The statuses of every
/// response read.
pub async fn exchange(io: &mut dyn Io, bytes: &[u8], answers: usize, follow_up: &[u8]) -> Vec<u16> {
    let _ = io.write_all(bytes).await;
    let mut buf = Vec::new();
    let got = read_responses(io, &mut buf, answers).await;
    let closing = got.len() < answers
        || got
            .last()
            .is_some_and(|r| r.has_token("connection", "close"));
    let got = if closing {
        got
    } else {
        let _ = io.write_all(follow_up).await;
        read_responses(io, &mut buf, usize::MAX).await
    };
    got.iter().map(Parsed::status).collect()
}
