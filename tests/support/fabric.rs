//! The mock API Fabric behind the gateway in the tests: the demo's own [`MockFabric`] (it issues
//! tokens for one app key and secret and answers API calls only with a live one), served by a
//! recording [`MockUpstream`], and the gateway configuration that routes `/apiaccess/` to it.

use std::sync::Arc;

use cec_gateway::demo::mock_fabric::MockFabric;
use http_body_util::BodyExt;

use super::{DemoCa, MockUpstream, base_config, upstream_table};

pub const APP_KEY: &str = "test-app-key-0001";
pub const APP_SECRET: &str = "test-app-secret-s3cr3t-0002";
pub const CALLER_KEY: &str = "test-caller-key-0123456789-abcdefghijkl";

/// The environment the gateway reads the credentials from (`app_secret` may be a wrong one).
pub fn fabric_env(app_secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CEC_APP_KEY", APP_KEY.to_owned()),
        ("CEC_APP_SECRET", app_secret.to_owned()),
        ("CEC_API_CALLER_KEY", CALLER_KEY.to_owned()),
    ]
}

/// A recording upstream answered by `fabric`.
pub async fn fabric_upstream(ca: &DemoCa, fabric: MockFabric) -> (MockUpstream, Arc<MockFabric>) {
    let fabric = Arc::new(fabric);
    let handler = Arc::clone(&fabric);
    let up = MockUpstream::start(ca, move |recorded| {
        let fabric = Arc::clone(&handler);
        async move {
            fabric
                .handle(recorded.to_request())
                .await
                .map(BodyExt::boxed)
        }
    })
    .await;
    (up, fabric)
}

/// [`base_config`] plus `[upstreams.apifabric]` at `url` with `auth` (extra keys in
/// `auth_extra`), and a `/apiaccess/` route to it with `route_extra` (its caller checks).
pub fn fabric_config(url: &str, auth_extra: &str, route_extra: &str) -> String {
    format!(
        "{}{}\n[upstreams.apifabric.auth]\nkind = \"api_fabric\"\napp_key_env = \"CEC_APP_KEY\"\n\
         app_secret_env = \"CEC_APP_SECRET\"\n{auth_extra}\n\n[[routes]]\nprefix = \"/apiaccess/\"\n\
         upstream = \"apifabric\"\n{route_extra}\n",
        base_config(url),
        upstream_table("apifabric", url),
    )
}
