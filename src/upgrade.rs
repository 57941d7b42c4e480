//! Protocol upgrades (WebSocket) on HTTP/1.1: once both sides have switched protocols, bytes
//! are copied both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// The tunnel between the client's and the upstream's upgraded connections, to spawn (the
/// worker tracks it, so that shutdown drains it within the grace).
pub(crate) async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, request_id: String) {
    {
        let (client, upstream) = tokio::join!(client, upstream);
        let (client, upstream) = match (client, upstream) {
            (Ok(c), Ok(u)) => (c, u),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(request_id, error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => tracing::debug!(
                request_id,
                bytes_up = up,
                bytes_down = down,
                "upgraded connection closed"
            ),
            Err(e) => {
                tracing::debug!(request_id, error = %e, "upgraded connection ended with an error")
            }
        }
    }
}
