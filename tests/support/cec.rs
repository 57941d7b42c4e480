//! The mock CEC behind the gateway in the tests: the demo's own [`MockCec`] (it verifies
//! `thirdPartAuthorization` with `cec_gateway::demo::verify`, refuses a `secretKey` with 400 and
//! sets `ccmessaging-token` with `Domain=` the host it was addressed as), served by a recording
//! [`MockUpstream`], so a test sees both what the CEC received and what it answered.

use std::sync::Arc;

use cec_gateway::demo::mock_cec::MockCec;
use cec_gateway::demo::verify::Channels;
use cec_gateway::secret::SecretKey;
use http_body_util::BodyExt;

use super::{DemoCa, MockUpstream};

/// A recording upstream answered by a [`MockCec`] that knows one `channel` with `secret`.
pub async fn cec_upstream(
    ca: &DemoCa,
    channel: &str,
    secret: &str,
) -> (MockUpstream, Arc<MockCec>) {
    let secret = SecretKey::signing(secret).unwrap();
    let cec = Arc::new(MockCec::new(Channels::from([(channel.to_owned(), secret)])));
    let handler = Arc::clone(&cec);
    let up = MockUpstream::start(ca, move |recorded| {
        let cec = Arc::clone(&handler);
        async move { cec.handle(recorded.to_request()).await.map(BodyExt::boxed) }
    })
    .await;
    (up, cec)
}
