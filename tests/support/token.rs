//! Token mode's calls: minting through `POST /tokens` and the CEC's validation call, from a
//! chosen source address.

use std::net::IpAddr;

use http::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{DemoCa, Got, HttpsClient, Target, admin_mint, post};

/// The default `token.validate_path`.
pub const VALIDATE: &str = "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate";

/// An HTTPS client whose connections come from `local` (127.0.0.1 or 127.0.0.2).
pub fn client_from(ca: &DemoCa, local: &str) -> HttpsClient {
    let local: IpAddr = local.parse().unwrap();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_local_address(Some(local));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(ca.client_config(&[]).unwrap())
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The CEC's validation call for `token` and the user it should be for.
pub async fn validate(
    c: &HttpsClient,
    gw: &impl Target,
    token: &str,
    user_id: &str,
    user_name: &str,
    tenant: &str,
) -> Got {
    let b = serde_json::json!({ "Token": token, "userName": user_name, "userId": user_id, "tenantSpaceId": tenant });
    post(c, &gw.url(VALIDATE), b.to_string()).await
}

/// A token minted by `POST /tokens` (the gateway's mint key must be `MINT_KEY`).
pub async fn mint(gw: &impl Target, user_id: &str, user_name: &str, tenant: &str) -> String {
    let b =
        serde_json::json!({ "userId": user_id, "userName": user_name, "tenantSpaceId": tenant });
    let (status, text) = admin_mint(gw, &b.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(j["expiresAt"].as_u64().unwrap() > 1_700_000_000);
    j["token"].as_str().unwrap().to_owned()
}
