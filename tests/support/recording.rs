//! A client stream that keeps a copy of what it read, and the HTTP/2 frames in such a copy:
//! to check what a server sent when the client library hides it (a GOAWAY before the close).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};

/// (type, payload) of each whole frame in `bytes` (what a client read after the preface).
pub fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let Some(payload) = bytes.get(9..9 + len) else {
            break;
        };
        frames.push((bytes[3], payload.to_vec()));
        bytes = &bytes[9 + len..];
    }
    frames
}

/// `inner`, keeping a copy of everything read from it.
pub fn recording<S>(inner: S) -> (impl AsyncRead + AsyncWrite + Unpin, Arc<Mutex<Vec<u8>>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let seen = Arc::<Mutex<Vec<u8>>>::default();
    let copy = Arc::clone(&seen);
    let io = tokio_util::io::InspectReader::new(inner, move |b: &[u8]| {
        copy.lock().unwrap().extend_from_slice(b)
    });
    (io, seen)
}
