//! A connector whose connections read the socket in one call per TLS record or more, not in
//! rustls' 4 KiB steps: the 8 KiB answer that is most of the CEC's traffic is one `recv`
//! instead of three. A connection keeps only the bytes read ahead and not yet taken, so an
//! idle pooled connection keeps nothing.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBuf, ReadBufCursor};
use hyper_util::client::legacy::connect::{Connected, Connection};
use tower_service::Service;

/// One TLS record of the largest size (16 KiB of plaintext plus its header and tag) and some.
const READ_AHEAD: usize = 18 * 1024;

/// `inner`'s connections, each reading ahead.
#[derive(Clone)]
pub(crate) struct ReadAhead<C>(pub(crate) C);

impl<C> Service<Uri> for ReadAhead<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = ReadAheadIo<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            Ok(ReadAheadIo {
                io: connecting.await?,
                buf: Vec::new(),
                taken: 0,
            })
        })
    }
}

/// A connection with the bytes read ahead: `buf[taken..]` are the next ones to hand out.
pub(crate) struct ReadAheadIo<T> {
    io: T,
    buf: Vec<u8>,
    taken: usize,
}

impl<T: Connection> Connection for ReadAheadIo<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

thread_local! {
    /// Where a worker's connections read into: each worker is one thread, and a read is done
    /// with it before the next begins. Only what the caller could not take yet is kept, by
    /// the connection.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(READ_AHEAD));
}

impl<T: Read + Unpin> Read for ReadAheadIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut out: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.taken < this.buf.len() {
            let n = out.remaining().min(this.buf.len() - this.taken);
            out.put_slice(&this.buf[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.buf.len() {
                this.buf = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if out.remaining() >= READ_AHEAD {
            return Pin::new(&mut this.io).poll_read(cx, out);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            // Always empty: only its capacity is read into.
            let mut read = ReadBuf::uninit(scratch.spare_capacity_mut());
            match Pin::new(&mut this.io).poll_read(cx, read.unfilled()) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let filled = read.filled();
            let n = out.remaining().min(filled.len());
            out.put_slice(&filled[..n]);
            if n < filled.len() {
                this.buf = filled[n..].to_vec();
                this.taken = 0;
            }
            Poll::Ready(Ok(()))
        })
    }
}

super::forward_write!(ReadAheadIo);

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads in pieces of `piece` bytes until the end of the stream.
    async fn read_all<T: Read + Unpin>(io: &mut ReadAheadIo<T>, piece: usize) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut space = vec![std::mem::MaybeUninit::uninit(); piece];
            let mut buf = ReadBuf::uninit(&mut space);
            std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf.unfilled()))
                .await
                .unwrap();
            if buf.filled().is_empty() {
                return got;
            }
            got.extend_from_slice(buf.filled());
        }
    }

    #[tokio::test]
    async fn hands_out_every_byte_in_order_in_pieces_of_any_size_and_keeps_nothing_after() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for piece in [1, 4096, 5000, READ_AHEAD, 64 * 1024] {
            let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                for chunk in sent.chunks(7_000) {
                    theirs.write_all(chunk).await.unwrap();
                    tokio::task::yield_now().await;
                }
            });
            let mut io = ReadAheadIo {
                io: TokioIo::new(ours),
                buf: Vec::new(),
                taken: 0,
            };
            let got = read_all(&mut io, piece).await;
            writer.await.unwrap();
            assert_eq!(got.len(), data.len(), "piece {piece}");
            assert!(got == data, "piece {piece}: bytes out of order");
            assert_eq!(io.buf.capacity(), 0, "nothing is kept once taken");
        }
    }

    #[tokio::test]
    async fn a_small_read_takes_the_whole_record_in_one_call_of_the_socket() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        theirs.write_all(&[7u8; 9000]).await.unwrap();
        let mut io = ReadAheadIo {
            io: TokioIo::new(ours),
            buf: Vec::new(),
            taken: 0,
        };
        let mut space = [std::mem::MaybeUninit::uninit(); 4096];
        let mut buf = ReadBuf::uninit(&mut space);
        std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, buf.unfilled()))
            .await
            .unwrap();
        assert_eq!(buf.filled().len(), 4096);
        assert_eq!(
            io.buf.len() - io.taken,
            9000 - 4096,
            "the rest was read ahead"
        );
        // Nothing more is on the socket: what was read ahead is all there is.
        drop(theirs);
        let mut rest = Vec::new();
        TokioIo::new(io.io).read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
