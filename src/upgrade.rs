//! Protocol upgrades on HTTP/1.1, WebSocket only (RFC 6455): which requests may upgrade, whether
//! the upstream's 101 really is the WebSocket handshake answer, and the tunnel: once both sides
//! have switched protocols, bytes are copied both ways until either side closes. Any other
//! `Upgrade` (h2c included) is dropped and the request goes on as a normal one.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use crate::connection::ConnHold;
use crate::lifecycle::{LastActive, observed};

#[cfg(test)]
mod tests;

/// The GUID RFC 6455 §1.3 appends to `Sec-WebSocket-Key` to derive `Sec-WebSocket-Accept`.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The client's `Sec-WebSocket-Key` when the request is a WebSocket upgrade the gateway forwards:
/// a GET over HTTP/1.1 with `Connection: upgrade`, one `Upgrade` field that is the token
/// `websocket` (any case) and one `Sec-WebSocket-Key`. `None`: the request is not upgraded.
pub(crate) fn websocket_key(
    method: &Method,
    version: Version,
    h: &HeaderMap,
) -> Option<HeaderValue> {
    if method != Method::GET || version != Version::HTTP_11 {
        return None;
    }
    let connection_upgrade = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = one(h, &header::UPGRADE).is_some_and(is_websocket);
    let key = one(h, &header::SEC_WEBSOCKET_KEY)?;
    (connection_upgrade && websocket).then(|| key.clone())
}

/// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)).
pub(crate) fn accept_for(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID);
    STANDARD.encode(sha.finalize())
}

/// Whether the upstream's 101 head completes the WebSocket handshake the client began with
/// `key`: `Upgrade: websocket` and the `Sec-WebSocket-Accept` derived from `key`.
pub(crate) fn upstream_switched_to_websocket(h: &HeaderMap, key: &HeaderValue) -> bool {
    let websocket = one(h, &header::UPGRADE).is_some_and(is_websocket);
    let accept = one(h, &header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|v| v.as_bytes().trim_ascii() == accept_for(key.as_bytes()).as_bytes());
    websocket && accept
}

/// The value of `name` when the head has exactly one such field.
fn one<'h>(h: &'h HeaderMap, name: &header::HeaderName) -> Option<&'h HeaderValue> {
    let mut values = h.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

fn is_websocket(v: &HeaderValue) -> bool {
    v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket")
}

/// The tunnel between the client's and the upstream's upgraded connections, to spawn (the
/// worker tracks it, so that shutdown drains it within the grace). It ends when either side
/// closes or no byte moves either way for `idle`; until then it holds `hold` (the client
/// connection's slot and counts).
pub(crate) async fn tunnel(
    client: OnUpgrade,
    upstream: OnUpgrade,
    request_id: String,
    idle: Duration,
    hold: Option<ConnHold>,
) {
    let _hold = hold;
    let (client, upstream) = tokio::join!(client, upstream);
    let (client, upstream) = match (client, upstream) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(request_id, error = %e, "upgrade failed");
            return;
        }
    };
    let active = LastActive::new();
    let mut client = observed(TokioIo::new(client), Arc::clone(&active));
    let mut upstream = TokioIo::new(upstream);
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match copied {
            Ok((up, down)) => tracing::debug!(
                request_id,
                bytes_up = up,
                bytes_down = down,
                "upgraded connection closed"
            ),
            Err(e) => {
                tracing::debug!(request_id, error = %e, "upgraded connection ended with an error")
            }
        },
        () = active.idle_for(idle) => {
            tracing::debug!(request_id, ?idle, "upgraded connection idle; closing");
        }
    }
}
