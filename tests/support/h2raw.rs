//! HTTP/2 written and read by hand (RFC 9113), for the flood tests: a TLS connection with ALPN
//! h2, frames as raw bytes (no HTTP/2 library between the test and the wire), the server's
//! frames read on their own task (or not read at all, for a peer that never drains), and a minimal HPACK
//! request block (static-table names, literal values, no Huffman).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::client::TlsStream;

use super::DemoCa;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// RST_STREAM's CANCEL (RFC 9113 §7).
pub const CANCEL: u32 = 0x8;
/// The GOAWAY error code a server sends to an abusive peer.
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One frame: its 9-byte header and `payload`.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    assert!(len < 1 << 24, "a frame's length is 24 bits");
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HEADERS opening `stream` with a GET of `path` on `localhost`, ending the stream.
pub fn get_frame(stream: u32, path: &str) -> Vec<u8> {
    frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        stream,
        &request_block("GET", path),
    )
}

/// RST_STREAM of `stream` with CANCEL.
pub fn cancel(stream: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes())
}

/// An HPACK header block for `method path` on `https://localhost`: `:method`, `:scheme`,
/// `:path`, `:authority` as literals without indexing, named by the static table.
pub fn request_block(method: &str, path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    // Static-table name indexes: :authority 1, :method 2, :path 4, :scheme 6.
    for (index, value) in [(2, method), (6, "https"), (4, path), (1, "localhost")] {
        b.push(index); // 0000xxxx: literal without indexing, indexed name
        push_string(&mut b, value.as_bytes());
    }
    b
}

/// An HPACK header block of `fields` as given (pseudo-headers included, any bytes): each a
/// literal without indexing with a new name.
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.push(0);
        push_string(&mut b, name.as_bytes());
        push_string(&mut b, value.as_bytes());
    }
    b
}

/// An HPACK string literal (no Huffman): a 7-bit-prefix length, then the bytes.
fn push_string(b: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    if n < 127 {
        b.push(n as u8);
    } else {
        b.push(127);
        n -= 127;
        while n >= 128 {
            b.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        b.push(n as u8);
    }
    b.extend_from_slice(s);
}

/// A frame the server sent.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// What the server sent on one connection, up to its GOAWAY or close.
#[derive(Debug, Default)]
pub struct Seen {
    /// GOAWAY's (last stream id, error code), if one came.
    pub goaway: Option<(u32, u32)>,
    /// Frames by type (index = frame type, up to CONTINUATION).
    pub counts: [usize; 10],
    /// The server closed the connection (EOF or reset).
    pub closed: bool,
}

impl Seen {
    /// Counts one frame (`None`: the close).
    fn take(&mut self, f: Option<Frame>) {
        let Some(f) = f else {
            self.closed = true;
            return;
        };
        if let Some(count) = self.counts.get_mut(usize::from(f.kind)) {
            *count += 1;
        }
        if f.kind == GOAWAY && f.payload.len() >= 8 {
            let last = u32::from_be_bytes(f.payload[..4].try_into().unwrap()) & 0x7fff_ffff;
            let code = u32::from_be_bytes(f.payload[4..8].try_into().unwrap());
            self.goaway = Some((last, code));
        }
    }
}

/// A raw HTTP/2 connection: its writing half, and its reading side (separate fields, so that a
/// test can write and read at once).
pub struct H2 {
    pub w: WriteHalf<TlsStream<TcpStream>>,
    pub r: Reader,
}

/// The server's frames, as the reader task receives them.
pub struct Reader {
    frames: mpsc::Receiver<Frame>,
    /// Dropped by [`Reader::start`]: lets a reader that was told to wait start.
    go: Option<oneshot::Sender<()>>,
    pub seen: Seen,
}

impl H2 {
    /// Connects to `addr` (TLS as `localhost`, ALPN h2), sends the preface and an empty
    /// SETTINGS, and starts reading; the test ACKs nothing. With `read` false, nothing is read
    /// until [`Reader::start`] and the socket's receive buffer is small: a peer that never
    /// drains what the server sends.
    pub async fn connect(ca: &DemoCa, addr: std::net::SocketAddr, read: bool) -> Self {
        let config = ca.client_config(&[b"h2"]).unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        if !read {
            socket.set_recv_buffer_size(4096).unwrap();
        }
        let tcp = socket.connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut r, mut w) = tokio::io::split(tls);
        w.write_all(PREFACE).await.unwrap();
        w.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        let (go, gate) = oneshot::channel::<()>();
        // Bounded: the reader waits for the test to take frames, as a slow peer would.
        let (tx, frames) = mpsc::channel(1024);
        tokio::spawn(async move {
            if !read {
                let _ = gate.await;
            }
            while let Some(f) = read_frame(&mut r).await {
                if tx.send(f).await.is_err() {
                    return;
                }
            }
        });
        let r = Reader {
            frames,
            go: Some(go),
            seen: Seen::default(),
        };
        Self { w, r }
    }

    /// Writes `bytes`; `false` once the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.w.write_all(bytes).await.is_ok()
    }

    /// What the server sent so far.
    pub fn seen(&self) -> &Seen {
        &self.r.seen
    }

    /// Reads until GOAWAY or the close (`false`: neither within `within`).
    pub async fn read_until_goaway(&mut self, within: Duration) -> bool {
        self.r.read_until(within, |_| false).await
    }
}

impl Reader {
    /// Lets the reader of a connection made with `read` false start.
    pub fn start(&mut self) {
        self.go.take();
    }

    /// Takes the server's frames into [`Reader::seen`] until `stop` holds for one, GOAWAY, or the
    /// close. `false`: none of these within `within`.
    pub async fn read_until(&mut self, within: Duration, stop: impl Fn(&Frame) -> bool) -> bool {
        self.start();
        let read = async {
            loop {
                let f = self.frames.recv().await;
                let done = f.as_ref().is_none_or(|f| f.kind == GOAWAY || stop(f));
                self.seen.take(f);
                if done {
                    return;
                }
            }
        };
        tokio::time::timeout(within, read).await.is_ok()
    }
}

/// One frame, or `None` at the close (or a reset, or a truncated frame).
pub async fn read_frame(r: &mut ReadHalf<TlsStream<TcpStream>>) -> Option<Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
        payload,
    })
}
