//! Request and response header hygiene: hop-by-hop removal (RFC 9110 §7.6.1, including every
//! header named in `Connection`), and the forwarding headers X-Forwarded-For, X-Real-IP,
//! X-Forwarded-Proto, X-Forwarded-Host, trusting only the configured proxies. Pure functions
//! over `HeaderMap`; tables in `tests.rs`.

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::secret::SecretKey;

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1, plus the
/// non-standard Keep-Alive and Proxy-Connection that browsers and old proxies still send).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers: the fixed list, `Upgrade`, and every header that `Connection`
/// names. Returns the `Upgrade` value when the message asked for a protocol upgrade
/// (`Connection: upgrade` with an `Upgrade` header), so the caller can re-add both.
pub(crate) fn remove_hop_by_hop(h: &mut HeaderMap) -> Option<HeaderValue> {
    let mut upgrade_requested = false;
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| {
            let t = t.trim();
            if t.eq_ignore_ascii_case("upgrade") {
                upgrade_requested = true;
            }
            HeaderName::from_bytes(t.as_bytes()).ok()
        })
        .collect();
    let upgrade = h.remove(header::UPGRADE);
    for name in named {
        h.remove(name);
    }
    for name in &HOP_BY_HOP {
        h.remove(name);
    }
    upgrade.filter(|_| upgrade_requested)
}

/// Parses one element of an X-Forwarded-For list: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
/// `[::1]:443`, optionally quoted. `unknown` and obfuscated identifiers give `None`.
pub(crate) fn parse_xff_element(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (ip, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// What the gateway tells the upstream about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientAddress {
    /// The X-Forwarded-For value to send.
    pub forwarded_for: String,
    /// The client: the rightmost address of the chain that is not a trusted proxy.
    pub real_ip: IpAddr,
    /// Whether the TCP peer is a trusted proxy (its X-Forwarded-* headers are believed).
    pub peer_trusted: bool,
}

pub(crate) fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|n| n.contains(&ip))
}

/// X-Forwarded-For and X-Real-IP for a request from TCP peer `peer` with headers `h`.
///
/// From an untrusted peer, any client-sent X-Forwarded-For is discarded: the chain is the peer
/// alone, so a browser cannot spoof its address. From a trusted peer, the peer is appended to
/// the chain it sent, and the client is found by walking the chain from the right past trusted
/// proxies; an unparsable element stops the walk (the last trusted hop is then the client).
pub(crate) fn client_address(peer: IpAddr, trusted: &[IpNet], h: &HeaderMap) -> ClientAddress {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return ClientAddress {
            forwarded_for: peer.to_string(),
            real_ip: peer,
            peer_trusted: false,
        };
    }
    let received: Vec<&str> = h
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let mut real_ip = peer;
    for element in received.iter().rev() {
        match parse_xff_element(element) {
            Some(ip) => {
                real_ip = ip;
                if !is_trusted(ip, trusted) {
                    break;
                }
            }
            None => break,
        }
    }
    let mut forwarded_for = received.join(", ");
    if !forwarded_for.is_empty() {
        forwarded_for.push_str(", ");
    }
    forwarded_for.push_str(&peer.to_string());
    ClientAddress {
        forwarded_for,
        real_ip,
        peer_trusted: true,
    }
}

/// Sets X-Forwarded-For, X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host on a request
/// going upstream. `proto` is the scheme the gateway received the request on, `host` the
/// authority the client addressed (already confined to `hostnames`). Proto and Host are kept
/// from a trusted peer when valid: the host only when it names one of `hostnames`, so that
/// what the upstream (and `Location` rewriting) sees as the public host is always the
/// gateway's own.
pub(crate) fn set_forwarded(
    h: &mut HeaderMap,
    client: &ClientAddress,
    proto: &'static str,
    host: Option<&HeaderValue>,
    hostnames: &[String],
) {
    let value = |s: &str| HeaderValue::from_str(s).expect("an IP list is a valid header value");
    h.insert(&X_FORWARDED_FOR, value(&client.forwarded_for));
    h.insert(&X_REAL_IP, value(&client.real_ip.to_string()));
    // One value only: with two, the upstream might read the one that was not checked.
    let mut protos = h.get_all(&X_FORWARDED_PROTO).iter();
    let proto_kept = client.peer_trusted
        && matches!(
            protos.next().map(HeaderValue::as_bytes),
            Some(b"https" | b"http")
        )
        && protos.next().is_none();
    if !proto_kept {
        h.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    let mut forwarded_hosts = h.get_all(&X_FORWARDED_HOST).iter();
    let host_kept = client.peer_trusted
        && forwarded_hosts
            .next()
            .is_some_and(|v| crate::confine::is_served(v, hostnames))
        && forwarded_hosts.next().is_none();
    if !host_kept {
        match host {
            Some(host) => {
                h.insert(&X_FORWARDED_HOST, host.clone());
            }
            None => {
                h.remove(&X_FORWARDED_HOST);
            }
        }
    }
}

/// A request id from the client is kept when it is short printable ASCII; else `None`.
pub(crate) fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

/// Whether the request carries `Authorization: Bearer <key>` (the scheme case-insensitive,
/// one `Authorization` field only), compared in constant time.
pub(crate) fn bearer_is(h: &HeaderMap, key: &SecretKey) -> bool {
    let mut values = h.get_all(header::AUTHORIZATION).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return false;
    };
    let v = v.as_bytes();
    match v.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => key.matches(&v[7..]),
        _ => false,
    }
}
