//! The PROXY protocol (HAProxy's v1 text and v2 binary headers): a load balancer that passes
//! TCP through writes the client's address at the start of the stream, before the TLS
//! ClientHello. [`read_header`] reads exactly that header, under a deadline and a size cap,
//! and never a byte past it, so the stream can go straight to the TLS handshake.
//!
//! Parsing is the `ppp` crate's; this module owns the reading (how many bytes, when to stop)
//! and what the gateway makes of the result. Whether a peer may send a header at all
//! (`forwarding.trusted_proxies`) is the listener's decision, taken before calling this.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::{v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt};

#[cfg(test)]
mod tests;

/// A v1 header is at most 107 bytes including its CRLF (the spec's own limit).
pub(crate) const V1_MAX_LEN: usize = 107;
/// The shortest valid v1 header, `PROXY UNKNOWN\r\n`: this many bytes can be read at once.
const V1_MIN_LEN: usize = 15;
/// The fixed part of a v2 header: signature (12), version/command, family/protocol, length.
const V2_FIXED_LEN: usize = 16;
/// A v2 header, TLVs included, at most: room for addresses (at most 216 bytes, AF_UNIX) and
/// the TLVs load balancers send (AWS, GCP, Azure ids, HAProxy's TLS details), with margin;
/// a real one is under 300 bytes.
pub(crate) const V2_MAX_LEN: usize = 4096;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxiedAddrs {
    /// A proxied TCP connection: `source` is the client, `destination` the address it called.
    Tcp {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// v2 LOCAL (the proxy's own health check), v1 UNKNOWN, or v2 with an unspecified address
    /// family or protocol: the header names no client, so the TCP peer's address stands.
    Local,
}

impl ProxiedAddrs {
    /// The client's address according to the header, if it names one.
    pub(crate) fn source(&self) -> Option<SocketAddr> {
        match self {
            ProxiedAddrs::Tcp { source, .. } => Some(*source),
            ProxiedAddrs::Local => None,
        }
    }

    /// The client's address: the header's source, or `peer` (the TCP peer) when it has none.
    pub(crate) fn client_or(&self, peer: SocketAddr) -> SocketAddr {
        self.source().unwrap_or(peer)
    }
}

/// Why no usable PROXY header was read. Any of these ends the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("the connection closed before the PROXY header ended")]
    Closed,
    #[error("reading the PROXY header: {0}")]
    Io(#[source] std::io::Error),
    #[error("malformed PROXY header: {0}")]
    Malformed(#[source] Malformed),
    #[error("PROXY header longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("PROXY header for {0}, which the gateway does not serve")]
    Unsupported(&'static str),
}

/// What is wrong with a header's bytes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Malformed {
    /// Neither signature: typically a client speaking TLS or HTTP straight to a listener that
    /// expects a proxy in front of it.
    #[error("the stream does not start with a v1 or v2 signature")]
    NoSignature,
    #[error("v1: {0}")]
    V1(#[source] v1::BinaryParseError),
    #[error("v2: {0}")]
    V2(#[source] v2::ParseError),
}

impl From<Malformed> for ProxyHeaderError {
    fn from(m: Malformed) -> Self {
        ProxyHeaderError::Malformed(m)
    }
}

/// Reads one PROXY header (v1 or v2) from the start of `io`, within `deadline`, leaving the
/// stream positioned on the first byte after it.
pub(crate) async fn read_header<S: AsyncRead + Unpin>(
    io: &mut S,
    deadline: Duration,
) -> Result<ProxiedAddrs, ProxyHeaderError> {
    tokio::time::timeout(deadline, read(io))
        .await
        .unwrap_or(Err(ProxyHeaderError::Timeout(deadline)))
}

async fn read<S: AsyncRead + Unpin>(io: &mut S) -> Result<ProxiedAddrs, ProxyHeaderError> {
    let mut first = [0u8; 1];
    read_exact(io, &mut first).await?;
    match first[0] {
        b'P' => read_v1(io).await,
        b'\r' => read_v2(io).await,
        _ => Err(Malformed::NoSignature.into()),
    }
}

/// v1: `PROXY TCP4 src dst sport dport\r\n`. The length is known only at the LF, so after the
/// shortest possible header the rest is read one byte at a time.
async fn read_v1<S: AsyncRead + Unpin>(io: &mut S) -> Result<ProxiedAddrs, ProxyHeaderError> {
    let mut buf = [0u8; V1_MAX_LEN];
    buf[0] = b'P';
    read_exact(io, &mut buf[1..V1_MIN_LEN]).await?;
    if !buf.starts_with(b"PROXY ") {
        return Err(Malformed::NoSignature.into());
    }
    let mut len = match buf[..V1_MIN_LEN].iter().position(|&b| b == b'\n') {
        // A LF this early can only end a malformed header: the parser says what is wrong.
        Some(lf) => lf + 1,
        None => V1_MIN_LEN,
    };
    while buf[len - 1] != b'\n' {
        if len == V1_MAX_LEN {
            return Err(ProxyHeaderError::TooLong { limit: V1_MAX_LEN });
        }
        read_exact(io, &mut buf[len..len + 1]).await?;
        len += 1;
    }
    let header = v1::Header::try_from(&buf[..len]).map_err(Malformed::V1)?;
    Ok(match header.addresses {
        v1::Addresses::Tcp4(a) => ProxiedAddrs::Tcp {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        v1::Addresses::Tcp6(a) => ProxiedAddrs::Tcp {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        v1::Addresses::Unknown => ProxiedAddrs::Local,
    })
}

/// v2: the 16-byte fixed part, then exactly the length it declares.
async fn read_v2<S: AsyncRead + Unpin>(io: &mut S) -> Result<ProxiedAddrs, ProxyHeaderError> {
    let mut fixed = [0u8; V2_FIXED_LEN];
    fixed[0] = b'\r';
    read_exact(io, &mut fixed[1..]).await?;
    if !fixed.starts_with(v2::PROTOCOL_PREFIX) {
        return Err(Malformed::NoSignature.into());
    }
    // The fixed part alone: a bad version, command, family or protocol fails here, before
    // anything more is read; a good one is "partial" until the rest arrives.
    match v2::Header::try_from(&fixed[..]) {
        Ok(_) | Err(v2::ParseError::Partial(..)) => {}
        Err(e) => return Err(Malformed::V2(e).into()),
    }
    let declared = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let total = V2_FIXED_LEN + declared;
    if total > V2_MAX_LEN {
        return Err(ProxyHeaderError::TooLong { limit: V2_MAX_LEN });
    }
    let mut buf = vec![0u8; total];
    buf[..V2_FIXED_LEN].copy_from_slice(&fixed);
    read_exact(io, &mut buf[V2_FIXED_LEN..]).await?;
    let header = v2::Header::try_from(&buf[..]).map_err(Malformed::V2)?;
    if let Some(Err(e)) = header.tlvs().find(Result::is_err) {
        return Err(Malformed::V2(e).into());
    }
    v2_addrs(&header)
}

fn v2_addrs(header: &v2::Header<'_>) -> Result<ProxiedAddrs, ProxyHeaderError> {
    if header.command == v2::Command::Local {
        return Ok(ProxiedAddrs::Local);
    }
    match (header.protocol, header.addresses) {
        (v2::Protocol::Datagram, _) => Err(ProxyHeaderError::Unsupported("UDP (datagram)")),
        (_, v2::Addresses::Unix(_)) => Err(ProxyHeaderError::Unsupported("AF_UNIX")),
        (v2::Protocol::Unspecified, _) | (_, v2::Addresses::Unspecified) => Ok(ProxiedAddrs::Local),
        (v2::Protocol::Stream, v2::Addresses::IPv4(a)) => Ok(ProxiedAddrs::Tcp {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        }),
        (v2::Protocol::Stream, v2::Addresses::IPv6(a)) => Ok(ProxiedAddrs::Tcp {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        }),
    }
}

async fn read_exact<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut [u8],
) -> Result<(), ProxyHeaderError> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProxyHeaderError::Closed),
        Err(e) => Err(ProxyHeaderError::Io(e)),
    }
}
